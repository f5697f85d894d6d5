"""The one definition of a run's result (engine/result.py): best checkpoint and last epoch, gain under each."""

from __future__ import annotations

import pytest

from workbench.engine.result import result_lines, run_result
from workbench.engine.runs import RunRecord

from test_trainer import finished_run, tiny_dataset  # noqa: F401  (fixtures)


def _validations(record: RunRecord, stage: str) -> list[dict]:
    return [e for e in record.events() if e["event"] == "validation" and e["stage"] == stage]


def test_the_summary_states_best_and_last_from_the_logged_validations(finished_run):
    trainer, _, summary = finished_run
    record = RunRecord.open(trainer.run_dir)
    block = record.summary["result"]
    assert block["metric"] == "val_accuracy" and block["gain_metric"] == "val_accuracy"
    student_stage = _validations(record, "student")
    last = student_stage[-1]
    for net in ("student", "baseline"):
        # last: the final epoch's figures, for student and baseline at the same epoch
        assert block["last"][net]["epoch"] == last["epoch"]
        assert block["last"][net]["val_accuracy"] == last["metrics"][net]["val_accuracy"]
        # best: each network's own best epoch by the configured metric (the first one on a tie)
        values = [e["metrics"][net]["val_accuracy"] for e in student_stage]
        best_epoch = student_stage[values.index(max(values))]["epoch"]
        assert block["best"][net]["epoch"] == best_epoch
        assert block["best"][net]["val_accuracy"] == max(values)
        # and that epoch is the one whose weights are in <net>-best.pt (what export and Try it use)
        from workbench.engine.checkpoint import load_checkpoint
        assert load_checkpoint(record.checkpoint_path(net, "best"))["epoch"] == best_epoch
    for selection in ("best", "last"):
        assert block[selection]["distillation_gain"] == pytest.approx(
            block[selection]["student"]["val_accuracy"] - block[selection]["baseline"]["val_accuracy"])
    assert "distillation_gain" not in summary  # no unlabelled gain next to the two labelled ones


def test_older_run_folders_give_the_same_answer_and_the_table_names_both():
    summary = {  # a summary written before the result block existed
        "student": {"val_accuracy": 0.40, "val_macro_f1": 0.39, "val_loss": 1.2, "best_val_accuracy": 0.45,
                    "best_val_macro_f1": 0.44, "best_val_loss": 1.1, "best_epoch": 7, "best_metric": "val_accuracy"},
        "baseline": {"val_accuracy": 0.42, "val_macro_f1": 0.41, "val_loss": 1.3, "best_val_accuracy": 0.44,
                     "best_epoch": 9, "best_metric": "val_accuracy"},
        "distillation_gain": -0.02}
    result = run_result(summary)
    assert result.gain["best"] == pytest.approx(0.01) and result.gain["last"] == pytest.approx(-0.02)
    assert result.net("best", "student").epoch == 7
    lines = result_lines(result)
    assert "best" in lines[0] and "last" in lines[0]
    assert lines[3] == "distillation gain (student minus baseline val accuracy): best +0.010, last -0.020"


def test_the_live_header_rebuilds_the_same_result_from_the_events(finished_run):
    """During a run the app has only the events: rebuilt from them, best and last match summary.json's."""
    from workbench.engine.result import summary_from_events

    trainer, _, summary = finished_run
    record = RunRecord.open(trainer.run_dir)
    live = run_result(summary_from_events(record.events(), "val_accuracy"))
    final = run_result(record.summary)
    assert live.nets == final.nets and live.gain == final.gain
