"""The results view's Embedding tab: the teacher's and the student's embeddings of the shown epoch in 2-D."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QWidget

from workbench.gui.jobs import JobRunner
from workbench.gui.results.plots import EmbeddingPlot
from workbench.gui.results.run_data import LoadedRun
from workbench.gui.results.selection import PredictionSet, pca_2d


class EmbeddingPage(QWidget):
    """Projects an epoch's embeddings with PCA in the results view's job runner, and draws them only while
    the page is on screen (10,000 points take ~100 ms to set), else when it is next shown. Hovering a point
    shows its sample; clicking one says so; the sample shown in the detail pane is ringed in both plots."""

    sample_clicked = Signal(int)  # a prediction row
    drawn = Signal(str, int)  # stage, epoch: the plots show this epoch's embedding

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self._runner = runner
        self.plots = {net: EmbeddingPlot(f"{net.capitalize()} embedding (PCA)", self.tip)
                      for net in ("teacher", "student")}
        layout = QHBoxLayout(self)
        for plot in self.plots.values():
            layout.addWidget(plot)
            plot.sample_clicked.connect(self.sample_clicked)
        self._predictions: PredictionSet | None = None
        self._run: LoadedRun | None = None
        self._pending: dict[str, np.ndarray] | None = None  # projected points not drawn yet
        self._marked: int | None = None

    def show_epoch(self, predictions: PredictionSet, run: LoadedRun) -> None:
        """Project the epoch's embeddings (in the background); drawn now or when the page is next shown."""
        self._predictions, self._run, self._pending = predictions, run, None
        embeddings = {net: predictions.embeddings[net] for net in self.plots if net in predictions.embeddings}
        for net, plot in self.plots.items():
            plot.setVisible(net in embeddings or not embeddings)
        self._runner.submit("embedding", lambda: {net: pca_2d(points) for net, points in embeddings.items()},
                            lambda projected: self._on_projection_finished(predictions, projected))

    def mark(self, row: int | None) -> None:
        """Ring the sample of this prediction row in both plots."""
        self._marked = row
        for plot in self.plots.values():
            plot.mark(row)

    def clear(self) -> None:
        self._predictions, self._run, self._pending, self._marked = None, None, None, None
        for plot in self.plots.values():
            plot.clear_points()

    def tip(self, row: int) -> str:
        """A point's hover text: the sample's id, picture and caption, its true class, each network's guess."""
        predictions, run = self._predictions, self._run
        if predictions is None or run is None or row >= predictions.num_samples:
            return ""
        names = run.class_names
        lines = [f"<b>{run.samples.ids[row]}</b>", f"true: {names[int(predictions.label[row])]}"]
        lines += [f"{net}: {names[int(predictions.predicted[net][row])]} ({predictions.confidence[net][row]:.0%})"
                  for net in predictions.nets]
        image = run.samples.image_paths[row]
        picture = f'<img src="{image}" width="96"><br>' if image else ""
        caption = run.samples.texts[row][:120]
        return picture + "<br>".join(lines) + (f"<br><i>{caption}</i>" if caption else "")

    def _on_projection_finished(self, predictions: PredictionSet, projected: dict[str, np.ndarray]) -> None:
        if predictions is not self._predictions:
            return  # another epoch (or run) is shown now
        self._pending = projected
        if self.isVisible():
            self._draw()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._pending is not None:
            self._draw()

    def _draw(self) -> None:
        projected, predictions, self._pending = self._pending, self._predictions, None
        for net, plot in self.plots.items():
            if net in projected:
                plot.set_points(projected[net], predictions.label, self._run.class_names)
                plot.mark(self._marked)
            else:
                plot.clear_points()
        self.drawn.emit(predictions.stage, predictions.epoch)
