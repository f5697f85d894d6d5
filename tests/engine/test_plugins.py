"""Plug-ins: the docs' example loss term and encoder, loaded from a config, show up everywhere and train.

Also: a broken or missing plug-in is one ConfigError naming the file and line, and an
installed package's ``workbench.plugins`` entry point is loaded with the built-ins.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import torch

from workbench.cli import main
from workbench.config import config_to_dict, config_to_toml, load_config
from workbench.engine.losses import ObjectiveContext, describe_objective
from workbench.engine.config_validation import validate_config
from workbench.engine.models import NetworkOutput
from workbench.engine.runs import RunRecord, load_network
from workbench.engine.trainer import Trainer
from workbench.errors import ConfigError, WorkbenchError

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def plugin_config(isolated_registry, tiny_dataset, tmp_path):
    """A config file beside copies of both example plug-ins, listed by relative path, using both."""
    for name in ("similarity_loss.py", "mobile_encoder.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    data = config_to_dict(tiny_config(tiny_dataset, tmp_path / "runs", epochs=1))
    data["plugins"] = ["similarity_loss.py", "mobile_encoder.py"]
    data["loss"]["similarity"] = {"weight": 2.0, "source": "logits"}
    data["student"]["encoders"]["image"] = {"type": "mobile_cnn", "width": 4, "depth": 2}
    text = tomli_w.dumps(data)
    path = tmp_path / "exp.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_plugin_term_is_in_the_config_file_its_checks_and_the_objective_line(plugin_config):
    cfg = load_config(plugin_config)
    assert cfg.plugins == [str(plugin_config.parent / "similarity_loss.py"), str(plugin_config.parent / "mobile_encoder.py")]
    assert (cfg.loss.similarity.weight, cfg.loss.similarity.source) == (2.0, "logits")
    assert cfg.student.encoders["image"].type == "mobile_cnn"
    text = config_to_toml(cfg)
    assert "[loss.similarity]" in text
    assert "# Which outputs are compared. One of: embedding, logits." in text
    assert "L = 1.0·CE + 1.0·KD(T=4) + 2.0·SP(logits)" == describe_objective(cfg.loss)
    assert validate_config(cfg) == []
    cfg.loss.similarity.scale = 0.0  # its declared bound: > 0
    assert [(i.key, i.message) for i in validate_config(cfg)] == [("loss.similarity.scale", "must be greater than 0, got 0.")]


def test_a_plugin_term_and_encoder_train(plugin_config):
    summary = Trainer(load_config(plugin_config)).fit()
    assert summary["status"] == "finished"
    assert summary["objective"] == "L = 1.0·CE + 1.0·KD(T=4) + 2.0·SP(logits)"
    record = RunRecord.open(Path(summary["run_dir"]))
    batches = [e for e in record.events() if e["event"] == "train_batch" and e["stage"] == "student"]
    assert batches and all(np.isfinite(e["losses"]["similarity"]["raw"]) for e in batches)
    student, *_ = load_network(record.path, "student", "best")  # rebuilt from the run folder alone
    assert type(student.encoders["image"]).__name__ == "MobileConvEncoder"
    # The run folder's config names the plug-ins by absolute path, so it reloads anywhere.
    assert load_config(record.path / "config.toml").loss.similarity.weight == 2.0


def test_similarity_term_against_a_hand_computation(isolated_registry):
    from workbench.plugins import load_plugin_file

    load_plugin_file(EXAMPLES / "similarity_loss.py")
    options = isolated_registry.LOSSES["similarity"].Options(weight=1.0, source="embedding", scale=3.0)
    student = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    teacher = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    term = isolated_registry.LOSSES["similarity"](options, ObjectiveContext(3, 3, 2))
    value = term(NetworkOutput(student, student), NetworkOutput(teacher, teacher), {})

    def normalised_gram(x):
        gram = x @ x.T
        return gram / np.linalg.norm(gram, axis=1, keepdims=True)

    expected = 3.0 * ((normalised_gram(student.numpy()) - normalised_gram(teacher.numpy())) ** 2).sum() / 9
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_workbench_config_lists_a_plugin_term(isolated_registry, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "conf" / "exp.toml"
    out.parent.mkdir()
    assert main(["config", "--data", str(tiny_dataset), "--plugin", str(EXAMPLES / "similarity_loss.py"),
                 "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "[loss.similarity]" in text and "# Similarity-preserving KD (Tung & Mori 2019)" in text
    assert load_config(out).plugins == [str(EXAMPLES / "similarity_loss.py")]  # relative in the file, resolved


@pytest.mark.parametrize("source, line, error", [
    ("import torch\n\nraise RuntimeError('no GPU here')\n", 3, "RuntimeError: no GPU here"),
    ("def broken(:\n    pass\n", 1, "SyntaxError"),
    ("from workbench.engine.losses import LossTerm, register_loss\n\n\n"
     "@register_loss('kd')\nclass Again(LossTerm):\n    '''KD twice.'''\n", 4, "'kd' is already registered"),
])
def test_a_broken_plugin_names_its_file_and_line(isolated_registry, tmp_path, source, line, error):
    plugin = tmp_path / "mine.py"
    plugin.write_text(source, encoding="utf-8")
    (tmp_path / "exp.toml").write_text('plugins = ["mine.py"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "exp.toml")
    assert raised.value.key == "plugins"
    assert f"{plugin}, line {line}" in str(raised.value) and error in str(raised.value)


def test_a_missing_plugin_or_unknown_term_says_what_to_do(isolated_registry, tmp_path):
    (tmp_path / "exp.toml").write_text('plugins = ["nowhere.py"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="Plug-in file not found: .*nowhere.py. Paths in `plugins` are relative"):
        load_config(tmp_path / "exp.toml")
    (tmp_path / "exp.toml").write_text("[loss.similarity]\nweight = 1.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Unknown loss term 'loss.similarity'.*needs its file listed in `plugins`"):
        load_config(tmp_path / "exp.toml")


def test_an_installed_entry_point_plugin_is_loaded_with_the_builtins(isolated_registry, tmp_path, monkeypatch):
    package = tmp_path / "site"
    (package / "wb_extra").mkdir(parents=True)
    shutil.copy(EXAMPLES / "similarity_loss.py", package / "wb_extra" / "__init__.py")
    info = package / "wb_extra-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wb-extra\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[workbench.plugins]\nextra = wb_extra\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setattr(isolated_registry, "_loaded", False)
    monkeypatch.delitem(sys.modules, "wb_extra", raising=False)
    assert "similarity" in isolated_registry.loss_terms()

    (package / "wb_extra" / "__init__.py").write_text("raise ImportError('needs foo')\n", encoding="utf-8")
    monkeypatch.delitem(sys.modules, "wb_extra", raising=False)
    monkeypatch.setattr(isolated_registry, "_loaded", False)
    with pytest.raises(WorkbenchError, match=r"installed plug-in wb-extra .*extra = wb_extra.*line 1.*needs foo"):
        isolated_registry.loss_terms()


def test_listing_a_run_folder_runs_none_of_its_plugins(isolated_registry, tmp_path):
    marker = tmp_path / "ran.txt"
    plugin = tmp_path / "evil.py"
    plugin.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n", encoding="utf-8")
    run = tmp_path / "runs" / "20260101-000000-x"
    run.mkdir(parents=True)
    (run / "config.toml").write_text(f'plugins = ["{plugin}"]\n\n[loss.similarity]\nweight = 0.5\n', encoding="utf-8")
    record = RunRecord.open(run)
    assert config_to_dict(record.config)["loss"]["similarity"] == {"weight": 0.5}  # kept as written, not run
    assert not marker.exists()
    with pytest.raises(ConfigError, match="Unknown loss term 'loss.similarity'"):
        record.config_with_plugins()  # building the run imports its plug-ins (which register no such term)
    assert marker.read_text() == "ran"
