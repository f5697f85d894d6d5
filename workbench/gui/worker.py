"""The one bridge between the GUI thread and training.

A :class:`TrainingWorker` (no parent) is moved to a QThread and runs the engine's
Trainer there; its callback only emits one signal, ``event_emitted``, with each event
record (the record the run folder's writer stores). ``gui.run_session.RunSession`` lives
in the GUI thread, owns the thread's lifecycle and passes the records on, so views
connect once and never to a worker that is gone.

Payload signals are declared ``Signal(object)`` and carry the hook's dict as is: PySide6
converts a ``Signal(dict)`` argument to a QVariantMap, which empties dicts holding numpy
arrays and aborts on non-string keys.

Stopping is cooperative: ``request_stop`` sets the trainer's flag (checked every batch);
the thread is then quit and waited for, never destroyed while running.
"""

from __future__ import annotations

import gc
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from workbench.config import ExperimentConfig
from workbench.engine.hooks import EventListener
from workbench.engine.study import run_seeds
from workbench.engine.trainer import Trainer
from workbench.errors import describe_exception


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
    ``gc.unfreeze()`` at the end of the next run (``RunSession._release_thread``), which also
    makes what a run froze collectable again.
    """
    gc.freeze()


class _EmittingCallback(EventListener):
    """Emits each event record from the worker's thread; it runs in the training thread and does nothing else."""

    def __init__(self, worker: TrainingWorker):
        super().__init__()
        self._worker = worker
        self.fit_end_payload: dict | None = None
        self.exception_payload: dict | None = None

    def on_event(self, record: dict) -> None:
        if record["event"] == "fit_start":
            # The data are prepared now: the dataset index and decoded samples live as long as the run,
            # one object or more per sample; scanned by the GUI thread's collector they would stall it.
            freeze_long_lived()
        elif record["event"] == "fit_end":
            self.fit_end_payload = record
        elif record["event"] == "exception":
            self.exception_payload = record
        self._worker.event_emitted.emit(record)


class TrainingWorker(QObject):
    """Runs one training run (new or resumed) when its thread starts; lives in that thread."""

    folder_created = Signal(str)  # the run folder, as soon as the trainer has made it (before fit_start)
    event_emitted = Signal(object)  # every event record (hooks.event_record), in order
    finished = Signal(object)  # the fit_end record: status ("finished"/"stopped") and summary
    errored = Signal(str, str)  # plain message, traceback
    stop_requested = Signal()

    def __init__(self, config: ExperimentConfig | None = None, resume_dir: str | None = None,
                 runs_dir: str | None = None, seeds: int = 1):
        super().__init__()
        if (config is None) == (resume_dir is None):
            raise ValueError("give either a config (new run) or resume_dir (continue a run)")
        self._config = config
        self._seeds = seeds  # > 1: the config with seeds 0..N-1, one run after the other, in a study folder
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
                self._started(Trainer.resume(self._resume_dir, callbacks=[callback])).fit()
            elif self._seeds > 1:
                # Each seed's run streams its events as a single run does; a stopped seed ends the study.
                run_seeds(self._config, self._seeds, self._runs_dir, lambda config, study_dir: self._started(
                    Trainer(config, callbacks=[callback], runs_dir=study_dir)))
            else:
                self._started(Trainer(self._config, callbacks=[callback], runs_dir=self._runs_dir)).fit()
        except Exception as error:  # the GUI shows it and stays usable
            failure = callback.exception_payload or {}
            self.errored.emit(describe_exception(error), failure.get("traceback") or traceback.format_exc())
            return
        if callback.exception_payload is not None:  # the trainer recorded a failure without raising
            self.errored.emit(callback.exception_payload.get("message", "Training failed."),
                              callback.exception_payload.get("traceback", ""))
            return
        self.finished.emit(callback.fit_end_payload or {"status": "stopped", "summary": {}})

    def _started(self, trainer: Trainer) -> Trainer:
        """Announce a new trainer's folder and hand it a stop asked for before it existed."""
        self.folder_created.emit(str(trainer.run_dir))
        with self._lock:
            self._trainer = trainer
            stop_now = self._stop_wanted
        if stop_now:
            trainer.request_stop()
        return trainer

    def request_stop(self) -> None:
        """Ask the run to end after the current batch; safe from any thread."""
        with self._lock:
            self._stop_wanted = True
            trainer = self._trainer
        if trainer is not None:
            trainer.request_stop()
        self.stop_requested.emit()
