"""The result views inside the main window: a run from Start shows in Results, Runs and Try it; Runs opens it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from workbench.gui.results import ResultsView, RunsView, TryItView


def click_start(qtbot, window) -> None:
    qtbot.mouseClick(window.toolbar.widgetForAction(window.start_action), Qt.MouseButton.LeftButton)


def tab_titles(window) -> list[str]:
    return [window.tabs.tabText(index) for index in range(window.tabs.count())]


def same_folder(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


def listed_run_dirs(runs: RunsView) -> list[str]:
    return list(runs.rows)


def test_a_run_from_start_shows_in_results_runs_and_try_it(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config(epochs=1))
    results, runs, try_it = window.results_view, window.runs_view, window.try_it
    assert isinstance(results, ResultsView) and isinstance(runs, RunsView) and isinstance(try_it, TryItView)
    assert tab_titles(window)[-4:] == ["Results", "Runs", "Studies", "Try it"]
    assert same_folder(runs.runs_dir, window.config.train.runs_dir)

    with qtbot.waitSignals([window.session.run_finished, try_it.run_ready, runs.runs_listed], timeout=60_000), \
            qtbot.waitSignal(results.latency_measured, timeout=60_000):
        click_start(qtbot, window)
        # The fit_start event names the run folder: the live views follow it at once.
        qtbot.waitUntil(lambda: bool(window.run_dir) and results.run_dir == window.run_dir, timeout=30_000)
        assert runs.live_run_dir == window.run_dir
    run_dir = window.run_dir
    assert not window.is_running()

    # Results: the run's last validation epoch in the metrics table, the checkpoint-level rows filled in.
    qtbot.waitUntil(lambda: results.predictions is not None and results.metrics_table.rowCount() > 0,
                    timeout=10_000)
    assert same_folder(results.run_dir, run_dir) and results.run is not None
    assert results.predictions.stage == "student"
    table = results.metrics_table
    columns = [table.horizontalHeaderItem(column).text() for column in range(table.columnCount())]
    assert {"Teacher", "Student"} <= set(columns)
    rows = {table.verticalHeaderItem(row).text(): row for row in range(table.rowCount())}
    for column, net in enumerate(columns):
        accuracy = table.item(rows["Accuracy"], column).text()
        assert accuracy.endswith("%"), (net, accuracy)
    student = columns.index("Student")
    assert "±" in table.item(rows["Latency per sample, ms (1 CPU thread)"], student).text()
    assert table.item(rows["Parameters"], student).text() != "—"

    # Runs: the finished run is listed, no longer as the live one.
    qtbot.waitUntil(lambda: any(same_folder(d, run_dir) for d in listed_run_dirs(runs)), timeout=10_000)
    assert runs.live_run_dir is None
    row = next(r for d, r in runs.rows.items() if same_folder(d, run_dir))
    assert row.status == "finished"

    # Try it: the newest run's networks are loaded.
    assert same_folder(try_it.run_dir, run_dir) and try_it.predictor is not None
    assert try_it.predict_button.isEnabled() and try_it.input_fields()

    # Opening the run from the Runs view: its curves in Live, its results current.
    window.tabs.setCurrentWidget(window.data_panel)
    window.live_plots.reset()
    assert not window.live_plots.history.series
    listed = next(d for d in listed_run_dirs(runs) if same_folder(d, run_dir))
    runs.select_runs([listed])
    with qtbot.waitSignal(results.run_loaded, timeout=20_000):
        qtbot.mouseClick(runs.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.is_idle() and bool(window.live_plots.history.series), timeout=20_000)
    assert window.tabs.currentWidget() is results
    assert same_folder(results.run_dir, listed) and same_folder(try_it.run_dir, listed)
    assert window.live_plots.history.counts.get("train_batch", 0) > 0
    assert window.live_plots.history.counts.get("validation", 0) > 0
    # Results stays current once the curves are in; its runners settle before the window closes.
    assert window.tabs.currentWidget() is results
    qtbot.waitUntil(lambda: try_it.predictor is not None, timeout=20_000)


def test_clone_config_loads_the_runs_config_untitled_and_unsaved(make_window, make_tiny_config, qtbot):
    config = make_tiny_config(epochs=1)
    window = make_window(config)
    cloned = config.copy()
    cloned.train.lr = 0.0123
    cloned.train.runs_dir = str(Path(config.train.runs_dir).parent / "other-runs")
    window.runs_view.clone_config_requested.emit(cloned)
    assert window.config.train.lr == 0.0123
    assert window.config_path is None and window.isWindowModified()
    assert window.windowTitle().startswith("Untitled")
    assert same_folder(window.runs_view.runs_dir, cloned.train.runs_dir)
    qtbot.waitUntil(lambda: window.is_idle() and not window.data_panel.is_checking(), timeout=20_000)
