"""Live plots of a run: losses, accuracies, learning rate and distillation gain.

Slots only append to :class:`RunHistory` buffers; a timer redraws the series that changed,
with ``setData``, one plot per tick in turn, so that each plot refreshes ``REDRAW_HZ`` times
a second and no tick repaints all four (a tick's work, and the repaint after it, stay a
few milliseconds: the GUI thread answers in between). Curves keep the full-resolution
data; pyqtgraph thins only what it draws (peak downsampling, clip to view).

The view ranges are fitted here, not by pyqtgraph's auto-range: auto-range changes the
axes on every redraw, and re-laying out eight axes costs ~40 ms a frame, which is the
GUI thread's whole budget. Fitted ranges grow in steps and shrink only when the data
fills less than a third of the view, so axes change rarely. The x range of a live run is
its planned length from the start. Panning or zooming turns fitting off ("follow").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from workbench.assets import network_colour, series_colour, term_colours, ui_colour
from workbench.config import NETS
from workbench.engine.result import result_header, run_result, summary_from_events
from workbench.engine.runs import RunRecord
from workbench.errors import WorkbenchError
from workbench.gui.history import RunHistory, ema
from workbench.gui.hover_readout import HoverReadout
from workbench.gui.plotting import legend_beside, legend_column, share_width

REDRAW_HZ = 10  # refreshes per second of each plot whose data changes; the timer visits one plot per tick
PLOTS = {  # plot key -> (title, y label)
    "loss": ("Loss terms", "loss"),
    "accuracy": ("Accuracy (train per batch, validation per epoch)", "accuracy"),
    "lr": ("Learning rate", "lr"),
    "gain": ("Distillation gain (student − baseline, val accuracy)", "gain"),
}
# Which buffers each plot draws; the loss plot draws raw or weighted terms, plus validation losses.
SOURCES = {"loss": ("loss", "val_loss"), "accuracy": ("accuracy",), "lr": ("lr",), "gain": ("gain",)}
LOG_PLOTS = ("loss", "lr")  # the plots that "log y" applies to
NEW_CURVES_PER_TICK = 2  # creating a curve (and its legend entry) costs ~7 ms: spread a stage's new ones over ticks
TICK_TEXT_WIDTH = 44  # px kept for the left axes' tick labels from the start (pyqtgraph's default: 30)
RANGE_MARGIN = 0.08  # share of the data's span added around it when a range is refitted
SHRINK_BELOW = 1 / 3  # refit a range when the data fills less than this share of it


def earlier_events(run_dir: str) -> list[dict]:
    """The events a resumed run logged before its latest fit_start (read when the resume begins)."""
    try:
        events = RunRecord.open(run_dir).events()
    except WorkbenchError:
        return []
    starts = [i for i, event in enumerate(events) if event.get("event") == "fit_start"]
    return events[:starts[-1]] if starts else events


def _plot_of(name: str) -> str:
    """The plot that draws a series, e.g. ``loss`` for ``weighted:student/kd``."""
    source = name.split(":", 1)[0]
    return next(key for key, sources in SOURCES.items() if source in sources or (key == "loss" and source == "weighted"))


class StageAxis(pg.AxisItem):
    """An x axis whose tick labels start again after each stage boundary: with the teacher's 10
    epochs before it, the student's epoch 3 sits at x = 13 and is labelled 3."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stage_starts: list[float] = []

    def set_stage_starts(self, starts: list[float]) -> None:
        if starts != self.stage_starts:
            self.stage_starts = list(starts)
            self.picture = None  # re-draw the labels
            self.update()

    def in_stage(self, value: float) -> float:
        """``value`` counted from the start of its stage; a point exactly on a boundary is the end
        of the stage before it (its last epoch)."""
        return value - max((start for start in self.stage_starts if start < value), default=0.0)

    def tickStrings(self, values, scale, spacing):
        return super().tickStrings([self.in_stage(value) for value in values], scale, spacing)


@dataclass
class _Curve:
    plot_key: str
    item: pg.PlotDataItem
    raw: pg.PlotDataItem | None  # the faint unsmoothed curve behind a smoothed one
    best: pg.PlotDataItem | None  # star on the best checkpoint's validation point (engine/result.py)
    version: int = -1
    drawn_as: tuple = ()
    smoothed: np.ndarray = field(default_factory=lambda: np.empty(0))
    ema_state: tuple[float, int] = (0.0, 0)
    ema_beta: float = -1.0
    best_at: tuple[float, float] | None = None  # where the star is drawn


class LivePlots(QWidget):
    """Four linked plots with x-axis, raw/weighted, log-y and smoothing controls and a hover read-out."""

    redrawn = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.history = RunHistory()
        self.planned_x: dict[str, float] = {}  # "step"/"epoch" -> length of the live run, when known
        self._curves: dict[str, _Curve] = {}
        self._colours: dict[str, str] = {}  # loss term -> its colour
        self._stage_lines: list[pg.InfiniteLine] = []
        self._planned: list[str] = []  # the series a live run will fill (``plan``)
        self._room_wanted = False  # the next tick makes room for them
        self._dirty = True

        self.x_combo = QComboBox(self)
        self.x_combo.addItems(["step", "epoch"])
        self.x_combo.setToolTip("x axis: optimiser steps, or epochs (fractional within an epoch).")
        self.loss_combo = QComboBox(self)
        self.loss_combo.addItems(["raw", "weighted"])
        self.loss_combo.setToolTip("Loss terms as computed (raw), or multiplied by their weight (weighted).")
        self.log_check = QCheckBox("log y", self)
        self.log_check.setToolTip("Logarithmic y axis for the loss and learning-rate plots.")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(60)
        self.smoothing_slider.setMaximumWidth(160)
        self.smoothing_slider.setToolTip("Exponential moving average (debiased) of the per-batch curves; "
                                         "the raw curve stays faint behind.")
        self.smoothing_label = QLabel(self)
        self.follow_check = QCheckBox("follow", self)
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("Fit the views to the data as it grows. Panning or zooming turns this off.")
        # A long result line must not widen the window: the label takes the width it gets.
        self.result_label = QLabel(self)  # the run's result so far: best checkpoint and last epoch
        self.result_label.setWordWrap(True)
        self.result_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.hide()
        self._validations: list[dict] = []
        self._selection_metric = "val_accuracy"
        self._best_epochs: dict[str, int | None] = {}
        self._result_shown_for: tuple[int, str] | None = None  # validations and metric the header shows
        controls = QHBoxLayout()
        for text, widget in (("x:", self.x_combo), ("loss:", self.loss_combo)):
            controls.addWidget(QLabel(text, self))
            controls.addWidget(widget)
        controls.addWidget(self.log_check)
        controls.addWidget(QLabel("smoothing:", self))
        controls.addWidget(self.smoothing_slider)
        controls.addWidget(self.smoothing_label)
        controls.addWidget(self.follow_check)
        controls.addStretch(1)

        self.graphics = pg.GraphicsLayoutWidget(self)
        self.plots: dict[str, pg.PlotItem] = {}
        # Each plot's legend sits right of its data (legend_beside), never on it.
        self.legends: dict[str, pg.LegendItem] = {}
        for i, (key, (title, y_label)) in enumerate(PLOTS.items()):
            plot = self.graphics.addPlot(row=i // 2, col=i % 2, title=title,
                                         axisItems={"bottom": StageAxis(orientation="bottom")})
            # The loss plot has the most entries: two columns keep its legend (and so its row) low enough
            # for both rows of plots to fit a 1280x720 window beside the run log.
            self.legends[key] = legend_beside(plot, steady=True, colCount=2 if key == "loss" else 1)
            plot.setLabel("left", y_label)
            # No grid: pyqtgraph draws it with the axes, so every curve update would repaint the tick
            # labels too; without it a frame paints in ~3 ms instead of ~16 ms.
            plot.getAxis("left").enableAutoSIPrefix(False)  # "accuracy (x0.001)" reads worse than 0.6
            # The left axis may grow for wider tick labels but never shrinks back: each change of its
            # width re-lays out the whole GraphicsLayout and repaints every plot (measured: full-view
            # repaints of 30-55 ms CPU on the GUI thread while refitted ranges change the labels' width;
            # one benchmark run each: 9 before, 5 after, their CPU 247 ms -> 67 ms).
            # It starts wide enough for a learning rate's "0.0010" (the text width pyqtgraph grows from; setStyle
            # applies it): growing later, at the first batch, would re-lay out every plot.
            plot.getAxis("left").textWidth = TICK_TEXT_WIDTH
            plot.getAxis("left").setStyle(autoReduceTextSpace=False)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            plot.vb.disableAutoRange()
            plot.vb.sigRangeChangedManually.connect(self._on_view_range_changed_manually)
            plot.hideButtons()  # pyqtgraph's auto-range button would fight the fitted ranges; "follow" replaces it
            if self.plots:
                plot.setXLink(self.plots["loss"])
            self.plots[key] = plot
        for column in range(2):  # stacked plots show the same steps: their data areas get one width
            share_width([legend_column(self.legends[key]) for i, key in enumerate(PLOTS) if i % 2 == column])
        self.readout = HoverReadout(self.graphics, self.plots, {key: title for key, (title, _) in PLOTS.items()},
                                    self._drawn_series, self.x_combo.currentText, self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.result_label)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)

        self.x_combo.currentTextChanged.connect(self._on_display_option_changed)
        self.loss_combo.currentTextChanged.connect(self._on_loss_combo_changed)
        self.log_check.toggled.connect(self._on_log_check_toggled)
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_slider_changed)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(1000 // (REDRAW_HZ * len(PLOTS)))
        self._turn = 0  # the plot the timer looks at first on its next tick
        self.redraw_timer.timeout.connect(self._on_redraw_timer_timeout)
        self.redraw_timer.start()
        self._show_x_label()
        self._on_smoothing_slider_changed(self.smoothing_slider.value())

    # ------------------------------------------------------------------ data in

    def reset(self, run_dir: str = "") -> None:
        """Forget the shown run's curves (a new run starts, or a past one is opened)."""
        for name in list(self._curves):
            self._remove_curve(name)
        for line in self._stage_lines:
            for plot in self.plots.values():
                if line in plot.items:
                    plot.removeItem(line)
        self._stage_lines = []
        self._colours = {}
        self._planned, self._room_wanted = [], False
        self.planned_x = {}
        self.follow_check.setChecked(True)
        self.history = RunHistory(run_dir=run_dir)
        self._validations, self._selection_metric, self._best_epochs = [], "val_accuracy", {}
        self._result_shown_for = None
        self.result_label.setText("")
        self.result_label.hide()
        self.readout.clear_reading()  # it described the run shown before
        self._dirty = True

    @Slot(object)
    def on_event(self, record: dict) -> None:
        """A live run's event record (``RunSession.event_received``); a fit_start begins new curves.

        A resumed run's curves continue its earlier ones: what its folder logged before this
        fit_start is drawn first (the trainer cut metrics.jsonl back to its checkpoint, so
        nothing there is counted twice), and the live events add to it.
        """
        if record["event"] == "fit_start":
            run_dir = str(record.get("run_dir", ""))
            self.reset(run_dir)
            if record.get("resumed") and run_dir:
                for earlier in earlier_events(run_dir):
                    self.add_event(earlier)
        self.add_event(record)
        if record["event"] == "fit_start":
            self.plan(RunHistory.planned_series(record))

    def plan(self, names: list[str]) -> None:
        """The series a live run will fill: on the next tick their legends make room for them (``_make_room``),
        and the following ticks create their curves ahead of their data (one a tick, on ticks that create
        none), so that neither the first batches nor the change of stage wait for curves and legend entries."""
        self._planned = list(names)
        self._room_wanted = bool(names)

    def _make_room(self) -> None:
        """Room for the planned series' legend entries and for the header's lines, laid out at once. A tick of
        its own: in the fit_start slot it would add its re-layout and repaint to every other view's fit_start."""
        for key, legend in self.legends.items():
            labels = [name.split(":", 1)[1] for name in self._planned if _plot_of(name) == key and self._is_shown(name)]
            legend_column(legend).reserve(labels)
        if not self._validations:  # the header's lines, without figures yet: shown only at the first
            # validation, they would re-lay out every plot then
            self.result_label.setText(result_header(run_result({}, {"best": None, "last": None})))
            self.result_label.show()
        # Lay the plots out for all of it now, in one go: left to the event loop, the layouts that depend on
        # one another (window, plots' grid, each plot's own) come in two rounds, each repainting every plot.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def add_event(self, event: dict) -> None:
        """One event record, live or read from metrics.jsonl; the timer draws it."""
        self.history.add_event(event)
        if event.get("event") == "validation":
            self._validations.append({key: event.get(key) for key in ("event", "stage", "epoch", "metrics")})
        if event.get("event") == "fit_start":
            train = (event.get("config") or {}).get("train") or {}
            self._selection_metric = train.get("early_stopping_metric", "val_accuracy")
        if event.get("event") == "fit_start" and event.get("epochs") and event.get("steps_per_epoch"):
            stages = [s for s in event.get("stages", event["epochs"]) if s in event["epochs"]]
            self.planned_x = {"step": float(sum(event["epochs"][s] * event["steps_per_epoch"].get(s, 0)
                                                for s in stages)),
                              "epoch": float(sum(event["epochs"][s] for s in stages))}
        self._dirty = True

    @property
    def smoothing(self) -> float:
        return self.smoothing_slider.value() / 100.0

    def curve(self, name: str) -> pg.PlotDataItem | None:
        """The drawn curve of a series, e.g. ``accuracy:student val`` (for tests and screenshots)."""
        curve = self._curves.get(name)
        return curve.item if curve else None

    # ------------------------------------------------------------------ redraw

    def redraw(self, plot_keys: Iterable[str] | None = None, new_curves_limit: int | None = None) -> None:
        """Bring every changed series of ``plot_keys`` (default: all four plots) onto its plot; called by
        the timer for one plot at a time, or directly when everything must be drawn now.

        With ``new_curves_limit`` (the timer's case) at most that many curves are created now;
        the rest come on the next ticks, so that a new stage does not stall the GUI thread.
        """
        keys = set(self.plots if plot_keys is None else plot_keys)
        created = 0
        x_mode = self.x_combo.currentText()
        beta = self.smoothing
        for name, buffer in list(self.history.series.items()):
            if not self._is_shown(name) or _plot_of(name) not in keys:
                continue
            curve = self._curves.get(name)
            if curve is None:
                if new_curves_limit is not None and created >= new_curves_limit:
                    continue
                curve = self._create_curve(name)
                created += 1
            drawn_as = (x_mode, beta)
            if curve.version == buffer.version and curve.drawn_as == drawn_as:
                continue
            x = buffer.x_step if x_mode == "step" else buffer.x_epoch
            if curve.raw is not None and beta > 0:
                curve.item.setData(x, self._smoothed(curve, buffer.y, beta))
                curve.raw.setData(x, buffer.y)
                curve.raw.show()
            else:
                curve.item.setData(x, buffer.y)
                if curve.raw is not None:
                    curve.raw.hide()
            curve.version, curve.drawn_as = buffer.version, drawn_as
        self._show_result()
        for name, curve in self._curves.items():
            if curve.best is not None and curve.plot_key in keys:
                self._mark_best(name, curve, x_mode)
        self._show_stage_lines(x_mode)
        if self.follow_check.isChecked():
            self._fit_ranges(x_mode, keys)
        self._dirty = bool(self._stale_plots())
        self.redrawn.emit()

    def _is_shown(self, name: str) -> bool:
        """Whether a series is drawn: the loss plot draws raw or weighted terms, as the loss combo says."""
        source = name.split(":", 1)[0]
        return source not in ("loss", "weighted") or source == self.loss_combo.currentText().replace("raw", "loss")

    def _stale_plots(self) -> list[str]:
        """The plots (in their order) that show a series not drawn yet, or drawn from older data or options."""
        drawn_as = (self.x_combo.currentText(), self.smoothing)
        stale = set()
        for name, buffer in self.history.series.items():
            curve = self._curves.get(name)
            if self._is_shown(name) and (curve is None or curve.version != buffer.version or curve.drawn_as != drawn_as):
                stale.add(_plot_of(name))
        return [key for key in self.plots if key in stale]

    def _fit_ranges(self, x_mode: str, plot_keys: set[str]) -> None:
        """Refit a view only when its data left it, or fills too little of it (see the module docstring);
        the y ranges of ``plot_keys`` only, the shared x range from every plot's data."""
        x_high = self.planned_x.get(x_mode, 0.0)
        bounds: dict[str, list[float]] = {key: [np.inf, -np.inf] for key in plot_keys}
        for curve in self._curves.values():
            plot_key = curve.plot_key
            for item in (curve.item, curve.raw):
                if item is None or not item.isVisible() or item.yData is None or item.yData.size == 0:
                    continue
                x_high = max(x_high, float(item.xData[-1]))
                if plot_key not in bounds:
                    continue
                y = item.yData
                if plot_key in LOG_PLOTS and self.log_check.isChecked():
                    y = np.log10(y[y > 0])
                y = y[np.isfinite(y)]
                if y.size:
                    bounds[plot_key][0] = min(bounds[plot_key][0], float(y.min()))
                    bounds[plot_key][1] = max(bounds[plot_key][1], float(y.max()))
        (x_low_now, x_high_now), _ = self.plots["loss"].vb.viewRange()
        if x_high > 0 and (x_high > x_high_now or x_high < x_low_now + SHRINK_BELOW * (x_high_now - x_low_now)):
            self.plots["loss"].setXRange(-0.01 * x_high, x_high * 1.03, padding=0)  # room for the end's star
        for key, (low, high) in bounds.items():
            if not np.isfinite(low):
                continue
            _, (view_low, view_high) = self.plots[key].vb.viewRange()
            if high - low <= abs(high) * 1e-3:
                # Flat data (a constant learning rate, a gain stuck at 0): show it in a range of ±50%
                # (±0.05 around 0) rather than magnify rounding noise into labels like 0.00100005.
                half = 0.5 * abs(high) if high else 0.05
                low, high = low - half, high + half
            span = high - low
            if low < view_low or high > view_high or span < SHRINK_BELOW * (view_high - view_low):
                self.plots[key].setYRange(low - RANGE_MARGIN * span, high + RANGE_MARGIN * span, padding=0)

    def _smoothed(self, curve: _Curve, y: np.ndarray, beta: float) -> np.ndarray:
        """Extend the curve's EMA by the points added since the last redraw (all of them if beta changed)."""
        if curve.ema_beta != beta or curve.ema_state[1] > y.size:
            curve.smoothed, curve.ema_state, curve.ema_beta = np.empty(0), (0.0, 0), beta
        seen = curve.ema_state[1]
        if seen < y.size:
            new, curve.ema_state = ema(y[seen:], beta, curve.ema_state)
            curve.smoothed = np.concatenate([curve.smoothed, new])
        return curve.smoothed

    def _create_curve(self, name: str) -> _Curve:
        source, label = name.split(":", 1)
        plot_key = _plot_of(name)
        plot = self.plots[plot_key]
        is_validation = label.endswith(" val")
        is_gain = source == "gain"
        colour = self._colour(source, label)
        pen = pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine if source == "val_loss" else
                       Qt.PenStyle.SolidLine)
        if is_validation or is_gain:
            item = plot.plot(pen=pen, symbol="o", symbolSize=6, symbolBrush=colour, symbolPen=None)
            best = None
            if is_validation:  # the gain has no star: its largest value is no checkpoint anyone keeps
                best = pg.PlotDataItem(symbol="star", symbolSize=16, symbolBrush=colour,
                                       symbolPen=pg.mkPen(ui_colour("marker_outline"), width=1), pen=None)
                plot.addItem(best)
            raw = None
        else:
            faint = QColor(colour)
            faint.setAlpha(55)
            raw = pg.PlotDataItem(pen=pg.mkPen(faint, width=1), skipFiniteCheck=True)
            raw.setDownsampling(auto=True, method="peak")
            raw.setClipToView(True)
            plot.addItem(raw)
            item = plot.plot(pen=pen, skipFiniteCheck=True)
            best = None
        self.legends[plot_key].addItem(item, label)
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        curve = _Curve(plot_key, item, raw, best)
        self._curves[name] = curve
        return curve

    def _colour(self, source: str, label: str) -> str:
        """Nets keep one colour everywhere (teacher, student, baseline); loss terms one colour per term.

        Teacher and student terms of the same name share a colour: their stages never overlap in x.
        """
        net = label.removesuffix(" val").removesuffix(" train")
        if source in ("accuracy", "val_loss", "lr") and net in NETS:
            return network_colour(net)
        if source == "gain":
            return series_colour("gain")
        term = label.split("/")[-1]
        if label.startswith("baseline/"):
            return network_colour("baseline")
        if term == "total":
            return series_colour("total")
        free = term_colours()
        return self._colours.setdefault(term, free[len(self._colours) % len(free)])

    def _remove_curve(self, name: str) -> None:
        curve = self._curves.pop(name)
        self.legends[curve.plot_key].removeItem(curve.item)
        for item in (curve.item, curve.raw, curve.best):
            if item is None:
                continue
            for plot in self.plots.values():
                if item in plot.items:
                    plot.removeItem(item)

    def _mark_best(self, name: str, curve: _Curve, x_mode: str) -> None:
        """A star on the validation point of the network's best checkpoint (the selection rule of
        engine/result.py, e.g. the best val accuracy), on its accuracy and its loss curve alike."""
        net = name.split(":", 1)[1].removesuffix(" val")
        epoch = self._best_epochs.get(net)
        buffer = self.history.series.get(name)
        epochs = [event["epoch"] for event in self._validations if net in (event.get("metrics") or {})
                  and (net != "teacher" or event.get("stage") == "teacher")]
        at: tuple[float, float] | None = None
        if epoch is not None and buffer is not None and epoch in epochs and epochs.index(epoch) < buffer.size:
            i = epochs.index(epoch)
            x = buffer.x_step if x_mode == "step" else buffer.x_epoch
            at = (float(x[i]), float(buffer.y[i]))
        if at != curve.best_at:  # setting a scatter's data costs ~1 ms and a repaint: only when the star moves
            curve.best.setData(*(([at[0]], [at[1]]) if at else ([], [])))
            curve.best_at = at

    def _show_result(self) -> None:
        """The header: the run's result so far, best checkpoint and last epoch, as engine/result.py defines it."""
        shown_for = (len(self._validations), self._selection_metric)
        if shown_for == self._result_shown_for:  # only a validation changes it
            return
        self._result_shown_for = shown_for
        entries = summary_from_events(self._validations, self._selection_metric)
        self._best_epochs = {net: entry.get("best_epoch") for net, entry in entries.items()}
        if not entries:
            return  # no validation yet: the header stays as reset() or plan() left it
        # The last epoch's paired test is in its validation event; the best checkpoints' comes with summary.json.
        last_test = next((event["paired_test"] for event in reversed(self._validations) if event.get("paired_test")),
                         None)
        tests = {"best": None, "last": last_test}
        self.result_label.setText(result_header(run_result(entries, tests)))
        self.result_label.show()

    def _show_stage_lines(self, x_mode: str) -> None:
        starts = [(stage, xs if x_mode == "step" else xe) for stage, xs, xe in self.history.stage_starts if xs > 0]
        while len(self._stage_lines) < len(starts) * len(self.plots):
            for plot in self.plots.values():
                line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(ui_colour("stage_line"), width=1,
                                                                             style=Qt.PenStyle.DotLine))
                plot.addItem(line, ignoreBounds=True)
                self._stage_lines.append(line)
        for i, line in enumerate(self._stage_lines):
            line.setValue(starts[i // len(self.plots)][1])
        # Epochs count from 1 in each stage (student epoch 1, not 11); steps run on across stages.
        restarts = [x for _, x in starts] if x_mode == "epoch" else []
        for plot in self.plots.values():
            plot.getAxis("bottom").set_stage_starts(restarts)

    def _show_x_label(self) -> None:
        label = "epoch of each stage" if self.x_combo.currentText() == "epoch" else "step"
        for plot in self.plots.values():
            plot.setLabel("bottom", label)

    # ------------------------------------------------------------------ handlers

    @Slot()
    def _on_redraw_timer_timeout(self) -> None:
        if not self.isVisible():  # a hidden tab costs nothing; it catches up when shown
            return
        if self._room_wanted:  # before any curve of the run is made
            self._room_wanted = False
            self._make_room()
            return
        created = len(self._curves)
        stale = self._stale_plots() if self._dirty else []
        if stale:
            order = list(self.plots)
            turn = order[self._turn % len(order):] + order[:self._turn % len(order)]
            key = next(key for key in turn if key in stale)  # the next plot in turn that has news
            self._turn = order.index(key) + 1
            self.redraw([key], NEW_CURVES_PER_TICK)
        elif self._dirty:  # a display option changed (log y, follow): the ranges and marks of every plot
            self.redraw(new_curves_limit=NEW_CURVES_PER_TICK)
        if len(self._curves) == created:
            self._create_planned_curve()

    def _create_planned_curve(self) -> None:
        """The next curve of the run's plan that is not there yet (see ``plan``)."""
        name = next((name for name in self._planned if name not in self._curves and self._is_shown(name)), None)
        if name is not None:
            self._create_curve(name)
            self._dirty = True  # it draws its data, if any came, on the plot's next turn

    @Slot(str)
    def _on_display_option_changed(self, _text: str) -> None:
        self._show_x_label()
        self._dirty = True

    @Slot(str)
    def _on_loss_combo_changed(self, _text: str) -> None:
        for name in [n for n in self._curves if n.split(":", 1)[0] in ("loss", "weighted")]:
            self._remove_curve(name)
        self.plots["loss"].setTitle(f"Loss terms ({self.loss_combo.currentText()})")
        self._dirty = True

    @Slot(bool)
    def _on_log_check_toggled(self, on: bool) -> None:
        for key in LOG_PLOTS:
            self.plots[key].setLogMode(x=False, y=on)
            self.plots[key].setYRange(0, 1, padding=0)  # the old range is in the other scale: refit from scratch
        self._dirty = True

    @Slot(object)
    def _on_view_range_changed_manually(self, _axes: object) -> None:
        self.follow_check.setChecked(False)  # the user looks somewhere: stop moving the view

    @Slot(int)
    def _on_smoothing_slider_changed(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self._dirty = True

    def _drawn_series(self) -> list[tuple[str, str, pg.PlotDataItem]]:
        return [(name, curve.plot_key, curve.item) for name, curve in self._curves.items()]
