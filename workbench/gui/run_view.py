"""The Live tab (progress of the current stage with ETA above the live plots) and the run log.

Both read the run's event stream (``RunSession.event_received``) directly.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from workbench.engine.events import describe_event
from workbench.gui.jobs import JobError, JobRunner
from workbench.gui.live_plots import LivePlots

LOG_LINES = 5000


def load_events(run_dir: str) -> list[dict]:
    from workbench.engine.runs import RunRecord

    return list(RunRecord.open(Path(run_dir)).events())


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class StageProgress:
    """Steps done in the current stage and an ETA from the pace since the stage (re)started."""

    def __init__(self, payload: dict):
        self.stage = payload["stage"]
        self.epochs = int(payload.get("epochs", 1))
        self.steps_per_epoch = max(1, int(payload.get("steps_per_epoch", 1)))
        self.first_step = int(payload.get("start_epoch", 0) or 0) * self.steps_per_epoch
        self.total_steps = self.epochs * self.steps_per_epoch
        self.step = self.first_step
        self.epoch = int(payload.get("start_epoch", 0) or 0)
        self.started = time.monotonic()
        self.ended = False  # its stage_end came: the label says how it ended, the timer leaves it

    def update(self, batch: dict) -> None:
        self.step, self.epoch = int(batch["step"]), int(batch["epoch"])

    def eta_seconds(self) -> float | None:
        done = self.step - self.first_step
        if done <= 0:
            return None
        return (time.monotonic() - self.started) / done * (self.total_steps - self.step)


class RunView(QWidget):
    """Progress bar, stage and ETA, then the plots.

    The bar covers the whole run (every stage that will train, from ``fit_start``), so it reads
    100 % only when the run has finished: not at the change of stage, not after a stop, not
    after a failure. The label says the stage, and a stop or a failure in words.
    """

    past_run_opened = Signal(str, int)  # run folder, events shown
    past_run_failed = Signal(str, str)  # message, traceback

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.live = False  # a run of this session is being shown as it trains
        self._loader = JobRunner("live-history", self)
        self.progress: StageProgress | None = None
        self.latest_batch: dict | None = None  # shown by show_progress, from a timer: batches come too fast
        self.stage_steps: dict[str, int] = {}  # the run's planned steps per stage, in training order
        self.run_label = QLabel("No run yet: press Start (Ctrl+R).", self)
        self.stage_label = QLabel(self)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%p% of the run")
        self.progress_bar.setMinimumWidth(180)  # room for its text on one line
        self.progress_bar.setMaximumWidth(320)
        # Its room is kept while it is hidden: showing it at a stage's start must not re-lay out the plots below.
        policy = self.progress_bar.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.progress_bar.setSizePolicy(policy)
        self.progress_bar.hide()
        self.plots = LivePlots(self)
        header = QHBoxLayout()
        header.addWidget(self.run_label, 1)
        header.addWidget(self.stage_label)
        header.addWidget(self.progress_bar)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.plots, 1)

    def begin_run(self, text: str = "Starting…") -> None:
        """A run was asked for: nothing of the one before stays in the header."""
        self.live = True
        self._loader.cancel_all()  # a past run still being read is not shown over the live one
        self.progress, self.latest_batch, self.stage_steps = None, None, {}
        self.run_label.setText(text)
        self.stage_label.setText("Preparing the data…")
        self.progress_bar.hide()
        self.progress_bar.setValue(0)

    @Slot(object)
    def on_event(self, record: dict) -> None:
        """An event of the live run: the label and the bar follow it (per batch: only remembered)."""
        kind = record["event"]
        if kind == "train_batch":
            self.latest_batch = record
        elif kind == "fit_start":
            self.run_label.setText(f"Run {Path(str(record.get('run_dir', ''))).name}"
                                   + (" (resumed)" if record.get("resumed") else ""))
            epochs, steps = record.get("epochs") or {}, record.get("steps_per_epoch") or {}
            self.stage_steps = {stage: int(epochs.get(stage, 0)) * int(steps.get(stage, 0))
                                for stage in record.get("stages", epochs)}
        elif kind == "stage_start":
            self.latest_batch = None
            self.start_stage(record)
        elif kind == "stage_end":
            self.finish_stage(record)
        elif kind == "fit_end":
            self.live = False
            self.run_label.setText(f"Run {Path(str(record['summary'].get('run_dir', ''))).name}: {record['status']}")
        elif kind == "exception":
            self.live = False
            self.run_label.setText("Run failed")
            progress = self.progress
            if progress is None:  # it failed before training began: there is no progress to show
                self.stage_label.setText("")
                self.progress_bar.hide()
            else:
                self.stage_label.setText(f"{progress.stage.capitalize()} stage failed at step "
                                         f"{progress.step}/{progress.total_steps}")

    @Slot()
    def on_stop_requested(self) -> None:
        self.run_label.setText("Stopping…")

    def open_past_run(self, run_dir: str) -> None:
        """Read a run folder's events in the background and draw its curves (``past_run_opened``)."""
        self._loader.submit("open", lambda: load_events(run_dir),
                            lambda events: self._show_past_events(run_dir, events), self._on_open_failed)

    def shutdown(self) -> None:
        self._loader.shutdown()

    def _show_past_events(self, run_dir: str, events: list[dict]) -> None:
        if self.live:
            return  # a run started while the folder was read: the Live tab keeps it
        self.plots.reset(run_dir)
        for event in events:
            self.plots.add_event(event)
        self.plots.redraw()
        self.show_past_run(Path(run_dir).name)
        self.past_run_opened.emit(run_dir, len(events))

    def _on_open_failed(self, error: JobError) -> None:
        self.past_run_failed.emit(str(error), error.details)

    def show_past_run(self, name: str) -> None:
        """A run read from its folder: its name, and no progress bar (nothing is running)."""
        self.progress = None
        self.run_label.setText(f"Run {name} (from its folder)")
        self.stage_label.clear()
        self.progress_bar.hide()

    def start_stage(self, payload: dict) -> None:
        self.progress = StageProgress(payload)
        if payload["stage"] not in self.stage_steps:  # a run whose fit_start did not plan it
            self.stage_steps[payload["stage"]] = self.progress.total_steps
        self.progress_bar.setRange(0, max(1, sum(self.stage_steps.values())))
        self.progress_bar.show()
        self.show_progress()

    def run_steps_done(self) -> int:
        """Steps done in the whole run: the stages before the current one, and this one's."""
        progress = self.progress
        if progress is None:
            return 0
        before = 0
        for stage, steps in self.stage_steps.items():
            if stage == progress.stage:
                break
            before += steps
        return before + progress.step

    def show_progress(self) -> None:
        """Refresh the label and bar from the latest batch (called from a timer, not per batch)."""
        progress = self.progress
        if progress is None or progress.ended:
            return
        if self.latest_batch is not None and self.latest_batch.get("stage") == progress.stage:
            progress.update(self.latest_batch)
        eta = progress.eta_seconds()
        self.stage_label.setText(
            f"{progress.stage.capitalize()} stage: epoch {max(progress.epoch, 1)}/{progress.epochs}, "
            f"step {progress.step}/{progress.total_steps}"
            + (f", ETA {format_duration(eta)}" if eta is not None else ""))
        self.progress_bar.setValue(self.run_steps_done())

    def finish_stage(self, payload: dict | None = None) -> None:
        progress = self.progress
        if progress is None:
            return
        payload = payload or {}
        if self.latest_batch is not None and self.latest_batch.get("stage") == progress.stage:
            progress.update(self.latest_batch)
        if payload.get("stopped"):
            text = f"stopped at step {progress.step}/{progress.total_steps}"
        else:
            progress.step = progress.total_steps  # done, or stopped early: the rest of the stage will not run
            text = "stopped early (no improvement)" if payload.get("early_stopped") else "done"
        progress.ended = True
        self.progress_bar.setValue(self.run_steps_done())
        self.stage_label.setText(f"{progress.stage.capitalize()} stage {text}")


class RunLog(QPlainTextEdit):
    """The run log: a line per event worth reading (``describe_event``, as the CLI prints it), and the app's notes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(LOG_LINES)
        self._planned_epochs: dict[str, int] = {}

    def log(self, message: str) -> None:
        self.appendPlainText(f"{time.strftime('%H:%M:%S')}  {message}")

    @Slot(str)
    def on_warning(self, message: str) -> None:
        """A warning of the run that is not an event (e.g. an experiment logger that failed)."""
        self.log(f"Warning: {message}")

    @Slot(object)
    def on_event(self, record: dict) -> None:
        if record["event"] == "fit_start":
            self._planned_epochs = dict(record.get("epochs", {}))
        line = describe_event(record, self._planned_epochs)
        if line is not None:
            self.log(line)
