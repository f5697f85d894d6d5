"""GUI test fixtures: isolated settings and user folders, a tiny dataset, and a thread-leak check."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QSettings, QThread, QThreadPool

from workbench.config import ExperimentConfig
from workbench.gui.app import create_application

from tiny_runs import tiny_config, write_tiny_dataset


@pytest.fixture(autouse=True)
def no_thread_outlives_test(qapp):
    """Fail a test that leaves a QThread running, a pool job active, or a Python thread it started alive."""
    before = set(threading.enumerate())
    yield
    qapp.processEvents()
    # type(), not isinstance(): some objects warn when their __class__ is read.
    running = [obj for obj in gc.get_objects()
               if issubclass(type(obj), QThread) and shiboken6.isValid(obj) and obj.isRunning()
               and obj is not qapp.thread()]
    pool_jobs = QThreadPool.globalInstance().activeThreadCount()
    leaked = [t for t in threading.enumerate()
              if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)]
    assert not running, f"QThread(s) still running after the test: {[t.objectName() for t in running]}"
    assert pool_jobs == 0, f"{pool_jobs} background job(s) still running after the test"
    assert not leaked, f"Python thread(s) started by the test still alive: {leaked}"


@pytest.fixture(autouse=True)
def user_folders(tmp_path, monkeypatch, qapp):
    """AppDataLocation (the sample dataset, default runs folder) inside the test's tmp dir."""
    create_application()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return tmp_path


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture
def make_tiny_config(tiny_dataset, tmp_path):
    def make(epochs: int = 1) -> ExperimentConfig:
        return tiny_config(tiny_dataset, tmp_path / "runs", epochs, teacher_epochs=0)

    return make


@pytest.fixture
def make_window(qtbot, settings):
    """A shown MainWindow on a config, with its dataset checked and its parameters counted."""
    from workbench.gui.main_window import MainWindow

    windows = []

    def make(config: ExperimentConfig | None = None, wait_for_dataset: bool = True) -> MainWindow:
        window = MainWindow(config, settings)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if wait_for_dataset:
            wait_until_idle(qtbot, window)
        return window

    yield make
    for window in windows:
        window.session.shutdown()
        window.close()


@pytest.fixture
def make_results_view(qtbot):
    """A ResultsView that lives until the test has ended, then ends its job threads. Held only by a test's
    local variable, a view can be freed (and its running threads with it) before pytest-qt closes it."""
    from workbench.gui.results import ResultsView

    views = []

    def make() -> ResultsView:
        view = ResultsView()
        qtbot.addWidget(view)
        views.append(view)
        return view

    yield make
    for view in views:
        view.shutdown()


def wait_until_idle(qtbot, window, timeout: int = 30_000) -> None:
    """Until the dataset check, the parameter count and other background jobs have reported."""
    qtbot.waitUntil(lambda: window.overview is not None and window.is_idle(), timeout=timeout)
