"""A toolbar button that exports a run's student or teacher (TorchScript or ONNX) in the background."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton

from workbench.engine.export import FORMATS, describe_export, export_run
from workbench.gui.jobs import JobRunner

_FORMAT_LABELS = {"torchscript": "TorchScript", "onnx": "ONNX"}


class ExportButton(QToolButton):
    """``Export…`` with one menu entry per network and format; asks where, then exports off the GUI thread."""

    export_finished = Signal(str, str)  # the model file written (its JSON is beside it), the result line
    export_failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setText("Export…")
        self.setToolTip("Export the student or the teacher with a JSON of labels, fields and preprocessing.\n"
                        "ONNX needs the optional extra: pip install \"workbench[onnx]\".")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.run_dir: str | None = None
        self._runner = JobRunner("results-export", self)
        menu = QMenu(self)
        for net in ("student", "teacher"):
            for fmt in FORMATS:
                action = QAction(f"{net.capitalize()} (best checkpoint) as {_FORMAT_LABELS[fmt]}…", self)
                action.setData((net, fmt))
                menu.addAction(action)
        menu.triggered.connect(self._on_menu_triggered)
        self.setMenu(menu)
        self.setEnabled(False)

    def set_run(self, run_dir: str | None) -> None:
        self.run_dir = run_dir
        self.setEnabled(run_dir is not None)

    def export(self, net: str, fmt: str, out: str) -> None:
        """Export in the background; ``export_finished`` or ``export_failed`` follows."""
        run_dir = Path(self.run_dir)
        self.setEnabled(False)
        self.setText("Exporting…")
        self._runner.submit(("export", net, fmt), lambda: _export_and_describe(run_dir, fmt, net, Path(out)),
                            self._on_export_done, self._on_export_error)

    def shutdown(self) -> None:
        self._runner.shutdown()

    @Slot(QAction)
    def _on_menu_triggered(self, action: QAction) -> None:
        net, fmt = action.data()
        # The dialog opens in the run's export/ folder (where `workbench export` writes); it must exist,
        # or the dialog falls back to the working directory.
        folder = Path(self.run_dir) / "export"
        folder.mkdir(exist_ok=True)
        default = folder / f"{net}{FORMATS[fmt]}"
        out, _ = QFileDialog.getSaveFileName(self, f"Export the {net}", str(default),
                                             f"{_FORMAT_LABELS[fmt]} (*{FORMATS[fmt]})")
        if out:
            self.export(net, fmt, out)

    def _on_export_done(self, result: tuple[Path, str]) -> None:
        self._restore()
        path, line = result
        self.export_finished.emit(str(path), line)

    def _on_export_error(self, message: str) -> None:
        self._restore()
        self.export_failed.emit(message.splitlines()[0])

    def _restore(self) -> None:
        self.setText("Export…")
        self.setEnabled(self.run_dir is not None)


def _export_and_describe(run_dir: Path, fmt: str, net: str, out: Path) -> tuple[Path, str]:
    path = export_run(run_dir, fmt, net, out)
    return path, describe_export(path)
