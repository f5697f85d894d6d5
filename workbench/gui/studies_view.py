"""The Studies tab: a study's trials, the gain against a parameter with its intervals, a two-parameter heatmap.

A study (engine/study.py) is a folder with study.json, written after every trial by whichever
process ran it (`workbench train --seeds`, `workbench study`, its --join processes, or the app's
"repeat with N seeds"). The view polls that file's modification time once a second, so trials
appear as they finish, wherever they run. Double-clicking a trial opens its run in Results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QSplitter, QTableView,
                               QVBoxLayout, QWidget)

from workbench.assets import run_colours, series_colour, ui_colour
from workbench.config import NETS
from workbench.engine.stats import describe_gain, format_p
from workbench.engine.study import STUDY_FILE, list_studies
from workbench.gui import plotting  # noqa: F401  (the app's plot look: white background)

POLL_MS = 1000
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_RUN_DIR_ROLE = Qt.ItemDataRole.UserRole + 2
_NO_PARAMETER = "(seed)"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def point_gain_interval(point: dict[str, Any]) -> tuple[float, float] | None:
    """A point's 95% interval of the gain: over seeds (t) when it has two or more, else its run's paired test."""
    interval = point["gain"]["interval"]
    if interval is None and point.get("pooled_test"):
        interval = point["pooled_test"]["interval"]
    return tuple(interval) if interval else None


def point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{key} = {value}" for key, value in point["params"].items()) or "all trials"


def study_headline(study: dict[str, Any]) -> str:
    """What the study says so far, in words: trials by state, then the gain of its best point."""
    states: dict[str, int] = {}
    for trial in study["trials"]:
        states[trial["state"]] = states.get(trial["state"], 0) + 1
    counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    lines = [f"<b>{study['name']}</b> ({study['kind']}, seeds {study.get('seeds')}): {counts or 'no trials yet'}"]
    points = [point for point in study["points"] if point["gain"]["mean"] is not None]
    if points:
        best = max(points, key=lambda point: point["gain"]["mean"])
        gain = best["gain"]
        where = "" if not best["params"] else f"best point {point_label(best)}: "
        spread = f" ± {gain['std']:.3f} (std)" if gain["std"] is not None else ""
        interval = point_gain_interval(best)
        over = (f"[{interval[0]:+.3f}, {interval[1]:+.3f}] over {gain['n']} seeds" if gain["interval"] else
                f"one seed, paired interval [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else "")
        lines.append(f"{where}mean gain {gain['mean']:+.3f}{spread}, 95% interval {over}")
        if best.get("pooled_test"):
            lines.append(f"pooled paired test ({best['pooled_test']['runs']} runs, {best['pooled_test']['samples']} "
                         f"validation pairs): {describe_gain(best['pooled_test'])}")
    return "<br>".join(lines)


class StudiesView(QWidget):
    """Pick a study of the runs folder; see its trials, gain-vs-parameter plot and heatmap, live."""

    open_run_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir: Path | None = None
        self.study_dir: Path | None = None
        self.study: dict[str, Any] | None = None
        self._stamp: float | None = None
        self._listed: list[Path] = []
        self._sorted = False

        self.study_box = QComboBox(self)
        self.study_box.setMinimumContentsLength(30)
        self.study_box.setToolTip("Studies in the runs folder: workbench train --seeds, workbench study, or "
                                  "\"repeat with N seeds\" beside Start")
        self.study_box.currentIndexChanged.connect(self._on_study_box_current_index_changed)
        self.headline = QLabel("No study in the runs folder yet. Run one with `workbench train CONFIG --seeds 5`, "
                               "`workbench study SPEC.toml`, or the seeds box beside Start.", self)
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.model = QStandardItemModel(0, 0, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(_SORT_ROLE)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Double-click a trial to open its run in Results")
        self.table.doubleClicked.connect(self._on_table_double_clicked)

        self.x_box = QComboBox(self)
        self.x_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.x_box.currentIndexChanged.connect(self._on_axis_box_current_index_changed)
        self.y_box = QComboBox(self)
        self.y_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.y_box.currentIndexChanged.connect(self._on_axis_box_current_index_changed)
        self.gain_plot = pg.PlotWidget()
        self.gain_plot.setMenuEnabled(False)
        self.gain_plot.showGrid(y=True, alpha=0.25)
        self.gain_plot.setLabel("left", "distillation gain")
        self.gain_plot.getAxis("left").enableAutoSIPrefix(False)
        self.gain_legend = self.gain_plot.addLegend(offset=(10, 10))
        self.heatmap = pg.PlotWidget()
        self.heatmap.setMenuEnabled(False)
        self.heatmap.setMouseEnabled(x=False, y=False)
        self.heatmap_note = QLabel(self)
        self.heatmap_note.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Study:", self))
        top.addWidget(self.study_box, 1)
        axes = QHBoxLayout()
        axes.addWidget(QLabel("Gain against", self))
        axes.addWidget(self.x_box)
        axes.addSpacing(16)
        axes.addWidget(QLabel("Heatmap rows", self))
        axes.addWidget(self.y_box)
        axes.addStretch(1)
        self.gain_note = QLabel(self)
        self.gain_note.setWordWrap(True)
        plots = QSplitter(Qt.Orientation.Horizontal, self)
        plots.addWidget(_stacked(self, self.gain_plot, self.gain_note, grow=0))
        self.heat_box = _stacked(self, self.heatmap, self.heatmap_note, grow=0)
        plots.addWidget(self.heat_box)
        lower = _stacked(self, axes, plots, grow=1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([240, 400])
        # Small minimums: the tab must not make the window taller than the other tabs do.
        for widget in (self.table, self.gain_plot, self.heatmap):
            widget.setMinimumHeight(60)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.headline)
        layout.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.timer.start()

    # ------------------------------------------------------------------ public

    def set_runs_dir(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir).expanduser()
        self._refresh_list()

    def show_study(self, study_dir: str | Path) -> None:
        """Make ``study_dir`` the shown study (it joins the list if it lies elsewhere)."""
        study_dir = Path(study_dir).resolve()
        if study_dir not in self._listed:
            self._listed.append(study_dir)
            self.study_box.addItem(study_dir.name, str(study_dir))
        self.study_box.setCurrentIndex(self._listed.index(study_dir))
        self._load(study_dir)

    # ------------------------------------------------------------------ polling

    @Slot()
    def _on_timer_timeout(self) -> None:
        if not self.isVisible():
            return
        self._refresh_list()
        if self.study_dir is not None:
            stamp = _stamp(self.study_dir)
            if stamp != self._stamp:
                self._load(self.study_dir)

    def _refresh_list(self) -> None:
        found = list_studies(self.runs_dir) if self.runs_dir else []
        extra = [path for path in self._listed if path not in found and self.study_dir == path]
        wanted = [*reversed(found), *extra]  # newest first
        if wanted == self._listed:
            return
        fresh = [path for path in wanted if path not in self._listed]
        # A study that appeared since the last look (just started, here or by the CLI) is the one to watch.
        current = fresh[0] if fresh and self._listed else self.study_dir
        self._listed = wanted
        self.study_box.blockSignals(True)
        self.study_box.clear()
        for path in wanted:
            self.study_box.addItem(path.name, str(path))
        self.study_box.blockSignals(False)
        if current in wanted:
            self.study_box.setCurrentIndex(wanted.index(current))
            if current != self.study_dir:
                self._load(current)
        elif wanted:
            self.study_box.setCurrentIndex(0)
            self._load(wanted[0])

    @Slot(int)
    def _on_study_box_current_index_changed(self, index: int) -> None:
        if 0 <= index < len(self._listed):
            self._load(self._listed[index])

    def _load(self, study_dir: Path) -> None:
        self.study_dir = study_dir
        self._stamp = _stamp(study_dir)
        try:
            study = json.loads((study_dir / STUDY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:  # written atomically, so only a vanished folder lands here
            self.headline.setText(f"Cannot read {study_dir / STUDY_FILE}: {error}")
            return
        self.study = study
        self.headline.setText(study_headline(study))
        self._fill_table(study)
        self._fill_axis_boxes(study)
        self._draw()

    # ------------------------------------------------------------------ table

    def _fill_table(self, study: dict[str, Any]) -> None:
        parameters = study["parameters"]
        headers = ["#", "state", "seed", *parameters, *NETS, "gain", "gain [95% interval], p", "worker", "error"]
        self.table.setSortingEnabled(False)
        self.model.clear()
        self.model.setHorizontalHeaderLabels(headers)
        for trial in study["trials"]:
            cells: list[tuple[str, Any]] = [(str(trial["number"]), trial["number"]), (trial["state"], trial["state"]),
                                            (str(trial["seed"]), trial["seed"])]
            cells += [(str(trial["params"].get(key, "")), _sortable(trial["params"].get(key))) for key in parameters]
            cells += [(_fixed(trial.get(net)), _sortable(trial.get(net))) for net in NETS]
            gain = trial.get("gain")
            cells.append(("–" if gain is None else f"{gain:+.3f}", _sortable(gain)))
            test = trial.get("paired_test")
            cells.append((describe_gain(test) if test else "–", _sortable(test["mcnemar_p"] if test else None)))
            cells.append((trial.get("worker") or "", trial.get("worker") or ""))
            cells.append((trial.get("error") or "", trial.get("error") or ""))
            row = []
            for text, sort_value in cells:
                item = QStandardItem(text)
                item.setData(sort_value, _SORT_ROLE)
                item.setData(trial.get("run_dir"), _RUN_DIR_ROLE)
                if trial["state"] == "failed":
                    item.setForeground(QBrush(QColor(ui_colour("error"))))
                elif trial["state"] != "complete":
                    item.setForeground(QBrush(QColor(ui_colour("muted"))))
                row.append(item)
            self.model.appendRow(row)
        self.table.setSortingEnabled(True)
        if not self._sorted:  # trial order first; later refreshes keep the user's sort
            self._sorted = True
            self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)

    @Slot(object)
    def _on_table_double_clicked(self, index: Any) -> None:
        run_dir = index.data(_RUN_DIR_ROLE)
        if run_dir:
            self.open_run_requested.emit(run_dir)

    # ------------------------------------------------------------------ plots

    def _fill_axis_boxes(self, study: dict[str, Any]) -> None:
        choices = list(study["parameters"]) or [_NO_PARAMETER]
        for box, default in ((self.x_box, 0), (self.y_box, 1)):
            current = box.currentText()
            if [box.itemText(i) for i in range(box.count())] != choices:
                box.blockSignals(True)
                box.clear()
                box.addItems(choices)
                box.setCurrentIndex(choices.index(current) if current in choices else min(default, len(choices) - 1))
                box.blockSignals(False)
        self.y_box.setEnabled(len(choices) > 1)

    @Slot(int)
    def _on_axis_box_current_index_changed(self, index: int) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.study is None:
            return
        self._draw_gain(self.study)
        self._draw_heatmap(self.study)
        # A flat study (every gain 0) still gets a readable axis, not one scaled to rounding noise.
        low, high = self.gain_plot.getViewBox().childrenBounds()[1] or (0.0, 0.0)
        if high - low < 0.02:
            middle = (high + low) / 2
            self.gain_plot.setYRange(middle - 0.05, middle + 0.05)
        else:  # room above the bars for their p labels
            self.gain_plot.setYRange(low, high + 0.12 * (high - low), padding=0.04)

    def _draw_gain(self, study: dict[str, Any]) -> None:
        plot = self.gain_plot
        plot.clear()
        self.gain_legend.clear()
        x_key = self.x_box.currentText()
        plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(ui_colour("stage_line"), style=Qt.PenStyle.DashLine)))
        complete = [trial for trial in study["trials"] if trial["state"] == "complete" and trial.get("gain") is not None]
        if x_key == _NO_PARAMETER:  # a study over seeds: each seed's gain and its paired interval, the mean's band
            self._draw_seeds(plot, complete, study["points"])
            return
        values = sorted({point["params"].get(x_key) for point in study["points"]}, key=_order)
        numeric = all(_number(value) is not None for value in values)
        position = (lambda value: float(value)) if numeric else (lambda value: float(values.index(value)))
        if not numeric:
            plot.getAxis("bottom").setTicks([[(i, str(value)) for i, value in enumerate(values)]])
        else:
            plot.getAxis("bottom").setTicks(None)
        plot.setLabel("bottom", x_key)
        plot.setTitle(f"Gain vs {x_key}")
        self.gain_note.setText("Mean gain over seeds; bars: its 95% interval (t over seeds; one seed: the paired "
                               "bootstrap interval); small dots: single seeds. Double-click a trial above to open it.")
        span = sorted(position(value) for value in values)
        pad = 0.5 * min(np.diff(span), default=1.0) if len(span) > 1 else 0.5
        plot.setXRange(span[0] - pad, span[-1] + pad, padding=0)
        others = [key for key in study["parameters"] if key != x_key]
        series: dict[str, list[dict[str, Any]]] = {}
        for point in study["points"]:
            label = ", ".join(f"{key} = {point['params'].get(key)}" for key in others) or "mean"
            series.setdefault(label, []).append(point)
        colours = run_colours(len(series))
        spread = _x_spread(values, numeric)
        for number, (label, points) in enumerate(series.items()):
            offset = (number - (len(series) - 1) / 2) * spread
            points = [point for point in points if point["gain"]["mean"] is not None]
            points.sort(key=lambda point: position(point["params"].get(x_key)))
            if not points:
                continue
            xs = np.array([position(point["params"].get(x_key)) + offset for point in points])
            means = np.array([point["gain"]["mean"] for point in points])
            intervals = [point_gain_interval(point) or (mean, mean) for point, mean in zip(points, means)]
            colour = colours[number]
            plot.addItem(pg.ErrorBarItem(x=xs, y=means, top=np.array([hi for _, hi in intervals]) - means,
                                         bottom=means - np.array([lo for lo, _ in intervals]), beam=spread * 0.6 or 0.1,
                                         pen=pg.mkPen(colour, width=1)))
            plot.plot(xs, means, pen=pg.mkPen(colour, width=1), symbol="o", symbolSize=8, symbolBrush=colour,
                      symbolPen=None, name=label)
            members = [trial for trial in complete
                       if all(trial["params"].get(key) == points[0]["params"].get(key) for key in others)]
            if members:
                plot.plot([position(trial["params"].get(x_key)) + offset for trial in members],
                          [trial["gain"] for trial in members], pen=None, symbol="o", symbolSize=4,
                          symbolBrush=pg.mkBrush(colour), symbolPen=None)

    def _draw_seeds(self, plot: pg.PlotWidget, complete: list[dict[str, Any]], points: list[dict[str, Any]]) -> None:
        plot.getAxis("bottom").setTicks([[(trial["seed"], str(trial["seed"])) for trial in complete]] or None)
        plot.setLabel("bottom", "seed")
        plot.setTitle("Gain per seed")
        self.gain_note.setText("Dots: each seed's gain, bars: its paired 95% interval, label: its McNemar p. "
                               "Band: 95% interval of the mean over seeds (t). Double-click a trial to open it.")
        colour = series_colour("gain")
        if points and points[0]["gain"]["interval"]:
            low, high = points[0]["gain"]["interval"]
            seeds = [trial["seed"] for trial in complete]
            band = pg.LinearRegionItem((low, high), orientation="horizontal", movable=False,
                                       brush=pg.mkBrush(QColor(colour).lighter(170)))
            plot.addItem(band)
            plot.addItem(pg.InfiniteLine(pos=points[0]["gain"]["mean"], angle=0, pen=pg.mkPen(colour, width=1),
                                         label=f"mean {points[0]['gain']['mean']:+.3f}",
                                         labelOpts={"position": 0.05, "color": colour}))
            if seeds:
                plot.setXRange(min(seeds) - 0.5, max(seeds) + 0.5)
        if not complete:
            return
        xs = np.array([trial["seed"] for trial in complete], dtype=float)
        gains = np.array([trial["gain"] for trial in complete])
        tests = [trial.get("paired_test") for trial in complete]
        lows = np.array([test["interval"][0] if test else gain for test, gain in zip(tests, gains)])
        highs = np.array([test["interval"][1] if test else gain for test, gain in zip(tests, gains)])
        plot.addItem(pg.ErrorBarItem(x=xs, y=gains, top=highs - gains, bottom=gains - lows, beam=0.15,
                                     pen=pg.mkPen(colour, width=1)))
        plot.plot(xs, gains, pen=None, symbol="o", symbolSize=8, symbolBrush=colour, symbolPen=None)
        for x, gain, test in zip(xs, gains, tests):
            if test:
                text = pg.TextItem(format_p(test["mcnemar_p"]), color=ui_colour("muted"), anchor=(0.5, 1.2))
                text.setPos(x, float(test["interval"][1]))
                plot.addItem(text)

    def _draw_heatmap(self, study: dict[str, Any]) -> None:
        plot = self.heatmap
        plot.clear()
        x_key, y_key = self.x_box.currentText(), self.y_box.currentText()
        self.heat_box.setVisible(len(study["parameters"]) >= 2)
        if len(study["parameters"]) < 2 or x_key == y_key:
            plot.hide()
            self.heatmap_note.setText("The heatmap needs two different parameters: pick them above.")
            return
        plot.show()
        xs = sorted({point["params"].get(x_key) for point in study["points"]}, key=_order)
        ys = sorted({point["params"].get(y_key) for point in study["points"]}, key=_order)
        grid = np.full((len(ys), len(xs)), np.nan)
        runs = np.zeros((len(ys), len(xs)), dtype=int)
        for point in study["points"]:
            if point["gain"]["mean"] is None:
                continue
            row, column = ys.index(point["params"].get(y_key)), xs.index(point["params"].get(x_key))
            # Several points fall in one cell when a third parameter varies: the cell shows their mean.
            previous = 0.0 if math.isnan(grid[row, column]) else grid[row, column] * runs[row, column]
            runs[row, column] += 1
            grid[row, column] = (previous + point["gain"]["mean"]) / runs[row, column]
        limit = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 0.0
        limit = limit or 0.01
        colours = pg.colormap.get("CET-D1A")
        lut = colours.getLookupTable(0.0, 1.0, 256)
        scaled = np.where(np.isnan(grid), 0.5, (grid + limit) / (2 * limit))
        image = (np.clip(scaled, 0, 1) * 255).astype(np.uint8)
        item = pg.ImageItem(image, axisOrder="row-major", levels=(0, 255), lut=lut)
        item.setRect(-0.5, -0.5, len(xs), len(ys))
        plot.addItem(item)
        for row, y in enumerate(ys):
            for column, x in enumerate(xs):
                value = grid[row, column]
                dark = not math.isnan(value) and abs(value) > 0.6 * limit
                text = pg.TextItem("–" if math.isnan(value) else f"{value:+.3f}", color="w" if dark else "k",
                                   anchor=(0.5, 0.5))
                text.setPos(column, row)
                plot.addItem(text)
        plot.getAxis("bottom").setTicks([[(i, str(x)) for i, x in enumerate(xs)]])
        plot.getAxis("left").setTicks([[(i, str(y)) for i, y in enumerate(ys)]])
        plot.setLabel("bottom", x_key)
        plot.setLabel("left", y_key)
        plot.setTitle("Mean gain over seeds")
        plot.setXRange(-0.5, len(xs) - 0.5, padding=0)
        plot.setYRange(-0.5, len(ys) - 0.5, padding=0)
        self.heatmap_note.setText(f"Colour: mean gain, blue below 0, red above (scale ±{limit:.3f}); "
                                  "the gain plot's bars say which differences are within noise.")


def _stacked(parent: QWidget, *items: Any, grow: int) -> QWidget:
    """A widget holding ``items`` (widgets or layouts) top to bottom; ``items[grow]`` takes the spare height."""
    box = QWidget(parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for index, item in enumerate(items):
        stretch = 1 if index == grow else 0
        if isinstance(item, QWidget):
            layout.addWidget(item, stretch)
        else:
            layout.addLayout(item, stretch)
    return box


def _stamp(study_dir: Path) -> float | None:
    try:
        return (study_dir / STUDY_FILE).stat().st_mtime_ns
    except OSError:
        return None


def _fixed(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def _sortable(value: Any) -> Any:
    number = _number(value)
    return number if number is not None else ("" if value is None else str(value))


def _order(value: Any) -> tuple[int, Any]:
    number = _number(value)
    return (0, number) if number is not None else (1, str(value))


def _x_spread(values: list[Any], numeric: bool) -> float:
    """A small horizontal offset between series sharing x values, so their error bars do not overlap."""
    if not numeric or len(values) < 2:
        return 0.08
    gaps = np.diff(sorted(float(value) for value in values))
    return float(gaps.min()) * 0.06 if gaps.size else 0.08
