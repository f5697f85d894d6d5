"""Shared pyqtgraph setup: one look for every plot in the app."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Slot
from PySide6.QtWidgets import QSizePolicy

from workbench.assets import ui_colour

pg.setConfigOptions(antialias=False, background="w", foreground=ui_colour("plot_foreground"))


def small_plot(title: str, height: int = 160) -> pg.PlotWidget:
    """A compact plot for panels (histograms, the learning-rate preview)."""
    widget = pg.PlotWidget(title=title)
    widget.setMinimumHeight(height)
    widget.setMenuEnabled(False)
    widget.getPlotItem().setMouseEnabled(x=False, y=False)
    widget.getPlotItem().hideButtons()
    return widget


def set_bars(plot: pg.PlotWidget, labels: list[str], values: list[float], colour: str | None = None) -> None:
    """Replace the plot's content with one bar per label, labelled on the x axis."""
    plot.clear()
    x = list(range(len(values)))
    plot.addItem(pg.BarGraphItem(x=x, height=values, width=0.7, brush=colour or ui_colour("chart"), pen=None))
    step = max(1, len(labels) // 12)  # keep tick labels readable with many classes
    plot.getAxis("bottom").setTicks([[(i, labels[i]) for i in range(0, len(labels), step)]])
    plot.setXRange(-0.6, len(values) - 0.4, padding=0)
    plot.setYRange(0, max(values, default=1) * 1.1, padding=0)


def legend_beside(plot: pg.PlotItem, below: bool = False, steady: bool = False, **options) -> pg.LegendItem:
    """A legend in the plot's own layout, right of its data area (or ``below`` it, for narrow plots
    with few entries): it never covers a point.

    It becomes ``plot.legend``, so curves added with a ``name`` enter it and leave it with
    ``plot.removeItem`` as with pyqtgraph's floating legend. Its size is that of its entries,
    aligned to the top of the plot.

    ``steady`` (plots that gain entries while a run is drawn live): the layout holds a column that
    only ever widens, and the legend sits in it without being laid out itself. A new entry then
    re-lays out nothing unless it is wider than any before; otherwise each entry re-lays out the
    plot, and through the linked x axes every plot beside it (measured: 50-100 ms of the GUI
    thread for each new curve).
    """
    legend = pg.LegendItem(**{"labelTextSize": "8pt", "labelTextColor": ui_colour("plot_foreground"), "verSpacing": -6,
                              **options})  # rows set close together: a legend no taller than it must be
    legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    # PlotItem's grid: row 2 holds the view box (column 1) and its right axis (2); row 3 the bottom axis.
    if below:
        plot.layout.addItem(legend, 4, 1)
        plot.layout.setAlignment(legend, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
    elif steady:
        column = LegendColumn(legend)
        plot.layout.addItem(column, 2, 3)
    else:
        plot.layout.addItem(legend, 2, 3)
        plot.layout.setAlignment(legend, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    plot.legend = legend
    return legend


SAMPLE_WIDTH = 20  # a legend entry's line sample (pyqtgraph's ItemSample is fixed at 20 px)


class LegendColumn(pg.GraphicsWidget):
    """The layout's place for a steady legend: as wide as the widest the legend has been, no height
    of its own (the legend is drawn from its top); the legend is its child, outside any layout."""

    def __init__(self, legend: pg.LegendItem):
        super().__init__()
        self.legend = legend
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Ignored)
        self.setMinimumWidth(0)
        self.setPreferredWidth(0)
        legend.setParentItem(self)
        legend.setPos(0, 0)
        self._measure = pg.LabelItem("")  # measures labels for ``reserve``; in no scene
        self._partners: list[LegendColumn] = []  # columns that keep this one's width (``share_width``)
        legend.geometryChanged.connect(self._on_legend_geometry_changed)

    def reserve(self, labels: list[str]) -> None:
        """Make room now for entries with these labels (a live run's planned series): the entries then re-lay
        out nothing when they come. The width is the legend's own grid (its margins, a sample and a label
        per column, its spacing), its labels measured on one label of the legend's look, never shown."""
        legend, grid = self.legend, self.legend.layout
        columns = max(1, legend.columnCount)
        widths = []
        for label in labels:
            self._measure.setText(label, size=legend.opts["labelTextSize"])
            widths.append(self._measure.itemRect().width())
        if not widths:
            return
        left, _, right, _ = grid.getContentsMargins()
        column_widths = [max(widths[column::columns], default=0.0) for column in range(min(columns, len(widths)))]
        self._widen(left + right + sum(SAMPLE_WIDTH + width for width in column_widths)
                    + grid.horizontalSpacing() * (2 * len(column_widths) - 1))

    def _widen(self, width: float) -> None:
        if width > self.preferredWidth():  # only wider: a narrower legend leaves the column as it is
            self.setPreferredWidth(width)
            self.setMinimumWidth(width)
            for partner in self._partners:
                partner._widen(width)

    @Slot()
    def _on_legend_geometry_changed(self) -> None:
        self._widen(self.legend.geometry().width())
        if self.legend.pos() != QPointF(0, 0):
            self.legend.setPos(0, 0)


def legend_column(legend: pg.LegendItem) -> LegendColumn:
    """The column of a ``steady`` legend (``legend_beside``)."""
    column = legend.parentItem()
    if not isinstance(column, LegendColumn):
        raise TypeError("not a steady legend: legend_beside(..., steady=True) makes one")
    return column


def share_width(columns: list[LegendColumn]) -> None:
    """Keep these legend columns as wide as the widest of them, now and whenever one widens. Plots stacked in
    one grid column with linked x axes need it: pyqtgraph lines linked views up on screen, so a plot whose data
    area is wider than the one above it shows a longer x range than the data."""
    for column in columns:
        column._partners = [other for other in columns if other is not column]
    widest = max(column.preferredWidth() for column in columns)
    for column in columns:
        column._widen(widest)
