"""``workbench train``: headless training with a progress bar and a closing summary table.

The first Ctrl-C asks the trainer to stop after the current batch (the run stays
resumable); a second one interrupts at once. Under ``torchrun`` (docs/distributed.md) the
same command runs in every process; rank 0 alone prints the progress and the summary.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from workbench.engine import distributed
from workbench.engine.events import describe_event
from workbench.engine.hooks import (
    Callback,
    ExceptionPayload,
    FitStartPayload,
    StageEndPayload,
    StageStartPayload,
    TrainBatchPayload,
    ValidationPayload,
    event_record,
)
from workbench.engine.result import result_lines, run_result
from workbench.errors import WorkbenchError

EXIT_STOPPED = 130  # what a shell reports for a run ended by Ctrl-C
_POSTFIX_SECONDS = 0.25  # the bar's text is rebuilt at most this often, not per batch


class ProgressPrinter(Callback):
    """A tqdm bar per stage (stage, epoch, loss, samples/s, ETA) on a terminal; one line per epoch otherwise."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.use_bar = not quiet and self.stream.isatty()
        self._bar: tqdm | None = None
        self._epochs = 0
        self._planned_epochs: dict[str, int] = {}
        self._rate = 0.0
        self._last_postfix = 0.0

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def on_fit_start(self, payload: FitStartPayload) -> None:
        self._planned_epochs = dict(payload["epochs"])
        self._print(describe_event(event_record("on_fit_start", payload)))

    def on_stage_start(self, payload: StageStartPayload) -> None:
        self._epochs = payload["epochs"]
        steps = payload["steps_per_epoch"]
        if self.use_bar:
            self._bar = tqdm(total=self._epochs * steps, initial=payload["start_epoch"] * steps,
                             desc=payload["stage"], unit="batch", file=self.stream, dynamic_ncols=True, leave=False)

    def on_train_batch_end(self, payload: TrainBatchPayload) -> None:
        if payload["seconds"] > 0:
            rate = payload["samples"] / payload["seconds"]
            self._rate = rate if self._rate == 0 else 0.9 * self._rate + 0.1 * rate
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.monotonic()
        if now - self._last_postfix >= _POSTFIX_SECONDS:
            self._last_postfix = now
            self._bar.set_postfix_str(f"epoch {payload['epoch']}/{self._epochs} loss {payload['losses']['total']:.4f} "
                                      f"{self._rate:,.0f} samples/s", refresh=False)

    def on_validation_end(self, payload: ValidationPayload) -> None:
        self._print(describe_event(event_record("on_validation_end", payload), self._planned_epochs)
                    + (f"; {self._rate:,.0f} samples/s" if self._rate else ""))

    def on_stage_end(self, payload: StageEndPayload) -> None:
        self.close()
        self._print(describe_event(event_record("on_stage_end", payload)))

    def on_exception(self, payload: ExceptionPayload) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def summary_table(summary: dict[str, Any]) -> str:
    """The closing table: each network's best checkpoint and last epoch, the gain under each, the run folder."""
    lines = result_lines(run_result(summary))
    lines.append(f"status: {summary['status']}; run folder: {summary['run_dir']}")
    return "\n".join(lines)


class _StopOnInterrupt:
    """While active, the first SIGINT requests a cooperative stop; the next one raises KeyboardInterrupt."""

    def __init__(self, trainer: Any, stream: TextIO, announce: bool = True):
        self.trainer = trainer
        self.stream = stream
        self.announce = announce
        self.interrupted = False
        self._previous: Any = None

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        self.trainer.request_stop()
        if self.announce:
            print("\nStopping after the current batch (Ctrl-C again to abort at once)...", file=self.stream, flush=True)


def train_from_cli(config_path: str | None, overrides: list[str], runs_dir: str | None, resume: str | None,
                   quiet: bool, seeds: int | None = None) -> int:
    """Train (or resume) from the command line; returns the exit status (0 finished, 130 stopped)."""
    from workbench.config import load_config
    from workbench.engine.trainer import Trainer

    if resume:
        if config_path or overrides or runs_dir or seeds:
            raise WorkbenchError("--resume continues a run with its own config and folder; "
                                 "drop CONFIG, --set, --out and --seeds.")
    elif not config_path:
        raise WorkbenchError("Give a config file (make one with `workbench config --data DIR > exp.toml`) "
                             "or --resume RUN_DIR.")
    if seeds is not None:
        return _train_seeds(load_config(config_path, overrides), seeds, runs_dir, quiet)
    # Under torchrun every process joins the group here; torchrun forwards a Ctrl-C to each once.
    with distributed.process_group() as context:
        progress = ProgressPrinter(sys.stderr, quiet)  # called on rank 0 only, as every callback
        if resume:
            trainer = Trainer.resume(Path(resume), callbacks=[progress])
        else:
            trainer = Trainer(load_config(config_path, overrides), callbacks=[progress], runs_dir=runs_dir)
        try:
            with _StopOnInterrupt(trainer, sys.stderr, announce=context.is_main):
                summary = trainer.fit()
        finally:
            progress.close()
    stopped = summary["status"] == "stopped"
    if context.is_main:
        print(summary_table(summary))
        if stopped:
            command = "the same torchrun command with -m workbench train" if context.enabled else "workbench train"
            print(f"Stopped. Continue with: {command} --resume {trainer.run_dir}", file=sys.stderr)
    return EXIT_STOPPED if stopped else 0


class _CurrentTrainer:
    """Stands for whichever trainer of a study is running, for the Ctrl-C handler."""

    trainer: Any = None

    def request_stop(self) -> None:
        if self.trainer is not None:
            self.trainer.request_stop()


def _train_seeds(cfg: Any, seeds: int, runs_dir: str | None, quiet: bool) -> int:
    """``workbench train CONFIG --seeds N``: seeds 0..N-1 in one study folder, then the study's table."""
    from workbench.engine.study import run_seeds, study_table
    from workbench.engine.trainer import Trainer

    if distributed.current().enabled:
        raise WorkbenchError("--seeds runs its seeds one after the other in one process; under torchrun, start "
                             "one torchrun per seed (--set train.seed=K) instead.")
    current = _CurrentTrainer()
    progress = ProgressPrinter(sys.stderr, quiet)

    def make_trainer(config: Any, study_dir: Path) -> Any:
        current.trainer = Trainer(config, callbacks=[progress], runs_dir=study_dir)
        return current.trainer

    def on_update(study_dir: Path, study: dict[str, Any]) -> None:
        trial = next(trial for trial in reversed(study["trials"]) if trial["state"] not in ("waiting", "running"))
        if not quiet:
            print(f"seed {trial['seed']}: {trial['state']}" + (f", gain {trial['gain']:+.3f}" if trial.get("gain")
                                                                is not None else ""), file=sys.stderr, flush=True)

    try:
        with _StopOnInterrupt(current, sys.stderr):
            study_dir, study = run_seeds(cfg, seeds, runs_dir, make_trainer, on_update)
    finally:
        progress.close()
    print(study_table(study))
    print(f"study folder: {study_dir}")
    stopped = any(trial["state"] == "stopped" for trial in study["trials"])
    if stopped:
        print("Stopped: the study ended at the stopped seed (resume its run with workbench train --resume RUN_DIR).",
              file=sys.stderr)
    return EXIT_STOPPED if stopped else 0
