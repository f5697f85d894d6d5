"""Runs from the window: Start trains through the worker thread, Stop ends it, errors and closing are safe."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from workbench.engine.runs import RunRecord


def click_start(qtbot, window) -> None:
    button = window.toolbar.widgetForAction(window.start_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def events_by_kind(run_dir: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for event in RunRecord.open(Path(run_dir)).events():
        grouped.setdefault(event["event"], []).append(event)
    return grouped


def test_a_tiny_run_from_the_start_button_plots_every_logged_point(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=2))
    started = []
    window.session.event_received.connect(
        lambda record: started.append(record["run_dir"]) if record["event"] == "fit_start" else None)

    with qtbot.waitSignal(window.session.run_finished, timeout=60_000) as finished:
        click_start(qtbot, window)
        assert window.is_running() and not window.start_action.isEnabled() and window.stop_action.isEnabled()
    window.live_plots.redraw()

    assert finished.args[0]["status"] == "finished"
    assert started == [window.run_dir]
    events = events_by_kind(window.run_dir)
    plots = window.live_plots
    for stage in ("teacher", "student"):
        batches = [e for e in events["train_batch"] if e["stage"] == stage]
        validations = [e for e in events["validation"] if e["stage"] == stage]
        assert batches and validations
        assert plots.curve(f"loss:{stage}/total").xData.size == len(batches)
        assert plots.curve(f"lr:{stage}").xData.size == len(batches)
        assert plots.curve(f"accuracy:{stage} train").xData.size == len(batches)
        assert plots.curve(f"accuracy:{stage} val").xData.size == len(validations)
    student_validations = [e for e in events["validation"] if e["stage"] == "student"]
    assert plots.curve("accuracy:baseline val").xData.size == len(student_validations)
    assert plots.curve("gain:distillation gain").xData.size == len(student_validations)
    assert not window.is_running() and window.start_action.isEnabled() and not window.stop_action.isEnabled()
    assert "Run finished" in window.log_view.toPlainText()

    # The run folder alone gives the same curves back.
    shown = {name: buffer.size for name, buffer in plots.history.series.items()}
    window.open_run(window.run_dir)
    qtbot.waitUntil(lambda: window.is_idle(), timeout=10_000)
    assert {name: buffer.size for name, buffer in window.live_plots.history.series.items()} == shown

    # Its teacher can be reused by the next run.
    model = window.model_panel
    assert model.run_combo.findData(str(Path(window.run_dir).resolve())) >= 0
    model.reuse_radio.setChecked(True)
    assert window.config.teacher.checkpoint == model.run_combo.currentData()
    assert window.start_action.isEnabled()


def test_stop_ends_the_run_quickly_and_leaves_it_resumable(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=40))
    window.start_run()
    qtbot.waitUntil(lambda: window.live_plots.history.counts.get("train_batch", 0) >= 3, timeout=30_000)

    with qtbot.waitSignal(window.session.run_finished, timeout=5_000) as finished:
        qtbot.keyClick(window, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)  # Stop's shortcut
        assert window.run_view.run_label.text() == "Stopping…"
    assert finished.args[0]["status"] == "stopped"
    run_dir = Path(window.run_dir)
    assert json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["status"] == "stopped"

    # Resuming continues where it stopped, in the same folder.
    assert window.resume_run(run_dir)
    assert window.is_running()
    qtbot.waitUntil(lambda: window.live_plots.history.counts.get("train_batch", 0) >= 1, timeout=30_000)
    with qtbot.waitSignal(window.session.run_finished, timeout=10_000):
        window.stop_run()
    assert Path(window.run_dir) == run_dir
    assert not window.is_running()


def test_a_failing_run_shows_the_error_and_the_next_run_starts(make_window, make_tiny_config, qtbot, monkeypatch):
    from workbench.engine import losses

    def broken_forward(*_args, **_kwargs):
        raise RuntimeError("the loss exploded on purpose")

    window = make_window(make_tiny_config())
    with monkeypatch.context() as patch:
        patch.setattr(losses.Objective, "forward", broken_forward)
        with qtbot.waitSignal(window.session.run_failed, timeout=60_000):
            click_start(qtbot, window)

    dialog = window.error_dialog
    assert isinstance(dialog, QMessageBox) and dialog.isVisible()
    assert "the loss exploded on purpose" in dialog.text()
    assert "Traceback" in dialog.detailedText() and "broken_forward" in dialog.detailedText()
    assert "the loss exploded on purpose" in (Path(window.run_dir) / "error.txt").read_text(encoding="utf-8")
    assert "Run failed" in window.log_view.toPlainText()
    assert window.start_action.isEnabled()
    dialog.accept()
    assert window.error_dialog is None

    with qtbot.waitSignal(window.session.run_finished, timeout=60_000) as finished:
        assert window.start_run()
    assert finished.args[0]["status"] == "finished"


def test_closing_during_a_run_asks_then_stops_it_cleanly(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=40))
    window.start_run()
    qtbot.waitUntil(lambda: window.live_plots.history.counts.get("train_batch", 0) >= 2, timeout=30_000)

    window.close()
    assert window.isVisible() and window.is_running()  # not closed before the user answers
    question = window.close_question
    assert question is not None and question.isVisible()
    with qtbot.waitSignal(window.session.run_finished, timeout=5_000) as finished:
        qtbot.mouseClick(question.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    assert finished.args[0]["status"] == "stopped"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2_000)
    assert not window.is_running()


def test_declining_to_close_keeps_training(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=40))
    window.start_run()
    qtbot.waitUntil(lambda: window.live_plots.history.counts.get("train_batch", 0) >= 1, timeout=30_000)
    window.close()
    qtbot.mouseClick(window.close_question.button(QMessageBox.StandardButton.No), Qt.MouseButton.LeftButton)
    assert window.isVisible() and window.is_running()
    with qtbot.waitSignal(window.session.run_finished, timeout=5_000):
        window.stop_run()
