"""The data subcommands as a user runs them: sample, check, config."""

import json
import tomllib

import pytest

from workbench.cli import main
from workbench.config import config_from_dict
from workbench.engine.config_validation import validate_config


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "shapes"
    assert main(["sample", str(root), "--classes", "3", "--per-class", "10", "--image-size", "16"]) == 0
    return root


def test_sample_then_check_reports_a_trainable_dataset(sample_dir, capsys):
    capsys.readouterr()
    assert main(["check", str(sample_dir)]) == 0
    out = capsys.readouterr().out
    assert "class folders" in out
    assert "Trainable: yes" in out


def test_check_json_is_machine_readable(sample_dir, capsys):
    capsys.readouterr()
    assert main(["check", str(sample_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trainable"] is True
    assert report["layout"] == "class_folders"
    assert set(report["fields"]) == {"image", "text"}


def test_check_names_the_bad_file_and_keeps_going(sample_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    for class_dir in sample_dir.glob("*/*"):  # SPLIT/CLASS: a few samples of each, same layout
        (bad / class_dir.relative_to(sample_dir)).mkdir(parents=True)
        for item in sorted(class_dir.iterdir())[:8]:
            (bad / item.relative_to(sample_dir)).write_bytes(item.read_bytes())
    broken = sorted((bad / "train" / "circle").glob("*.png"))[0]
    broken.write_bytes(broken.read_bytes()[:40])  # a truncated PNG
    capsys.readouterr()
    assert main(["check", str(bad)]) == 0
    out = capsys.readouterr().out
    assert f"train/circle/{broken.name}" in out
    assert "Trainable: yes" in out


def test_check_exits_nonzero_with_advice_when_nothing_is_trainable(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["check", str(empty)]) == 1
    out = capsys.readouterr().out
    assert "Trainable: no" in out
    assert "Traceback" not in out


def test_config_prints_a_complete_loadable_config(sample_dir, capsys):
    capsys.readouterr()
    assert main(["config", "--data", str(sample_dir)]) == 0
    cfg = config_from_dict(tomllib.loads(capsys.readouterr().out))
    assert cfg.teacher.fields == ["image", "text"]
    assert cfg.student.fields == ["image"]
    assert cfg.teacher.encoders["text"].params, "every encoder parameter is spelled out"
    assert validate_config(cfg) == []


def test_config_with_an_unknown_field_is_one_clear_error(sample_dir, capsys):
    assert main(["config", "--data", str(sample_dir), "--student", "depth"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown field 'depth'")
    assert "image, text" in err


def test_the_app_without_a_display_is_one_clear_error(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No display found")
    assert "workbench sample, check, config, train" in err


@pytest.mark.parametrize("task, student_fields", [("vqa", ["image", "question"]), ("segmentation", ["image"])])
def test_sample_check_and_config_of_a_task(task, student_fields, tmp_path, capsys):
    folder = tmp_path / task
    assert main(["sample", "--task", task, str(folder), "--image-size", "16"]) == 0
    assert main(["check", str(folder)]) == 0
    assert "Trainable: yes" in capsys.readouterr().out
    assert main(["config", "--data", str(folder), "--out", str(tmp_path / "exp.toml")]) == 0
    cfg = config_from_dict(tomllib.loads((tmp_path / "exp.toml").read_text()))
    assert cfg.data.task == task and cfg.student.fields == student_fields
