"""timm and torchvision models as image encoders, offline: tiny randomly initialised models train as the
teacher's image encoder, frozen or fine-tuned; input size and normalisation come from the library unless set;
local weights files load by value; unreachable pretrained weights stop a run with one line saying what to do.

Skips where timm and torchvision do not import, and then runs in another interpreter (tests/vision_libraries.py).
"""

from __future__ import annotations

import socket

import pytest
import torch

from workbench.cli import main
from workbench.config import EncoderConfig, config_to_toml
from workbench.engine.backbones import IMAGENET_MEAN, TimmEncoder, TorchvisionEncoder
from workbench.engine.hooks import Callback
from workbench.engine.trainer import Trainer
from workbench.errors import ConfigError

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config
from vision_libraries import TIMM_MODEL, TORCHVISION_MODEL, import_or_skip

timm = import_or_skip("timm")
torchvision = import_or_skip("torchvision")

SPEC = {"kind": "image", "channels": 3, "size": 16, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}
ENCODERS = {"timm": (TimmEncoder, TIMM_MODEL), "torchvision": (TorchvisionEncoder, TORCHVISION_MODEL)}


def _library_model(library: str, model: str) -> torch.nn.Module:
    """The library's own model, with its ImageNet classifier, as its checkpoints are saved."""
    if library == "timm":
        return timm.create_model(model, pretrained=False)
    return torchvision.models.get_model(model, weights=None)


@pytest.mark.parametrize("library, model, size, mean", [
    ("timm", "test_vit", 160, (0.5, 0.5, 0.5)),  # timm's data config: its own size and statistics
    ("torchvision", TORCHVISION_MODEL, 224, IMAGENET_MEAN),  # the weights preset's crop size and statistics
])
def test_input_size_and_normalisation_come_from_the_library(library, model, size, mean):
    cls = ENCODERS[library][0]
    encoder = cls(SPEC, model=model)
    assert encoder.image_size == size
    assert encoder.model_mean.flatten().tolist() == pytest.approx(mean)
    # The data's normalisation is undone, the image resized and normalised as the model expects.
    pixels = torch.rand(2, 3, 16, 16)
    normalised = (pixels - torch.tensor(SPEC["mean"]).view(1, 3, 1, 1)) / torch.tensor(SPEC["std"]).view(1, 3, 1, 1)
    resized = torch.nn.functional.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False)
    expected = (resized - torch.tensor(mean).view(1, 3, 1, 1)) / encoder.model_std
    assert torch.allclose(encoder.adapt(normalised), expected, atol=1e-5)
    assert encoder(normalised).shape == (2, encoder.out_dim)
    small = cls(SPEC, model=ENCODERS[library][1], image_size=32)  # unless set
    assert small.image_size == 32 and small.adapt(normalised).shape[-1] == 32


def test_a_timm_head_with_a_hidden_layer_gives_its_width():
    """LCNet's head widens its 176 feature-map channels to 1,280 before the classifier (so does MobileNetV3's)."""
    encoder = TimmEncoder(SPEC, model="lcnet_035", image_size=32)
    assert encoder.backbone.num_features == 176
    assert encoder.out_dim == 1280 and encoder(torch.rand(2, 3, 16, 16)).shape == (2, 1280)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_a_local_weights_file_is_loaded_by_value(library, suffix, tmp_path):
    cls, model = ENCODERS[library]
    torch.manual_seed(1)
    checkpoint = {key: value.contiguous() for key, value in _library_model(library, model).state_dict().items()}
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(checkpoint, str(path))
    else:
        torch.save({"state_dict": checkpoint}, path)
    torch.manual_seed(2)
    encoder = cls(SPEC, model=model, weights=str(path))
    loaded = encoder.backbone.state_dict()
    # Every backbone tensor has the file's value; the file's classifier, which the encoder removed, is left out.
    assert loaded and set(loaded) < set(checkpoint)
    for key, value in loaded.items():
        assert torch.equal(value, checkpoint[key]), key
    # The backbone's own state dict (an encoder's checkpoint) fits as well.
    torch.save(loaded, tmp_path / "backbone.pt")
    assert cls(SPEC, model=model, weights=str(tmp_path / "backbone.pt")).backbone.state_dict().keys() == loaded.keys()
    other = "test_resnet" if library == "timm" else "mobilenet_v3_small"
    torch.save(_library_model(library, other).state_dict(), tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=r"weights file .*other\.pt does not fit this backbone: [1-9]\d* missing keys "
                                          r"\(e\.g\. [\w.]+, [\w.]+\), [1-9]"):
        cls(SPEC, model=model, weights=str(tmp_path / "other.pt"))


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


@pytest.mark.parametrize("library, training", [("timm", "frozen"), ("timm", "full"), ("torchvision", "frozen")])
def test_a_library_backbone_trains_as_the_teacher_encoder(library, training, tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    # timm at its own 160 px; torchvision at 64 px instead of 224, to keep the test quick.
    params = {"model": ENCODERS[library][1], **({"image_size": 64} if library == "torchvision" else {})}
    cfg.teacher.encoders["image"] = EncoderConfig(library, params, train=training,
                                                  lr_scale=0.1 if training == "full" else 1.0)
    before: dict[str, dict[str, torch.Tensor]] = {}

    class Snapshot(Callback):
        def on_fit_start(self, payload):
            before.update(image=_state(trainer.teacher.encoders["image"]),
                          classifier=_state(trainer.teacher.classifier))

    trainer = Trainer(cfg, callbacks=[Snapshot()])
    summary = trainer.fit()
    assert summary["status"] == "finished"
    assert 0.0 <= summary["teacher"]["val_accuracy"] <= 1.0 and summary["student"]["val_accuracy"] is not None
    after = trainer.teacher.encoders["image"].state_dict()
    assert before["image"].keys() == after.keys() and any("running_mean" in key for key in after)
    changed = [key for key, value in before["image"].items() if not torch.equal(value, after[key])]
    if training == "frozen":
        assert changed == []  # weights and BatchNorm running statistics
    else:
        assert any(key.endswith("weight") for key in changed) and any("running_mean" in key for key in changed)
    classifier = trainer.teacher.classifier.state_dict()
    assert any(not torch.equal(value, classifier[key]) for key, value in before["classifier"].items())


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_unreachable_pretrained_weights_stop_the_run_with_one_line(library, tiny_dataset, tmp_path, monkeypatch,
                                                                     capsys):
    """No network (name lookups fail, as on this machine) and empty caches: the library cannot get its weights."""
    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))  # torchvision's weights cache
    from huggingface_hub import constants

    # timm's weights come from the Hugging Face hub, which without this retries for about 50 s before failing.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["image"] = EncoderConfig(library, {"model": ENCODERS[library][1], "pretrained": True})
    path = tmp_path / "exp.toml"
    path.write_text(config_to_toml(cfg), encoding="utf-8")
    assert main(["train", str(path)]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("Downloading: ")]
    assert len(err) == 1, err
    assert err[0].startswith(f"error: teacher.encoders.image: cannot load {library} model ")
    assert 'pretrained = false with weights = "PATH"' in err[0]
