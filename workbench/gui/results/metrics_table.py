"""The results view's table: one column per network, one row per figure of the shown validation epoch."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from workbench.config import NETS
from workbench.engine.inference import Latency
from workbench.gui.results.run_data import LoadedRun
from workbench.gui.results.selection import PredictionSet, epoch_metrics

METRIC_ROWS = [
    ("accuracy", "Accuracy"),
    ("macro_f1", "Macro-F1"),
    ("top5", "Top-5 accuracy"),
    ("loss", "Loss (cross-entropy)"),
    ("agreement", "Agreement with teacher"),
    ("retrieval_r1", "Retrieval R@1 (this net → the other)"),
    ("retrieval_r5", "Retrieval R@5"),
    ("retrieval_r10", "Retrieval R@10"),
    ("params", "Parameters"),
    ("latency", "Latency per sample, ms (1 CPU thread)"),
    ("checkpoint", "Checkpoint size"),
]


def format_metric(key: str, value: float | int | Latency | None) -> str:
    if value is None:
        return "—"
    if key in ("accuracy", "macro_f1", "top5", "agreement") or key.startswith("retrieval"):
        return f"{value:.1%}"
    if key == "loss":
        return f"{value:.3f}"
    if key == "params":
        return f"{value / 1e6:.2f} M" if value >= 1e5 else f"{value / 1e3:.1f} k"
    if key == "latency":  # a Latency: the median ± half its interquartile range (the cell's tooltip has both ends)
        return f"{value.median * 1e3:.2f}±{(value.high - value.low) * 1e3 / 2:.2f}"
    return f"{value / 2**20:.1f} MiB" if value >= 2**20 else f"{value / 2**10:.0f} KiB"


class MetricsTable(QTableWidget):
    """The epoch's metrics, computed from its predictions, beside what belongs to the run: parameters, the
    best checkpoint's latency and size. Rows without data for this run (top-5 of 5 classes or fewer,
    retrieval without a shared space) are left out."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 0, parent)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumHeight(90)

    def show_epoch(self, predictions: PredictionSet, run: LoadedRun, latency: dict[str, Latency]) -> None:
        computed = epoch_metrics(predictions)
        nets = [net for net in NETS if net in computed or net in run.params]
        rows = [(key, label) for key, label in METRIC_ROWS if (key != "top5" or predictions.num_classes > 5)
                and (not key.startswith("retrieval") or predictions.shared)]
        self.setColumnCount(len(nets))
        self.setRowCount(len(rows))
        self.setHorizontalHeaderLabels([net.capitalize() for net in nets])
        self.setVerticalHeaderLabels([label for _, label in rows])
        for column, net in enumerate(nets):
            run_level = {"params": run.params.get(net), "latency": latency.get(net),
                         "checkpoint": run.checkpoint_bytes.get(net)}
            for row, (key, _) in enumerate(rows):
                value = run_level[key] if key in run_level else computed.get(net, {}).get(key)
                item = QTableWidgetItem(format_metric(key, value))
                if key == "latency" and value is not None:
                    item.setToolTip(f"median {value.median * 1e3:.3f} ms per sample, quartiles {value.low * 1e3:.3f}–"
                                    f"{value.high * 1e3:.3f} ms: 20 passes over up to 64 validation samples on one "
                                    "CPU thread, best checkpoint")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.setItem(row, column, item)

    def show_nothing(self) -> None:
        """No rows or columns (another run is loading)."""
        self.setRowCount(0)
        self.setColumnCount(0)
