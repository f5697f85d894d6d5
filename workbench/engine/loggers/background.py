"""One thread per experiment logger, and the one way a logger's trouble is reported: a warning, never an error."""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

from workbench.atomic import atomic_write_text
from workbench.engine.hooks import Callback

LOG = logging.getLogger("workbench")
WARNINGS_FILE = "warnings.txt"
# Records waiting for a backend that fell behind (a stalled server); past this many, new ones are dropped
# rather than held in memory without bound. At 30 batches/s that is ten minutes of training.
QUEUE_LIMIT = 20_000
# How long the end of a run waits for a logger to finish its last writes and uploads (artifacts).
CLOSE_TIMEOUT_S = 120.0

_warnings_lock = threading.Lock()


def warn_in_run(run_dir: Path, message: str) -> None:
    """Say ``message`` as a warning in the ``workbench`` log and append it to the run folder's warnings.txt."""
    LOG.warning(message)
    with _warnings_lock:
        path = Path(run_dir) / WARNINGS_FILE
        try:
            previous = path.read_text(encoding="utf-8") if path.exists() else ""
            atomic_write_text(path, previous + f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {message}\n")
        except OSError as error:  # the run folder's disk is the trouble: the log line above is all we can do
            LOG.warning("Cannot write %s: %s", path, error)


class Backend(Protocol):
    """What a logger does with each event; :class:`BackgroundLogger` calls it from its own thread."""

    def handle(self, event: str, payload: dict[str, Any], wall_time: float) -> None: ...

    def close(self) -> None: ...


_STOP = object()


class BackgroundLogger(Callback):
    """Queues every hook's payload for a backend run in a daemon thread; the backend's first error ends it.

    ``event`` names are those of the run folder's metrics.jsonl (``fit_start``, ``train_batch``, ...).
    The backend is built in the thread too, so a slow import or an unreachable server costs the
    training thread nothing. The run's end (``fit_end`` or ``exception``) waits up to
    ``close_timeout`` seconds for the backend to finish.
    """

    def __init__(self, name: str, run_dir: Path, make_backend: Callable[[], Backend],
                 close_timeout: float = CLOSE_TIMEOUT_S):
        self.name = name
        self.run_dir = Path(run_dir)
        self.close_timeout = close_timeout
        self._make_backend = make_backend
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        self._failed = threading.Event()
        self._dropped = 0
        self._thread = threading.Thread(target=self._work, name=f"{name} logger", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self._failed.is_set()

    # The hooks: each only queues its payload.

    def on_fit_start(self, payload: dict[str, Any]) -> None:
        self._submit("fit_start", payload)

    def on_stage_start(self, payload: dict[str, Any]) -> None:
        self._submit("stage_start", payload)

    def on_train_batch_end(self, payload: dict[str, Any]) -> None:
        self._submit("train_batch", payload)

    def on_validation_end(self, payload: dict[str, Any]) -> None:
        self._submit("validation", payload)

    def on_stage_end(self, payload: dict[str, Any]) -> None:
        self._submit("stage_end", payload)

    def on_fit_end(self, payload: dict[str, Any]) -> None:
        self._submit("fit_end", payload)
        self.close()

    def on_exception(self, payload: dict[str, Any]) -> None:
        self._submit("exception", payload)
        self.close()

    def close(self) -> None:
        """Let the backend finish what is queued (at most ``close_timeout`` s), then end the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=self.close_timeout)
        except queue.Full:
            pass
        self._thread.join(self.close_timeout)
        if self._thread.is_alive():
            self._warn(f"{self.name} logging had not finished {self.close_timeout:.0f} s after the run ended; "
                       "what it had not written yet is lost (the run folder has everything).")
        elif self._dropped:
            self._warn(f"{self.name} logging fell behind the training and dropped {self._dropped} records.")

    def _submit(self, event: str, payload: dict[str, Any]) -> None:
        if self._failed.is_set():
            return
        try:
            self._queue.put_nowait((event, payload, time.time()))
        except queue.Full:
            self._dropped += 1

    def _work(self) -> None:
        backend: Backend | None = None
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if self._failed.is_set():
                continue  # drain the queue so that the training thread never blocks on it
            event, payload, wall_time = item
            try:
                if backend is None:
                    backend = self._make_backend()
                backend.handle(event, payload, wall_time)
            except Exception as error:  # noqa: BLE001  (any failure of a logger must leave training alone)
                self._failed.set()
                self._warn(f"{self.name} logging stopped at the {event} event: {type(error).__name__}: {error}. "
                           "Training goes on; the run folder has everything.")
        if backend is not None:
            try:
                backend.close()
            except Exception as error:  # noqa: BLE001
                if not self._failed.is_set():
                    self._warn(f"{self.name} logging could not close cleanly: {type(error).__name__}: {error}")

    def _warn(self, message: str) -> None:
        warn_in_run(self.run_dir, message)
