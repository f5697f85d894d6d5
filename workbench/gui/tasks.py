"""Short background jobs (dataset check, parameter counts, loading a run) on Qt's global thread pool.

A :class:`BackgroundJob` is a GUI-thread QObject: its ``succeeded``/``failed`` signals are
emitted from a pool thread and therefore delivered, queued, to the GUI-thread methods
connected to them. Whoever starts a job keeps it as a child until it reports, then calls
``deleteLater``. The window waits for the pool before it closes, so no job outlives it.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThreadPool, Signal

from workbench.errors import WorkbenchError


def describe_exception(error: BaseException) -> str:
    """A plain one-line message: a user's mistake as written, anything else with its type."""
    if isinstance(error, WorkbenchError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class BackgroundJob(QObject):
    """Runs ``function()`` on the global QThreadPool and reports its result or its error."""

    succeeded = Signal(object)
    failed = Signal(str, str)  # message, traceback

    def __init__(self, function: Callable[[], Any], parent: QObject):
        super().__init__(parent)
        self._function = function

    def start(self) -> None:
        QThreadPool.globalInstance().start(self._run)

    def _run(self) -> None:  # runs in a pool thread: it only emits
        try:
            result = self._function()
        except Exception as error:  # reported to the GUI, which shows it; the pool thread must not die
            self.failed.emit(describe_exception(error), traceback.format_exc())
            return
        self.succeeded.emit(result)


def wait_for_background_jobs(timeout_ms: int = 60_000) -> bool:
    """Block until every pool job has ended (used when the window closes)."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
