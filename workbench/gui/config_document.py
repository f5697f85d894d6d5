"""The config the window edits, as a document: its file, whether it changed since, and what keeps it from
running (``ConfigDocument``); and the File menu's commands on it (``ConfigFileMenu``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QWidget

from workbench.config import ConfigIssue, ExperimentConfig, default_config, load_config, save_config
from workbench.engine.config_validation import validate_config
from workbench.errors import WorkbenchError
from workbench.gui.dialogs import open_error_dialog
from workbench.gui.run_control import make_action

if TYPE_CHECKING:
    from workbench.gui.panels.data_panel import DataPanel

# Issues in the order of the tabs, so that the first reason shown is the first thing to fix (the dataset).
SECTION_ORDER = ("data", "teacher", "student", "loss", "train")


def user_data_dir() -> Path:
    """Where the app keeps the sample dataset and its runs: the platform's AppDataLocation."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def new_config() -> ExperimentConfig:
    config = ExperimentConfig()
    config.train.runs_dir = str(user_data_dir() / "runs")  # not the launch folder: a user may start anywhere
    return config


class ConfigDocument(QObject):
    """One ``ExperimentConfig`` being edited. Panels edit the object in place; the document says when it was
    replaced (New, Open, a run's config), saved or edited, and checks it."""

    replaced = Signal()  # ``config`` is another object now: every panel shows it
    state_changed = Signal()  # the file or the modified flag changed (the window's title)

    def __init__(self, config: ExperimentConfig | None, path: Path | None, settings: QSettings,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.config = config if config is not None else new_config()
        self.path = path  # the file the config came from, if any
        self.modified = False
        self.issues: list[ConfigIssue] = []

    @property
    def title(self) -> str:
        return self.path.name if self.path else "Untitled"

    def replace(self, config: ExperimentConfig, path: Path | None, modified: bool = False) -> None:
        self.config, self.path, self.modified = config, path, modified
        self.replaced.emit()
        self.state_changed.emit()

    def open(self, path: str | Path) -> None:
        """Load a TOML config (a bad file raises a ``WorkbenchError`` naming it)."""
        self.replace(load_config(path), Path(path))
        self.remember_folder(Path(path))

    def save(self, path: str | Path) -> None:
        save_config(self.config, path)
        self.path, self.modified = Path(path), False
        self.remember_folder(self.path)
        self.state_changed.emit()

    def set_modified(self, modified: bool = True) -> None:
        if modified != self.modified:
            self.modified = modified
            self.state_changed.emit()

    def folder(self) -> Path:
        """Where a file dialog for configs starts: the last folder a config was opened from or saved to."""
        return Path(str(self.settings.value("config/folder") or Path.home()))

    def remember_folder(self, path: Path) -> None:
        self.settings.setValue("config/folder", str(path.parent))

    def validate(self, dataset_issues: list[ConfigIssue]) -> list[ConfigIssue]:
        """The config's own issues plus the dataset's, in the order of the tabs; kept as ``issues``."""
        def section(issue: ConfigIssue) -> int:
            head = issue.key.split(".")[0]
            return SECTION_ORDER.index(head) if head in SECTION_ORDER else len(SECTION_ORDER)

        self.issues = sorted([*validate_config(self.config), *dataset_issues], key=section)
        return self.issues


class ConfigFileMenu(QObject):
    """File › New, Open…, Save and Save As… on the document: the file dialogs, and what went wrong.

    New starts from the defaults for the dataset the Data tab has checked (its fields, task and
    classes), keeping the runs folder.
    """

    reported = Signal(str, str)  # a status-bar message, a run-log line ("" for neither)

    def __init__(self, document: ConfigDocument, data_panel: DataPanel, window: QWidget):
        super().__init__(window)
        self.document, self.data_panel, self._window = document, data_panel, window
        keys = QKeySequence.StandardKey
        self.new_action = make_action(window, "&New", self._on_new_action_triggered, keys.New)
        self.open_action = make_action(window, "&Open…", self._on_open_action_triggered, keys.Open)
        self.save_action = make_action(window, "&Save", self._on_save_action_triggered, keys.Save)
        self.save_as_action = make_action(window, "Save &As…", self._on_save_as_action_triggered, keys.SaveAs)
        self.actions = [self.new_action, self.open_action, self.save_action, self.save_as_action]

    def save(self, path: str | Path | None = None) -> bool:
        """Save to ``path``, else to the document's file, else ask for one; False when the user cancelled."""
        target = Path(path) if path is not None else self.document.path
        if target is None:
            return self._ask_save_as()
        self.document.save(target)
        self.reported.emit("", f"Saved {target}")
        return True

    def _ask_save_as(self) -> bool:
        start = str(self.document.path or self.document.folder() / "experiment.toml")
        path, _ = QFileDialog.getSaveFileName(self._window, "Save the config", start, "Config files (*.toml)")
        if not path:
            return False
        return self.save(path if path.endswith(".toml") else f"{path}.toml")

    @Slot()
    def _on_new_action_triggered(self) -> None:
        config = new_config()
        overview = self.data_panel.overview
        if overview is not None:
            runs_dir = config.train.runs_dir
            config = default_config(overview.report)
            config.train.runs_dir = runs_dir
        self.document.replace(config, None)

    @Slot()
    def _on_open_action_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open a config", str(self.document.folder()),
                                              "Config files (*.toml);;All files (*)")
        if path:
            try:
                self.document.open(path)
            except WorkbenchError as error:
                open_error_dialog(self._window, "Cannot open the config", str(error), "")

    @Slot()
    def _on_save_action_triggered(self) -> None:
        self.save()

    @Slot()
    def _on_save_as_action_triggered(self) -> None:
        self._ask_save_as()
