"""Fusions and the teacher/student network built from a config.

A network is one encoder per input field (``encoders.py``, ``backbones.py``: the encoder
registry), a fusion of the encoders' features, a linear projection to an ``embed_dim``
embedding (what the distillation terms compare) and a linear classifier on that embedding.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

import workbench.engine.encoders  # noqa: F401 - registers the built-in encoders that build_network looks up
from workbench.config import ENCODER_DEFAULTS, ENCODER_TRAINING
from workbench.registry import ENCODERS, FUSIONS, default_encoder, register_fusion, resolve_encoder_params
from workbench.errors import ConfigError


# --------------------------------------------------------------------------- fusion


@register_fusion("concat")
class ConcatFusion(nn.Module):
    """Concatenate the fields' features, then a one-hidden-layer MLP."""

    def __init__(self, in_dims: Sequence[int], hidden: int, dropout: float):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(sum(in_dims), hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.mlp(torch.cat(list(features), dim=1))


@register_fusion("gated")
class GatedFusion(nn.Module):
    """A gated sum (the Gated Multimodal Unit of Arevalo et al. 2017, for any number of fields).

    Each field is mapped to ``h_i = tanh(W_i x_i)``; per-dimension gates, a softmax over
    the fields computed from all features together, decide how much each field
    contributes: ``sum_i g_i * h_i``.
    """

    def __init__(self, in_dims: Sequence[int], hidden: int, dropout: float):
        super().__init__()
        self.field_projections = nn.ModuleList(nn.Linear(d, hidden) for d in in_dims)
        self.gate = nn.Linear(sum(in_dims), hidden * len(in_dims))
        self.dropout = nn.Dropout(dropout)
        self.out_dim = hidden

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        projected = torch.stack(
            [torch.tanh(project(x)) for project, x in zip(self.field_projections, features)], dim=1
        )  # (B, fields, hidden)
        scores = self.gate(torch.cat(list(features), dim=1)).view_as(projected)
        return self.dropout((torch.softmax(scores, dim=1) * projected).sum(1))


# --------------------------------------------------------------------------- network


class NetworkOutput(NamedTuple):
    logits: torch.Tensor  # (B, num_classes), or (B, num_classes, H, W) for segmentation
    embedding: torch.Tensor  # (B, embed_dim)
    feature_map: torch.Tensor | None = None  # segmentation: (B, channels, h, w), the conditioned deepest map


class Network(nn.Module):
    """Encoders per field -> fusion -> projection to the embedding -> linear classifier."""

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        fusion: nn.Module,
        embed_dim: int,
        num_classes: int,
        dropout: float,
    ):
        super().__init__()
        self.fields = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.projection = nn.Linear(fusion.out_dim, embed_dim)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, num_classes))
        self.embed_dim = embed_dim
        self.num_classes = num_classes

    def forward(self, batch: dict[str, torch.Tensor]) -> NetworkOutput:
        features = [self.encoders[field](batch[field]) for field in self.fields]
        embedding = self.projection(self.fusion(features))
        return NetworkOutput(self.classifier(embedding), embedding)


class SegmentationNetwork(nn.Module):
    """Text-guided segmentation: the image encoder's maps, conditioned on the other fields, decoded per pixel.

    The first image field's encoder gives a map per stage (``feature_maps``). The other fields'
    encoders give vectors, which are fused (the network's ``fusion``) and modulate the deepest
    map channel by channel (FiLM: ``map * (1 + gamma) + beta``): a phrase can thus say which
    shape to segment. A light U-Net decoder goes back up, each step upsampling, concatenating
    the stage's map and applying a 3x3 conv (``fusion_hidden`` channels), and a 1x1 conv gives
    the class logits, upsampled to the input size. The embedding (what contrastive and relational
    terms compare) is the pooled conditioned map, projected to ``embed_dim``.
    """

    def __init__(self, encoders: dict[str, nn.Module], image_field: str, fusion: nn.Module | None, embed_dim: int,
                 num_classes: int, width: int, dropout: float):
        super().__init__()
        self.fields = list(encoders)
        self.image_field = image_field
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        channels = list(encoders[image_field].map_channels)
        self.map_channels = channels[-1]
        self.film = nn.Linear(fusion.out_dim, 2 * channels[-1]) if fusion is not None else None
        self.up = nn.ModuleList()
        below = channels[-1]
        for skip in reversed(channels[:-1]):
            self.up.append(nn.Sequential(nn.Conv2d(below + skip, width, 3, padding=1, bias=False),
                                         nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            below = width
        self.head = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(below, num_classes, 1))
        self.projection = nn.Linear(channels[-1], embed_dim)
        self.embed_dim = embed_dim
        self.num_classes = num_classes

    def forward(self, batch: dict[str, torch.Tensor]) -> NetworkOutput:
        image = batch[self.image_field]
        maps = self.encoders[self.image_field].feature_maps(image)
        deepest = maps[-1]
        if self.film is not None:
            vectors = [self.encoders[field](batch[field]) for field in self.fields if field != self.image_field]
            gamma, beta = self.film(self.fusion(vectors)).chunk(2, dim=1)
            deepest = deepest * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        x = deepest
        for block, skip in zip(self.up, reversed(maps[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        logits = F.interpolate(self.head(x), size=image.shape[-2:], mode="bilinear", align_corners=False)
        embedding = self.projection(deepest.mean((2, 3)))
        return NetworkOutput(logits, embedding, deepest)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters in ``module`` (with ``trainable_only``, those not frozen)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def set_train_mode(network: nn.Module) -> nn.Module:
    """``network.train()``, except that frozen encoders stay in eval mode (fixed BatchNorm statistics, no dropout)."""
    network.train()
    for module in network.modules():
        if getattr(module, "frozen", False):
            module.eval()
    return network


def parameter_groups(modules: list[nn.Module]) -> list[dict[str, Any]]:
    """The trainable parameters of ``modules`` grouped by learning-rate multiplier, in module order.

    An encoder built with ``lr_scale`` (e.g. 0.1 for a pretrained backbone) holds that
    multiplier; every other parameter has 1.0. The group with 1.0 comes first (its
    learning rate is the one logged). One group when nothing is scaled.
    """
    scales: dict[int, float] = {}
    for module in modules:
        for part in module.modules():
            if hasattr(part, "lr_scale"):
                scales.update({id(p): part.lr_scale for p in part.parameters()})
    groups: dict[float, list[nn.Parameter]] = {1.0: []}
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                groups.setdefault(scales.get(id(p), 1.0), []).append(p)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items() if params]


def build_network(
    net_cfg: Any, input_specs: dict[str, dict[str, Any]], num_classes: int, name: str = "", spatial: bool = False
) -> nn.Module:
    """Build a network from a ``NetworkConfig``-like object.

    ``name`` (``"teacher"``/``"student"``) prefixes the keys of ConfigErrors, e.g.
    ``teacher.encoders.text.type``. ``spatial`` (segmentation) builds a network that predicts a
    class per pixel: see ``SegmentationNetwork``.
    """
    prefix = f"{name}." if name else ""
    fields = list(net_cfg.fields)
    if not fields:
        raise ConfigError("the network uses no field; list at least one in fields", f"{prefix}fields")
    for key, value in (("fusion_hidden", net_cfg.fusion_hidden), ("embed_dim", net_cfg.embed_dim)):
        if value < 1:
            raise ConfigError(f"{key} must be positive, got {value}", f"{prefix}{key}")
    if not 0.0 <= net_cfg.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {net_cfg.dropout}", f"{prefix}dropout")
    if net_cfg.fusion not in FUSIONS:
        raise ConfigError(
            f"unknown fusion {net_cfg.fusion!r}; choose one of: {', '.join(FUSIONS)}", f"{prefix}fusion"
        )

    encoders: dict[str, nn.Module] = {}
    for field in fields:
        if field not in input_specs:
            known = ", ".join(input_specs) or "none"
            raise ConfigError(f"the data has no field {field!r} (its fields: {known})", f"{prefix}fields")
        encoders[field] = _build_encoder(net_cfg, field, input_specs[field], f"{prefix}encoders.{field}")
    if spatial:
        return _segmentation_network(net_cfg, encoders, input_specs, num_classes, prefix)
    in_dims = [encoder.out_dim for encoder in encoders.values()]
    fusion = FUSIONS[net_cfg.fusion](in_dims, net_cfg.fusion_hidden, net_cfg.dropout)
    return Network(encoders, fusion, net_cfg.embed_dim, num_classes, net_cfg.dropout)


def _segmentation_network(net_cfg: Any, encoders: dict[str, nn.Module], input_specs: dict[str, dict[str, Any]],
                          num_classes: int, prefix: str) -> SegmentationNetwork:
    images = [field for field in encoders if input_specs[field]["kind"] == "image"]
    if not images:
        raise ConfigError("segmentation predicts a class per pixel of an image: give the network an image field",
                          f"{prefix}fields")
    image_field = images[0]
    if not hasattr(encoders[image_field], "feature_maps"):
        spatial = sorted(name for name, cls in ENCODERS.items() if hasattr(cls, "feature_maps"))
        raise ConfigError(f"the {image_field!r} encoder keeps no spatial maps, which segmentation decodes; use one "
                          f"of: {', '.join(spatial)}", f"{prefix}encoders.{image_field}.type")
    others = [encoders[field].out_dim for field in encoders if field != image_field]
    fusion = FUSIONS[net_cfg.fusion](others, net_cfg.fusion_hidden, net_cfg.dropout) if others else None
    return SegmentationNetwork(encoders, image_field, fusion, net_cfg.embed_dim, num_classes, net_cfg.fusion_hidden,
                               net_cfg.dropout)


def _build_encoder(net_cfg: Any, field: str, spec: dict[str, Any], key: str) -> nn.Module:
    kind = spec["kind"]
    encoder_cfg = net_cfg.encoders.get(field)
    if encoder_cfg is None:
        encoder_type, params = default_encoder(kind, spec.get("shape")), {}
    else:
        encoder_type, params = encoder_cfg.type, encoder_cfg.params
    resolved = resolve_encoder_params(encoder_type, params, key)
    cls = ENCODERS[encoder_type]
    if cls.modality != kind:
        raise ConfigError(
            f"encoder {encoder_type!r} is for {cls.modality} fields, but {field!r} is a {kind} field",
            f"{key}.type",
        )
    try:
        encoder = cls(spec, **resolved)
    except ConfigError as error:
        # Encoders name the offending param (or "type") only; give the full dotted path.
        raise ConfigError(f"{key}: {error}", f"{key}.{error.key}") from None
    training = getattr(encoder_cfg, "train", ENCODER_DEFAULTS["train"])
    lr_scale = getattr(encoder_cfg, "lr_scale", ENCODER_DEFAULTS["lr_scale"])
    if training not in ENCODER_TRAINING:
        raise ConfigError(f"train must be one of {', '.join(ENCODER_TRAINING)}, got {training!r}", f"{key}.train")
    if not lr_scale > 0:
        raise ConfigError(f"lr_scale must be above 0, got {lr_scale}", f"{key}.lr_scale")
    if training == "frozen":
        encoder.requires_grad_(False)
        encoder.frozen = True  # set_train_mode keeps it in eval mode
    elif lr_scale != 1.0:
        encoder.lr_scale = lr_scale
    return encoder
