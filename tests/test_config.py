"""The config: TOML round trip, overrides, and validation messages a user can act on."""

import dataclasses
import subprocess
import sys
import tomllib

import pytest

from workbench.config import (EncoderConfig, ExperimentConfig, apply_overrides, config_from_dict, config_to_dict,
                              config_to_toml, load_config, save_config)
from workbench.engine.config_validation import check_config, validate_config
from workbench.errors import ConfigError
from workbench.registry import resolve_encoder_params


def _non_default_config(tmp_path) -> ExperimentConfig:
    cfg = ExperimentConfig()
    cfg.data.root = str(tmp_path)
    cfg.data.field_types = {"depth map": "array"}
    cfg.data.grayscale = ["depth map"]
    cfg.teacher.fields = ["image", "text"]
    cfg.teacher.encoders = {"image": EncoderConfig("cnn", {"width": 8, "depth": 2}),
                            "text": EncoderConfig("gru", {"dim": 16, "hidden": 16, "layers": 1})}
    cfg.teacher.fusion = "gated"
    cfg.student.fields = ["image"]
    cfg.student.encoders = {"image": EncoderConfig("cnn", {"width": 4, "depth": 1})}
    cfg.loss.kd.temperature = 2.5
    cfg.loss.feature.weight = 0.1
    cfg.loss.reconstruction.target = "input_image"
    cfg.train.schedule = "cosine"
    cfg.train.lr = 3e-4
    cfg.train.baseline = False
    return cfg


def test_toml_round_trip_keeps_every_field(tmp_path):
    cfg = _non_default_config(tmp_path)
    path = tmp_path / "exp.toml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert config_from_dict(tomllib.loads(config_to_toml(cfg, comments=False))) == cfg


def test_commented_toml_explains_each_key():
    text = config_to_toml(ExperimentConfig())
    assert "# Softmax temperature T." in text
    assert "One of: adam, adamw, sgd." in text
    for section in ("[data]", "[teacher]", "[student]", "[loss.kd]", "[train]"):
        assert section in text


def test_overrides_parse_toml_values_and_bare_words():
    cfg = apply_overrides(ExperimentConfig(), ["loss.kd.temperature=2", "train.device=cuda:1",
                                               "teacher.fields=[\"image\", \"text\"]",
                                               "student.encoders.image.type=resnet"])
    assert cfg.loss.kd.temperature == 2.0 and isinstance(cfg.loss.kd.temperature, float)
    assert cfg.train.device == "cuda:1"
    assert cfg.teacher.fields == ["image", "text"]
    assert cfg.student.encoders["image"].type == "resnet"


@pytest.mark.parametrize("override, key, hint", [
    ("loss.kd.temprature=2", "loss.kd.temprature", "Did you mean 'temperature'?"),
    ("trian.epochs=2", "trian", "Did you mean 'train'?"),
    ("train.epochs=abc", "train.epochs", "must be an integer"),
    ("train.epochs", "train.epochs", "section.key=value"),
])
def test_bad_override_names_the_key(override, key, hint):
    with pytest.raises(ConfigError) as error:
        apply_overrides(ExperimentConfig(), [override])
    assert error.value.key == key
    assert hint in str(error.value)


def test_unknown_key_in_file_suggests_the_closest(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("[train]\nepoch = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        load_config(path)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[train\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.toml is not valid TOML"):
        load_config(path)


def test_relative_data_root_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "data").mkdir()
    path = tmp_path / "exp.toml"
    path.write_text('[data]\nroot = "data"\n', encoding="utf-8")
    assert load_config(path).data.root == str((tmp_path / "data").resolve())


def test_validation_reports_each_bad_value_with_its_key(tmp_path):
    cfg = _non_default_config(tmp_path)
    cfg.loss.kd.temperature = 0.0
    cfg.train.optimizer = "adamx"
    cfg.train.device = "gpu"
    cfg.student.encoders["image"] = EncoderConfig("cnn", {"widht": 4})
    keys = {issue.key: issue.message for issue in validate_config(cfg)}
    assert "at least 0.1" in keys["loss.kd.temperature"]
    assert "adamx" in keys["train.optimizer"]
    assert "train.device" in keys
    assert "Did you mean 'width'" in keys["student.encoders.image.widht"]
    with pytest.raises(ConfigError):
        check_config(cfg)


def test_a_valid_config_has_no_issues(tmp_path):
    cfg = _non_default_config(tmp_path)
    assert validate_config(cfg) == []
    assert check_config(cfg) is cfg


@pytest.mark.parametrize("params", [{"stage_widths": ["16", "32"]}, {"stage_widths": [16.0, 32]},
                                    {"blocks": [1, True]}, {"stem_width": 16.5}, {"stem_width": True}])
def test_encoder_params_that_cannot_build_are_refused_by_validate(tmp_path, params):
    """validate_config applies the registry's own parameter check, so Start is never enabled for a config that
    build_network then refuses (it once accepted stage_widths = ["16", "32"] for a resnet)."""
    cfg = _non_default_config(tmp_path)
    cfg.teacher.encoders["image"] = EncoderConfig("resnet", params)
    (name,) = params
    issues = {issue.key: issue.message for issue in validate_config(cfg)}
    assert f"teacher.encoders.image.{name}" in issues
    with pytest.raises(ConfigError):
        resolve_encoder_params("resnet", params)


def test_an_encoder_parameter_outside_its_declared_choices_is_refused(tmp_path):
    """hf_text declares pooling's choices (param_options); its constructor refuses others, so validation does."""
    cfg = _non_default_config(tmp_path)
    cfg.teacher.encoders["text"] = EncoderConfig("hf_text", {"pooling": "max"})
    issues = {issue.key: issue.message for issue in validate_config(cfg)}
    assert issues == {"teacher.encoders.text.pooling": "'max' is not one of: cls, mean."}


def test_encoder_params_that_build_are_accepted(tmp_path):
    cfg = _non_default_config(tmp_path)
    cfg.teacher.encoders["image"] = EncoderConfig("resnet", {"stage_widths": [16, 32], "stem_width": 8})
    assert validate_config(cfg) == []


def test_all_terms_off_is_refused(tmp_path):
    cfg = _non_default_config(tmp_path)
    for term in cfg.loss.terms().values():
        term.weight = 0.0
    assert any(issue.key == "loss" for issue in validate_config(cfg))


def test_copy_is_deep():
    cfg = ExperimentConfig()
    clone = cfg.copy()
    clone.teacher.fields.append("image")
    assert cfg.teacher.fields == []
    assert dataclasses.asdict(cfg) != dataclasses.asdict(clone)
    assert config_to_dict(cfg)["teacher"]["fields"] == []


def test_the_config_and_its_own_checks_load_no_torch():
    """The bottom layer's import-linter contract covers import statements; this covers what runs: reading a
    config file and its torch-free checks (``section_issues``) load no torch (the registry's classes would)."""
    code = ("import sys, tempfile, pathlib; from workbench.config import load_config, ExperimentConfig;"
            "from workbench.config.validation import section_issues;"
            "path = pathlib.Path(tempfile.mkdtemp()) / 'c.toml'; path.write_text('[train]\\nepochs = 3\\n');"
            "issues = section_issues(load_config(path)) + section_issues(ExperimentConfig());"
            "print(len(issues), 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["6", "False"]
