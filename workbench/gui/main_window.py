"""The main window: the tabs, menus and toolbar around one config document and one run session.

The parts each own one job: ``ConfigDocument`` the config being edited (file, modified
flag, issues), the panels their editors and what they know is wrong, ``RunSession`` the
training run and its event stream, to which the Live tab, the run log and the result
views subscribe directly. The window wires them together and shows their state.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QMainWindow, QMessageBox, QTabWidget, QWidget

from workbench.config import SAMPLE_QUICK_START, ConfigIssue, ExperimentConfig, default_config
from workbench.errors import WorkbenchError
from workbench.gui.config_document import ConfigDocument, new_config, user_data_dir
from workbench.gui.dialogs import open_error_dialog, open_question
from workbench.gui.forms import ValueEditor
from workbench.gui.jobs import JobError, JobRunner
from workbench.gui.overview import DatasetOverview
from workbench.gui.panels.data_panel import DataPanel
from workbench.gui.panels.loss_panel import LossPanel
from workbench.gui.panels.model_panel import ModelPanel
from workbench.gui.panels.training_panel import TrainingPanel
from workbench.gui.results import ResultsView, RunsView, TryItView
from workbench.gui.run_control import RunStatusBar, RunToolbar, make_action
from workbench.gui.run_session import RunSession
from workbench.gui.run_view import RunLog, RunView
from workbench.gui.studies_view import StudiesView
from workbench.gui.worker import warm_up_engine

APP_TITLE = "Cross-Modal Distillation Workbench"
TAB_KEYS = {"Data": ("data",), "Model": ("teacher", "student"), "Loss": ("loss",), "Training": ("train",)}


def _settings_list(value: Any) -> list[str]:
    """QSettings hands back a str for a one-element list and None for none."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def list_past_runs(runs_dir: str) -> list[tuple[str, str]]:
    """(label, folder) of earlier runs with a trained teacher, newest first."""
    from workbench.engine.runs import list_runs

    runs = [(f"{record.name} ({record.status})", str(record.path)) for record in list_runs(runs_dir)
            if record.checkpoint_path("teacher", "best").is_file()]
    return runs[::-1]


class MainWindow(QMainWindow):
    """Edits one config, runs it through the run session, and shows the run as it trains."""

    def __init__(self, config: ExperimentConfig | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None, *, config_path: Path | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.document = ConfigDocument(config, config_path, self.settings, self)
        self.session = RunSession(self)
        self.overview: DatasetOverview | None = None
        self._show_live_when_opened = False
        self.error_dialog: QMessageBox | None = None
        self.close_question: QMessageBox | None = None
        self._close_when_stopped = False
        self.jobs = JobRunner("window-jobs", self)  # list past runs, create the sample, read a run's events
        self._warm_up = JobRunner("warm-up", self)  # long (seconds): kept off the queue of the jobs above

        self.data_panel = DataPanel(self.config, self)
        self.model_panel = ModelPanel(self.config, self)
        self.loss_panel = LossPanel(self.config, self)
        self.training_panel = TrainingPanel(self.config, self)
        self.panels = (self.data_panel, self.model_panel, self.loss_panel, self.training_panel)
        self.run_view = RunView(self)
        self.live_plots = self.run_view.plots
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for widget, title in zip((*self.panels, self.run_view), ("Data", "Model", "Loss", "Training", "Live")):
            self.tabs.addTab(widget, title)
        self.setCentralWidget(self.tabs)
        self.results_view = ResultsView(self)
        self.runs_view = RunsView(self)
        self.try_it = TryItView(self)
        self.studies_view = StudiesView(self)
        for widget, title in ((self.results_view, "Results"), (self.runs_view, "Runs"), (self.studies_view, "Studies"),
                              (self.try_it, "Try it")):
            self.add_workspace_tab(widget, title)
        self._build_log_dock()
        self.run_toolbar = RunToolbar(self, self._on_start_action_triggered, self._on_stop_action_triggered)
        self.addToolBar(self.run_toolbar)
        self.status_bar = RunStatusBar(self.session, self.run_view, self)
        self.setStatusBar(self.status_bar)
        # Short names for what tests and other parts use most.
        toolbar, self.toolbar, bar = self.run_toolbar, self.run_toolbar, self.status_bar
        self.start_action, self.stop_action, self.start_reason, self.seeds_box = (
            toolbar.start_action, toolbar.stop_action, toolbar.start_reason, toolbar.seeds_box)
        self.status_label = bar.status_label
        self._build_menus()
        self._connect()

        self.data_panel.set_recent(_settings_list(self.settings.value("data/recent")))
        self._restore_layout()
        self._on_document_state_changed()
        self._revalidate()
        self._refresh_past_runs()
        self.runs_view.set_runs_dir(self.config.train.runs_dir)
        self.studies_view.set_runs_dir(self.config.train.runs_dir)
        self._open_initial_dataset()
        self._warm_up.submit("warm-up", warm_up_engine, lambda _result: None, self._on_warm_up_failed)

    # ------------------------------------------------------------------ construction

    def _build_log_dock(self) -> None:
        self.log_view = RunLog(self)
        self.log_dock = QDockWidget("Run log", self)
        self.log_dock.setObjectName("runLogDock")
        self.log_dock.setWidget(self.log_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.resizeDocks([self.log_dock], [130], Qt.Orientation.Vertical)

    def _build_menus(self) -> None:
        action = functools.partial(make_action, self)
        self.new_action = action("&New", self._on_new_action_triggered, QKeySequence.StandardKey.New)
        self.open_action = action("&Open…", self._on_open_action_triggered, QKeySequence.StandardKey.Open)
        self.save_action = action("&Save", self._on_save_action_triggered, QKeySequence.StandardKey.Save)
        self.save_as_action = action("Save &As…", self._on_save_as_action_triggered, QKeySequence.StandardKey.SaveAs)
        self.open_run_action = action("Open &Run…", self._on_open_run_action_triggered)
        self.resume_action = action("Res&ume Run…", self._on_resume_action_triggered)
        self.export_report_action = action("Export Re&port…", self._on_export_report_action_triggered)
        self.export_report_action.setToolTip("One self-contained HTML page of the runs selected in the Runs tab "
                                             "(else the run shown in Results): results, gain, curves, config")
        self.quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.new_action, self.open_action, self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addActions([self.open_run_action, self.resume_action, self.export_report_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addActions([self.start_action, self.stop_action])
        self.menuBar().addMenu("&View").addAction(self.log_dock.toggleViewAction())

    def _connect(self) -> None:
        self.document.replaced.connect(self._on_document_replaced)
        self.document.state_changed.connect(self._on_document_state_changed)
        self.data_panel.check_started.connect(self._on_data_panel_check_started)
        self.data_panel.check_finished.connect(self._on_data_panel_check_finished)
        self.data_panel.check_failed.connect(self._on_data_panel_check_failed)
        self.data_panel.fields_changed.connect(self._on_data_panel_fields_changed)
        self.data_panel.sample_requested.connect(self.create_sample_dataset)
        self.model_panel.teacher_checked.connect(self._on_model_panel_teacher_checked)
        for panel in self.panels:
            panel.edited.connect(self._on_panel_edited)
        # The run's one event stream: every view that shows the run listens to it directly.
        for view in (self.live_plots, self.run_view, self.log_view, self.results_view, self.runs_view):
            self.session.event_received.connect(view.on_event)
        self.session.run_finished.connect(self._on_session_run_finished)
        self.session.run_failed.connect(self._on_session_run_failed)
        self.session.stop_requested.connect(self._on_session_stop_requested)
        self.session.stop_requested.connect(self.run_view.on_stop_requested)
        self.session.stop_requested.connect(self.run_toolbar.on_stop_requested)
        self.session.warned.connect(self.log_view.on_warning)
        self.run_view.past_run_opened.connect(self._on_run_view_past_run_opened)
        self.run_view.past_run_failed.connect(self._on_run_view_past_run_failed)
        self.runs_view.open_run_requested.connect(self.show_results)
        self.studies_view.open_run_requested.connect(self.show_results)
        self.runs_view.clone_config_requested.connect(self._on_runs_view_clone_config_requested)
        self.runs_view.resume_requested.connect(self._on_runs_view_resume_requested)

    # ------------------------------------------------------------------ public API

    @property
    def config(self) -> ExperimentConfig:
        return self.document.config

    @property
    def config_path(self) -> Path | None:
        return self.document.path

    @property
    def issues(self) -> list[ConfigIssue]:
        return self.document.issues

    @property
    def run_dir(self) -> str:
        return self.session.run_dir

    def report_runs(self) -> list[str]:
        """What File > Export report covers: the runs selected in the Runs tab, else the run Results shows,
        else the latest run."""
        shown = self.results_view.run_dir or self.run_dir
        return self.runs_view.selected_run_dirs() or ([shown] if shown else [])

    def export_report(self, run_dirs: list[str], target: str | Path) -> Path | None:
        """Write the report (drawn here, in the GUI thread: it uses the app's plot widgets); None on failure."""
        from workbench.gui.report import write_report

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            out = write_report(run_dirs, target)
        except (WorkbenchError, OSError) as error:
            QMessageBox.warning(self, "Export report", f"The report was not written: {error}")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.log(f"Wrote the report of {len(run_dirs)} run{'s' * (len(run_dirs) > 1)} to {out}")
        return out

    def add_workspace_tab(self, widget: QWidget, title: str) -> int:
        """Add a tab (e.g. Results, Runs, Try it) after the built-in ones; returns its index."""
        return self.tabs.addTab(widget, title)

    def editors(self) -> dict[str, ValueEditor]:
        """Every value editor of the panels, by config key."""
        return {key: editor for panel in self.panels for key, editor in panel.editors.items()}

    def log(self, message: str) -> None:
        self.log_view.log(message)

    def open_run(self, run_dir: str | Path, show_live: bool = True) -> None:
        """Show a past run's curves in the live plots; the events are read in the background.
        With ``show_live`` the Live tab becomes current once they are in."""
        self.log(f"Opening run {run_dir}")
        self._show_live_when_opened = show_live
        self.run_view.open_past_run(str(run_dir))

    @Slot(str)
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

    def is_idle(self) -> bool:
        """No background job of the window or its panels is under way (tests wait for this)."""
        return (self.jobs.is_idle() and self._warm_up.is_idle() and not self.data_panel.is_checking()
                and not self.model_panel.is_counting())

    def is_running(self) -> bool:
        return self.session.is_running()

    def start_run(self) -> bool:
        """Start training the current config; False (and the reason in the toolbar) when it cannot run."""
        self._revalidate()
        if self.issues or self.is_running():
            return False
        self.log("Starting a run" + (f" from {self.config_path.name}" if self.config_path else ""))
        self.live_plots.reset()
        self.run_view.begin_run()
        self.session.start(self.config, seeds=self.seeds_box.value())
        self._show_run_started()
        return True

    def resume_run(self, run_dir: str | Path) -> bool:
        """Continue a stopped (or killed) run from its last checkpoints, in its own folder."""
        if self.is_running():
            return False
        self.log(f"Resuming {run_dir}")
        self.live_plots.reset()
        self.run_view.begin_run(f"Resuming {Path(run_dir).name}…")
        self.session.resume(run_dir)
        self._show_run_started()
        return True

    def stop_run(self) -> None:
        if self.is_running():
            self.session.request_stop()

    def open_config(self, path: str | Path) -> None:
        self.document.open(path)

    def save_config(self, path: str | Path | None = None) -> bool:
        target = Path(path) if path is not None else self.config_path
        if target is None:
            return self._ask_save_as()
        self.document.save(target)
        self.log(f"Saved {target}")
        return True

    @Slot()
    def create_sample_dataset(self) -> None:
        """Write the built-in sample into the user's data folder (in the background) and check it."""
        from workbench.data import write_sample_dataset

        target = user_data_dir() / "sample"
        self.log(f"Creating the sample dataset in {target}")
        self.data_panel.create_sample_button.setEnabled(False)
        self.status_bar.show_message("Creating the sample dataset…")
        options = dict(SAMPLE_QUICK_START)
        self.jobs.submit("sample", lambda: str(write_sample_dataset(target, **options)), self._on_sample_created,
                         self._on_sample_failed)

    # ------------------------------------------------------------------ config state

    @Slot()
    def _on_document_replaced(self) -> None:
        for panel in self.panels:
            panel.set_config(self.config)
        overview = self.data_panel.overview
        if overview is not None and self.config.data.root and \
                Path(self.config.data.root).resolve() == Path(overview.report.index.root).resolve():
            self.model_panel.set_dataset(overview.input_specs, len(overview.report.index.class_names), overview.report)
        self._revalidate()
        self._refresh_past_runs()
        self.runs_view.set_runs_dir(self.config.train.runs_dir)
        self.studies_view.set_runs_dir(self.config.train.runs_dir)

    @Slot()
    def _on_document_state_changed(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — {APP_TITLE}")
        self.setWindowFilePath(str(self.config_path) if self.config_path else "")
        self.setWindowModified(self.document.modified)

    def _mark_edited(self) -> None:
        self.document.set_modified()
        self._revalidate()

    @Slot()
    def _on_model_panel_teacher_checked(self) -> None:
        self._revalidate()  # a reused teacher that does not fit keeps Start disabled, with the reason

    def _revalidate(self) -> None:
        """Mark every invalid value in the forms and say why Start is disabled."""
        issues = self.document.validate(self.data_panel.dataset_issues() + self.model_panel.teacher_issues)
        reasons: dict[str, str] = {}
        for issue in issues:
            reasons.setdefault(issue.key, issue.message)
        for key, editor in self.editors().items():
            editor.mark_invalid(reasons.get(key))
        for index in range(self.tabs.count()):
            keys = TAB_KEYS.get(self.tabs.tabText(index).removesuffix(" ⚠"))
            if keys:
                bad = any(issue.key.split(".")[0] in keys for issue in issues)
                self.tabs.setTabText(index, self.tabs.tabText(index).removesuffix(" ⚠") + (" ⚠" if bad else ""))
        self._show_running(self.is_running())

    def _show_running(self, running: bool) -> None:
        self.run_toolbar.show_state(running, self.issues)
        for action in (self.new_action, self.open_action, self.resume_action):
            action.setEnabled(not running)

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

    def _refresh_past_runs(self) -> None:
        runs_dir = self.config.train.runs_dir
        self.jobs.submit("past-runs", lambda: list_past_runs(runs_dir), self.model_panel.set_past_runs,
                         self._on_past_runs_failed)

    def _on_past_runs_failed(self, message: JobError) -> None:
        self.log(f"Cannot list earlier runs: {message}")

    def _on_warm_up_failed(self, message: JobError) -> None:
        self.log(f"Warm-up import failed (the first run will import it instead): {message}")

    def _on_sample_created(self, folder: str) -> None:
        self.log(f"Sample dataset ready in {folder}")
        self.data_panel.create_sample_button.setEnabled(True)
        self.data_panel.check_folder(folder)

    def _on_sample_failed(self, error: JobError) -> None:
        self.data_panel.create_sample_button.setEnabled(True)
        self._show_error("Cannot create the sample dataset", error, error.details)

    @Slot(str, int)
    def _on_run_view_past_run_opened(self, run_dir: str, events: int) -> None:
        if self._show_live_when_opened:
            self.tabs.setCurrentWidget(self.run_view)
        self.log(f"Loaded {events} events of {run_dir}")

    @Slot(str, str)
    def _on_run_view_past_run_failed(self, message: str, details: str) -> None:
        self._show_error("Cannot open the run", message, details)

    # ------------------------------------------------------------------ panel handlers

    @Slot(str)
    def _on_panel_edited(self, key: str) -> None:
        self._mark_edited()
        if key.startswith("train.runs_dir"):
            self._refresh_past_runs()
            self.runs_view.set_runs_dir(self.config.train.runs_dir)
            self.studies_view.set_runs_dir(self.config.train.runs_dir)

    @Slot(object)
    def _on_runs_view_clone_config_requested(self, config: ExperimentConfig) -> None:
        if self.is_running():
            self.status_bar.show_message("Stop the run before loading another config.")
            return
        self.document.replace(config, None, modified=True)  # as File > Open, but untitled: saving asks for a file
        self.log("Loaded a run's config into the editor (unsaved)")
        self.tabs.setCurrentWidget(self.data_panel)

    @Slot(str)
    def _on_runs_view_resume_requested(self, run_dir: str) -> None:
        if not self.resume_run(run_dir):
            self.status_bar.show_message("A run is training: stop it before resuming another.")

    @Slot(str)
    def _on_data_panel_check_started(self, folder: str) -> None:
        self.status_bar.show_message(f"Checking {folder}…")
        self._revalidate()

    @Slot(object)
    def _on_data_panel_check_finished(self, overview: DatasetOverview) -> None:
        self.overview = overview
        report = overview.report
        # The class count the networks' heads have: segmentation's mask classes, else the labels.
        self.model_panel.set_dataset(overview.input_specs, len(report.index.target_names or report.index.class_names),
                                     report)
        self.training_panel.set_config(self.config)  # a new dataset's task may change the selection metric
        self.status_bar.show_message(f"{len(report.index.samples)} samples, {len(report.index.class_names)} classes"
                                  f" in {report.index.root}")
        self.log(f"Checked {report.index.root}: {len(report.index.samples)} samples, "
                 f"{len(report.problems)} problem(s), {'trainable' if report.trainable else 'not trainable'}")
        self.settings.setValue("data/recent", self.data_panel.recent)
        self._revalidate()

    @Slot(str)
    def _on_data_panel_check_failed(self, message: str) -> None:
        self.status_bar.show_message("The dataset check failed")
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
        config = new_config()
        if self.overview is not None:
            runs_dir = config.train.runs_dir
            config = default_config(self.overview.report)
            config.train.runs_dir = runs_dir
        self.document.replace(config, None)

    @Slot()
    def _on_open_action_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a config", str(self.document.folder()),
                                              "Config files (*.toml);;All files (*)")
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
        start = str(self.config_path or self.document.folder() / "experiment.toml")
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
    def _on_export_report_action_triggered(self) -> None:
        run_dirs = self.report_runs()
        if not run_dirs:
            QMessageBox.information(self, "Export report", "Select runs in the Runs tab, or open a run, first.")
            return
        first = Path(run_dirs[0])
        suggested = first.parent / f"{first.name}{'-comparison' if len(run_dirs) > 1 else ''}-report.html"
        target, _ = QFileDialog.getSaveFileName(self, "Export report", str(suggested), "HTML page (*.html)")
        if target:
            self.export_report(run_dirs, target)

    @Slot()
    def _on_resume_action_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Resume a run", self.config.train.runs_dir)
        if folder:
            self.resume_run(folder)

    # ------------------------------------------------------------------ run state

    @Slot()
    def _on_start_action_triggered(self) -> None:
        self.start_run()

    @Slot()
    def _on_stop_action_triggered(self) -> None:
        self.stop_run()

    def _show_run_started(self) -> None:
        self.tabs.setCurrentWidget(self.run_view)
        self._show_running(True)

    @Slot()
    def _on_session_stop_requested(self) -> None:
        self.log("Stop requested: the run ends after the current batch")

    @Slot(object)
    def _on_session_run_finished(self, _summary: dict) -> None:
        self._end_of_run()
        if self._close_when_stopped:
            self.close()
        elif self.run_dir:
            self.try_it.set_run(self.run_dir)  # Try it works on the newest run

    @Slot(str, str)
    def _on_session_run_failed(self, message: str, details: str) -> None:
        self._end_of_run()
        if self._close_when_stopped:
            self.close()
            return
        where = (f"The details are saved in {Path(self.run_dir) / 'error.txt'}. " if self.run_dir else "")
        self._show_error("Training failed", message, details, where + "You can change the settings and start a new run.")

    def _end_of_run(self) -> None:
        self.live_plots.redraw()
        self._show_running(False)
        self._refresh_past_runs()

    def _show_error(self, title: str, message: str, details: str, informative: str = "") -> None:
        self.error_dialog = open_error_dialog(self, title, message, details, informative)
        self.error_dialog.finished.connect(self._on_error_dialog_finished)

    @Slot(int)
    def _on_error_dialog_finished(self, _result: int) -> None:
        self.error_dialog = None

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if self.is_running():
            event.ignore()
            if not self._close_when_stopped:  # else already stopping: the window closes when the run has ended
                self._ask_stop_and_close()
            return
        self._save_settings()
        self.live_plots.redraw_timer.stop()
        self.status_bar.timer.stop()
        # Every job thread ends with the window (children get no closeEvent): no job reports to a closed window.
        for owner in (self.jobs, self._warm_up, self.data_panel, self.model_panel, self.run_view, self.results_view,
                      self.runs_view, self.try_it):
            owner.shutdown()
        super().closeEvent(event)

    def _ask_stop_and_close(self) -> None:
        self.close_question = open_question(self, "closeQuestion", "A run is training",
                                            "Stop the run and close? The run folder keeps what it has trained so "
                                            "far; the run can be resumed later.")
        self.close_question.finished.connect(self._on_close_question_finished)

    @Slot(int)
    def _on_close_question_finished(self, result: int) -> None:
        self.close_question = None
        if result == QMessageBox.StandardButton.Yes or result == QMessageBox.StandardButton.Yes.value:
            self._close_when_stopped = True
            self.stop_run()
