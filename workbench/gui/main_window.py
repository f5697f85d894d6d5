"""The main window: panels that edit one ExperimentConfig, run control, live plots and the run log."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSizePolicy,
    QTabWidget,
    QToolBar,
    QWidget,
)

from workbench.assets import html_colour
from workbench.atomic import atomic_write_text
from workbench.config import ConfigIssue, ExperimentConfig, default_config, load_config, save_config
from workbench.errors import WorkbenchError
from workbench.gui.forms import ValueEditor
from workbench.gui.overview import DatasetOverview
from workbench.gui.panels.data_panel import DataPanel
from workbench.gui.panels.loss_panel import LossPanel
from workbench.gui.panels.model_panel import ModelPanel
from workbench.gui.panels.training_panel import TrainingPanel
from workbench.gui.results import ResultsView, RunsView, TryItView
from workbench.gui.run_view import RunView
from workbench.gui.tasks import BackgroundJob, wait_for_background_jobs
from workbench.gui.worker import TrainingController, warm_up_engine

APP_TITLE = "Cross-Modal Distillation Workbench"
# The built-in sample a new user gets: big enough to show distillation, small enough to train in a minute on a CPU.
SAMPLE_OPTIONS = {"classes": 6, "per_class": 80, "image_size": 32, "seed": 0}
STATUS_REFRESH_MS = 250
THROUGHPUT_WINDOW_S = 3.0
LOG_LINES = 5000
TAB_KEYS = {"Data": ("data",), "Model": ("teacher", "student"), "Loss": ("loss",), "Training": ("train",)}


def user_data_dir() -> Path:
    """Where the app keeps the sample dataset and its runs: the platform's AppDataLocation."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def _settings_list(value: Any) -> list[str]:
    """QSettings hands back a str for a one-element list and None for none."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def load_events(run_dir: str) -> list[dict]:
    from workbench.engine.runs import RunRecord

    return list(RunRecord.open(Path(run_dir)).events())


def list_past_runs(runs_dir: str) -> list[tuple[str, str]]:
    """(label, folder) of earlier runs with a trained teacher, newest first."""
    from workbench.engine.runs import list_runs

    runs = [(f"{record.name} ({record.status})", str(record.path)) for record in list_runs(runs_dir)
            if record.checkpoint_path("teacher", "best").is_file()]
    return runs[::-1]


class MainWindow(QMainWindow):
    """Edits one config, runs it through the worker bridge, and shows the run as it trains."""

    # object, not dict: see worker.py (PySide6 would convert a dict to a QVariantMap).
    run_started = Signal(str)  # run folder
    validation_finished = Signal(object)  # the on_validation_end payload (dict, predictions included)
    run_finished = Signal(object)  # the summary dict (as summary.json)

    def __init__(self, config: ExperimentConfig | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None, *, config_path: Path | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.config = config if config is not None else self._new_config()
        self.config_path = config_path  # the file the config came from, if any
        self.run_dir = ""
        self.issues: list[ConfigIssue] = []
        self.overview: DatasetOverview | None = None
        self.error_dialog: QMessageBox | None = None
        self.close_question: QMessageBox | None = None
        self._close_when_stopped = False
        self._jobs: list[BackgroundJob] = []
        self._latest_batch: dict | None = None
        self._throughput: list[tuple[float, int]] = []
        self._samples_seen = 0

        self.controller = TrainingController(self)
        self.data_panel = DataPanel(self.config, self)
        self.model_panel = ModelPanel(self.config, self)
        self.loss_panel = LossPanel(self.config, self)
        self.training_panel = TrainingPanel(self.config, self)
        self.run_view = RunView(self)
        self.live_plots = self.run_view.plots
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for widget, title in ((self.data_panel, "Data"), (self.model_panel, "Model"), (self.loss_panel, "Loss"),
                              (self.training_panel, "Training"), (self.run_view, "Live")):
            self.tabs.addTab(widget, title)
        self.setCentralWidget(self.tabs)
        self.results_view = ResultsView(self)
        self.runs_view = RunsView(self)
        self.try_it = TryItView(self)
        for widget, title in ((self.results_view, "Results"), (self.runs_view, "Runs"), (self.try_it, "Try it")):
            self.add_workspace_tab(widget, title)
        self._build_log_dock()
        self._build_actions()
        self._build_status_bar()
        self._connect()
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_REFRESH_MS)
        self.status_timer.timeout.connect(self._on_status_timer_timeout)

        self.data_panel.set_recent(_settings_list(self.settings.value("data/recent")))
        self._restore_layout()
        self._update_title()
        self._revalidate()
        self._refresh_past_runs()
        self.runs_view.set_runs_dir(self.config.train.runs_dir)
        self._open_initial_dataset()
        self._start_job(warm_up_engine, self._on_warm_up_job_succeeded, self._on_warm_up_job_failed)

    # ------------------------------------------------------------------ construction

    def _new_config(self) -> ExperimentConfig:
        config = ExperimentConfig()
        config.train.runs_dir = str(user_data_dir() / "runs")  # not the launch folder: a user may start anywhere
        return config

    def _build_log_dock(self) -> None:
        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_dock = QDockWidget("Run log", self)
        self.log_dock.setObjectName("runLogDock")
        self.log_dock.setWidget(self.log_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.resizeDocks([self.log_dock], [130], Qt.Orientation.Vertical)

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = self._action("&New", self._on_new_action_triggered, QKeySequence.StandardKey.New)
        self.open_action = self._action("&Open…", self._on_open_action_triggered, QKeySequence.StandardKey.Open)
        self.save_action = self._action("&Save", self._on_save_action_triggered, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save &As…", self._on_save_as_action_triggered,
                                           QKeySequence.StandardKey.SaveAs)
        self.open_run_action = self._action("Open &Run…", self._on_open_run_action_triggered)
        self.resume_action = self._action("Res&ume Run…", self._on_resume_action_triggered)
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        for action in (self.new_action, self.open_action, self.save_action, self.save_as_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.open_run_action)
        file_menu.addAction(self.resume_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.start_action = self._action("▶ Start", self._on_start_action_triggered, "Ctrl+R")
        self.start_action.setShortcuts([QKeySequence("Ctrl+R"), QKeySequence("F5")])
        self.stop_action = self._action("■ Stop", self._on_stop_action_triggered, "Ctrl+.")
        self.stop_action.setShortcuts([QKeySequence("Ctrl+."), QKeySequence("Shift+F5")])
        self.stop_action.setEnabled(False)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addAction(self.start_action)
        run_menu.addAction(self.stop_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.log_dock.toggleViewAction())

        self.toolbar = QToolBar("Run", self)
        self.toolbar.setObjectName("runToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.addAction(self.start_action)
        self.toolbar.addAction(self.stop_action)
        self.start_reason = QLabel(self)
        self.start_reason.setObjectName("startReason")
        self.start_reason.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.start_reason.setContentsMargins(12, 0, 0, 0)
        self.toolbar.addWidget(self.start_reason)
        self.addToolBar(self.toolbar)

    def _action(self, text: str, handler: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{text.replace('&', '')} ({QKeySequence(shortcut).toString()})")
        action.triggered.connect(handler)
        return action

    def _build_status_bar(self) -> None:
        self.status_label = QLabel("Ready", self)
        self.throughput_label = QLabel(self)
        self.device_label = QLabel(self)
        bar = self.statusBar()
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.throughput_label)
        bar.addPermanentWidget(self.device_label)

    def _connect(self) -> None:
        self.data_panel.check_started.connect(self._on_data_panel_check_started)
        self.data_panel.check_finished.connect(self._on_data_panel_check_finished)
        self.data_panel.check_failed.connect(self._on_data_panel_check_failed)
        self.data_panel.fields_changed.connect(self._on_data_panel_fields_changed)
        self.data_panel.sample_requested.connect(self._on_data_panel_sample_requested)
        for panel in (self.data_panel, self.model_panel, self.loss_panel, self.training_panel):
            panel.edited.connect(self._on_panel_edited)
        controller = self.controller
        controller.folder_created.connect(self._on_controller_folder_created)
        controller.run_started.connect(self._on_controller_run_started)
        controller.stage_started.connect(self._on_controller_stage_started)
        controller.batch_finished.connect(self._on_controller_batch_finished)
        controller.validation_finished.connect(self._on_controller_validation_finished)
        controller.stage_finished.connect(self._on_controller_stage_finished)
        controller.run_finished.connect(self._on_controller_run_finished)
        controller.run_failed.connect(self._on_controller_run_failed)
        controller.stop_requested.connect(self._on_controller_stop_requested)
        controller.warned.connect(self._on_controller_warned)
        # The result views listen to the window's run signals (all emitted in the GUI thread).
        self.run_started.connect(self.results_view.on_run_started)
        self.run_started.connect(self.runs_view.on_run_started)
        self.validation_finished.connect(self.results_view.on_validation_finished)
        self.run_finished.connect(self.results_view.on_run_finished)
        self.run_finished.connect(self.runs_view.on_run_finished)
        self.runs_view.open_run_requested.connect(self._on_runs_view_open_run_requested)
        self.runs_view.clone_config_requested.connect(self._on_runs_view_clone_config_requested)
        self.runs_view.resume_requested.connect(self._on_runs_view_resume_requested)

    # ------------------------------------------------------------------ public API

    def add_workspace_tab(self, widget: QWidget, title: str) -> int:
        """Add a tab (e.g. Results, Runs, Try it) after the built-in ones; returns its index."""
        return self.tabs.addTab(widget, title)

    def open_run(self, run_dir: str | Path, show_live: bool = True) -> None:
        """Show a past run's curves in the live plots; the events are read in the background.
        With ``show_live`` the Live tab becomes current once they are in."""
        run_dir = str(run_dir)
        self.log(f"Opening run {run_dir}")
        self._start_job(lambda: (run_dir, load_events(run_dir), show_live), self._on_load_run_job_succeeded,
                        self._on_load_run_job_failed)

    def show_results(self, run_dir: str | Path) -> None:
        """Open a run in every view: its curves in Live (unless a run is training there), its results
        in Results (made the current tab) and its networks in Try it."""
        run_dir = str(run_dir)
        if self.is_running():
            self.log(f"The Live tab keeps the training run; {Path(run_dir).name} opens in Results and Try it")
        else:
            self.open_run(run_dir, show_live=False)
        self.results_view.show_run(run_dir)
        self.try_it.set_run(run_dir)
        self.tabs.setCurrentWidget(self.results_view)

    def is_running(self) -> bool:
        return self.controller.is_running()

    def start_run(self) -> bool:
        """Start training the current config; False (and the reason in the toolbar) when it cannot run."""
        self._revalidate()
        if self.issues or self.is_running():
            return False
        self.live_plots.reset()
        self.run_dir = ""  # known once the trainer has made its folder (run_started)
        self.run_view.run_label.setText("Starting…")
        self._samples_seen, self._throughput, self._latest_batch = 0, [], None
        self.log("Starting a run" + (f" from {self.config_path.name}" if self.config_path else ""))
        # Objects alive now (torch, Qt wrappers, the app) are moved out of the collector's reach:
        # a full collection over them takes ~180 ms, holds the GIL and would stall the GUI mid-run.
        gc.freeze()
        self.controller.start(self.config)
        self.status_timer.start()
        self.tabs.setCurrentWidget(self.run_view)
        self._show_running(True)
        return True

    def resume_run(self, run_dir: str | Path) -> bool:
        """Continue a stopped (or killed) run from its last checkpoints, in its own folder."""
        if self.is_running():
            return False
        self.live_plots.reset()
        self.run_dir = str(run_dir)
        self._samples_seen, self._throughput, self._latest_batch = 0, [], None
        self.log(f"Resuming {run_dir}")
        gc.freeze()  # as in start_run
        self.controller.start(resume_dir=str(run_dir))
        self.status_timer.start()
        self.tabs.setCurrentWidget(self.run_view)
        self._show_running(True)
        return True

    def stop_run(self) -> None:
        if self.is_running():
            self.controller.request_stop()

    def open_config(self, path: str | Path) -> None:
        config = load_config(path)
        self._set_config(config, Path(path))
        self._remember_config_folder(Path(path))

    def save_config(self, path: str | Path | None = None) -> bool:
        target = Path(path) if path is not None else self.config_path
        if target is None:
            return self._ask_save_as()
        save_config(self.config, target)
        self.config_path = target
        self.setWindowModified(False)
        self._update_title()
        self._remember_config_folder(target)
        self.log(f"Saved {target}")
        return True

    def log(self, message: str) -> None:
        self.log_view.appendPlainText(f"{time.strftime('%H:%M:%S')}  {message}")

    def create_sample_dataset(self) -> None:
        """Write the built-in sample into the user's data folder (in the background) and check it."""
        from workbench.data import write_sample_dataset

        target = user_data_dir() / "sample"
        self.log(f"Creating the sample dataset in {target}")
        self.data_panel.create_sample_button.setEnabled(False)
        self.status_label.setText("Creating the sample dataset…")
        options = dict(SAMPLE_OPTIONS)
        self._start_job(lambda: str(write_sample_dataset(target, **options)), self._on_sample_job_succeeded,
                        self._on_sample_job_failed)

    # ------------------------------------------------------------------ config state

    def _set_config(self, config: ExperimentConfig, path: Path | None) -> None:
        self.config = config
        self.config_path = path
        for panel in (self.data_panel, self.model_panel, self.loss_panel, self.training_panel):
            panel.set_config(config)
        if self.overview is not None and config.data.root and \
                Path(config.data.root).resolve() == Path(self.overview.report.index.root).resolve():
            self.model_panel.set_dataset(self.overview.input_specs, len(self.overview.report.index.class_names))
        self.setWindowModified(False)
        self._update_title()
        self._revalidate()
        self._refresh_past_runs()
        self.runs_view.set_runs_dir(config.train.runs_dir)

    def _update_title(self) -> None:
        name = self.config_path.name if self.config_path else "Untitled"
        self.setWindowTitle(f"{name}[*] — {APP_TITLE}")
        self.setWindowFilePath(str(self.config_path) if self.config_path else "")

    def _mark_edited(self) -> None:
        self.setWindowModified(True)
        self._revalidate()

    def _revalidate(self) -> None:
        """Mark every invalid value in the forms and say why Start is disabled."""
        issues = list(self.config.validate()) + self._dataset_issues()
        # In the order of the tabs, so that the first reason shown is the first thing to fix (the dataset).
        order = ["data", "teacher", "student", "loss", "train"]
        issues.sort(key=lambda issue: order.index(issue.key.split(".")[0]) if issue.key.split(".")[0] in order
                    else len(order))
        self.issues = issues
        reasons: dict[str, str] = {}
        for issue in issues:
            reasons.setdefault(issue.key, issue.message)
        for key, editor in self._all_editors().items():
            editor.mark_invalid(reasons.get(key))
        for index in range(self.tabs.count()):
            keys = TAB_KEYS.get(self.tabs.tabText(index).removesuffix(" ⚠"))
            if keys:
                bad = any(issue.key.split(".")[0] in keys for issue in issues)
                self.tabs.setTabText(index, self.tabs.tabText(index).removesuffix(" ⚠") + (" ⚠" if bad else ""))
        self._show_running(self.is_running())

    def _dataset_issues(self) -> list[ConfigIssue]:
        """What the config cannot know alone: whether its dataset is checked, trainable and has its fields."""
        if self.data_panel.is_checking():
            return [ConfigIssue("data.root", "The dataset is still being checked.")]
        overview = self.overview
        if overview is None or not self.config.data.root or \
                Path(self.config.data.root).resolve() != Path(overview.report.index.root).resolve():
            return []
        issues = []
        if not overview.report.trainable:
            issues.append(ConfigIssue("data.root", f"The dataset cannot train: {overview.report.advice}"))
        fields = overview.report.index.fields
        for net in ("teacher", "student"):
            for name in getattr(self.config, net).fields:
                if name not in fields:
                    issues.append(ConfigIssue(f"{net}.fields", f"The dataset has no field '{name}' "
                                                               f"(it has {', '.join(fields)})."))
        return issues

    def _all_editors(self) -> dict[str, ValueEditor]:
        editors: dict[str, ValueEditor] = {}
        editors.update(self.data_panel.options_form.editors)
        for network_editor in (self.model_panel.teacher_editor, self.model_panel.student_editor):
            editors.update(network_editor.options_form.editors)
            for encoder_editor in network_editor.encoder_editors.values():
                for name, editor in encoder_editor.param_editors.items():
                    editors[f"{encoder_editor.key}.{name}"] = editor
        for term_editor in self.loss_panel.term_editors.values():
            editors.update(term_editor.form.editors)
        editors.update(self.training_panel.editors)
        return editors

    def _show_running(self, running: bool) -> None:
        self.start_action.setEnabled(not running and not self.issues)
        self.stop_action.setEnabled(running)
        for action in (self.new_action, self.open_action, self.resume_action):
            action.setEnabled(not running)
        if running:
            self.start_reason.setText("")
            self.start_reason.setToolTip("")
        elif self.issues:
            first = self.issues[0]
            more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
            self.start_reason.setText(html_colour(f"Cannot start: {first}{more}", "error"))
            self.start_reason.setToolTip("\n".join(str(issue) for issue in self.issues))
        else:
            self.start_reason.setText("Ready to train.")
            self.start_reason.setToolTip("")

    # ------------------------------------------------------------------ settings

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 860)
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def _save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("data/recent", self.data_panel.recent)
        self.settings.sync()

    def _remember_config_folder(self, path: Path) -> None:
        self.settings.setValue("config/folder", str(path.parent))

    def _open_initial_dataset(self) -> None:
        """A config names its dataset; otherwise reopen the last one, or offer the sample to a new user."""
        if self.config.data.root:
            self.data_panel.set_config(self.config)
            return
        recent = [folder for folder in self.data_panel.recent if Path(folder).is_dir()]
        if recent:
            self.data_panel.check_folder(recent[0])
        else:
            self.data_panel.show_first_start(True)

    # ------------------------------------------------------------------ jobs

    def _start_job(self, function: Any, on_success: Any, on_failure: Any) -> None:
        job = BackgroundJob(function, self)
        job.succeeded.connect(on_success)
        job.failed.connect(on_failure)
        job.succeeded.connect(self._on_job_ended)
        job.failed.connect(self._on_job_ended)
        self._jobs.append(job)
        job.start()

    @Slot()
    def _on_job_ended(self) -> None:
        job = self.sender()
        if job in self._jobs:
            self._jobs.remove(job)
            job.deleteLater()

    def _refresh_past_runs(self) -> None:
        runs_dir = self.config.train.runs_dir
        self._start_job(lambda: list_past_runs(runs_dir), self._on_past_runs_job_succeeded,
                        self._on_past_runs_job_failed)

    @Slot(object)
    def _on_past_runs_job_succeeded(self, runs: list) -> None:
        self.model_panel.set_past_runs(runs)

    @Slot(str, str)
    def _on_past_runs_job_failed(self, message: str, _details: str) -> None:
        self.log(f"Cannot list earlier runs: {message}")

    @Slot(object)
    def _on_warm_up_job_succeeded(self, _result: object) -> None:
        pass  # nothing to show: the imports are cached for the first run

    @Slot(str, str)
    def _on_warm_up_job_failed(self, message: str, _details: str) -> None:
        self.log(f"Warm-up import failed (the first run will import it instead): {message}")

    @Slot(object)
    def _on_sample_job_succeeded(self, folder: str) -> None:
        self.log(f"Sample dataset ready in {folder}")
        self.data_panel.create_sample_button.setEnabled(True)
        self.data_panel.check_folder(folder)

    @Slot(str, str)
    def _on_sample_job_failed(self, message: str, details: str) -> None:
        self.data_panel.create_sample_button.setEnabled(True)
        self._show_error("Cannot create the sample dataset", message, details)

    @Slot(object)
    def _on_load_run_job_succeeded(self, result: tuple[str, list, bool]) -> None:
        run_dir, events, show_live = result
        if self.is_running():
            self.log(f"Not shown: {Path(run_dir).name} (a run started while it was read)")
            return
        self.live_plots.reset(run_dir)
        for event in events:
            self.live_plots.add_event(event)
        self.live_plots.redraw()
        self.run_view.show_past_run(Path(run_dir).name)
        if show_live:
            self.tabs.setCurrentWidget(self.run_view)
        self.log(f"Loaded {len(events)} events of {run_dir}")

    @Slot(str, str)
    def _on_load_run_job_failed(self, message: str, details: str) -> None:
        self._show_error("Cannot open the run", message, details)

    # ------------------------------------------------------------------ panel handlers

    @Slot(str)
    def _on_panel_edited(self, key: str) -> None:
        self._mark_edited()
        if key.startswith("train.runs_dir"):
            self._refresh_past_runs()
            self.runs_view.set_runs_dir(self.config.train.runs_dir)

    # ------------------------------------------------------------------ result view handlers

    @Slot(str)
    def _on_runs_view_open_run_requested(self, run_dir: str) -> None:
        self.show_results(run_dir)

    @Slot(object)
    def _on_runs_view_clone_config_requested(self, config: ExperimentConfig) -> None:
        if self.is_running():
            self.status_label.setText("Stop the run before loading another config.")
            return
        self._set_config(config, None)  # as File > Open, but untitled: saving asks for a file
        self.setWindowModified(True)
        self.log("Loaded a run's config into the editor (unsaved)")
        self.tabs.setCurrentWidget(self.data_panel)

    @Slot(str)
    def _on_runs_view_resume_requested(self, run_dir: str) -> None:
        if not self.resume_run(run_dir):
            self.status_label.setText("A run is training: stop it before resuming another.")

    @Slot()
    def _on_data_panel_sample_requested(self) -> None:
        self.create_sample_dataset()

    @Slot(str)
    def _on_data_panel_check_started(self, folder: str) -> None:
        self.status_label.setText(f"Checking {folder}…")
        self._revalidate()

    @Slot(object)
    def _on_data_panel_check_finished(self, overview: DatasetOverview) -> None:
        self.overview = overview
        report = overview.report
        fields = report.index.fields
        chosen = self.config.teacher.fields + self.config.student.fields
        if not self.config.teacher.fields or not self.config.student.fields or \
                any(name not in fields for name in chosen):
            # A new dataset: start from the defaults for it (teacher on every field, student on the image).
            defaults = default_config(report)
            for net in ("teacher", "student"):
                getattr(self.config, net).fields = getattr(defaults, net).fields
                getattr(self.config, net).encoders = getattr(defaults, net).encoders
            self.setWindowModified(True)
        self.config.data.root = str(report.index.root)
        self.data_panel.refresh_fields()
        self.model_panel.set_dataset(overview.input_specs, len(report.index.class_names))
        self.status_label.setText(f"{len(report.index.samples)} samples, {len(report.index.class_names)} classes"
                                  f" in {report.index.root}")
        self.log(f"Checked {report.index.root}: {len(report.index.samples)} samples, "
                 f"{len(report.problems)} problem(s), {'trainable' if report.trainable else 'not trainable'}")
        self.settings.setValue("data/recent", self.data_panel.recent)
        self._revalidate()

    @Slot(str)
    def _on_data_panel_check_failed(self, message: str) -> None:
        self.status_label.setText("The dataset check failed")
        self.log(f"Dataset check failed: {message}")
        self._revalidate()

    @Slot(list, list)
    def _on_data_panel_fields_changed(self, teacher: list, student: list) -> None:
        for net, fields in (("teacher", teacher), ("student", student)):
            network = getattr(self.config, net)
            network.fields = list(fields)
            network.encoders = {name: enc for name, enc in network.encoders.items() if name in fields}
        self.model_panel.refresh()
        self._mark_edited()

    # ------------------------------------------------------------------ file actions

    @Slot()
    def _on_new_action_triggered(self) -> None:
        config = self._new_config()
        if self.overview is not None:
            config = default_config(self.overview.report)
            config.train.runs_dir = self._new_config().train.runs_dir
        self._set_config(config, None)

    @Slot()
    def _on_open_action_triggered(self) -> None:
        start = str(self.settings.value("config/folder") or Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a config", start, "Config files (*.toml);;All files (*)")
        if path:
            try:
                self.open_config(path)
            except WorkbenchError as error:
                self._show_error("Cannot open the config", str(error), "")

    @Slot()
    def _on_save_action_triggered(self) -> None:
        self.save_config()

    @Slot()
    def _on_save_as_action_triggered(self) -> None:
        self._ask_save_as()

    def _ask_save_as(self) -> bool:
        start = str(self.config_path or Path(str(self.settings.value("config/folder") or Path.home())) /
                    "experiment.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save the config", start, "Config files (*.toml)")
        if not path:
            return False
        return self.save_config(path if path.endswith(".toml") else f"{path}.toml")

    @Slot()
    def _on_open_run_action_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", self.config.train.runs_dir)
        if folder:
            self.open_run(folder)

    @Slot()
    def _on_resume_action_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Resume a run", self.config.train.runs_dir)
        if folder:
            self.resume_run(folder)

    # ------------------------------------------------------------------ run control

    @Slot()
    def _on_start_action_triggered(self) -> None:
        self.start_run()

    @Slot()
    def _on_stop_action_triggered(self) -> None:
        self.stop_run()

    @Slot()
    def _on_controller_stop_requested(self) -> None:
        self.stop_action.setEnabled(False)
        self.run_view.run_label.setText("Stopping…")
        self.status_label.setText("Stopping… (after the current batch)")
        self.log("Stop requested: the run ends after the current batch")

    @Slot(str)
    def _on_controller_warned(self, message: str) -> None:
        self.log(f"Warning: {message}")

    @Slot(str)
    def _on_controller_folder_created(self, run_dir: str) -> None:
        self.run_dir = run_dir  # known before fit_start, so that an early failure can name its folder

    @Slot(object)
    def _on_controller_run_started(self, payload: dict) -> None:
        self.run_dir = str(payload.get("run_dir", ""))
        self.live_plots.reset(self.run_dir)
        self.live_plots.add_event({"event": "fit_start", **payload})
        device = payload.get("device", "")
        name = payload.get("device_name") or device
        self.device_label.setText(f"Device: {name}")
        params = payload.get("params", {})
        counts = ", ".join(f"{net} {count:,}" for net, count in params.items() if count)
        self.run_view.run_label.setText(f"Run {Path(self.run_dir).name}")
        self.log(f"Run folder {self.run_dir}; device {name}; parameters: {counts}")
        self.run_started.emit(self.run_dir)

    @Slot(object)
    def _on_controller_stage_started(self, payload: dict) -> None:
        self.live_plots.add_event({"event": "stage_start", **payload})
        self.run_view.start_stage(payload)
        start = payload.get("start_epoch", 0)
        self.log(f"{payload['stage'].capitalize()} stage: {payload.get('epochs')} epochs"
                 + (f", resuming after epoch {start}" if start else ""))

    @Slot(object)
    def _on_controller_batch_finished(self, payload: dict) -> None:
        # Up to ~1000 per second: append and return; labels and plots refresh from timers.
        self.live_plots.add_event({"event": "train_batch", **payload})
        self._latest_batch = payload
        self._samples_seen += int(payload.get("samples", 0))

    @Slot(object)
    def _on_controller_validation_finished(self, payload: dict) -> None:
        self.live_plots.add_event({"event": "validation", **payload})
        parts = [f"{net} {m.get('val_accuracy', float('nan')):.3f}" for net, m in payload.get("metrics", {}).items()]
        gain = payload.get("distillation_gain")
        self.log(f"{payload['stage'].capitalize()} epoch {payload['epoch']}: val accuracy " + ", ".join(parts)
                 + (f"; distillation gain {gain:+.3f}" if gain is not None else ""))
        self.validation_finished.emit(payload)

    @Slot(object)
    def _on_controller_stage_finished(self, payload: dict) -> None:
        self.run_view.finish_stage()
        best = payload.get("best") or {}
        value = best.get("value")
        self.log(f"{payload['stage'].capitalize()} stage {'stopped' if payload.get('stopped') else 'done'} after "
                 f"{payload.get('epochs_run')} epoch(s)"
                 + (f"; best {best.get('metric')} {value:.4g} at epoch {best.get('epoch')}"
                    if isinstance(value, (int, float)) else ""))

    @Slot(object)
    def _on_controller_run_finished(self, payload: dict) -> None:
        self._end_of_run()
        status = payload.get("status", "finished")
        summary = payload.get("summary", {})
        self.run_view.run_label.setText(f"Run {Path(self.run_dir).name}: {status}")
        self.status_label.setText(f"Run {status}: {self.run_dir}")
        self.log(f"Run {status}. Folder: {self.run_dir}")
        self.run_finished.emit(summary)
        if self.run_dir and not self._close_when_stopped:
            self.try_it.set_run(self.run_dir)  # Try it works on the newest run
        if self._close_when_stopped:
            self.close()

    @Slot(str, str)
    def _on_controller_run_failed(self, message: str, details: str) -> None:
        self._end_of_run()
        self.runs_view.on_run_finished({})  # no longer the live run: listed as failed, can be deleted
        self.run_view.run_label.setText("Run failed")
        self.status_label.setText(f"Run failed: {message}")
        self.log(f"Run failed: {message}")
        self._write_error_file(details or message)
        if self._close_when_stopped:
            self.close()
            return
        where = (f"The details are saved in {Path(self.run_dir) / 'error.txt'}. " if self.run_dir else "")
        self._show_error("Training failed", message, details,
                         where + "You can change the settings and start a new run.")

    def _end_of_run(self) -> None:
        gc.unfreeze()  # what the run's start froze may be collected again, now that no run trains
        self.status_timer.stop()
        self._on_status_timer_timeout()
        self.throughput_label.setText("")
        self.live_plots.redraw()
        self._show_running(False)
        self._refresh_past_runs()

    def _write_error_file(self, details: str) -> None:
        """The trainer writes error.txt when it fails inside its loop; this covers failures around it."""
        if self.run_dir and Path(self.run_dir).is_dir() and not (Path(self.run_dir) / "error.txt").exists():
            atomic_write_text(Path(self.run_dir) / "error.txt", details)

    def _show_error(self, title: str, message: str, details: str, informative: str = "") -> None:
        """A plain message with the traceback under "Show Details…"; window-modal, opened without blocking."""
        dialog = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        dialog.setObjectName("errorDialog")
        if informative:
            dialog.setInformativeText(informative)
        if details:
            dialog.setDetailedText(details)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._on_error_dialog_finished)
        self.error_dialog = dialog
        dialog.open()

    @Slot(int)
    def _on_error_dialog_finished(self, _result: int) -> None:
        self.error_dialog = None

    @Slot()
    def _on_status_timer_timeout(self) -> None:
        if self._latest_batch is not None and self.run_view.progress is not None:
            self.run_view.progress.update(self._latest_batch)
        self.run_view.show_progress()
        now = time.monotonic()
        self._throughput.append((now, self._samples_seen))
        while len(self._throughput) > 2 and now - self._throughput[0][0] > THROUGHPUT_WINDOW_S:
            self._throughput.pop(0)
        (t0, s0), (t1, s1) = self._throughput[0], self._throughput[-1]
        if t1 > t0 and self.is_running():
            self.throughput_label.setText(f"{(s1 - s0) / (t1 - t0):,.0f} samples/s")

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.is_running():
            event.ignore()
            if self._close_when_stopped:
                return  # already stopping; the window closes when the run has ended
            self._ask_stop_and_close()
            return
        self._save_settings()
        self.live_plots.redraw_timer.stop()
        self.status_timer.stop()
        wait_for_background_jobs()  # a check or count still running must not report to a closed window
        for view in (self.results_view, self.runs_view, self.try_it):
            view.shutdown()  # their worker threads end with the window (children get no closeEvent)
        super().closeEvent(event)

    def _ask_stop_and_close(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "A run is training",
                          "Stop the run and close? The run folder keeps what it has trained so far; "
                          "the run can be resumed later.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("closeQuestion")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._on_close_question_finished)
        self.close_question = box
        box.open()

    @Slot(int)
    def _on_close_question_finished(self, result: int) -> None:
        self.close_question = None
        if result == QMessageBox.StandardButton.Yes or result == QMessageBox.StandardButton.Yes.value:
            self._close_when_stopped = True
            self.stop_run()
