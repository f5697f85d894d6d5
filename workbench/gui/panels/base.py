"""What every config tab (Data, Model, Loss, Training) tells the window, so that the window needs no
knowledge of any one of them: the sections it edits, its value editors, what it alone knows is wrong."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from workbench.config import ConfigIssue, ExperimentConfig
from workbench.gui.forms import ValueEditor


class ConfigPanel(QWidget):
    """A tab that edits its sections of one ``ExperimentConfig`` in place.

    The window validates the whole config on ``edited`` and ``issues_changed``: it marks each editor
    whose key has an issue, and the tab of a panel one of whose ``sections`` has one.
    """

    title = ""  # the tab's name
    sections: tuple[str, ...] = ()  # the config's top-level sections this panel edits

    edited = Signal(str)  # the dotted key of a value the user changed (the config object holds it already)
    issues_changed = Signal()  # what ``issues()`` returns changed (a background check finished or began)
    reported = Signal(str, str)  # what the panel did: a status-bar message, a run-log line ("" for neither)

    def set_config(self, config: ExperimentConfig) -> None:
        """Edit another config (File > New or Open, a run's config)."""
        raise NotImplementedError

    @property
    def editors(self) -> dict[str, ValueEditor]:
        """The panel's value editors by dotted config key (``train.lr``)."""
        raise NotImplementedError

    def issues(self) -> list[ConfigIssue]:
        """What keeps the config from running that ``ExperimentConfig.validate`` cannot know alone
        (the dataset on disk, a reused teacher); most panels know nothing more."""
        return []

    def is_busy(self) -> bool:
        """A background job of the panel is under way (tests wait for none)."""
        return False

    def shutdown(self) -> None:
        """End the panel's background threads (the window closes)."""
