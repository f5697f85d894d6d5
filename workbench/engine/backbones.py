"""Library backbones as image encoders: timm models, torchvision models and Hugging Face transformers vision models.

All are optional extras (``pip install 'workbench[timm]'`` / ``'workbench[torchvision]'`` / ``'workbench[hf]'``), imported
only when a config uses them; a missing extra is one ConfigError naming the fix. Weights
come from the library (``pretrained = true``: its cache, or its hub when online) or from a
local file (``weights = "PATH"``: a state dict, ``.safetensors`` or a torch file), so an
offline machine can still use a pretrained backbone.

Input handling follows the backbone: the data layer hands every image encoder the same
tensor (resized to ``data.image_size``, normalised with the training split's statistics),
and a backbone encoder undoes that normalisation, resizes to the backbone's own input size
and normalises with the backbone's mean and std (from timm's data config or the model's
image processor, or the torchvision weights' preset), unless ``image_size`` is set. The teacher and the student can then share
an image field while each sees what its network expects.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workbench.engine import encoders  # noqa: F401 - the workbench's own encoders register (and are listed) first
from workbench.registry import register_encoder
from workbench.errors import ConfigError
from workbench.extras import from_hugging_face, import_extra

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_weights(module: nn.Module, path: str, classifier: str | tuple[str, ...] = ()) -> None:
    """Load a local weights file into ``module`` (strict): ``.safetensors``, or a torch file of a state dict
    (or of ``{"state_dict": ...}`` / ``{"model": ...}``).

    ``classifier`` names the library's classifier (or classifiers) that the encoder removed (``fc``,
    ``head.fc``): their keys are dropped, so the library's own full checkpoint fits as well as a state
    dict of the encoder's backbone.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"weights file not found: {file}", "weights")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(file))
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
            for key in ("state_dict", "model"):
                if isinstance(state, dict) and isinstance(state.get(key), dict):
                    state = state[key]
    except Exception as error:  # noqa: BLE001 - a corrupt or foreign file is the user's to fix
        raise ConfigError(f"cannot read weights file {file}: {type(error).__name__}: {error}", "weights") from None
    removed = tuple(f"{name}." for name in ((classifier,) if isinstance(classifier, str) else classifier) if name)
    if removed:
        state = {key: value for key, value in state.items() if not key.startswith(removed)}
    expected = module.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    resized = [key for key in state if key in expected and tuple(state[key].shape) != tuple(expected[key].shape)]
    if missing or unexpected or resized:  # another model's file: say so rather than load_state_dict's traceback
        problems = ", ".join(f"{len(keys)} {what} (e.g. {', '.join(keys[:2])})" for what, keys in (
            ("missing keys", missing), ("unexpected keys", unexpected), ("keys of another shape", resized)) if keys)
        raise ConfigError(f"weights file {file} does not fit this backbone: {problems}", "weights")
    module.load_state_dict(state)


def _on_meta_device() -> bool:
    """Whether modules are being built on the ``meta`` device (the memory estimate): shapes only, so no weights load."""
    return torch.empty(0).device.type == "meta"


class BackboneImageEncoder(nn.Module):
    """Adapts the workbench's normalised images to a library backbone's input, then pools its features."""

    def __init__(self, spec: dict[str, Any], image_size: int, mean: Any, std: Any):
        super().__init__()
        if image_size < 1:
            raise ConfigError(f"image_size must be positive, got {image_size}", "image_size")
        self.image_size = int(image_size)
        channels = spec["channels"]
        data_mean = spec.get("mean", [0.0] * channels)
        data_std = spec.get("std", [1.0] * channels)
        # Not persistent: derived from the data and the model config, so checkpoints need not carry them.
        self.register_buffer("data_mean", torch.tensor(data_mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("data_std", torch.tensor(data_std, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("model_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("model_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), False)

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x * self.data_std + self.data_mean  # back to [0, 1]
        if pixels.shape[1] == 1 and self.model_mean.shape[1] == 3:
            pixels = pixels.expand(-1, 3, -1, -1)  # a grayscale field into an RGB backbone
        if pixels.shape[-1] != self.image_size or pixels.shape[-2] != self.image_size:
            pixels = F.interpolate(pixels, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False)
        return (pixels - self.model_mean) / self.model_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's pooled features (a subclass whose library returns more overrides this)."""
        return self.backbone(self.adapt(x))


@register_encoder("timm", modality="image")
class TimmEncoder(BackboneImageEncoder):
    """Any ``timm.list_models()`` image model without its classifier (``pip install 'workbench[timm]'``).

    ``model`` is a timm name (``resnet18``, ``convnext_atto``, ``vit_tiny_patch16_224``, or a
    pretrained tag such as ``resnet18.a1_in1k``); ``image_size`` 0 takes the model's own
    input size, and its mean and std always come from timm's data config.
    """

    def __init__(self, spec: dict[str, Any], *, model: str = "resnet18", pretrained: bool = False,
                 weights: str = "", image_size: int = 0):
        timm = import_extra("timm", "timm")
        if not timm.is_model(model):
            raise ConfigError(f"timm has no model {model!r} (see timm.list_models())", "model")
        shapes_only = _on_meta_device()
        try:
            backbone = timm.create_model(model, pretrained=pretrained and not shapes_only, num_classes=0)
        except Exception as error:  # noqa: BLE001 - e.g. no network for pretrained weights
            raise ConfigError(_unreachable(model, error, "timm"), "pretrained") from None
        if weights and not shapes_only:
            load_weights(backbone, weights, backbone.pretrained_cfg.get("classifier") or ())
        data_config = timm.data.resolve_model_data_config(backbone)
        super().__init__(spec, image_size or data_config["input_size"][-1], data_config["mean"], data_config["std"])
        self.backbone = backbone
        # With num_classes=0 the model gives its pre-logits features: wider than num_features (the last feature
        # map's channels) where the head has a hidden layer (MobileNetV3, LCNet: 1024 or 1280).
        self.out_dim = getattr(backbone, "head_hidden_size", None) or backbone.num_features

    @staticmethod
    def model_names() -> list[str]:
        """Every timm model name, for the Model panel's search (empty without the extra)."""
        try:
            return list(importlib.import_module("timm").list_models())
        except Exception:  # noqa: BLE001 - without timm there is nothing to list
            return []


@register_encoder("torchvision", modality="image")
class TorchvisionEncoder(BackboneImageEncoder):
    """A torchvision classification model without its classifier (``pip install 'workbench[torchvision]'``).

    ``model`` is a ``torchvision.models.list_models()`` classification name (``resnet18``,
    ``convnext_tiny``, ``efficientnet_b0``, ``mobilenet_v3_small``, ``vit_b_16``, ...);
    ``pretrained = true`` takes the model's default weights (``DEFAULT`` of its weights enum).
    ``image_size`` 0 takes the crop size of those weights' preset, and mean and std always
    come from it, as for the pretrained model.
    """

    # These two compute auxiliary classifiers in training mode unless told not to.
    _WITHOUT_AUX_LOGITS = ("googlenet", "inception_v3")

    def __init__(self, spec: dict[str, Any], *, model: str = "resnet18", pretrained: bool = False,
                 weights: str = "", image_size: int = 0):
        vision_models = import_extra("torchvision.models", "torchvision")
        if model not in self.model_names():
            raise ConfigError(f"torchvision has no classification model {model!r} "
                              "(see torchvision.models.list_models(module=torchvision.models))", "model")
        preset = vision_models.get_model_weights(model).DEFAULT
        shapes_only = _on_meta_device()
        options = {"aux_logits": False} if model in self._WITHOUT_AUX_LOGITS else {}
        try:
            backbone = vision_models.get_model(model, weights=preset if pretrained and not shapes_only else None,
                                               **options)
        except Exception as error:  # noqa: BLE001 - e.g. no network for the weights
            raise ConfigError(_unreachable(model, error, "torchvision"), "pretrained") from None
        classifier, out_dim = _remove_classifier(backbone, model)
        if weights and not shapes_only:
            load_weights(backbone, weights, classifier)
        transforms = preset.transforms()
        super().__init__(spec, image_size or transforms.crop_size[0], transforms.mean, transforms.std)
        self.backbone = backbone
        self.out_dim = out_dim

    @staticmethod
    def model_names() -> list[str]:
        """torchvision's classification models, for the Model panel's search (empty without the extra)."""
        try:
            vision_models = importlib.import_module("torchvision.models")
            return sorted(vision_models.list_models(module=vision_models))
        except Exception:  # noqa: BLE001 - without torchvision there is nothing to list
            return []


def _remove_classifier(backbone: nn.Module, model: str, classes: int = 1000) -> tuple[str, int]:
    """Replace the model's ImageNet classifier (its last ``Linear`` to 1,000 classes) with the identity.

    Returns the classifier's name (``fc``, ``classifier.1``, ``heads.head``) and its input width,
    which is the embedding the encoder gives.
    """
    linear = [(name, module) for name, module in backbone.named_modules()
              if isinstance(module, nn.Linear) and module.out_features == classes]
    if not linear:
        raise ConfigError(f"torchvision model {model!r} has no linear classifier to remove; choose another model",
                          "model")
    name, head = linear[-1]
    parent_name, _, child = name.rpartition(".")
    setattr(backbone.get_submodule(parent_name), child, nn.Identity())
    return name, head.in_features


@register_encoder("hf_image", modality="image")
class HuggingFaceImageEncoder(BackboneImageEncoder):
    """A Hugging Face transformers vision model (ViT, DeiT, ConvNeXt, ResNet, DINOv2, ...): ``pip install 'workbench[hf]'``.

    ``model`` is a hub name or a local folder (``config.json``, and with ``pretrained = true``
    the weights; ``preprocessor_config.json`` gives the input size, mean and std). The
    embedding is the model's pooled output (the [CLS] token for ViT-like models).
    """

    def __init__(self, spec: dict[str, Any], *, model: str = "google/vit-base-patch16-224", pretrained: bool = False,
                 weights: str = "", image_size: int = 0):
        transformers = import_extra("transformers", "hf")
        backbone = hugging_face_model(transformers, model, pretrained, weights)
        size, mean, std = _hf_image_settings(transformers, model, backbone.config)
        super().__init__(spec, image_size or size, mean, std)
        self.backbone = backbone
        config = backbone.config
        self.out_dim = getattr(config, "hidden_size", None) or config.hidden_sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.backbone(pixel_values=self.adapt(x))
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            pooled = output.last_hidden_state[:, 0]
        return pooled.flatten(1)


def hugging_face_model(transformers: Any, model: str, pretrained: bool, weights: str) -> nn.Module:
    """A transformers ``AutoModel`` from a folder, the cache or the hub (``from_hugging_face``): pretrained, or
    built from its config and given ``weights`` (a local file) when set. On the ``meta`` device (the memory
    estimate) only its config is read."""
    transformers.utils.logging.disable_progress_bar()
    shapes_only = _on_meta_device()
    if pretrained and not shapes_only:
        backbone = from_hugging_face(transformers.AutoModel.from_pretrained, model, "model", "model")
    else:
        config = from_hugging_face(transformers.AutoConfig.from_pretrained, model, "model config", "model")
        backbone = transformers.AutoModel.from_config(config)
    if weights and not shapes_only:
        load_weights(backbone, weights)
    return backbone


def _hf_image_settings(transformers: Any, model: str, config: Any) -> tuple[int, Any, Any]:
    """(input size, mean, std) from the model's image processor; the config's size and ImageNet's statistics without one."""
    size = getattr(config, "image_size", 224)
    size = size if isinstance(size, int) else size[0]
    try:
        processor = from_hugging_face(transformers.AutoImageProcessor.from_pretrained, model, "image processor", "model")
    except Exception:  # noqa: BLE001 - a folder or repo without preprocessor_config.json
        return size, IMAGENET_MEAN, IMAGENET_STD
    processor_size = getattr(processor, "size", None) or {}
    size = processor_size.get("height") or processor_size.get("shortest_edge") or size
    mean = getattr(processor, "image_mean", None) or IMAGENET_MEAN
    std = getattr(processor, "image_std", None) or IMAGENET_STD
    return int(size), list(mean), list(std)


def _unreachable(model: str, error: Exception, library: str) -> str:
    first_line = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
    return (f"cannot load {library} model {model!r}: {first_line}. Without a network, use a model already in "
            f"the library's cache, a local folder, or pretrained = false with weights = \"PATH\".")
