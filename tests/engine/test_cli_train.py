"""`workbench train` from the command line: user errors are one clear line and exit 2; Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import signal

import pytest

from workbench.cli import main
from workbench.config import config_to_toml
from workbench.engine import cli_train
from workbench.engine.runs import RunRecord, list_runs

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config


@pytest.fixture
def config_file(tiny_dataset, tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(config_to_toml(tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)), encoding="utf-8")
    return path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["train", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args, message", [
    (["--set", "train.epoch=3"], "error: Unknown key 'train.epoch' in section [train]. Did you mean 'epochs'?"),
    (["--set", "train.lr=-1"], "error: train.lr: must be greater than 0, got -1."),
    (["--set", "train.epochs=many"], "error: 'train.epochs' must be an integer, got 'many'."),
    (["--set", "data.root=/no/such/folder"], "error: data.root: Folder not found: /no/such/folder"),
    (["--set", 'student.fields=["depth"]'], "error: student.fields: the dataset has no field 'depth'. Its fields: "
                                            "image, text."),
])
def test_user_errors_exit_2_with_one_clear_message(capsys, config_file, args, message):
    code, out, err = run_cli(capsys, str(config_file), *args)
    assert code == 2
    assert err.strip().splitlines() == [message]
    assert "Traceback" not in err and out == ""


def test_an_unknown_key_in_the_file_suggests_the_closest(capsys, config_file):
    config_file.write_text(config_file.read_text(encoding="utf-8").replace("batch_size =", "batch_sise ="),
                           encoding="utf-8")
    code, _, err = run_cli(capsys, str(config_file))
    assert code == 2 and "Unknown key 'train.batch_sise'" in err and "Did you mean 'batch_size'?" in err


def test_a_dataset_with_nothing_trainable_is_a_user_error(capsys, config_file, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, str(config_file), "--set", f"data.root='{empty}'")
    assert code == 2 and err.startswith("error: ") and "cannot be trained on" in err


def test_train_without_a_config_says_what_to_give(capsys):
    code, _, err = run_cli(capsys)
    assert code == 2 and "workbench config --data DIR" in err


def test_ctrl_c_stops_cleanly_and_the_run_resumes_to_the_end(capsys, config_file, tmp_path, monkeypatch):
    original = cli_train.ProgressPrinter.on_train_batch_end

    def interrupt_at_batch_2(self, payload):
        original(self, payload)
        if payload["stage"] == "teacher" and payload["batch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli_train.ProgressPrinter, "on_train_batch_end", interrupt_at_batch_2)
    runs = tmp_path / "out"
    code, out, err = run_cli(capsys, str(config_file), "--out", str(runs))
    assert code == cli_train.EXIT_STOPPED
    (record,) = list_runs(runs)
    assert record.status == "stopped"
    assert "Stopping after the current batch" in err and f"workbench train --resume {record.path}" in err
    assert "status: stopped" in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler was put back

    monkeypatch.undo()
    code, out, err = run_cli(capsys, "--resume", str(record.path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["best", "val", "accuracy", "(epoch)", "best", "macro-F1", "last", "val", "accuracy",
                                "(epoch", "1)", "last", "macro-F1"]
    assert [line.split()[0] for line in lines[1:4]] == ["teacher", "student", "baseline"]
    assert lines[4].startswith("distillation gain (student minus baseline val accuracy): best ")
    assert lines[5].startswith("  best checkpoints (student epoch ") and "], p " in lines[5] and "significant" in lines[5]
    assert lines[6].startswith("  last epoch: ")
    assert lines[7].startswith("best = each network's checkpoint with the best val accuracy")
    assert lines[8].startswith("95% interval: paired bootstrap")
    assert lines[9] == f"status: finished; run folder: {record.path}"
    # Not a terminal: no bar, but one line per epoch.
    assert "Resuming in" in err and "Student epoch 1/1: val accuracy student" in err
    assert RunRecord.open(record.path).status == "finished"
    code, _, err = run_cli(capsys, "--resume", str(record.path))
    assert code == 2 and "nothing to resume" in err
