"""Live plots: buffers keep every point, the timer redraws, smoothing is a debiased EMA."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.gui.history import RunHistory, ema
from workbench.gui.live_plots import NEW_CURVES_PER_TICK, LivePlots


def batch(stage: str, step: int, batches: int = 10) -> dict:
    epoch, index = divmod(step - 1, batches)
    return {"event": "train_batch", "stage": stage, "epoch": epoch + 1, "batch": index + 1, "batches": batches,
            "step": step, "samples": 8, "lr": 0.001, "seconds": 0.01,
            "losses": {"ce": {"raw": 1.0 / step, "weighted": 0.5 / step}, "total": 1.0 / step},
            "train_accuracy": {stage: min(1.0, step / 100)}}


def validation(stage: str, epoch: int, batches: int = 10) -> dict:
    metrics = {stage: {"val_loss": 1.0 / epoch, "val_accuracy": 0.5 + 0.1 * (epoch % 3)}}
    return {"event": "validation", "stage": stage, "epoch": epoch, "step": epoch * batches, "metrics": metrics}


def test_ema_is_debiased_and_continues_across_calls():
    values = np.random.default_rng(0).normal(size=300)
    beta = 0.9
    reference, biased = [], 0.0
    for t, y in enumerate(values, start=1):
        biased = beta * biased + (1 - beta) * y
        reference.append(biased / (1 - beta**t))
    head, state = ema(values[:77], beta)
    tail, _ = ema(values[77:], beta, state)
    np.testing.assert_allclose(np.concatenate([head, tail]), reference, rtol=1e-9, atol=1e-12)
    assert ema(values, 0.0)[0] == pytest.approx(values)


def test_history_puts_the_student_after_the_teacher():
    history = RunHistory()
    history.add_event({"event": "stage_start", "stage": "teacher", "epochs": 2, "start_epoch": 0,
                       "steps_per_epoch": 10})
    for step in range(1, 21):
        history.add_event(batch("teacher", step))
    history.add_event({"event": "stage_start", "stage": "student", "epochs": 1, "start_epoch": 0,
                       "steps_per_epoch": 10})
    history.add_event(batch("student", 1))
    student = history.series["loss:student/ce"]
    assert (student.x_step[0], student.x_epoch[0]) == (21.0, 2.1)
    assert history.stage_starts == [("teacher", 0.0, 0.0), ("student", 20.0, 2.0)]


def test_slots_only_append_and_the_timer_redraws_everything(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.add_event({"event": "stage_start", "stage": "student", "epochs": 500, "start_epoch": 0,
                     "steps_per_epoch": 10})
    for step in range(1, 5001):
        plots.add_event(batch("student", step))
        if step % 10 == 0:
            plots.add_event(validation("student", step // 10))
    assert plots.curve("loss:student/ce") is None  # nothing drawn per event

    with qtbot.waitSignal(plots.redrawn, timeout=2000):
        pass
    assert len(plots._curves) <= NEW_CURVES_PER_TICK  # new curves are spread over ticks
    shown = [name for name in plots.history.series if not name.startswith("weighted:")]  # "raw" is chosen
    qtbot.waitUntil(lambda: set(plots._curves) == set(shown) and not plots._dirty, timeout=5000)
    assert plots.curve("loss:student/ce").xData.size == 5000  # full resolution kept
    assert plots.curve("accuracy:student val").xData.size == 500
    assert plots.curve("val_loss:student val").xData.size == 500
    assert plots.curve("lr:student").xData.size == 5000
    smoothed = plots.curve("loss:student/ce").yData
    raw = plots.history.series["loss:student/ce"].y
    assert smoothed[0] == pytest.approx(raw[0]) and not np.allclose(smoothed, raw)
    assert plots._curves["loss:student/ce"].raw.yData.size == 5000  # the faint raw curve behind
    # The star and the header show the best checkpoint (engine/result.py): the first epoch with the best
    # val accuracy, epoch 2 here; the loss curve's star marks the same epoch, not its own minimum.
    best = plots._curves["accuracy:student val"].best
    assert (best.xData[0], best.yData[0]) == (20, pytest.approx(0.7))
    assert plots._curves["val_loss:student val"].best.xData[0] == 20
    assert "student 0.700 (epoch 2)" in plots.result_label.text()
    assert "Last epoch (500)</b> val accuracy: student 0.700" in plots.result_label.text()
    assert plots._curves["gain:distillation gain"].best is None if "gain:distillation gain" in plots._curves else True


def test_each_tick_redraws_one_plot_in_turn(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.show()
    plots.redraw_timer.stop()  # ticked by hand below
    for step in range(1, 11):
        plots.add_event(batch("teacher", step))
    drawn = []
    for _ in range(3):
        plots._on_redraw_timer_timeout()
        drawn.append({curve.plot_key for curve in plots._curves.values() if curve.version >= 0})
    assert drawn == [{"loss"}, {"loss", "accuracy"}, {"loss", "accuracy", "lr"}]  # the gain plot has no data
    assert not plots._dirty
    plots.add_event(batch("teacher", 11))  # news for three plots: the turn goes on from the lr plot, to loss
    plots._on_redraw_timer_timeout()
    up_to_date = {name: curve.version == plots.history.series[name].version for name, curve in plots._curves.items()}
    assert up_to_date == {"loss:teacher/ce": True, "loss:teacher/total": True, "accuracy:teacher train": False,
                          "lr:teacher": False}


def test_a_planned_run_gets_its_curves_and_legend_room_before_its_data(qtbot):
    from workbench.gui.plotting import legend_column

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 600)
    plots.show()
    plots.redraw_timer.stop()  # ticked by hand below
    fit_start = {"event": "fit_start", "run_dir": "", "stages": ["teacher", "student"],
                 "epochs": {"teacher": 1, "student": 1}, "steps_per_epoch": {"teacher": 10, "student": 10},
                 "loss_terms": {"teacher": ["ce", "total"], "student": ["ce", "kd", "total"]},
                 "trained_nets": {"teacher": ["teacher"], "student": ["student", "baseline"]}}
    plots.on_event(fit_start)
    plots._on_redraw_timer_timeout()  # the first tick makes room
    widths = {key: legend_column(legend).preferredWidth() for key, legend in plots.legends.items()}
    assert all(width > 0 for width in widths.values())  # room for the entries before any of them
    assert plots.result_label.isVisible()  # the header's lines too
    for _ in range(30):
        plots._on_redraw_timer_timeout()
    planned = [name for name in RunHistory.planned_series(fit_start) if not name.startswith("weighted:")]
    assert set(plots._curves) == set(planned) and "loss:student/kd" in plots._curves  # made ahead of the student
    for name, legend in plots.legends.items():
        assert legend_column(legend).preferredWidth() == widths[name]  # the entries fit the room made for them
    curves = dict(plots._curves)
    plots.on_event({"event": "stage_start", "stage": "student", "epochs": 1, "start_epoch": 0, "steps_per_epoch": 10})
    plots.on_event(batch("student", 1) | {"losses": {"ce": {"raw": 1.0, "weighted": 1.0},
                                                     "kd": {"raw": 0.5, "weighted": 0.5}, "total": 1.5},
                                          "train_accuracy": {"student": 0.5, "baseline": 0.4}, "baseline_loss": 1.0})
    for _ in range(4):
        plots._on_redraw_timer_timeout()
    assert plots._curves == curves  # the change of stage created nothing: it filled the planned curves
    assert plots.curve("loss:student/kd").yData.size == 1


def test_display_options_redraw_without_losing_points(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    for step in range(1, 31):
        plots.add_event(batch("teacher", step))
    plots.redraw()

    plots.x_combo.setCurrentText("epoch")
    plots.loss_combo.setCurrentText("weighted")
    plots.smoothing_slider.setValue(0)
    plots.log_check.setChecked(True)
    plots.redraw()

    assert plots.curve("loss:teacher/ce") is None
    weighted = plots.curve("weighted:teacher/ce")
    assert weighted.xData[-1] == pytest.approx(3.0)  # 30 steps of 10 batches: epoch 3
    assert weighted.yData == pytest.approx(plots.history.series["weighted:teacher/ce"].y)
    assert plots.plots["loss"].ctrl.logYCheck.isChecked()
    assert "at epoch" in plots.readout.describe_at("loss", 1.0)


def test_epochs_count_from_one_in_each_stage(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.add_event({"event": "stage_start", "stage": "teacher", "epochs": 3, "start_epoch": 0, "steps_per_epoch": 10})
    for step in range(1, 31):
        plots.add_event(batch("teacher", step))
    plots.add_event({"event": "stage_start", "stage": "student", "epochs": 3, "start_epoch": 0, "steps_per_epoch": 10})
    for step in range(1, 21):
        plots.add_event(batch("student", step))
    plots.x_combo.setCurrentText("epoch")
    plots.redraw()
    axis = plots.plots["loss"].getAxis("bottom")
    assert axis.stage_starts == [3.0]
    assert axis.tickStrings([1, 3, 4, 5], 1, 1) == ["1", "3", "1", "2"]  # the student's epochs 1 and 2
    assert axis.labelText == "epoch of each stage"
    plots.x_combo.setCurrentText("step")
    plots.redraw()
    assert axis.stage_starts == [] and axis.tickStrings([40], 1, 1) == ["40"]


def shown_after_a_teacher_stage(qtbot) -> LivePlots:
    """Plots shown at 1280 px wide with a 3-epoch teacher stage drawn and laid out."""
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(1280, 600)
    plots.show()
    for step in range(1, 31):
        plots.add_event(batch("teacher", step))
    plots.add_event(validation("teacher", 3))
    plots.redraw()
    qtbot.wait(50)  # the layout places the legends
    return plots


def test_legends_sit_outside_the_data_and_the_readout_only_reads_data(qtbot):
    from PySide6.QtCore import QPointF

    plots = shown_after_a_teacher_stage(qtbot)
    for key, plot in plots.plots.items():
        legend, data = plots.legends[key].sceneBoundingRect(), plot.vb.sceneBoundingRect()
        assert legend.left() >= data.right() - 1, key  # right of the data area (they may touch)
    assert len(plots.legends["loss"].items) >= 2

    view = plots.plots["loss"].vb
    inside = view.mapViewToScene(QPointF(15, 0.5))
    plots.readout.on_mouse_moved((inside,))
    assert plots.readout.text().startswith("Loss terms") and plots.readout.cursors["loss"].isVisible()
    beyond = view.mapViewToScene(QPointF(200, 0.5))  # right of the last point, still in the view box
    if view.sceneBoundingRect().contains(beyond):
        plots.readout.on_mouse_moved((beyond,))
        assert plots.readout.text().startswith("Hover") and not plots.readout.cursors["loss"].isVisible()
    plots.readout.on_mouse_moved((inside,))
    plots.reset("another run")  # a new run: the read-out of the old one goes
    assert plots.readout.text().startswith("Hover") and not plots.readout.cursors["loss"].isVisible()

    width = plots.width()
    plots.readout.setText("x" * 2000)
    plots.result_label.setText("y" * 2000)
    assert plots.minimumSizeHint().width() < width  # long text never widens the window


def test_stacked_plots_show_the_same_steps(qtbot):
    """The loss plot's legend is wider than the learning rate's below it; with linked x axes pyqtgraph lines
    the two views up on screen, so unequal data areas showed the learning rate over a longer x range."""
    plots = shown_after_a_teacher_stage(qtbot)
    for top, below in (("loss", "lr"), ("accuracy", "gain")):
        upper, lower = plots.plots[top].vb, plots.plots[below].vb
        assert lower.sceneBoundingRect().width() == pytest.approx(upper.sceneBoundingRect().width(), abs=1)
        assert lower.viewRange()[0] == pytest.approx(upper.viewRange()[0], rel=0.01)
