"""The config the window edits, as a document: its file, whether it changed since, and what keeps it from running."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from workbench.config import ConfigIssue, ExperimentConfig, load_config, save_config

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

        self.issues = sorted([*self.config.validate(), *dataset_issues], key=section)
        return self.issues
