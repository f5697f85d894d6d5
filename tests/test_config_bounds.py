"""Every number in the config has bounds, and validation names the key of a value outside them."""

from __future__ import annotations

import dataclasses

import pytest

from workbench import registry
from workbench.config import SECTIONS, ExperimentConfig, apply_overrides, config_to_toml
from workbench.engine.config_validation import validate_config


def _numeric_fields(cls: type, prefix: str):
    # The config uses postponed annotations: a field's type is the string "int" or "float".
    return [(f"{prefix}.{f.name}", f) for f in dataclasses.fields(cls) if f.type in ("int", "float")]


@pytest.mark.parametrize("section", ["data", "teacher", "student", "train"])
def test_every_number_of_data_network_and_train_has_both_bounds(section):
    fields = list(_numeric_fields(SECTIONS[section], section))
    assert fields
    for key, f in fields:
        assert f.metadata["low"] is not None and f.metadata["high"] is not None, key


def test_every_number_of_every_built_in_loss_term_has_both_bounds():
    registry.load_builtins()
    built_in = {name: cls for name, cls in registry.LOSSES.items() if cls.__module__ == "workbench.engine.losses"}
    assert len(built_in) >= 8
    for name, cls in built_in.items():
        numbers = [f for f in dataclasses.fields(cls.Options) if f.type in (int, float)]
        assert any(f.name == "weight" for f in numbers), name
        for f in numbers:
            assert f.metadata["low"] is not None and f.metadata["high"] is not None, f"loss.{name}.{f.name}"


@pytest.mark.parametrize("override, key, message", [
    ("train.lr=nan", "train.lr", "must be a finite number, got nan."),
    ("train.weight_decay=inf", "train.weight_decay", "must be a finite number, got inf."),
    ("loss.kd.temperature=-inf", "loss.kd.temperature", "must be a finite number, got -inf."),
    ("train.epochs=9223372036854775807", "train.epochs", "must be at most 100000, got 9223372036854775807."),
    ("student.embed_dim=9223372036854775807", "student.embed_dim", "must be at most 65536"),
    ("data.max_text_bytes=9223372036854775807", "data.max_text_bytes", "must be at most 1073741824"),
    ("train.batch_size=0", "train.batch_size", "must be at least 1, got 0."),
    ("loss.kd.temperature=1000", "loss.kd.temperature", "must be at most 100, got 1000."),
    ("loss.ce.weight=5000", "loss.ce.weight", "must be at most 1000, got 5000."),
    ("loss.dkd.beta=1e6", "loss.dkd.beta", "must be at most 1000, got 1000000."),
    ("loss.contrastive.temperature=0.001", "loss.contrastive.temperature", "must be at least 0.01, got 0.001."),
])
def test_hostile_numbers_are_refused_with_their_key(override, key, message):
    issues = validate_config(apply_overrides(ExperimentConfig(), [override]))
    found = [issue for issue in issues if issue.key == key]
    assert found and message in found[0].message


def test_the_toml_comments_state_the_range_that_validate_checks():
    text = config_to_toml(ExperimentConfig())
    assert "# Samples per batch. Range: 1 to 1048576.\nbatch_size = 32" in text
    assert "Peak learning rate. Range: above 0 to 100.\nlr = 0.001" in text
    assert "# Softmax temperature T. Range: 0.1 to 100.\ntemperature = 4.0" in text

