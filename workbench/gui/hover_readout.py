"""The read-out under the mouse over linked plots: a vertical cursor on every plot and, in a label,
each drawn series' value at the data point nearest the mouse, only while the mouse is over data."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from workbench.assets import ui_colour

HOVER_HINT = "Hover over a plot's data to read values."

# (series name "source:label", the plot key it is drawn in, its curve)
DrawnSeries = Callable[[], Iterable[tuple[str, str, pg.PlotDataItem]]]


class HoverReadout(QLabel):
    """The label that reads out ``plots`` (key -> PlotItem, titled by ``titles``) where the mouse is;
    ``drawn`` lists the series drawn now, ``x_mode`` says whether x counts steps or epochs."""

    def __init__(self, graphics: pg.GraphicsLayoutWidget, plots: dict[str, pg.PlotItem], titles: dict[str, str],
                 drawn: DrawnSeries, x_mode: Callable[[], str], parent: QWidget | None = None):
        super().__init__(HOVER_HINT, parent)
        self.plots, self.titles, self.drawn, self.x_mode = plots, titles, drawn, x_mode
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # A long read-out must not widen the window: the label takes the width it gets.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cursors = {key: pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(ui_colour("cursor"), width=1))
                        for key in plots}
        for key, cursor in self.cursors.items():
            cursor.hide()
            plots[key].addItem(cursor, ignoreBounds=True)
        self._mouse_proxy = pg.SignalProxy(graphics.scene().sigMouseMoved, rateLimit=30, slot=self.on_mouse_moved)

    def on_mouse_moved(self, event: tuple) -> None:
        position = event[0]
        for key, plot in self.plots.items():
            if not plot.vb.sceneBoundingRect().contains(position):  # the data area, not the axes or title
                continue
            x = plot.vb.mapSceneToView(position).x()
            low, high = self._x_extent(key)
            if not low <= x <= high:
                break  # beside the data: nothing to read
            for cursor in self.cursors.values():
                cursor.setValue(x)
                cursor.show()
            self.setText(self.describe_at(key, x))
            return
        self.clear_reading()

    def clear_reading(self) -> None:
        for cursor in self.cursors.values():
            cursor.hide()
        self.setText(HOVER_HINT)

    def describe_at(self, plot_key: str, x: float) -> str:
        """The value of each drawn series of a plot at the data point nearest to ``x``."""
        parts = []
        for name, _key, item in self._series_of(plot_key):
            xs, ys = item.xData, item.yData
            i = int(np.clip(np.searchsorted(xs, x), 0, xs.size - 1))
            if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                i -= 1
            parts.append(f"{name.split(':', 1)[1]} = {ys[i]:.4g}")
        x_mode = self.x_mode()
        in_stage = self.plots[plot_key].getAxis("bottom").in_stage(x)
        where = f"{x_mode} {x:.0f}" if x_mode == "step" else f"epoch {in_stage:.2f} of its stage"
        return f"{self.titles[plot_key]} at {where}: " + ("; ".join(parts) if parts else "no data")

    def _series_of(self, plot_key: str) -> list[tuple[str, str, pg.PlotDataItem]]:
        """The visible series of a plot that have data."""
        return [(name, key, item) for name, key, item in self.drawn()
                if key == plot_key and item in self.plots[plot_key].items and item.isVisible()
                and item.xData is not None and item.xData.size]

    def _x_extent(self, plot_key: str) -> tuple[float, float]:
        """The x range that a plot's drawn series cover (empty: +inf, -inf)."""
        low, high = np.inf, -np.inf
        for _name, _key, item in self._series_of(plot_key):
            low, high = min(low, float(item.xData[0])), max(high, float(item.xData[-1]))
        return low, high
