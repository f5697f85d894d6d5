"""A stopped run resumed from the window continues its Live history and says honestly where it is."""

from __future__ import annotations

from pathlib import Path

from workbench.engine.result import run_result
from workbench.engine.runs import RunRecord


def test_a_resumed_run_continues_the_live_curves_and_the_header(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=6))
    view, plots = window.run_view, window.live_plots
    window.start_run()
    assert view.stage_label.text() == "Preparing the data…" and not view.progress_bar.isVisible()
    qtbot.waitUntil(lambda: plots.history.counts.get("validation", 0) >= 1, timeout=30_000)
    with qtbot.waitSignal(window.session.run_finished, timeout=10_000):
        window.stop_run()
    # A stop is no finished stage: the bar covers the whole run and is far from full.
    assert view.stage_label.text().startswith("Teacher stage stopped at step ")
    assert 0 < view.progress_bar.value() < view.progress_bar.maximum()
    run_dir = Path(window.run_dir)

    assert window.resume_run(run_dir)
    assert window.status_bar.status_label.text() == "Training…"  # not "Run stopped", the state of the run before
    with qtbot.waitSignal(window.session.run_finished, timeout=60_000) as finished:
        pass
    assert finished.args[0]["status"] == "finished"
    assert view.progress_bar.value() == view.progress_bar.maximum()
    plots.redraw()

    events = RunRecord.open(run_dir).events()
    batches = [e for e in events if e["event"] == "train_batch"]
    validations = [e for e in events if e["event"] == "validation"]
    # Every point the folder holds is on the plots: the earlier epochs did not vanish, nor the steps restart.
    assert plots.curve("loss:teacher/total").xData.size == sum(e["stage"] == "teacher" for e in batches)
    assert plots.curve("loss:student/total").xData.size == sum(e["stage"] == "student" for e in batches)
    assert plots.curve("accuracy:teacher val").xData.size == sum(e["stage"] == "teacher" for e in validations)
    assert list(plots.curve("loss:teacher/total").xData) == sorted(plots.curve("loss:teacher/total").xData)
    # The header's best teacher is the run's best teacher, including the epochs before the stop.
    best_teacher = run_result(finished.args[0]).net("best", "teacher")
    assert f"teacher {best_teacher.accuracy:.3f} (epoch {best_teacher.epoch})" in plots.result_label.text()
