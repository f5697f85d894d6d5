"""The one bridge between the GUI thread and training.

A :class:`TrainingWorker` (no parent) is moved to a QThread and runs the engine's
Trainer there; its callback only emits signals, with the engine's plain-data hook
payloads. A :class:`TrainingController` lives in the GUI thread, owns the thread's
lifecycle and re-emits the worker's signals from its own GUI-thread slots, so the
window connects once and never to a worker that is gone.

Payload signals are declared ``Signal(object)`` and carry the hook's dict as is: PySide6
converts a ``Signal(dict)`` argument to a QVariantMap, which empties dicts holding numpy
arrays and aborts on non-string keys.

Stopping is cooperative: ``request_stop`` sets the trainer's flag (checked every batch);
the thread is then quit and waited for, never destroyed while running.
"""

from __future__ import annotations

import gc
import logging
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.config import ExperimentConfig
from workbench.engine.hooks import Callback
from workbench.engine.trainer import Trainer
from workbench.gui.tasks import describe_exception


def warm_up_engine() -> None:
    """Import what a first run would otherwise import inside the worker thread.

    The first optimiser step makes torch import torch._dynamo (and sympy): ~800 modules,
    each also passing PySide6's import hook. Done in the worker, those imports hold the GIL
    in bursts and stall the GUI thread by up to 300 ms; done once in the background when the
    window opens, they are cached before anyone presses Start.

    The imports leave ~100 000 long-lived objects (functions, tuples, type aliases) in the
    collector's young generations; the GUI thread's collector (see ``app.py``) would scan
    them all in one generation-1 collection, measured at 80-210 ms on the GUI thread some
    seconds into the first run. They are frozen instead (see :func:`freeze_long_lived`).
    """
    import torch._dynamo  # noqa: F401

    freeze_long_lived()


def freeze_long_lived() -> None:
    """Move every object alive now out of the cyclic collector's reach (``gc.freeze``).

    For objects that live as long as the app or the run (imported modules, a run's prepared
    data and dataset index). ``gc.freeze`` collects nothing and runs no finalizer, so it is
    safe in any thread. Garbage that happens to be pending at that moment waits for the
    ``gc.unfreeze()`` at the end of the next run (``MainWindow._end_of_run``), which also
    makes what a run froze collectable again.
    """
    gc.freeze()


class _EmittingCallback(Callback):
    """Forwards each hook payload to the worker's signals; it runs in the worker thread and does nothing else."""

    def __init__(self, worker: TrainingWorker):
        super().__init__()
        self._worker = worker
        self.fit_end_payload: dict | None = None
        self.exception_payload: dict | None = None

    def on_fit_start(self, payload: dict) -> None:
        # The data are prepared now: the dataset index and decoded samples live as long as the run,
        # one object or more per sample; scanned by the GUI thread's collector they would stall it.
        freeze_long_lived()
        self._worker.started.emit(payload)

    def on_stage_start(self, payload: dict) -> None:
        self._worker.stage_started.emit(payload)

    def on_train_batch_end(self, payload: dict) -> None:
        self._worker.batch_finished.emit(payload)

    def on_validation_end(self, payload: dict) -> None:
        self._worker.validation_finished.emit(payload)

    def on_stage_end(self, payload: dict) -> None:
        self._worker.stage_finished.emit(payload)

    def on_fit_end(self, payload: dict) -> None:
        self.fit_end_payload = payload

    def on_exception(self, payload: dict) -> None:
        self.exception_payload = payload


class TrainingWorker(QObject):
    """Runs one training run (new or resumed) when its thread starts; lives in that thread."""

    folder_created = Signal(str)  # the run folder, as soon as the trainer has made it (before fit_start)
    started = Signal(object)  # the on_fit_start payload: run_dir, device, stages, ...
    stage_started = Signal(object)
    batch_finished = Signal(object)
    validation_finished = Signal(object)
    stage_finished = Signal(object)
    finished = Signal(object)  # the on_fit_end payload: status ("finished"/"stopped") and summary
    errored = Signal(str, str)  # plain message, traceback
    stop_requested = Signal()

    def __init__(self, config: ExperimentConfig | None = None, resume_dir: str | None = None,
                 runs_dir: str | None = None):
        super().__init__()
        if (config is None) == (resume_dir is None):
            raise ValueError("give either a config (new run) or resume_dir (continue a run)")
        self._config = config
        self._resume_dir = resume_dir
        self._runs_dir = runs_dir
        self._lock = threading.Lock()
        self._trainer: Any = None
        self._stop_wanted = False

    @Slot()
    def run(self) -> None:
        """Build the trainer and fit; every exception ends as ``errored``, never in Qt's event loop."""
        # The trainer sets its CPU thread count (train.cpu_threads) itself, as it does in the CLI.
        self._fit(_EmittingCallback(self))

    def _fit(self, callback: _EmittingCallback) -> None:
        try:
            if self._resume_dir is not None:
                trainer = Trainer.resume(self._resume_dir, callbacks=[callback])
            else:
                trainer = Trainer(self._config, callbacks=[callback], runs_dir=self._runs_dir)
            self.folder_created.emit(str(trainer.run_dir))
            with self._lock:
                self._trainer = trainer
                stop_now = self._stop_wanted
            if stop_now:
                trainer.request_stop()
            trainer.fit()
        except Exception as error:  # the GUI shows it and stays usable
            failure = callback.exception_payload or {}
            self.errored.emit(describe_exception(error), failure.get("traceback") or traceback.format_exc())
            return
        if callback.exception_payload is not None:  # the trainer recorded a failure without raising
            self.errored.emit(callback.exception_payload.get("message", "Training failed."),
                              callback.exception_payload.get("traceback", ""))
            return
        self.finished.emit(callback.fit_end_payload or {"status": "stopped", "summary": {}})

    def request_stop(self) -> None:
        """Ask the run to end after the current batch; safe from any thread."""
        with self._lock:
            self._stop_wanted = True
            trainer = self._trainer
        if trainer is not None:
            trainer.request_stop()
        self.stop_requested.emit()


class _WarningRelay(logging.Handler):
    """Re-emits the ``workbench`` log's warnings (an experiment logger's, from its own thread) as a signal."""

    def __init__(self, signal: Any):
        super().__init__(logging.WARNING)
        self._signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        self._signal.emit(record.getMessage())


class TrainingController(QObject):
    """Starts runs in a fresh QThread, forwards their signals, and ends the thread cleanly.

    While a run lasts, the ``workbench`` log's warnings come out as ``warned`` (queued to the GUI thread).
    """

    folder_created = Signal(str)
    run_started = Signal(object)
    stage_started = Signal(object)
    batch_finished = Signal(object)
    validation_finished = Signal(object)
    stage_finished = Signal(object)
    run_finished = Signal(object)
    run_failed = Signal(str, str)
    stop_requested = Signal()
    running_changed = Signal(bool)
    warned = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._warning_relay = _WarningRelay(self.warned)

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, config: ExperimentConfig | None = None, resume_dir: str | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a run is already in progress")
        worker = TrainingWorker(config=config.copy() if config is not None else None, resume_dir=resume_dir)
        thread = QThread()
        thread.setObjectName("training")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(worker.deleteLater)
        worker.folder_created.connect(self._on_worker_folder_created)
        worker.started.connect(self._on_worker_started)
        worker.stage_started.connect(self._on_worker_stage_started)
        worker.batch_finished.connect(self._on_worker_batch_finished)
        worker.validation_finished.connect(self._on_worker_validation_finished)
        worker.stage_finished.connect(self._on_worker_stage_finished)
        worker.finished.connect(self._on_worker_finished)
        worker.errored.connect(self._on_worker_errored)
        worker.stop_requested.connect(self._on_worker_stop_requested)
        self._thread, self._worker = thread, worker
        logging.getLogger("workbench").addHandler(self._warning_relay)
        thread.start()
        self.running_changed.emit(True)

    def request_stop(self) -> None:
        if self._worker is not None:
            self._worker.request_stop()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop a run and wait for its thread (closing the app); True when no thread is left."""
        if self._thread is None:
            return True
        self.request_stop()
        thread = self._thread
        thread.quit()  # queued behind run(): the loop exits once the run has returned
        if not thread.wait(timeout_ms):
            return False
        self._release_thread()
        return True

    def _release_thread(self) -> None:
        thread = self._thread
        self._thread, self._worker = None, None
        logging.getLogger("workbench").removeHandler(self._warning_relay)
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
            self.running_changed.emit(False)

    @Slot(str)
    def _on_worker_folder_created(self, run_dir: str) -> None:
        self.folder_created.emit(run_dir)

    @Slot(object)
    def _on_worker_started(self, payload: dict) -> None:
        self.run_started.emit(payload)

    @Slot(object)
    def _on_worker_stage_started(self, payload: dict) -> None:
        self.stage_started.emit(payload)

    @Slot(object)
    def _on_worker_batch_finished(self, payload: dict) -> None:
        self.batch_finished.emit(payload)

    @Slot(object)
    def _on_worker_validation_finished(self, payload: dict) -> None:
        self.validation_finished.emit(payload)

    @Slot(object)
    def _on_worker_stage_finished(self, payload: dict) -> None:
        self.stage_finished.emit(payload)

    @Slot(object)
    def _on_worker_finished(self, payload: dict) -> None:
        self._release_thread()
        self.run_finished.emit(payload)

    @Slot(str, str)
    def _on_worker_errored(self, message: str, details: str) -> None:
        self._release_thread()
        self.run_failed.emit(message, details)

    @Slot()
    def _on_worker_stop_requested(self) -> None:
        self.stop_requested.emit()
