"""The run-folder reader: live files, long files, killed runs, listing."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from workbench.config import ExperimentConfig, save_config
from workbench.engine.runs import LIVE_SECONDS, RunRecord, RunWriter, create_run_dir, list_runs
from workbench.errors import WorkbenchError


def make_run(runs_dir, name="run", status="running"):
    run_dir = create_run_dir(runs_dir, name)
    save_config(ExperimentConfig(), run_dir / "config.toml")
    (run_dir / "summary.json").write_text(json.dumps({"status": status}), encoding="utf-8")
    return run_dir


def test_events_of_a_live_run_leave_out_the_half_written_last_line(tmp_path):
    run_dir = make_run(tmp_path)
    writer = RunWriter(run_dir)
    writer.on_stage_start({"stage": "teacher", "epochs": 2, "start_epoch": 0, "steps_per_epoch": 3})
    writer.on_train_batch_end({"stage": "teacher", "step": 1, "losses": {"total": float("nan")}})
    with open(run_dir / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"event": "train_batch", "stage": "tea')  # the writer is in the middle of a line
    events = RunRecord.open(run_dir).events()
    assert [e["event"] for e in events] == ["stage_start", "train_batch"]
    assert np.isnan(events[1]["losses"]["total"])
    writer.close()


def test_a_damaged_line_in_the_middle_costs_only_that_line(tmp_path):
    run_dir = make_run(tmp_path)
    (run_dir / "metrics.jsonl").write_text('{"event": "a"}\n{"event": \n{"event": "b"}\n', encoding="utf-8")
    assert [e["event"] for e in RunRecord.open(run_dir).events()] == ["a", "b"]


def test_a_long_metrics_file_loads_every_event_as_a_line_by_line_parse_would(tmp_path):
    """The batched parse in ``events()`` returns exactly what one ``json.loads`` per line gives; its speed
    (the reason for batching) is measured side by side in benchmarks/metrics_load.py, not asserted here."""
    run_dir = make_run(tmp_path)
    lines = [json.dumps({"event": "train_batch", "stage": "student", "epoch": 1 + i // 400, "batch": 1 + i % 400,
                         "step": i + 1, "lr": 0.001, "losses": {"ce": {"raw": 1.0 / (i + 1), "weighted": 0.5},
                                                                "total": 0.5}, "note": "标签 ✓"}, ensure_ascii=False)
             for i in range(5_000)]
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert RunRecord.open(run_dir).events() == [json.loads(line) for line in lines]


def test_a_killed_run_reads_as_stopped_once_its_log_is_quiet(tmp_path):
    live = make_run(tmp_path, "live")
    (live / "metrics.jsonl").write_text("", encoding="utf-8")
    assert RunRecord.open(live).status == "running"
    old = time.time() - LIVE_SECONDS - 10
    os.utime(live / "metrics.jsonl", (old, old))
    assert RunRecord.open(live).status == "stopped"
    assert RunRecord.open(make_run(tmp_path, "done", status="finished")).status == "finished"


def test_list_runs_finds_run_folders_only_oldest_first(tmp_path):
    first = make_run(tmp_path, "a")
    second = make_run(tmp_path, "a")  # same second: a suffix keeps them apart
    (tmp_path / "not-a-run").mkdir()
    assert first != second
    assert [record.path for record in list_runs(tmp_path)] == sorted([first, second])
    assert list_runs(tmp_path / "missing") == []


def test_missing_pieces_are_clear_errors(tmp_path):
    with pytest.raises(WorkbenchError, match="not found"):
        RunRecord.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkbenchError, match="not a run folder"):
        RunRecord.open(tmp_path / "empty")
    record = RunRecord.open(make_run(tmp_path))
    assert record.prediction_epochs("student") == [] and record.samples() == [] and record.events() == []
    with pytest.raises(WorkbenchError, match="no student predictions for epoch 3"):
        record.predictions("student", 3)
