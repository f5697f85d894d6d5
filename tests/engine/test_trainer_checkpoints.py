"""Checkpoints never run code when loaded, and a crash while writing never leaves a half-written file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from workbench.engine.checkpoint import load_checkpoint, save_checkpoint
from workbench.engine.runs import load_network
from workbench.engine.trainer import Trainer
from workbench.errors import WorkbenchError

from test_trainer import Recorder, tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config

FLAG = {"ran": False}


def _set_flag() -> None:
    FLAG["ran"] = True


class RunsCodeWhenUnpickled:
    """What a malicious checkpoint holds: unpickling it calls a function of the attacker's choice."""

    def __reduce__(self):
        return (_set_flag, ())


@pytest.fixture
def malicious_checkpoint(tmp_path) -> Path:
    path = tmp_path / "checkpoints" / "student-last.pt"
    path.parent.mkdir()
    torch.save({"format": 1, "model": {}, "payload": RunsCodeWhenUnpickled()}, path)
    FLAG["ran"] = False
    return path


def test_a_checkpoint_holding_code_is_refused_and_the_code_never_runs(malicious_checkpoint):
    with pytest.raises(WorkbenchError, match="Refused to load .*could run code"):
        load_checkpoint(malicious_checkpoint)
    assert FLAG["ran"] is False


def test_resume_and_load_network_refuse_it_too(tiny_dataset, tmp_path):
    recorder = Recorder(stop_at=("teacher", 1, 1))
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path), callbacks=[recorder])
    recorder.trainer = trainer
    trainer.fit()
    checkpoint = trainer.run_dir / "checkpoints" / "teacher-last.pt"
    FLAG["ran"] = False
    torch.save({"format": 1, "model": {}, "training": RunsCodeWhenUnpickled()}, checkpoint)
    with pytest.raises(WorkbenchError, match="could run code"):
        Trainer.resume(trainer.run_dir)
    with pytest.raises(WorkbenchError, match="could run code"):
        load_network(trainer.run_dir, "teacher", "last")
    assert FLAG["ran"] is False


def test_damaged_or_foreign_files_are_clear_errors(tmp_path):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(WorkbenchError, match="damaged or not a checkpoint"):
        load_checkpoint(damaged)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(WorkbenchError, match="not a workbench checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(WorkbenchError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "student-last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 1})

    def crash_half_way(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    monkeypatch.undo()
    content = load_checkpoint(path)
    assert content["epoch"] == 1 and torch.equal(content["model"]["w"], torch.ones(3))
    assert os.listdir(path.parent) == ["student-last.pt"]  # no temporary file left behind


def test_run_files_are_replaced_atomically_during_a_run(tiny_dataset, tmp_path, monkeypatch):
    """Every file of the run folder except the append-only metrics.jsonl is written as tmp + rename."""
    import workbench.atomic as atomic

    renamed: list[str] = []
    original_replace = os.replace

    def recording_replace(src, dst):
        assert Path(src).name.startswith(f".{Path(dst).name}.") and Path(src).parent == Path(dst).parent
        renamed.append(Path(dst).name)
        original_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", recording_replace)
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path, epochs=1))
    trainer.fit()
    written = {p.name for p in trainer.run_dir.rglob("*") if p.is_file()} - {"metrics.jsonl"}
    assert written <= set(renamed)
    assert not [p for p in trainer.run_dir.rglob(".*.tmp")]
