"""The app's training run: start, resume and stop it, own its thread, and hand its event stream to the views.

A :class:`RunSession` lives in the GUI thread. It starts a ``TrainingWorker`` in a fresh
QThread, receives the worker's event records in its own GUI-thread slot and re-emits each
one as ``event_received``: the live plots, the Live tab's progress, the run log and the
result views all connect to that one signal (worker -> session -> view). It also keeps
what belongs to the run rather than to a view: the run folder, the samples-per-second
rate, the error file of a failure the trainer could not record, and the garbage
collector's freeze while a run trains.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.atomic import atomic_write_text
from workbench.config import ExperimentConfig
from workbench.gui.worker import TrainingWorker

THROUGHPUT_WINDOW_S = 3.0


class _WarningRelay(logging.Handler):
    """Re-emits the ``workbench`` log's warnings (an experiment logger's, from its own thread) as a signal."""

    def __init__(self, signal: Any):
        super().__init__(logging.WARNING)
        self._signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        self._signal.emit(record.getMessage())


class RunSession(QObject):
    """One training run at a time, new or resumed; its events reach the views through ``event_received``."""

    # object, not dict: see worker.py (PySide6 would convert a dict to a QVariantMap).
    event_received = Signal(object)  # every event record of the run, in order, in the GUI thread
    run_finished = Signal(object)  # the summary (as summary.json) of a run that finished or was stopped
    run_failed = Signal(str, str)  # plain message, traceback
    stop_requested = Signal()
    running_changed = Signal(bool)
    warned = Signal(str)  # the ``workbench`` log's warnings while a run lasts (queued to the GUI thread)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.run_dir = ""  # known once the trainer has made its folder
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._failure_recorded = False
        self._samples: list[tuple[float, int]] = []  # (time, samples so far) over the last seconds
        self._samples_seen = 0
        self._warning_relay = _WarningRelay(self.warned)

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, config: ExperimentConfig, seeds: int = 1) -> None:
        """Train ``config`` (copied: later edits do not reach the running trainer); with ``seeds`` > 1, once per
        seed 0..N-1 in a study folder (engine/study.py), each run's events streamed in turn."""
        self.run_dir = ""
        self._start(TrainingWorker(config=config.copy(), seeds=seeds))

    def resume(self, run_dir: str | Path) -> None:
        """Continue a stopped (or killed) run from its last checkpoints, in its own folder."""
        self.run_dir = str(run_dir)
        self._start(TrainingWorker(resume_dir=str(run_dir)))

    def request_stop(self) -> None:
        """End the run after the current batch (it stays resumable)."""
        if self._worker is not None:
            self._worker.request_stop()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop a run and wait for its thread (closing the app); True when no thread is left."""
        if self._thread is None:
            return True
        self.request_stop()
        self._thread.quit()  # queued behind run(): the loop exits once the run has returned
        if not self._thread.wait(timeout_ms):
            return False
        self._release_thread()
        return True

    def samples_per_second(self) -> float | None:
        """Training samples per second over the last few seconds (None until two readings exist)."""
        now = time.monotonic()
        self._samples.append((now, self._samples_seen))
        while len(self._samples) > 2 and now - self._samples[0][0] > THROUGHPUT_WINDOW_S:
            self._samples.pop(0)
        (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and self.is_running() else None

    # ------------------------------------------------------------------ the thread

    def _start(self, worker: TrainingWorker) -> None:
        if self.is_running():
            raise RuntimeError("a run is already in progress")
        self._failure_recorded = False
        self._samples, self._samples_seen = [], 0
        # Objects alive now (torch, Qt wrappers, the app) are moved out of the collector's reach:
        # a full collection over them takes ~180 ms, holds the GIL and would stall the GUI mid-run.
        gc.freeze()
        thread = QThread()
        thread.setObjectName("training")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(worker.deleteLater)
        worker.folder_created.connect(self._on_worker_folder_created)
        worker.event_emitted.connect(self._on_worker_event_emitted)
        worker.finished.connect(self._on_worker_finished)
        worker.errored.connect(self._on_worker_errored)
        worker.stop_requested.connect(self._on_worker_stop_requested)
        self._thread, self._worker = thread, worker
        logging.getLogger("workbench").addHandler(self._warning_relay)
        thread.start()
        self.running_changed.emit(True)

    def _release_thread(self) -> None:
        thread = self._thread
        self._thread, self._worker = None, None
        logging.getLogger("workbench").removeHandler(self._warning_relay)
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
            gc.unfreeze()  # what the run's start froze may be collected again, now that no run trains
            self.running_changed.emit(False)

    # ------------------------------------------------------------------ worker handlers (GUI thread)

    @Slot(str)
    def _on_worker_folder_created(self, run_dir: str) -> None:
        self.run_dir = run_dir  # known before fit_start, so that an early failure can name its folder

    @Slot(object)
    def _on_worker_event_emitted(self, record: dict) -> None:
        # Up to ~1000 per second: count and pass on; views refresh from their timers.
        kind = record["event"]
        if kind == "train_batch":
            self._samples_seen += int(record.get("samples", 0))
        elif kind == "fit_start":
            self.run_dir = str(record.get("run_dir", self.run_dir))
        elif kind == "exception":
            self._failure_recorded = True
        self.event_received.emit(record)

    @Slot(object)
    def _on_worker_finished(self, record: dict) -> None:
        self._release_thread()
        self.run_finished.emit(record.get("summary", {"status": record.get("status", "stopped")}))

    @Slot(str, str)
    def _on_worker_errored(self, message: str, details: str) -> None:
        self._release_thread()
        self._write_error_file(details or message)
        if not self._failure_recorded:
            # The trainer failed before it could record it (e.g. building the run): the stream still says so.
            self.event_received.emit({"event": "exception", "message": message, "traceback": details,
                                      "stage": None, "step": 0})
        self.run_failed.emit(message, details)

    @Slot()
    def _on_worker_stop_requested(self) -> None:
        self.stop_requested.emit()

    def _write_error_file(self, details: str) -> None:
        """The trainer writes error.txt when it fails inside its loop; this covers failures around it."""
        if self.run_dir and Path(self.run_dir).is_dir() and not (Path(self.run_dir) / "error.txt").exists():
            atomic_write_text(Path(self.run_dir) / "error.txt", details)
