"""Library backbones as encoders, offline: a tiny randomly initialised transformers ViT (saved to a local
folder, no download) trains as the teacher's image encoder, frozen or fine-tuned; local weights files are
loaded and checked by value; a missing extra is one line saying what to install."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

from workbench.cli import main
from workbench.config import EncoderConfig, config_to_toml
from workbench.engine.backbones import HuggingFaceImageEncoder, load_weights
from workbench.engine.trainer import Trainer
from workbench.errors import ConfigError

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config

transformers = pytest.importorskip("transformers")
SPEC = {"kind": "image", "channels": 3, "size": 16, "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A 1-layer ViT with 8x8 patches on 24 px inputs and its image processor, in a local folder."""
    folder = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    config = transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                    image_size=24, patch_size=8)
    transformers.ViTModel(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 24, "width": 24}, image_mean=[0.5, 0.5, 0.5],
                                   image_std=[0.5, 0.5, 0.5]).save_pretrained(folder)
    return folder


def test_pretrained_weights_and_input_settings_come_from_the_model(tiny_vit):
    saved = transformers.ViTModel.from_pretrained(tiny_vit).state_dict()
    encoder = HuggingFaceImageEncoder(SPEC, model=str(tiny_vit), pretrained=True)
    for key, value in saved.items():
        assert torch.equal(encoder.backbone.state_dict()[key], value), key
    assert encoder.image_size == 24 and encoder.out_dim == 16
    assert encoder.model_mean.flatten().tolist() == [0.5, 0.5, 0.5]
    # The data's normalisation is undone, the image resized to 24 px and normalised as the model expects.
    pixels = torch.rand(2, 3, 16, 16)
    normalised = (pixels - torch.tensor(SPEC["mean"]).view(1, 3, 1, 1)) / torch.tensor(SPEC["std"]).view(1, 3, 1, 1)
    expected = (torch.nn.functional.interpolate(pixels, size=(24, 24), mode="bilinear", align_corners=False) - 0.5) / 0.5
    assert torch.allclose(encoder.adapt(normalised), expected, atol=1e-5)
    assert encoder(normalised).shape == (2, 16)
    assert HuggingFaceImageEncoder(SPEC, model=str(tiny_vit), image_size=32).image_size == 32  # unless set


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_local_weights_file_is_loaded_by_value(tiny_vit, tmp_path, suffix):
    torch.manual_seed(1)
    other = transformers.ViTModel(transformers.ViTConfig.from_pretrained(tiny_vit))
    state = {key: value.contiguous() for key, value in other.state_dict().items()}
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state}, path)
    encoder = HuggingFaceImageEncoder(SPEC, model=str(tiny_vit), weights=str(path))
    for key, value in state.items():
        assert torch.equal(encoder.backbone.state_dict()[key], value), key
    with pytest.raises(ConfigError, match=r"does not fit this backbone: 1 unexpected keys \(e\.g\. extra\.weight\)$"):
        torch.save({**state, "extra.weight": torch.zeros(1)}, tmp_path / "bad.pt")
        load_weights(encoder.backbone, str(tmp_path / "bad.pt"))
    resized = next(iter(state))
    with pytest.raises(ConfigError, match=rf"does not fit this backbone: 1 keys of another shape \(e\.g\. {re.escape(resized)}\)$"):
        torch.save({**state, resized: torch.zeros(3)}, tmp_path / "resized.pt")  # not load_state_dict's traceback
        load_weights(encoder.backbone, str(tmp_path / "resized.pt"))


@pytest.mark.parametrize("training", ["frozen", "full"])
def test_a_transformers_backbone_trains_as_the_teacher_encoder(tiny_dataset, tiny_vit, tmp_path, training):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["image"] = EncoderConfig("hf_image", {"model": str(tiny_vit), "pretrained": True},
                                                  train=training, lr_scale=0.1 if training == "full" else 1.0)
    summary = Trainer(cfg).fit()
    assert summary["status"] == "finished"
    assert 0.0 <= summary["teacher"]["val_accuracy"] <= 1.0 and summary["student"]["val_accuracy"] is not None


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_a_missing_extra_is_one_line_naming_the_fix(library, tiny_dataset, tmp_path, capsys):
    if importlib.util.find_spec(library) is not None:
        pytest.skip(f"{library} is installed here")
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["image"] = EncoderConfig(library, {"model": "resnet18"})
    path = tmp_path / "exp.toml"
    path.write_text(config_to_toml(cfg), encoding="utf-8")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pip install 'workbench[{library}]'" in err[0] and "teacher.encoders.image" in err[0]
