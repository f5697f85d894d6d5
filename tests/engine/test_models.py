"""Encoders, fusions and networks: built from the registry, shapes, padding, errors."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from workbench.engine.encoders import BasicBlock, ResNet18Encoder
from workbench.engine.models import build_network, count_parameters
from workbench.errors import ConfigError
from workbench.registry import (
    ENCODERS,
    FUSIONS,
    default_encoder,
    encoder_params,
    encoders_for,
    load_builtins,
    resolve_encoder_params,
)

SPECS = {
    "image": {"kind": "image", "channels": 3, "size": 16},
    "text": {"kind": "text", "vocab_size": 50, "max_length": 12},
    "audio": {"kind": "audio", "n_mels": 16, "frames": 20},
    "depth": {"kind": "array", "shape": [8, 8]},
    "vector": {"kind": "array", "shape": [10]},
}


def make_batch(batch_size=3, fields=SPECS):
    torch.manual_seed(0)
    batch = {"label": torch.arange(batch_size) % 4}
    for field, spec in fields.items():
        if spec["kind"] == "image":
            batch[field] = torch.randn(batch_size, spec["channels"], spec["size"], spec["size"])
        elif spec["kind"] == "text":
            tokens = torch.randint(2, spec["vocab_size"], (batch_size, 7))
            tokens[0, 4:] = 0  # one shorter sentence, right-padded as collate_batch does
            batch[field] = tokens
        elif spec["kind"] == "audio":
            batch[field] = torch.randn(batch_size, 1, spec["n_mels"], spec["frames"])
        else:
            batch[field] = torch.randn(batch_size, *spec["shape"])
    return batch


def net_cfg(fields, fusion="concat", encoders=None, **overrides):
    values = dict(fields=fields, encoders=encoders or {}, fusion=fusion)
    values.update(fusion_hidden=32, embed_dim=16, dropout=0.1)
    values.update(overrides)
    return SimpleNamespace(**values)


def encoder_cfg(type_, **params):
    return SimpleNamespace(type=type_, params=params)


FIELD_FOR_MODALITY = {"image": "image", "text": "text", "audio": "audio", "array": "depth"}


# The library backbones need their library (and a model); test_backbones.py, test_vision_backbones.py and
# test_hf_text.py build tiny ones. load_builtins first: which encoders are listed must not depend on what the
# test modules collected before this one imported.
load_builtins()


@pytest.mark.parametrize("name", sorted(set(ENCODERS) - {"timm", "torchvision", "hf_image", "hf_text"}))
def test_every_encoder_builds_from_registry_and_maps_batch_to_out_dim(name):
    cls = ENCODERS[name]
    field = FIELD_FOR_MODALITY[cls.modality]
    encoder = cls(SPECS[field], **encoder_params(name))
    output = encoder(make_batch()[field])
    assert output.shape == (3, encoder.out_dim)
    assert torch.isfinite(output).all()


def test_registry_lists_the_built_in_encoders_per_modality():
    assert encoders_for("image") == ["cnn", "resnet", "resnet18", "timm", "torchvision", "hf_image"]  # library backbones last
    assert encoders_for("text") == ["bag", "gru", "transformer", "hf_text"]
    assert encoders_for("audio") == ["audio_cnn"]
    assert encoders_for("array") == ["mlp", "array_cnn"]
    assert set(FUSIONS) == {"concat", "gated"}


def test_encoder_params_are_the_keyword_defaults_with_lists_as_lists():
    assert encoder_params("cnn") == {"width": 16, "depth": 3}
    assert encoder_params("resnet")["stage_widths"] == [16, 32, 64]
    assert encoder_params("transformer") == {
        "dim": 64, "layers": 2, "heads": 4, "ff_dim": 128, "dropout": 0.1, "positional": "sinusoidal",
    }
    with pytest.raises(ConfigError) as error:
        encoder_params("vgg", key="student.encoders.image.type")
    assert error.value.key == "student.encoders.image.type"


def test_default_encoder_depends_on_kind_and_array_shape():
    assert [default_encoder(kind) for kind in ("image", "text", "audio")] == ["cnn", "bag", "audio_cnn"]
    assert default_encoder("array", [10]) == "mlp"
    assert default_encoder("array", [8, 8]) == "array_cnn"
    assert default_encoder("array") == "mlp"


def test_resolve_encoder_params_checks_names_and_types():
    assert resolve_encoder_params("gru", {"hidden": 8}) == {"dim": 64, "hidden": 8, "layers": 1}
    with pytest.raises(ConfigError) as error:
        resolve_encoder_params("gru", {"hidden": 8.5}, key="teacher.encoders.text")
    assert error.value.key == "teacher.encoders.text.hidden"
    with pytest.raises(ConfigError):
        resolve_encoder_params("resnet", {"blocks": [1, True]})
    assert resolve_encoder_params("transformer", {"dropout": 0})["dropout"] == 0


@pytest.mark.parametrize(
    "type_, params",
    [("bag", {}), ("gru", {"layers": 2}), ("transformer", {}), ("transformer", {"positional": "learned"})],
)
def test_text_encoders_ignore_padding_tokens(type_, params):
    encoder = ENCODERS[type_](SPECS["text"], **params).eval()
    tokens = torch.tensor([[5, 9, 3, 0, 0], [7, 8, 2, 4, 6]])
    with torch.no_grad():
        reference = encoder(tokens)
        more_padding = encoder(torch.nn.functional.pad(tokens, (0, 4)))
        first_alone = encoder(tokens[:1, :3])
        all_padding = encoder(torch.zeros(1, 5, dtype=torch.long))
    torch.testing.assert_close(more_padding, reference)
    torch.testing.assert_close(first_alone, reference[:1])
    assert torch.isfinite(all_padding).all()


def test_resnet18_has_the_published_block_layout():
    encoder = ResNet18Encoder({"kind": "image", "channels": 3, "size": 32})
    blocks_per_stage = [sum(isinstance(m, BasicBlock) for m in stage) for stage in encoder.stages]
    widths = [stage[-1].conv2.out_channels for stage in encoder.stages]
    strides = [stage[0].conv1.stride[0] for stage in encoder.stages]
    assert blocks_per_stage == [2, 2, 2, 2]
    assert widths == [64, 128, 256, 512]
    assert strides == [1, 2, 2, 2]
    assert encoder.out_dim == 512
    # torchvision's resnet18 has 11,689,512 parameters, of which its 1000-class fc has 513,000.
    assert count_parameters(encoder) == 11_689_512 - 513_000


@pytest.mark.parametrize("fusion", ["concat", "gated"])
def test_fused_network_runs_forward_and_backward_through_every_encoder(fusion):
    fields = ["image", "text", "audio", "depth"]
    encoders = {"text": encoder_cfg("transformer", dim=16, layers=1, heads=2, ff_dim=32)}
    network = build_network(net_cfg(fields, fusion, encoders), SPECS, num_classes=4)
    output = network(make_batch())
    assert output.logits.shape == (3, 4) and output.embedding.shape == (3, 16)
    assert network.fields == fields and network.embed_dim == 16
    output.logits.sum().backward()
    for field in fields:
        grads = [p.grad for p in network.encoders[field].parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), field


def test_single_field_network_uses_defaults_for_unlisted_encoders():
    network = build_network(net_cfg(["depth", "vector"]), SPECS, num_classes=2)
    assert type(network.encoders["depth"]).registry_name == "array_cnn"
    assert type(network.encoders["vector"]).registry_name == "mlp"
    assert network(make_batch()).logits.shape == (3, 2)


@pytest.mark.parametrize(
    "cfg, key",
    [
        (net_cfg(["text"], encoders={"text": encoder_cfg("lstm")}), "teacher.encoders.text.type"),
        (net_cfg(["text"], encoders={"text": encoder_cfg("cnn")}), "teacher.encoders.text.type"),
        (
            net_cfg(["image"], encoders={"image": encoder_cfg("cnn", widht=8)}),
            "teacher.encoders.image.widht",
        ),
        (
            net_cfg(["text"], encoders={"text": encoder_cfg("transformer", dim=10, heads=4)}),
            "teacher.encoders.text.heads",
        ),
        (net_cfg(["vector"], encoders={"vector": encoder_cfg("array_cnn")}), "teacher.encoders.vector.type"),
        (net_cfg(["caption"]), "teacher.fields"),
        (net_cfg([]), "teacher.fields"),
        (net_cfg(["image"], fusion="sum"), "teacher.fusion"),
        (net_cfg(["image"], embed_dim=0), "teacher.embed_dim"),
    ],
)
def test_build_network_reports_config_mistakes_with_their_key(cfg, key):
    with pytest.raises(ConfigError) as error:
        build_network(cfg, SPECS, num_classes=2, name="teacher")
    assert error.value.key == key


def test_count_parameters_counts_weights_and_biases():
    assert count_parameters(nn.Linear(3, 2)) == 3 * 2 + 2
