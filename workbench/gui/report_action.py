"""File › Export Report: one self-contained HTML page (``gui/report.py``) of the runs the user means."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from workbench.errors import WorkbenchError
from workbench.gui.results import ResultsView, RunsView
from workbench.gui.run_session import RunSession


class ExportReportAction(QAction):
    """Asks where, and writes the report of the runs selected in the Runs tab, else of the run Results
    shows, else of the latest run trained here."""

    reported = Signal(str, str)  # a status-bar message, a run-log line ("" for neither)

    def __init__(self, runs_view: RunsView, results_view: ResultsView, session: RunSession, window: QWidget):
        super().__init__("Export Re&port…", window)
        self.runs_view, self.results_view, self.session, self._window = runs_view, results_view, session, window
        self.setToolTip("One self-contained HTML page of the runs selected in the Runs tab "
                        "(else the run shown in Results): results, gain, curves, config")
        self.triggered.connect(self._on_triggered)

    def report_runs(self) -> list[str]:
        """The run folders the report covers, in the Runs table's order."""
        shown = self.results_view.run_dir or self.session.run_dir
        return self.runs_view.selected_run_dirs() or ([shown] if shown else [])

    def export(self, run_dirs: list[str], target: str | Path) -> Path | None:
        """Write the report (drawn here, in the GUI thread: it uses the app's plot widgets); None on failure."""
        from workbench.gui.report import write_report  # its plot classes load on first use, not at the app's start

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            out = write_report(run_dirs, target)
        except (WorkbenchError, OSError) as error:
            QMessageBox.warning(self._window, "Export report", f"The report was not written: {error}")
            return None
        finally:
            QApplication.restoreOverrideCursor()
        self.reported.emit("", f"Wrote the report of {len(run_dirs)} run{'s' * (len(run_dirs) > 1)} to {out}")
        return out

    @Slot()
    def _on_triggered(self) -> None:
        run_dirs = self.report_runs()
        if not run_dirs:
            QMessageBox.information(self._window, "Export report", "Select runs in the Runs tab, or open a run, first.")
            return
        first = Path(run_dirs[0])
        suggested = first.parent / f"{first.name}{'-comparison' if len(run_dirs) > 1 else ''}-report.html"
        target, _ = QFileDialog.getSaveFileName(self._window, "Export report", str(suggested), "HTML page (*.html)")
        if target:
            self.export(run_dirs, target)
