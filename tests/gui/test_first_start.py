"""A new user: the sample dataset is one click away, and the app remembers datasets and layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

import workbench.gui.panels.data_panel as data_panel
from tests.gui.conftest import wait_until_idle
from workbench.gui.config_document import user_data_dir


@pytest.fixture(autouse=True)
def small_sample(monkeypatch):
    monkeypatch.setattr(data_panel, "SAMPLE_QUICK_START", {"classes": 3, "per_class": 10, "image_size": 16, "seed": 0})


def test_first_start_creates_and_loads_the_sample(make_window, qtbot, user_folders):
    window = make_window(None, wait_for_dataset=False)
    assert window.data_panel.first_start_banner.isVisible()
    assert not window.start_action.isEnabled()
    assert "data.root" in window.run_toolbar.start_reason.text()

    qtbot.mouseClick(window.data_panel.create_sample_button, Qt.MouseButton.LeftButton)  # click 1
    wait_until_idle(qtbot, window)

    sample = user_data_dir() / "sample"
    assert str(sample).startswith(str(user_folders))
    assert Path(window.config.data.root) == sample.resolve()
    assert window.overview.report.trainable
    assert not window.data_panel.first_start_banner.isVisible()
    assert window.config.teacher.fields == ["image", "text"] and window.config.student.fields == ["image"]
    assert window.config.train.runs_dir == str(user_data_dir() / "runs")
    assert window.start_action.isEnabled()  # click 2 would start training
    assert window.data_panel.problems_table.model().rowCount() == len(window.overview.report.problems)
    assert len(window.data_panel.preview_grid.cells) == 3
    assert all(isinstance(count, int) for count in window.model_panel.counts.values())


def test_recent_dataset_and_layout_are_remembered(make_window, qtbot, settings, tiny_dataset):
    first = make_window(None, wait_for_dataset=False)
    first.data_panel.check_folder(str(tiny_dataset))
    wait_until_idle(qtbot, first)
    first.resize(700, 500)  # inside the offscreen screen (800 x 600), which restoreGeometry respects
    first.close()
    assert settings.value("data/recent") in ([str(tiny_dataset)], str(tiny_dataset))

    second = make_window(None)  # reopens the last dataset by itself
    assert Path(second.config.data.root) == tiny_dataset
    assert (second.width(), second.height()) == (700, 500)
    assert not second.data_panel.first_start_banner.isVisible()
    assert second.data_panel.recent_menu.actions()[0].text() == str(tiny_dataset)


def test_dropping_a_folder_checks_it(make_window, qtbot, tiny_dataset):
    window = make_window(None, wait_for_dataset=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_dataset))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    window.data_panel.dropEvent(drop)
    wait_until_idle(qtbot, window)
    assert Path(window.config.data.root) == tiny_dataset


def test_problems_table_sorts_and_copies(make_window, qtbot, tmp_path, tiny_dataset):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_dataset, broken)
    victim = next(broken.glob("*/*.png"))
    victim.write_bytes(b"not a png")
    (broken / "stray.txt").write_text("loose file", encoding="utf-8")
    window = make_window(None, wait_for_dataset=False)
    window.data_panel.check_folder(str(broken))
    wait_until_idle(qtbot, window)

    table = window.data_panel.problems_table
    assert table.model().rowCount() >= 1
    table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    text = table.copy_selection()
    assert victim.name in text
    assert QApplication.clipboard().text() == text


def test_run_app_opens_the_window_for_a_new_user(qapp, qtbot):
    from PySide6.QtCore import QTimer

    from workbench.gui.app import run_app
    from workbench.gui.main_window import MainWindow

    seen = []

    def close_when_shown() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(50, close_when_shown)
            return
        seen.append(windows[0].data_panel.first_start_banner.isVisible())
        windows[0].close()

    QTimer.singleShot(50, close_when_shown)
    assert run_app(None) == 0
    assert seen == [True]


def test_a_folder_that_is_no_dataset_is_answered_and_not_remembered(make_window, qtbot, tmp_path, tiny_dataset):
    junk = tmp_path / "downloads"
    junk.mkdir()
    for i in range(300):
        (junk / f"file{i:03d}.bin").write_bytes(b"\0" * 16)
    window = make_window(None, wait_for_dataset=False)
    window.data_panel.check_folder(str(junk))
    qtbot.waitUntil(lambda: window.overview is not None and not window.data_panel.is_checking(), timeout=30_000)
    report = window.overview.report
    assert not report.trainable
    assert report.advice in window.data_panel.status_label.text()  # the answer, said where the user looks
    assert str(junk) not in window.data_panel.recent
    window.data_panel.check_folder(str(tiny_dataset))
    qtbot.waitUntil(lambda: window.overview.report.trainable and not window.data_panel.is_checking(), timeout=30_000)
    assert window.data_panel.recent[0] == str(tiny_dataset)
