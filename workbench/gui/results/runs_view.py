"""The runs of a runs folder: a sortable, filterable table, overlaid curves, config diff, actions.

Select runs to overlay their validation curves: each selected run gets the first free colour of
the run palette, in the order the runs were selected, and keeps it while it stays selected, so
the runs on screen never share a colour (up to the palette's ten). Select two to see the config
keys that differ. Reading summaries and metrics files happens in a worker thread, so
a folder of long runs does not freeze the window.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.assets import run_palette
from workbench.config import NETS, config_from_dict
from workbench.engine.stats import describe_gain
from workbench.gui.plotting import legend_beside
from workbench.gui.jobs import JobView
from workbench.gui.results.run_data import RunRow, config_diff, run_rows, validation_curves

COLUMNS = ["Run", "Date", "Dataset", "Teacher fields", "Student fields", "Teacher acc. (best)", "Student acc. (best)",
           "Baseline acc. (best)", "Gain (best)", "Gain (last)", "Status"]
# What the figure columns are (engine/result.py defines "best" and "last"), as header tooltips.
_COLUMN_TIPS = {
    "Teacher acc. (best)": "Validation accuracy of the teacher's best checkpoint",
    "Student acc. (best)": "Validation accuracy of the student's best checkpoint (the one export and Try it use)",
    "Baseline acc. (best)": "Validation accuracy of the baseline's best checkpoint, chosen by the same rule",
    "Gain (best)": "Distillation gain: student minus baseline validation accuracy, best checkpoint of each; "
                   "[95% paired-bootstrap interval], exact McNemar p",
    "Gain (last)": "Distillation gain: student minus baseline validation accuracy at the last epoch; "
                   "[95% paired-bootstrap interval], exact McNemar p",
}
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_RUN_DIR_ROLE = Qt.ItemDataRole.UserRole + 2
CURVE_METRICS = {
    "student/val_accuracy": "Student validation accuracy",
    "baseline/val_accuracy": "Baseline validation accuracy",
    "teacher/val_accuracy": "Teacher validation accuracy",
    "student/val_loss": "Student validation loss",
    "student/val_macro_f1": "Student validation macro-F1",
}
RESUMABLE = ("stopped",)  # RunRecord.status reports a killed run (no longer writing) as stopped


def assign_colour_slots(slots: dict[str, int], selected: list[str], palette_size: int) -> dict[str, int]:
    """Palette positions of the selected runs: those already coloured keep theirs, newly selected ones
    take the lowest free positions in the order given (repeating past the palette only when it is full)."""
    kept = {run: slot for run, slot in slots.items() if run in selected}
    for run in selected:
        if run not in kept:
            used = set(kept.values())
            free = [slot for slot in range(palette_size) if slot not in used]
            kept[run] = free[0] if free else len(kept) % palette_size
    return kept


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


class RunsView(JobView):
    """Runs of ``set_runs_dir``'s folder; emits requests, the main window acts on them."""

    open_run_requested = Signal(str)
    clone_config_requested = Signal(object)  # an ExperimentConfig
    resume_requested = Signal(str)
    runs_listed = Signal(int)  # the table was (re)filled with this many runs
    curves_drawn = Signal(list)  # names of the runs whose curves the overlay shows
    run_deleted = Signal(str)

    def __init__(self, parent=None):
        super().__init__("runs-loader", parent)
        self.runs_dir: str | None = None
        self.rows: dict[str, RunRow] = {}
        self.live_run_dir: str | None = None
        self._curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
        self._runner.failed.connect(self._on_runner_failed)
        self._build()

    def _build(self) -> None:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs (name, dataset, fields, status)")
        self.filter_edit.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        for column, title in enumerate(COLUMNS):
            if title in _COLUMN_TIPS:
                self.model.horizontalHeaderItem(column).setToolTip(_COLUMN_TIPS[title])
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(_SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()

        self.open_button = QPushButton("Open")
        self.clone_button = QPushButton("Clone config")
        self.resume_button = QPushButton("Resume")
        self.delete_button = QPushButton("Delete…")
        self.message = QLabel()
        actions = QHBoxLayout()
        for button in (self.open_button, self.clone_button, self.resume_button, self.delete_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.message)

        self.metric_box = QComboBox()
        # Sized for 16 characters, not for the longest choice: the tab fits a small window.
        self.metric_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.metric_box.setMinimumContentsLength(16)
        for key, label in CURVE_METRICS.items():
            self.metric_box.addItem(label, key)
        self.overlay = pg.PlotWidget(background="w")
        self.overlay.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.overlay.getAxis(axis).setTextPen("k")
            self.overlay.getAxis(axis).setPen("k")
            self.overlay.getAxis(axis).enableAutoSIPrefix(False)
        self.overlay.setLabel("bottom", "epoch", color="k")
        self.overlay.showGrid(x=True, y=True, alpha=0.2)
        self.legend = legend_beside(self.overlay.getPlotItem())
        self.overlay_curves: dict[str, pg.PlotDataItem] = {}
        self._colour_slots: dict[str, int] = {}  # selected run -> its position in the run palette
        self._relisting = False
        overlay_page = QWidget()
        overlay_layout = QVBoxLayout(overlay_page)
        overlay_layout.setContentsMargins(0, 0, 0, 0)
        metric_row = QHBoxLayout()
        metric_row.addWidget(QLabel("Overlay of the selected runs:"))
        metric_row.addWidget(self.metric_box)
        metric_row.addStretch(1)
        overlay_layout.addLayout(metric_row)
        overlay_layout.addWidget(self.overlay, 1)

        self.diff_label = QLabel("Select two runs to see how their configs differ.")
        self.diff_label.setWordWrap(True)
        self.diff_table = QTableWidget(0, 3)
        self.diff_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.diff_table.verticalHeader().hide()
        diff_page = QWidget()
        diff_layout = QVBoxLayout(diff_page)
        diff_layout.setContentsMargins(0, 0, 0, 0)
        diff_layout.addWidget(self.diff_label)
        diff_layout.addWidget(self.diff_table, 1)

        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(overlay_page)
        bottom.addWidget(diff_page)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.refresh_button)
        top_layout.addLayout(filter_row)
        top_layout.addWidget(self.table, 1)
        top_layout.addLayout(actions)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        self.filter_edit.textChanged.connect(self._on_filter_edit_changed)
        self.refresh_button.clicked.connect(self._on_refresh_button_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.clone_button.clicked.connect(self._on_clone_button_clicked)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.metric_box.currentIndexChanged.connect(self._on_metric_box_changed)
        self._update_actions()

    # ------------------------------------------------------------------ public

    @Slot(str)
    def set_runs_dir(self, path: str) -> None:
        self.runs_dir = str(path)
        self.refresh()

    def refresh(self) -> None:
        if self.runs_dir is None:
            return
        runs_dir = self.runs_dir
        self._runner.submit("list", lambda: run_rows(runs_dir), self._on_rows_loaded)

    @Slot(object)
    def on_event(self, record: dict) -> None:
        """The live run's event stream: listed while it trains, resumable or deletable once it ended."""
        kind = record["event"]
        if kind == "fit_start":
            self.on_run_started(str(record["run_dir"]))
        elif kind in ("fit_end", "exception"):
            self.on_run_finished(record.get("summary", {}))

    @Slot(str)
    def on_run_started(self, run_dir: str) -> None:
        """The app's live run: it is listed (as running) but cannot be resumed or deleted."""
        self.live_run_dir = str(run_dir)
        self.refresh()

    @Slot(object)
    def on_run_finished(self, summary: dict) -> None:
        self.live_run_dir = None
        self.refresh()

    def select_runs(self, run_dirs: list[str]) -> None:
        """Select these runs in the table (as a user's click would)."""
        wanted = QItemSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(_RUN_DIR_ROLE) in run_dirs:
                wanted.select(index, index)
        # One change (not clear, then add one by one): the overlay and the diff update once.
        self.table.selectionModel().select(wanted, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                           | QItemSelectionModel.SelectionFlag.Rows)

    def run_colour(self, run_dir: str) -> QColor | None:
        """The colour of a selected run (its curve and its name in the table); None when not selected."""
        slot = self._colour_slots.get(run_dir)
        return None if slot is None else QColor(run_palette()[slot % len(run_palette())])

    def _colour_table_names(self) -> None:
        for row in range(self.model.rowCount()):
            item = self.model.item(row, 0)
            colour = self.run_colour(item.data(_RUN_DIR_ROLE))
            item.setData(colour, Qt.ItemDataRole.ForegroundRole)  # None: the table's own text colour

    def selected_run_dirs(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(row, 0).data(_RUN_DIR_ROLE) for row in rows]

    # ------------------------------------------------------------------ table

    def _on_rows_loaded(self, rows: list[RunRow]) -> None:
        selected = self.selected_run_dirs()
        self.rows = {row.run_dir: row for row in rows}
        self._curves = {key: value for key, value in self._curves.items() if key in self.rows}
        self.table.setSortingEnabled(False)
        self._relisting = True  # the selection empties and comes back: the runs keep their colours
        self.model.removeRows(0, self.model.rowCount())
        for row in rows:
            cells = [(row.name, row.name), (row.date, row.date), (row.dataset, row.dataset),
                     (row.teacher_fields, row.teacher_fields), (row.student_fields, row.student_fields)]
            best = {net: row.result.net("best", net) for net in NETS}
            accuracy = {net: value.accuracy if value else None for net, value in best.items()}
            cells += [(_percent(accuracy[net]), _sort_number(accuracy[net])) for net in accuracy]
            for selection in ("best", "last"):
                gain, test = row.result.gain[selection], row.result.paired_test.get(selection)
                cells.append(("—" if gain is None else describe_gain(test, percent=True) if test else f"{gain:+.1%}",
                              _sort_number(gain)))
            cells.append((row.status, row.status))
            items = []
            for text, sort_value in cells:
                item = QStandardItem(text)
                item.setData(sort_value, _SORT_ROLE)
                item.setData(row.run_dir, _RUN_DIR_ROLE)
                items.append(item)
            self.model.appendRow(items)
        self.table.setSortingEnabled(True)
        self.select_runs([run_dir for run_dir in selected if run_dir in self.rows])
        self._relisting = False
        self._colour_slots = assign_colour_slots(self._colour_slots, self.selected_run_dirs(), len(run_palette()))
        self._colour_table_names()
        self.runs_listed.emit(len(rows))

    def _update_actions(self) -> None:
        selected = self.selected_run_dirs()
        one = selected[0] if len(selected) == 1 else None
        self.open_button.setEnabled(one is not None)
        self.clone_button.setEnabled(one in self.rows and self.rows[one].config is not None)
        status = self.rows[one].status if one in self.rows else ""
        self.resume_button.setEnabled(one is not None and status in RESUMABLE and one != self.live_run_dir)
        self.delete_button.setEnabled(one is not None and one != self.live_run_dir)

    # ------------------------------------------------------------------ overlay and diff

    def _draw_overlay(self) -> None:
        metric = self.metric_box.currentData()
        wanted = self.selected_run_dirs()
        for curve in self.overlay_curves.values():
            self.overlay.removeItem(curve)
        self.legend.clear()
        self.overlay_curves = {}
        drawn = []
        for run_dir in wanted:
            points = self._curves.get(run_dir, {}).get(metric)
            if not points:
                continue
            name = self.rows[run_dir].name if run_dir in self.rows else Path(run_dir).name
            x, y = zip(*points)
            colour = self.run_colour(run_dir)
            curve = self.overlay.plot(list(x), list(y), pen=pg.mkPen(colour, width=2), symbol="o",
                                      symbolSize=5, symbolBrush=colour, symbolPen=None, name=name)
            self.overlay_curves[run_dir] = curve
            drawn.append(name)
        self.overlay.setLabel("left", self.metric_box.currentText(), color="k")
        self.curves_drawn.emit(drawn)

    def _request_curves(self, run_dirs: list[str]) -> None:
        missing = [run_dir for run_dir in run_dirs if run_dir not in self._curves]
        if not missing:
            self._draw_overlay()
            return
        self._runner.submit("curves", lambda: {run_dir: validation_curves(run_dir) for run_dir in missing},
                            self._on_curves_loaded)

    def _on_curves_loaded(self, curves: dict) -> None:
        self._curves.update(curves)
        self._draw_overlay()

    def _show_diff(self, run_dirs: list[str]) -> None:
        if len(run_dirs) != 2 or any(run_dir not in self.rows for run_dir in run_dirs):
            self.diff_label.setText("Select two runs to see how their configs differ.")
            self.diff_table.setRowCount(0)
            return
        first, second = (self.rows[run_dir] for run_dir in run_dirs)
        if first.config is None or second.config is None:
            self.diff_label.setText("A config.toml cannot be read: nothing to compare.")
            self.diff_table.setRowCount(0)
            return
        differences = config_diff(first.config, second.config)
        self.diff_label.setText(f"{len(differences)} config key{'s' * (len(differences) != 1)} differ"
                                f"{'s' * (len(differences) == 1)}" if differences else "The configs are the same.")
        self.diff_table.setHorizontalHeaderLabels(["Key", first.name, second.name])
        self.diff_table.setRowCount(len(differences))
        for row, (key, a, b) in enumerate(differences):
            for column, value in enumerate((key, a, b)):
                self.diff_table.setItem(row, column, QTableWidgetItem(str(value)))

    def diff_keys(self) -> list[str]:
        """The keys the diff table lists."""
        return [self.diff_table.item(row, 0).text() for row in range(self.diff_table.rowCount())]

    # ------------------------------------------------------------------ handlers

    @Slot(str)
    def _on_filter_edit_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)

    @Slot()
    def _on_refresh_button_clicked(self) -> None:
        self.refresh()

    @Slot(QItemSelection, QItemSelection)
    def _on_table_selection_changed(self, selected_now: QItemSelection, _deselected: QItemSelection) -> None:
        selected = self.selected_run_dirs()
        if not self._relisting:
            # Newly selected runs take colours in the order they were selected; the others keep theirs.
            newly = [index.data(_RUN_DIR_ROLE) for index in selected_now.indexes() if index.column() == 0]
            order = [run for run in selected if run not in newly] + [run for run in newly if run in selected]
            self._colour_slots = assign_colour_slots(self._colour_slots, order, len(run_palette()))
            self._colour_table_names()
        self._update_actions()
        self._show_diff(selected)
        self._request_curves(selected)

    @Slot()
    def _on_table_double_clicked(self) -> None:
        self._on_open_button_clicked()

    @Slot()
    def _on_open_button_clicked(self) -> None:
        selected = self.selected_run_dirs()
        if len(selected) == 1:
            self.open_run_requested.emit(selected[0])

    @Slot()
    def _on_clone_button_clicked(self) -> None:
        selected = self.selected_run_dirs()
        if len(selected) == 1 and selected[0] in self.rows and self.rows[selected[0]].config is not None:
            self.clone_config_requested.emit(config_from_dict(self.rows[selected[0]].config))

    @Slot()
    def _on_resume_button_clicked(self) -> None:
        selected = self.selected_run_dirs()
        if len(selected) == 1:
            self.resume_requested.emit(selected[0])

    @Slot()
    def _on_delete_button_clicked(self) -> None:
        selected = self.selected_run_dirs()
        if len(selected) != 1 or selected[0] == self.live_run_dir:
            return
        run_dir = selected[0]
        answer = QMessageBox.question(self, "Delete run",
                                      f"Delete the run folder {Path(run_dir).name} with its checkpoints and "
                                      "predictions? This cannot be undone.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            shutil.rmtree(run_dir)
        except OSError as error:
            self.message.setText(f"Could not delete {Path(run_dir).name}: {error}")
            return
        self.message.setText(f"Deleted {Path(run_dir).name}.")
        self._curves.pop(run_dir, None)
        self.run_deleted.emit(run_dir)
        self.refresh()

    @Slot(int)
    def _on_metric_box_changed(self, index: int) -> None:
        self._draw_overlay()

    @Slot(str)
    def _on_runner_failed(self, message: str) -> None:
        self.message.setText(message.splitlines()[0])


def _sort_number(value: float | None) -> float:
    """Sort value of a number column: missing values sort below every number."""
    return float("-inf") if value is None else float(value)
