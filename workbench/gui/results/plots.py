"""The pyqtgraph plots of the results view: confusion heatmap, grouped bars, embedding scatter."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont

from workbench.assets import class_colour, network_colour, ui_colour
from workbench.config import NETS
from workbench.gui.plotting import legend_beside

_MAX_TICK_CHARS = 10
_MAX_CELL_LABELS = 15  # class count up to which each confusion cell shows its number
_LEGEND_ROWS = 12  # entries per legend column beside the embedding plots


def class_color(class_id: int) -> QColor:
    return QColor(class_colour(class_id))


def _short(name: str) -> str:
    return name if len(name) <= _MAX_TICK_CHARS else name[:_MAX_TICK_CHARS - 1] + "…"


def _class_ticks(class_names: list[str]) -> list[list[tuple[float, str]]]:
    return [[(float(i), _short(name)) for i, name in enumerate(class_names)]]


class _CellNumbers(pg.GraphicsObject):
    """Every cell's number in one item, drawn in screen pixels so that the view's scale never stretches it.

    One pg.TextItem per cell would do, but creating 100 of them blocks the GUI thread for ~100 ms.
    """

    def __init__(self):
        super().__init__()
        self._texts: list[str] = []
        self._dark: list[bool] = []  # dark text on the light (high) end of the colour map
        self._size = 0
        self._font = QFont()

    def set_cells(self, texts: list[str], dark: list[bool], size: int) -> None:
        self.prepareGeometryChange()
        self._texts, self._dark, self._size = texts, dark, size
        self._font.setPointSize(8 if size > 8 else 9)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._size, self._size)

    def paint(self, painter, option, widget=None) -> None:
        to_screen = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setFont(self._font)
        for position, text in enumerate(self._texts):
            row, col = divmod(position, self._size)
            center = to_screen.map(QPointF(col + 0.5, row + 0.5))
            painter.setPen(QColor("black") if self._dark[position] else QColor("white"))
            painter.drawText(QRectF(center.x() - 40, center.y() - 10, 80, 20), Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class ConfusionPlot(pg.PlotWidget):
    """Heatmap of a confusion matrix, true class down the rows; clicking a cell reports it."""

    cell_clicked = Signal(int, int)  # true class, predicted class

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.invertY(True)  # row 0 (first class) at the top, as a matrix is read
        self.setLabel("left", "true class", color="k")
        self.setLabel("bottom", "predicted class", color="k")
        for axis in ("left", "bottom"):
            self.getAxis(axis).setTextPen("k")
            self.getAxis(axis).setPen("k")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.addItem(self.image)
        self.cell_numbers = _CellNumbers()
        self.addItem(self.cell_numbers)
        self._size = 0
        self.matrix = np.zeros((0, 0))
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def set_matrix(self, counts: np.ndarray, shown: np.ndarray, class_names: list[str], normalized: bool) -> None:
        """``shown`` (counts or row shares) sets the colours and the cell numbers."""
        self.matrix = counts
        top = float(shown.max()) if shown.size and shown.max() > 0 else 1.0
        self.image.setImage(np.round(shown / top * 255).astype(np.uint8), levels=(0, 255))
        size = len(class_names)
        self.image.setRect(0, 0, size, size)
        ticks = [[(i + 0.5, label) for i, label in ticks] for ticks in _class_ticks(class_names)]
        self.getAxis("bottom").setTicks(ticks)
        self.getAxis("left").setTicks(ticks)
        if size != self._size:
            self._size = size
            self.setRange(xRange=(0, size), yRange=(0, size), padding=0)
        if size <= _MAX_CELL_LABELS:
            texts = [f"{value:.2f}" if normalized else str(int(value)) for value in shown.ravel()]
            self.cell_numbers.set_cells(texts, (shown.ravel() / top > 0.6).tolist(), size)
        else:
            self.cell_numbers.set_cells([], [], 0)

    def clear_matrix(self) -> None:
        self.matrix = np.zeros((0, 0))
        self.image.clear()
        self.cell_numbers.set_cells([], [], 0)

    def cell_center(self, true_class: int, predicted_class: int) -> QPointF:
        """Scene position of a cell's centre (what a click there hits)."""
        return self.image.mapToScene(QPointF(predicted_class + 0.5, true_class + 0.5))

    @Slot(object)
    def _on_scene_clicked(self, event) -> None:
        if not self.matrix.size:
            return
        point = self.image.mapFromScene(event.scenePos())
        size = self.matrix.shape[0]
        col, row = int(np.floor(point.x())), int(np.floor(point.y()))
        if 0 <= row < size and 0 <= col < size:
            self.cell_clicked.emit(row, col)


class GroupedBarPlot(pg.PlotWidget):
    """Bars per category, one colour per network side by side (per-class accuracy, top-k probabilities)."""

    def __init__(self, title: str, y_label: str, parent=None):
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.setTitle(title, color="k")
        self.setLabel("left", y_label, color="k")
        for axis in ("left", "bottom"):
            self.getAxis(axis).setTextPen("k")
            self.getAxis(axis).setPen("k")
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.legend = legend_beside(self.getPlotItem(), below=True, colCount=len(NETS))
        self.bars: dict[str, pg.BarGraphItem] = {}

    def set_values(self, categories: list[str], values: dict[str, np.ndarray], y_max: float = 1.0) -> None:
        for item in self.bars.values():
            self.removeItem(item)
        self.legend.clear()
        self.bars = {}
        nets = [net for net in NETS if net in values]
        width = 0.8 / max(1, len(nets))
        for slot, net in enumerate(nets):
            x = np.arange(len(categories)) - 0.4 + width * (slot + 0.5)
            heights = np.nan_to_num(np.asarray(values[net], dtype=float))
            item = pg.BarGraphItem(x=x, height=heights, width=width * 0.95, brush=network_colour(net), pen=None)
            self.addItem(item)
            self.legend.addItem(item, net)
            self.bars[net] = item
        self.getAxis("bottom").setTicks(_class_ticks(categories))
        self.setRange(xRange=(-0.6, len(categories) - 0.4), yRange=(0, y_max), padding=0.02)


class EmbeddingPlot(pg.PlotWidget):
    """2-D PCA of one network's embeddings, coloured by true class; hover shows a sample, click opens it."""

    sample_clicked = Signal(int)

    def __init__(self, title: str, tip: Callable[[int], str], parent=None):
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.setTitle(title, color="k")
        for axis in ("left", "bottom"):
            self.getAxis(axis).setTextPen("k")
            self.getAxis(axis).setPen("k")
            self.getAxis(axis).enableAutoSIPrefix(False)
        self.setLabel("bottom", "PC 1", color="k")
        self.setLabel("left", "PC 2", color="k")
        self.legend = legend_beside(self.getPlotItem())
        self._tip = tip
        self._scatters: list[pg.ScatterPlotItem] = []
        self._points = np.zeros((0, 2))
        # A ring on the sample shown in the detail view, in both plots at once (teacher and student).
        self.marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen(ui_colour("marker_outline"), width=2), brush=None)
        self.marker.setZValue(10)
        self.addItem(self.marker)

    def set_points(self, points: np.ndarray, labels: np.ndarray, class_names: list[str]) -> None:
        """One scatter item per class: a single brush each is far faster than 10,000 per-point brushes."""
        self.clear_points()
        # Many classes: more legend columns rather than a legend taller than the plot.
        self.legend.setColumnCount(max(1, math.ceil(len(np.unique(labels)) / _LEGEND_ROWS)))
        for class_id in np.unique(labels):
            rows = np.flatnonzero(labels == class_id)
            scatter = pg.ScatterPlotItem(pos=points[rows], data=rows, size=7, pen=None,
                                         brush=pg.mkBrush(class_color(int(class_id))), hoverable=True,
                                         hoverSize=11, hoverPen=pg.mkPen("k", width=1.5), tip=self._point_tip,
                                         name=class_names[int(class_id)])
            scatter.sigClicked.connect(self._on_scatter_clicked)
            self.addItem(scatter)
            self._scatters.append(scatter)
        self._points = np.asarray(points)
        self.autoRange()

    def mark(self, row: int | None) -> None:
        """Ring sample ``row`` (a row of the points given), or no sample."""
        if row is None or not 0 <= row < len(self._points):
            self.marker.setData([], [])
        else:
            self.marker.setData([self._points[row, 0]], [self._points[row, 1]])

    def marked(self) -> tuple[float, float] | None:
        x, y = self.marker.getData()
        return (float(x[0]), float(y[0])) if x is not None and len(x) else None

    def point_count(self) -> int:
        return sum(len(scatter.data) for scatter in self._scatters)

    def clear_points(self) -> None:
        for scatter in self._scatters:
            self.removeItem(scatter)
        self.legend.clear()
        self._scatters = []
        self._points = np.zeros((0, 2))
        self.marker.setData([], [])

    def _point_tip(self, x: float, y: float, data: object) -> str:
        return self._tip(int(data))

    @Slot(object, object, object)
    def _on_scatter_clicked(self, item, points, event) -> None:
        if len(points):
            self.sample_clicked.emit(int(points[0].data()))
