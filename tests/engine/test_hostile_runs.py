"""Hostile surroundings of a run: out of memory, unusable or full run folders, leftovers of a kill."""

from __future__ import annotations

import errno
import json
import os

import pytest

from workbench import atomic
from workbench.engine.learner import Learner
from workbench.engine.runs import RunRecord
from workbench.engine.failures import OutOfMemory
from workbench.engine.trainer import Trainer
from workbench.errors import WorkbenchError

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config

CPU_ALLOCATOR_ERROR = ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
                       "tried to allocate 88167950336 bytes. Error code 12 (Cannot allocate memory)")


def fail_at(monkeypatch, target, name, error, after: int = 0):
    """Make ``target.name`` raise ``error`` from its ``after + 1``-th call on."""
    original = getattr(target, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


def test_out_of_memory_stops_with_where_and_what_to_do_and_the_run_resumes(tiny_dataset, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=2)
    trainer = Trainer(cfg)
    # The allocator fails in the student stage's 3rd batch: after the teacher's 4 optimizer steps and two
    # batches of the student and the baseline, one step each.
    with monkeypatch.context() as patch:
        fail_at(patch, Learner, "step", RuntimeError(CPU_ALLOCATOR_ERROR), after=4 + 2 * 2)
        with pytest.raises(OutOfMemory) as caught:
            trainer.fit()
    message = str(caught.value)
    assert message.startswith("Out of memory at the student stage, epoch 1, batch 3, batch size 8: try a smaller "
                              "batch (train.batch_size) or network.")
    record = RunRecord.open(trainer.run_dir)
    assert record.status == "failed" and record.summary["error"] == message
    assert Trainer.resume(trainer.run_dir).fit()["status"] == "finished"


@pytest.mark.parametrize("make_runs_dir, reason", [
    (lambda tmp: "/dev/null", "it is not a folder"),
    (lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file", "it is not a folder"),
    (lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file" / "runs", "Not a directory"),
])
def test_a_runs_dir_that_cannot_hold_folders_is_one_clear_error(tiny_dataset, tmp_path, make_runs_dir, reason):
    runs_dir = make_runs_dir(tmp_path)
    with pytest.raises(WorkbenchError) as caught:
        Trainer(tiny_config(tiny_dataset, runs_dir))
    assert str(caught.value) == (f"Cannot create a run folder in {runs_dir}: {reason}. Set train.runs_dir (or --out) "
                                 "to a folder you can write to.")


@pytest.mark.parametrize("code, advice", [(errno.ENOSPC, "free some space there"),
                                          (errno.EROFS, "the disk is read-only")])
def test_a_full_or_read_only_disk_mid_run_is_one_message_and_leaves_no_temp_file(tiny_dataset, tmp_path, monkeypatch,
                                                                                code, advice):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs")
    trainer = Trainer(cfg)
    with monkeypatch.context() as patch:
        # Every write after the first checkpoint fails as on a full disk: the checkpoint's bytes never land.
        fail_at(patch, atomic.os, "fsync", OSError(code, os.strerror(code)), after=4)
        with pytest.raises(atomic.WriteError) as caught:
            trainer.fit()
    assert str(caught.value).startswith("Cannot write ") and advice in str(caught.value)
    assert not list(trainer.run_dir.rglob("*.tmp"))
    # Space again: the run resumes from its last complete checkpoint and finishes.
    assert Trainer.resume(trainer.run_dir).fit()["status"] == "finished"


def test_resume_removes_the_temp_files_of_interrupted_writes_and_readers_ignore_them(tiny_dataset, tmp_path):
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path / "runs", epochs=2))
    trainer.request_stop()
    trainer.fit()
    run_dir = trainer.run_dir
    leftovers = [run_dir / ".summary.json.k2j3.tmp", run_dir / "checkpoints" / ".student-last.pt.a8x1.tmp",
                 run_dir / "predictions" / ".student-epoch001.npz.zz9q.tmp"]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half a file")
    record = RunRecord.open(run_dir)
    assert record.prediction_epochs("student") == [] and record.status == "stopped"
    assert json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["status"] == "stopped"

    resumed = Trainer.resume(run_dir)
    assert not list(run_dir.rglob("*.tmp"))
    assert resumed.fit()["status"] == "finished"
    assert not list(run_dir.rglob("*.tmp"))
