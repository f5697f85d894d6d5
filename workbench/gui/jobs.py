"""The GUI's one mechanism for background work: one worker thread per runner, results back on the GUI thread.

An owner (a panel, a view, the window) submits plain Python callables (check a dataset,
count parameters, load an npz, run PCA, decode thumbnails, export a model); the worker
``QObject`` lives in its own ``QThread`` and reports each result with a signal. The
runner lives on the GUI thread and hands the result to the callback there, so callbacks
may touch widgets. Jobs submitted under a key replace a pending job with the same key,
and a newer job for a key makes an older one's result stale (newest wins): a slider
dragged across 30 epochs loads the last one, not all 30, and a folder checked while
another is still being checked reports only the newer one. No caller keeps a
generation counter of its own.

The owner shuts its runners down (``shutdown``: pending work is dropped, the running
job is waited for); every runner also shuts down when the application quits.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from collections import OrderedDict
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QWidget

from workbench.errors import describe_exception


class JobError(str):
    """What a failed job hands its error callback: the plain message (this string) and ``details``, the traceback."""

    details: str

    def __new__(cls, message: str, details: str = "") -> JobError:
        error = super().__new__(cls, message)
        error.details = details
        return error


class _JobWorker(QObject):
    """Runs queued jobs in its thread; newest-first when ``lifo`` (thumbnails of what is on screen now)."""

    job_finished = Signal(int, object)
    job_failed = Signal(int, str, str)  # job id, message, traceback

    def __init__(self, lifo: bool, max_pending: int | None):
        super().__init__()
        self._lock = threading.Lock()
        self._pending: OrderedDict[object, tuple[int, Callable[[], Any]]] = OrderedDict()
        self._lifo = lifo
        self._max_pending = max_pending
        self._stopping = False

    def enqueue(self, key: object, job_id: int, function: Callable[[], Any]) -> list[int]:
        """Queue a job (thread-safe); returns the ids of jobs it displaced."""
        dropped = []
        with self._lock:
            if key in self._pending:
                dropped.append(self._pending.pop(key)[0])
            self._pending[key] = (job_id, function)
            while self._max_pending is not None and len(self._pending) > self._max_pending:
                dropped.append(self._pending.popitem(last=False)[1][0])  # the oldest request
        return dropped

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._pending.clear()

    def restart(self) -> None:
        with self._lock:
            self._stopping = False

    @Slot()
    def drain(self) -> None:
        while True:
            with self._lock:
                if self._stopping or not self._pending:
                    return
                _, (job_id, function) = self._pending.popitem(last=self._lifo)
            try:
                result = function()
            except Exception as error:  # noqa: BLE001  (any failure is reported to the view)
                self.job_failed.emit(job_id, describe_exception(error), traceback.format_exc())
            else:
                self.job_finished.emit(job_id, result)


class JobRunner(QObject):
    """Owns a worker thread; ``submit`` a callable and get ``on_done(result)`` on the GUI thread.

    Call :meth:`shutdown` before the owner goes away (the views do it in ``closeEvent``).
    """

    _wake_requested = Signal()
    failed = Signal(str)  # a job without its own error handler failed: the message

    def __init__(self, name: str, parent: QObject | None = None, lifo: bool = False,
                 max_pending: int | None = None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _JobWorker(lifo, max_pending)
        self._worker.moveToThread(self._thread)
        self._wake_requested.connect(self._worker.drain)
        self._worker.job_finished.connect(self._on_worker_job_finished)
        self._worker.job_failed.connect(self._on_worker_job_failed)
        self._callbacks: dict[int, tuple[object, Callable[[Any], None], Callable[[str], None] | None]] = {}
        self._latest: dict[object, int] = {}
        self._ids = itertools.count(1)
        self._running = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def submit(self, key: object, function: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[JobError], None] | None = None) -> None:
        """Run ``function()`` in the worker; ``on_done(result)`` or ``on_error(JobError)`` follow on the GUI
        thread, unless a newer job under the same ``key`` was submitted meanwhile (its result wins)."""
        if not self._running:  # first job, or first since shutdown (a closed window shown again)
            self._worker.restart()
            self._thread.start()
            self._running = True
        job_id = next(self._ids)
        self._callbacks[job_id] = (key, on_done, on_error)
        self._latest[key] = job_id
        for dropped in self._worker.enqueue(key, job_id, function):
            dropped_key = self._callbacks.pop(dropped, (None,))[0]
            if self._latest.get(dropped_key) == dropped:
                del self._latest[dropped_key]
        self._wake_requested.emit()

    def is_pending(self, key: object) -> bool:
        """Whether a job under ``key`` is queued or running (a displaced one is not)."""
        return key in self._latest

    def is_idle(self) -> bool:
        """No job is queued or running whose result is still awaited."""
        return not self._latest

    def cancel_all(self) -> None:
        """Forget pending work and the results still to come (e.g. a different run was opened)."""
        self._callbacks.clear()
        self._latest.clear()

    def shutdown(self) -> None:
        self.cancel_all()
        self._worker.stop()
        if self._running:
            self._thread.quit()
            self._thread.wait()
            self._running = False

    def _take(self, job_id: int) -> tuple[Callable[[Any], None], Callable[[str], None] | None] | None:
        entry = self._callbacks.pop(job_id, None)
        if entry is None:
            return None
        key, on_done, on_error = entry
        if self._latest.get(key) != job_id:
            return None  # a newer job for the same key was submitted: this result is stale
        del self._latest[key]
        return on_done, on_error

    @Slot(int, object)
    def _on_worker_job_finished(self, job_id: int, result: object) -> None:
        callbacks = self._take(job_id)
        if callbacks is not None:
            callbacks[0](result)

    @Slot(int, str, str)
    def _on_worker_job_failed(self, job_id: int, message: str, details: str) -> None:
        callbacks = self._take(job_id)
        if callbacks is None:
            return
        if callbacks[1] is not None:
            callbacks[1](JobError(message, details))
        else:
            self.failed.emit(message)


class JobView(QWidget):
    """A view whose loading runs on its own :class:`JobRunner`, stopped on close and when the app quits.

    Child widgets get no close event of their own, so the window also calls ``shutdown``.
    """

    def __init__(self, runner_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._runner = JobRunner(runner_name, self)

    def shutdown(self) -> None:
        """Stop the worker threads; views with more of them extend this."""
        self._runner.shutdown()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
