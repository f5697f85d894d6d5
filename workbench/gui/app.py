"""``run_app``: the desktop app's entry point (``workbench`` with no subcommand)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication
from pyqtgraph.util.garbage_collector import GarbageCollector

from workbench.assets import icon_path, style_sheet
from workbench.config import load_config
from workbench.gui import qt_fixes

ORGANIZATION = "workbench"
APPLICATION = "Cross-Modal Distillation Workbench"
GC_INTERVAL_S = 0.5

# Python's cyclic garbage collector runs in whichever thread happens to allocate. When it
# frees Qt objects caught in reference cycles from the training thread or a pool thread,
# their C++ destructors run in the wrong thread and the process can crash (seen here: a
# segfault while "Garbage-collecting" in a background job). Automatic collection is
# therefore switched off and done by a GUI-thread timer instead (pyqtgraph's collector).
_garbage_collector: GarbageCollector | None = None


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, named so that QSettings and QStandardPaths find the user's folders, dressed
    in resources/ (icon, style sheet), with garbage collection moved to the GUI thread."""
    qt_fixes.install()  # before the app's first signals: see qt_fixes
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    if not app.styleSheet():
        app.setStyleSheet(style_sheet())
        app.setWindowIcon(QIcon(str(icon_path())))
    global _garbage_collector
    if _garbage_collector is None:
        _garbage_collector = GarbageCollector(interval=GC_INTERVAL_S)
    return app


def run_app(config_path: str | None = None) -> int:
    """Open the main window (on ``config_path`` if given) and run the event loop; returns the exit status."""
    app = create_application()
    config = load_config(config_path) if config_path else None  # a bad file ends as the CLI's "error: ..."
    from workbench.gui.main_window import MainWindow  # after QApplication: pyqtgraph needs it

    window = MainWindow(config, QSettings(), config_path=Path(config_path).resolve() if config_path else None)
    window.show()
    return app.exec()
