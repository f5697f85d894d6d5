"""RunsView: the runs table, overlaid curves, config diff and the run actions."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox

from workbench.config import ExperimentConfig
from workbench.gui.results import RunsView
from workbench.assets import run_palette
from workbench.gui.results.runs_view import _RUN_DIR_ROLE, COLUMNS, assign_colour_slots
from synthetic_runs import write_synthetic_run


@pytest.fixture
def runs(tmp_path):
    first = write_synthetic_run(tmp_path, "kd-t4", count=20, epochs=3, student_lr=1e-3, write_images=False)
    second = write_synthetic_run(tmp_path, "kd-t2", count=20, epochs=5, student_lr=3e-3, status="stopped", seed=1,
                                 write_images=False)
    return tmp_path, str(first), str(second)


@pytest.fixture
def view(qtbot, runs):
    widget = RunsView()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    with qtbot.waitSignal(widget.runs_listed, timeout=10_000) as listed:
        widget.set_runs_dir(str(runs[0]))
    assert listed.args == [2]
    return widget


def test_table_lists_runs_sortable_and_filterable(view):
    names = {view.proxy.index(row, 0).data() for row in range(view.proxy.rowCount())}
    assert names == {"20260101-000000-kd-t4", "20260101-000000-kd-t2"}
    status = COLUMNS.index("Status")
    view.table.sortByColumn(status, Qt.SortOrder.AscendingOrder)
    assert [view.proxy.index(row, status).data() for row in range(2)] == ["finished", "stopped"]
    # Every figure says which selection it is (engine/result.py): best checkpoint or last epoch.
    assert all("(best)" in title or "(last)" in title for title in COLUMNS[5:10])
    gains = {view.proxy.index(row, COLUMNS.index("Gain (last)")).data() for row in range(2)}
    assert gains == {f"{row.result.gain['last']:+.1%}" for row in view.rows.values()}
    view.table.sortByColumn(6, Qt.SortOrder.DescendingOrder)  # student accuracy, sorted as numbers
    student = [view.proxy.index(row, 6).data() for row in range(2)]
    assert student == sorted(student, key=lambda text: -float(text.rstrip("%")))
    view.filter_edit.setText("STOPPED")
    assert view.proxy.rowCount() == 1
    assert view.proxy.index(0, 0).data() == "20260101-000000-kd-t2"


def test_overlaid_runs_get_distinct_colours_in_selection_order(qtbot, view, runs):
    _, first, second = runs
    palette = [QColor(colour) for colour in run_palette()]
    with qtbot.waitSignal(view.curves_drawn, timeout=5000):
        view.select_runs([second])
    with qtbot.waitSignal(view.curves_drawn, timeout=5000) as drawn:
        view.select_runs([first, second])  # the first run joins second
    assert sorted(drawn.args[0]) == ["20260101-000000-kd-t2", "20260101-000000-kd-t4"]
    curves = view.overlay_curves
    assert set(curves) == {first, second}
    assert len(curves[first].xData) == 3 and len(curves[second].xData) == 5
    # The run selected first has the palette's first colour, the next one the second: never the same.
    assert curves[second].opts["pen"].color() == palette[0]
    assert curves[first].opts["pen"].color() == palette[1]
    assert len(view.legend.items) == 2
    names = {view.model.item(row, 0).data(_RUN_DIR_ROLE): view.model.item(row, 0).foreground().color()
             for row in range(view.model.rowCount())}
    assert names == {second: palette[0], first: palette[1]}  # the table names them in their curve's colour
    with qtbot.waitSignal(view.curves_drawn, timeout=5000) as drawn:
        view.select_runs([first])
    assert view.overlay_curves[first].opts["pen"].color() == palette[1]  # it keeps its colour
    view.refresh()
    qtbot.waitSignal(view.runs_listed, timeout=5000).wait()
    assert view.run_colour(first) == palette[1]  # and across a refresh of the list


def test_colour_slots_fill_the_lowest_free_place():
    slots = assign_colour_slots({}, ["a", "b", "c"], 10)
    assert slots == {"a": 0, "b": 1, "c": 2}
    assert assign_colour_slots(slots, ["a", "c", "d"], 10) == {"a": 0, "c": 2, "d": 1}
    assert len(set(assign_colour_slots({}, [str(i) for i in range(10)], 10).values())) == 10


def test_config_diff_lists_exactly_the_changed_keys(view, runs):
    _, first, second = runs
    view.select_runs([first, second])
    # The synthetic runs differ in their learning rate and (each has its own data folder) the dataset root.
    assert sorted(view.diff_keys()) == ["data.root", "train.lr"]
    row = view.diff_keys().index("train.lr")
    values = {view.diff_table.item(row, 1).text(), view.diff_table.item(row, 2).text()}
    assert values == {"0.001", "0.003"}
    view.select_runs([first])
    assert view.diff_keys() == []


def test_open_clone_and_resume_requests(qtbot, view, runs):
    _, first, second = runs
    view.select_runs([first])
    assert not view.resume_button.isEnabled()  # a finished run has nothing to resume
    with qtbot.waitSignal(view.open_run_requested) as opened:
        qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    assert opened.args == [first]
    with qtbot.waitSignal(view.clone_config_requested) as cloned:
        qtbot.mouseClick(view.clone_button, Qt.MouseButton.LeftButton)
    config = cloned.args[0]
    assert isinstance(config, ExperimentConfig) and config.train.lr == 1e-3
    view.select_runs([second])
    assert view.resume_button.isEnabled()
    with qtbot.waitSignal(view.resume_requested) as resumed:
        qtbot.mouseClick(view.resume_button, Qt.MouseButton.LeftButton)
    assert resumed.args == [second]


def test_delete_asks_first(qtbot, view, runs, monkeypatch):
    _, first, _ = runs
    view.select_runs([first])
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.StandardButton.Cancel)
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert (runs[0] / "20260101-000000-kd-t4").is_dir()
    monkeypatch.setattr(QMessageBox, "question", lambda *args: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(view.runs_listed, timeout=5000) as listed:
        qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert listed.args == [1]
    assert not (runs[0] / "20260101-000000-kd-t4").exists()


def test_a_run_with_a_damaged_config_is_listed_but_not_cloned(qtbot, view, runs):
    root, first, _ = runs
    (root / "20260101-000000-kd-t4" / "config.toml").write_text("this is [not toml", encoding="utf-8")
    with qtbot.waitSignal(view.runs_listed, timeout=5000) as listed:
        view.refresh()
    assert listed.args == [2]
    view.select_runs([first])
    assert view.open_button.isEnabled() and view.delete_button.isEnabled()
    assert not view.clone_button.isEnabled()
