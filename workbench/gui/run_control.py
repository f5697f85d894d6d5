"""Run control on screen: the toolbar (Start, Stop, why Start is disabled) and the status bar.

Both follow the :class:`RunSession` themselves; the window only says what the config's
issues are and what to do when Start or Stop is pressed.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSizePolicy, QSpinBox, QStatusBar, QToolBar, QWidget

from workbench.assets import html_colour
from workbench.config import ConfigIssue
from workbench.gui.run_session import RunSession
from workbench.gui.run_view import RunView

STATUS_REFRESH_MS = 250


def make_action(parent: QWidget, text: str, handler: Callable, shortcut: object = None) -> QAction:
    """A QAction calling ``handler`` (a GUI-thread slot), its shortcut shown in the tooltip."""
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{text.replace('&', '')} ({QKeySequence(shortcut).toString()})")
    action.triggered.connect(handler)
    return action


class RunToolbar(QToolBar):
    """Start (Ctrl+R, F5), how many seeds, Stop (Ctrl+., Shift+F5), and beside them why Start is disabled."""

    def __init__(self, parent: QWidget, on_start: Callable, on_stop: Callable):
        super().__init__("Run", parent)
        self.setObjectName("runToolbar")
        self.setMovable(False)
        self.start_action = make_action(parent, "▶ Start", on_start, "Ctrl+R")
        self.start_action.setShortcuts([QKeySequence("Ctrl+R"), QKeySequence("F5")])
        self.stop_action = make_action(parent, "■ Stop", on_stop, "Ctrl+.")
        self.stop_action.setShortcuts([QKeySequence("Ctrl+."), QKeySequence("Shift+F5")])
        self.stop_action.setEnabled(False)
        self.addAction(self.start_action)
        self.seeds_box = QSpinBox(self)
        self.seeds_box.setRange(1, 100)
        self.seeds_box.setPrefix("seeds: ")
        self.seeds_box.setToolTip("Repeat the run with seeds 0..N-1 (N > 1): a study in the Studies tab, with the "
                                  "mean gain over seeds and its 95% interval")
        self.addWidget(self.seeds_box)
        self.addAction(self.stop_action)
        self.start_reason = QLabel(self)
        self.start_reason.setObjectName("startReason")
        self.start_reason.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.start_reason.setContentsMargins(12, 0, 0, 0)
        self.addWidget(self.start_reason)

    def show_state(self, running: bool, issues: list[ConfigIssue]) -> None:
        self.start_action.setEnabled(not running and not issues)
        self.stop_action.setEnabled(running)
        if running:
            self.start_reason.setText("")
            self.start_reason.setToolTip("")
        elif issues:
            more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
            self.start_reason.setText(html_colour(f"Cannot start: {issues[0]}{more}", "error"))
            self.start_reason.setToolTip("\n".join(str(issue) for issue in issues))
        else:
            self.start_reason.setText("Ready to train.")
            self.start_reason.setToolTip("")

    @Slot()
    def on_stop_requested(self) -> None:
        self.stop_action.setEnabled(False)


class RunStatusBar(QStatusBar):
    """What the app is doing (left), and while a run trains its samples per second and device (right).

    A timer refreshes the throughput and the Live tab's progress a few times a second: batches come
    too fast to redraw on each.
    """

    def __init__(self, session: RunSession, run_view: RunView, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.run_view = session, run_view
        self.status_label = QLabel("Ready", self)
        self.throughput_label = QLabel(self)
        self.device_label = QLabel(self)
        self.addWidget(self.status_label, 1)
        self.addPermanentWidget(self.throughput_label)
        self.addPermanentWidget(self.device_label)
        self.timer = QTimer(self)
        self.timer.setInterval(STATUS_REFRESH_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        session.event_received.connect(self._on_session_event_received)
        session.running_changed.connect(self._on_session_running_changed)
        session.stop_requested.connect(self._on_session_stop_requested)
        session.run_finished.connect(self._on_session_run_finished)
        session.run_failed.connect(self._on_session_run_failed)

    def show_message(self, text: str) -> None:
        self.status_label.setText(text)

    @Slot(object)
    def _on_session_event_received(self, record: dict) -> None:
        if record["event"] == "fit_start":
            self.device_label.setText(f"Device: {record.get('device_name') or record.get('device', '')}")

    @Slot(bool)
    def _on_session_running_changed(self, running: bool) -> None:
        if running:
            self.status_label.setText("Training…")  # not the end of the run before (a resumed one said "stopped")
            self.timer.start()
        else:
            self.timer.stop()
            self._on_timer_timeout()
            self.throughput_label.setText("")

    @Slot()
    def _on_session_stop_requested(self) -> None:
        self.status_label.setText("Stopping… (after the current batch)")

    @Slot(object)
    def _on_session_run_finished(self, summary: dict) -> None:
        self.status_label.setText(f"Run {summary.get('status', 'finished')}: {self.session.run_dir}")

    @Slot(str, str)
    def _on_session_run_failed(self, message: str, _details: str) -> None:
        self.status_label.setText(f"Run failed: {message}")

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.run_view.show_progress()
        rate = self.session.samples_per_second()
        if rate is not None:
            self.throughput_label.setText(f"{rate:,.0f} samples/s")
