"""The main window: the tabs, menus and toolbar around one config document and one run session.

The parts each own one job: ``ConfigDocument`` the config being edited (file, modified
flag, issues) and ``ConfigFileMenu`` the File commands on it; the panels (``ConfigPanel``)
their editors, their background checks and what they alone know is wrong; ``RunSession``
the training run and its event stream, to which the Live tab, the run log and the result
views subscribe directly. The window wires them together and shows their state: which
values are invalid, why Start is disabled, what the parts report.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QTabWidget, QWidget

from workbench.config import ConfigIssue, ExperimentConfig
from workbench.gui.config_document import ConfigDocument, ConfigFileMenu
from workbench.gui.dialogs import open_error_dialog, open_question
from workbench.gui.forms import ValueEditor
from workbench.gui.jobs import JobError, JobRunner
from workbench.gui.overview import DatasetOverview
from workbench.gui.panels.data_panel import DataPanel
from workbench.gui.panels.loss_panel import LossPanel
from workbench.gui.panels.model_panel import ModelPanel
from workbench.gui.panels.training_panel import TrainingPanel
from workbench.gui.report_action import ExportReportAction
from workbench.gui.results import ResultsView, RunsView, TryItView
from workbench.gui.run_control import RunStatusBar, RunToolbar, make_action
from workbench.gui.run_session import RunSession
from workbench.gui.run_view import RunLog, RunView
from workbench.gui.studies_view import StudiesView
from workbench.gui.worker import warm_up_engine

APP_TITLE = "Cross-Modal Distillation Workbench"
WARNING_MARK = " ⚠"  # after the name of a tab whose values have an issue


class MainWindow(QMainWindow):
    """Edits one config, runs it through the run session, and shows the run as it trains."""

    def __init__(self, config: ExperimentConfig | None = None, settings: QSettings | None = None,
                 parent: QWidget | None = None, *, config_path: Path | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.document = ConfigDocument(config, config_path, self.settings, self)
        self.session = RunSession(self)
        self._show_live_when_opened = False
        self.error_dialog: QMessageBox | None = None
        self.close_question: QMessageBox | None = None
        self._close_when_stopped = False
        self._warm_up = JobRunner("warm-up", self)  # imports torch and the engine before the first Start

        self.data_panel = DataPanel(self.config, self.settings, self)
        self.model_panel = ModelPanel(self.config, self)
        self.loss_panel = LossPanel(self.config, self)
        self.training_panel = TrainingPanel(self.config, self)
        self.panels = (self.data_panel, self.model_panel, self.loss_panel, self.training_panel)
        self.run_view = RunView(self)
        self.live_plots = self.run_view.plots
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        for panel in self.panels:
            self.tabs.addTab(panel, panel.title)
        self.tabs.addTab(self.run_view, "Live")
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

        self._restore_layout()
        self._on_document_state_changed()
        self._revalidate()
        self._show_runs_dir()
        self.data_panel.open_initial_dataset()
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
        self.file_menu = ConfigFileMenu(self.document, self.data_panel, self)
        self.open_run_action = make_action(self, "Open &Run…", self._on_open_run_action_triggered)
        self.resume_action = make_action(self, "Res&ume Run…", self._on_resume_action_triggered)
        self.export_report_action = ExportReportAction(self.runs_view, self.results_view, self.session, self)
        self.quit_action = make_action(self, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions(self.file_menu.actions)
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
        # A checked dataset changes the networks' inputs and may change the task's selection metric.
        self.data_panel.check_finished.connect(self.model_panel.set_dataset)
        self.data_panel.check_finished.connect(self.training_panel.on_dataset_checked)
        self.data_panel.fields_changed.connect(self.model_panel.refresh)
        for panel in self.panels:
            panel.edited.connect(self._on_panel_edited)
            panel.issues_changed.connect(self._on_panel_issues_changed)
        for reporter in (*self.panels, self.file_menu, self.export_report_action):
            reporter.reported.connect(self._on_part_reported)
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
    def overview(self) -> DatasetOverview | None:
        """The last dataset the Data tab checked."""
        return self.data_panel.overview

    @property
    def run_dir(self) -> str:
        return self.session.run_dir

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
        return self._warm_up.is_idle() and not any(panel.is_busy() for panel in self.panels)

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

    # ------------------------------------------------------------------ config state

    @Slot()
    def _on_document_replaced(self) -> None:
        for panel in self.panels:
            panel.set_config(self.config)
        self._revalidate()
        self._show_runs_dir()

    @Slot()
    def _on_document_state_changed(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — {APP_TITLE}")
        self.setWindowFilePath(str(self.config_path) if self.config_path else "")
        self.setWindowModified(self.document.modified)

    @Slot(str)
    def _on_panel_edited(self, key: str) -> None:
        self.document.set_modified()
        self._revalidate()
        if key.startswith("train.runs_dir"):
            self._show_runs_dir()

    @Slot()
    def _on_panel_issues_changed(self) -> None:
        self._revalidate()  # e.g. a dataset still being checked, or a reused teacher that does not fit

    def _revalidate(self) -> None:
        """Mark every invalid value in the forms, and each tab with one, and say why Start is disabled."""
        issues = self.document.validate([issue for panel in self.panels for issue in panel.issues()])
        reasons: dict[str, str] = {}
        for issue in issues:
            reasons.setdefault(issue.key, issue.message)
        for key, editor in self.editors().items():
            editor.mark_invalid(reasons.get(key))
        for panel in self.panels:
            bad = any(issue.key.split(".")[0] in panel.sections for issue in issues)
            self.tabs.setTabText(self.tabs.indexOf(panel), panel.title + (WARNING_MARK if bad else ""))
        self._show_running(self.is_running())

    def _show_running(self, running: bool) -> None:
        self.run_toolbar.show_state(running, self.issues)
        for action in (self.file_menu.new_action, self.file_menu.open_action, self.resume_action):
            action.setEnabled(not running)

    def _show_runs_dir(self) -> None:
        """The config's runs folder, in every part that lists its runs."""
        for view in (self.model_panel, self.runs_view, self.studies_view):
            view.set_runs_dir(self.config.train.runs_dir)

    @Slot(str, str)
    def _on_part_reported(self, status: str, line: str) -> None:
        if status:
            self.status_bar.show_message(status)
        if line:
            self.log(line)

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
        self.settings.sync()

    def _on_warm_up_failed(self, message: JobError) -> None:
        self.log(f"Warm-up import failed (the first run will import it instead): {message}")

    # ------------------------------------------------------------------ other views' requests

    @Slot(str, int)
    def _on_run_view_past_run_opened(self, run_dir: str, events: int) -> None:
        if self._show_live_when_opened:
            self.tabs.setCurrentWidget(self.run_view)
        self.log(f"Loaded {events} events of {run_dir}")

    @Slot(str, str)
    def _on_run_view_past_run_failed(self, message: str, details: str) -> None:
        self._show_error("Cannot open the run", message, details)

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
        self.model_panel.set_runs_dir(self.config.train.runs_dir)  # its teacher may be reused now

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
        for owner in (self._warm_up, *self.panels, self.run_view, self.results_view, self.runs_view, self.try_it):
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
