"""The results view: metrics table, confusion heatmap, per-class bars, gallery, detail and embedding.

Every part shows the validation epoch chosen on the epoch slider. During training the
view follows the newest epoch (unless the user moved the slider back); for a past run
the arrays of each epoch are read from its ``predictions/*.npz`` when first shown.
Reading files, PCA, latency measurement and export run in worker threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.inference import Latency, measure_run_latency
from workbench.engine.metrics import confusion_matrix
from workbench.engine.result import result_header, run_result
from workbench.gui.jobs import JobView
from workbench.gui.results.detail import DetailPanel
from workbench.gui.results.embedding_page import EmbeddingPage
from workbench.gui.results.epoch_state import EpochState
from workbench.gui.results.export_button import ExportButton
from workbench.gui.results.gallery import GalleryModel, GalleryView
from workbench.gui.results.metrics_table import MetricsTable
from workbench.gui.results.plots import ConfusionPlot, GroupedBarPlot
from workbench.gui.results.run_data import LoadedRun, epoch_set, load_epoch, load_run
from workbench.gui.results.segmentation import MaskSet, SegmentationPage
from workbench.gui.results.selection import (
    FILTERS,
    SORTS,
    ConfusionCell,
    PredictionSet,
    per_class_accuracy,
    row_normalized,
    select,
)

_SEARCH_DELAY_MS = 200


class PageStack(QStackedWidget):
    """Pages of which one shows, sized by that one: a hidden page must not set the window's minimum size
    (the segmentation page is wider than the class views), or the window grows by itself past a small screen."""

    def __init__(self, pages: list[QWidget]):
        super().__init__()
        for page in pages:
            self.addWidget(page)
        self.currentChanged.connect(self._on_current_changed)
        self._on_current_changed(0)

    @Slot(int)
    def _on_current_changed(self, current: int) -> None:
        for index in range(self.count()):  # the layout counts an Ignored page as 0 x 0
            policy = QSizePolicy.Policy.Preferred if index == current else QSizePolicy.Policy.Ignored
            self.widget(index).setSizePolicy(policy, policy)


class ResultsView(JobView):
    """Results of one run, live or past. Slots: ``show_run``, ``on_run_started``,
    ``on_validation_finished``, ``on_run_finished``."""

    run_loaded = Signal(str)  # the run folder's static parts (samples, epochs) are in
    epoch_shown = Signal(str, int)  # stage, epoch: every part now shows this validation epoch
    embedding_shown = Signal(str, int)
    # Dict-carrying signals and slots are declared object: PySide6 would convert a dict to a QVariantMap.
    latency_measured = Signal(object)  # {net: Latency (seconds per sample: median, quartiles)}
    sample_shown = Signal(int)  # the detail panel shows this prediction row

    def __init__(self, parent=None):
        super().__init__("results-loader", parent)
        self.run_dir: str | None = None
        self.run: LoadedRun | None = None
        self.epoch_state = EpochState()
        self.predictions: PredictionSet | None = None
        self.cell: ConfusionCell | None = None
        self.latency: dict[str, Latency] = {}
        self._runner.failed.connect(self._on_runner_failed)
        self._build()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.run_label = QLabel("No run open.")
        self.epoch_slider = QSlider(Qt.Orientation.Horizontal)
        self.epoch_slider.setEnabled(False)
        self.epoch_slider.setMinimumWidth(120)
        self.epoch_slider.setPageStep(1)
        self.epoch_label = QLabel("—")
        self.epoch_label.setMinimumWidth(150)
        self.export_button = ExportButton()
        self.status = QLabel()
        self.status.setProperty("role", "error")
        self.result_label = QLabel()  # the run's result: best checkpoint and last epoch (engine/result.py)
        self.result_label.setWordWrap(True)
        self.result_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.hide()
        self.export_result = QLabel()  # the last export's result line, with its check against the checkpoint
        self.export_result.setWordWrap(True)
        self.export_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_result.hide()
        top = QHBoxLayout()
        top.addWidget(self.run_label)
        top.addSpacing(12)
        top.addWidget(QLabel("Validation epoch:"))
        top.addWidget(self.epoch_slider, 1)
        top.addWidget(self.epoch_label)
        top.addWidget(self.export_button)

        self.metrics_table = MetricsTable()

        self.confusion_net = QComboBox()
        self.confusion_normalized = QCheckBox("Row-normalised")
        self.confusion = ConfusionPlot()
        confusion_controls = QHBoxLayout()
        confusion_controls.addWidget(QLabel("Network:"))
        confusion_controls.addWidget(self.confusion_net)
        confusion_controls.addWidget(self.confusion_normalized)
        cell_hint = QLabel("Click a cell to see its samples.")
        cell_hint.setWordWrap(True)  # may wrap: the tab fits a small window
        cell_hint.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        confusion_controls.addWidget(cell_hint, 1)
        confusion_page = QWidget()
        confusion_layout = QVBoxLayout(confusion_page)
        confusion_layout.setContentsMargins(0, 4, 0, 0)
        confusion_layout.addLayout(confusion_controls)
        confusion_layout.addWidget(self.confusion, 1)
        self.per_class = GroupedBarPlot("Per-class accuracy", "accuracy")
        self.left_tabs = QTabWidget()
        self.left_tabs.addTab(confusion_page, "Confusion matrix")
        self.left_tabs.addTab(self.per_class, "Per-class accuracy")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.metrics_table)
        left.addWidget(self.left_tabs)
        left.setStretchFactor(1, 1)

        self.filter_box = QComboBox()
        for key, label in FILTERS.items():
            self.filter_box.addItem(label, key)
        self.sort_box = QComboBox()
        for key, (label, _) in SORTS.items():
            self.sort_box.addItem(label, key)
        for box in (self.filter_box, self.sort_box, self.confusion_net):
            # Sized for a few characters, not for the longest choice: the tab fits a small window.
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8 if box is self.confusion_net else 10)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search captions and file names")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(_SEARCH_DELAY_MS)
        self.cell_label = QLabel()
        self.cell_clear = QPushButton("Clear cell")
        self.cell_label.hide()
        self.cell_clear.hide()
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)  # its line (count, and which field the tiles show) never widens the window
        gallery_controls = QHBoxLayout()
        gallery_controls.addWidget(self.filter_box)
        gallery_controls.addWidget(self.sort_box)
        gallery_controls.addWidget(self.search, 1)
        cell_row = QHBoxLayout()
        cell_row.addWidget(self.count_label)
        cell_row.addStretch(1)
        cell_row.addWidget(self.cell_label)
        cell_row.addWidget(self.cell_clear)
        self.gallery_model = GalleryModel(self)
        self.gallery = GalleryView(self.gallery_model)
        gallery_page = QWidget()
        gallery_layout = QVBoxLayout(gallery_page)
        gallery_layout.setContentsMargins(0, 4, 0, 0)
        gallery_layout.addLayout(gallery_controls)
        gallery_layout.addLayout(cell_row)
        gallery_layout.addWidget(self.gallery, 1)

        self.embedding = EmbeddingPage(self._runner)
        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(gallery_page, "Gallery")
        self.right_tabs.addTab(self.embedding, "Embedding")
        self.detail = DetailPanel(self._runner)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.right_tabs)
        right.addWidget(self.detail)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([3000, 2000])  # the initial split (scaled to the space): not each part's minimum

        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(left)
        body.addWidget(right)
        body.setStretchFactor(0, 2)
        body.setStretchFactor(1, 3)
        body.setSizes([2000, 3000])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.result_label)
        layout.addWidget(self.status)
        layout.addWidget(self.export_result)
        # A segmentation run's epochs are masks, shown by their own page in place of the class views.
        self.segmentation = SegmentationPage(self._runner)
        self.pages = PageStack([body, self.segmentation])
        layout.addWidget(self.pages, 1)
        self.body = self.pages  # disabled (greyed) while a run loads: nothing of the run shown before stays readable
        self.status.hide()

        self.epoch_slider.valueChanged.connect(self._on_epoch_slider_value_changed)
        self.confusion_net.currentIndexChanged.connect(self._on_confusion_net_changed)
        self.confusion_normalized.toggled.connect(self._on_confusion_normalized_toggled)
        self.confusion.cell_clicked.connect(self._on_confusion_cell_clicked)
        self.filter_box.currentIndexChanged.connect(self._on_filter_box_changed)
        self.sort_box.currentIndexChanged.connect(self._on_sort_box_changed)
        self.search.textChanged.connect(self._on_search_text_changed)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.cell_clear.clicked.connect(self._on_cell_clear_clicked)
        self.gallery.sample_selected.connect(self._on_gallery_sample_selected)
        self.embedding.sample_clicked.connect(self._on_embedding_sample_clicked)
        self.embedding.drawn.connect(self.embedding_shown)
        self.export_button.export_failed.connect(self._on_export_button_failed)
        self.export_button.export_finished.connect(self._on_export_button_finished)

    # ------------------------------------------------------------------ public slots

    @Slot(str)
    def show_run(self, run_dir: str) -> None:
        """Show a past (or running) run: its files are read in the background."""
        self._reset(run_dir, live=False)
        self._request_run_load(measure_latency=True)

    @Slot(object)
    def on_event(self, record: dict) -> None:
        """The live run's event stream (``RunSession.event_received``): a new run, its validations, its end."""
        kind = record["event"]
        if kind == "fit_start":
            self.on_run_started(str(record["run_dir"]))
        elif kind == "validation":
            self.on_validation_finished(record)
        elif kind == "fit_end":
            self.on_run_finished(record["summary"])

    @Slot(str)
    def on_run_started(self, run_dir: str) -> None:
        """A new training run: follow its validation epochs as they arrive."""
        self._reset(run_dir, live=True)
        self._request_run_load(measure_latency=False)

    @Slot(object)
    def on_validation_finished(self, payload: dict) -> None:
        """A validation epoch of the live run (the ``on_validation_end`` payload)."""
        if not self.epoch_state.live or "predictions" not in payload:
            return
        stage, epoch, arrays = str(payload["stage"]), int(payload["epoch"]), payload["predictions"]
        # Sorting keys, losses and KL for 10,000 samples are computed in the worker, not here.
        self._runner.submit(("live", stage, epoch), lambda: epoch_set(stage, epoch, arrays),
                            self._on_live_epoch_ready)
        if self.run is None:
            self._request_run_load(measure_latency=False)  # samples.json may not have existed at the start

    def _on_live_epoch_ready(self, predictions: PredictionSet) -> None:
        self.epoch_state.remember(predictions)
        self._add_epochs([(predictions.stage, predictions.epoch)])

    @Slot(object)
    def on_run_finished(self, summary: dict) -> None:
        """The live run ended: its checkpoints now exist, so sizes and latency can be shown."""
        if self.run_dir is not None:
            self._show_result(summary)
            self._request_run_load(measure_latency=True)

    def shutdown(self) -> None:
        """Stop the worker threads (called on close and when the application quits)."""
        super().shutdown()
        self.gallery_model.shutdown()
        self.export_button.shutdown()

    # ------------------------------------------------------------------ loading

    def _reset(self, run_dir: str, live: bool) -> None:
        self._runner.cancel_all()
        self.run_dir, self.run = str(run_dir), None
        self.epoch_state.reset(live)
        self.predictions, self.cell, self.latency = None, None, {}
        self.epoch_slider.blockSignals(True)
        self.epoch_slider.setRange(0, 0)
        self.epoch_slider.blockSignals(False)
        self.epoch_slider.setEnabled(False)
        self.epoch_label.setText("waiting for the first validation" if live else "loading…")
        self.run_label.setText(f"<b>{Path(run_dir).name}</b>")
        self.export_button.set_run(str(run_dir))
        self.status.hide()
        self.export_result.hide()  # it was about the run shown before
        self.result_label.setText("")
        self.result_label.hide()
        # Nothing of the run shown before stays on screen while this one loads.
        self.metrics_table.show_nothing()
        self.confusion.clear_matrix()
        self.per_class.set_values([], {})
        self.gallery_model.clear()
        self.embedding.clear()
        self.body.setEnabled(False)
        self.detail.clear()
        self.segmentation.clear()
        self._show_cell()

    def _request_run_load(self, measure_latency: bool) -> None:
        run_dir = self.run_dir
        self._runner.submit("run", lambda: load_run(run_dir), self._on_run_load_finished, self._on_run_load_failed)
        if measure_latency:
            self._runner.submit("latency", lambda: measure_run_latency(run_dir), self._on_latency_finished,
                                self._on_latency_failed)

    def _on_run_load_finished(self, run: LoadedRun) -> None:
        self.run = run  # a result for an earlier run never arrives: _reset cancels pending jobs
        self.detail.task = run.summary.get("task", "classification")
        self._show_result(run.summary)
        self.run_loaded.emit(self.run_dir)
        self._add_epochs(run.epochs, force=True)

    def _on_run_load_failed(self, message: str) -> None:
        if self.epoch_state.live:
            return  # the run folder is still being written; the next validation retries
        self._show_error(f"Cannot open {self.run_dir}: {message.splitlines()[0]}")

    def _on_latency_finished(self, latency: dict) -> None:
        self.latency = dict(latency)
        self.latency_measured.emit(self.latency)
        self._update_metrics_table()

    def _on_latency_failed(self, message: str) -> None:
        self.latency = {}  # no checkpoint yet (e.g. a run stopped in its first epoch): the column says "—"

    def _add_epochs(self, keys: Iterable[tuple[str, int]], force: bool = False) -> None:
        state = self.epoch_state
        moved = state.add(keys)
        self.epoch_slider.blockSignals(True)
        self.epoch_slider.setRange(0, max(0, len(state.epochs) - 1))
        self.epoch_slider.setValue(state.position)
        self.epoch_slider.blockSignals(False)
        self.epoch_slider.setEnabled(len(state.epochs) > 1)
        if state.epochs and (force or moved or self.predictions is None):
            self._request_epoch()
        elif not state.epochs:
            self.epoch_label.setText("no validation epoch yet")

    def _show_result(self, summary: dict) -> None:
        result = run_result(summary or {})
        self.result_label.setText(result_header(result) if any(result.nets["best"].values()) else "")
        self.result_label.setVisible(bool(self.result_label.text()))  # no empty row taking height

    def _request_epoch(self) -> None:
        """Show the epoch at the state's position: from the cache, or read from the run folder."""
        stage, epoch = self.epoch_state.current
        self.epoch_label.setText(self.epoch_state.caption(self.run.summary if self.run is not None else {}))
        cached = self.epoch_state.cached_set((stage, epoch))
        if cached is not None:
            self._show_predictions(cached)
            return
        run_dir = self.run_dir
        self._runner.submit("epoch", lambda: load_epoch(run_dir, stage, epoch), self._on_epoch_load_finished,
                            self._on_run_load_failed)

    def _on_epoch_load_finished(self, predictions: PredictionSet) -> None:
        self.epoch_state.remember(predictions)
        if self.epoch_state.current == (predictions.stage, predictions.epoch):
            self._show_predictions(predictions)

    # ------------------------------------------------------------------ showing an epoch

    def _show_predictions(self, predictions: PredictionSet) -> None:
        if self.run is None:
            return  # shown once the run's samples are in (_on_run_load_finished)
        self.body.setEnabled(True)
        if isinstance(predictions, MaskSet):
            self.pages.setCurrentWidget(self.segmentation)
            self.segmentation.show_epoch(predictions, self.run.samples, self.run.class_names)
            self.epoch_shown.emit(predictions.stage, predictions.epoch)
            return
        self.pages.setCurrentIndex(0)
        self.predictions = predictions
        if self.cell is not None and self.cell.net not in predictions.probs:
            self.cell = None
        self._update_choices(predictions)
        self._update_metrics_table()
        self._update_confusion()
        self.per_class.set_values(self.run.class_names,
                                  {net: per_class_accuracy(predictions, net) for net in predictions.nets})
        self.gallery_model.set_data(predictions, self.run.samples, self.run.class_names, self._selected_rows())
        self._update_count()
        self._show_cell()
        if self.detail.row is not None and self.detail.row < predictions.num_samples:
            self.detail.show_sample(self.detail.row, self.run.samples, predictions, self.run.class_names)
        self.embedding.show_epoch(predictions, self.run)
        self.epoch_shown.emit(predictions.stage, predictions.epoch)

    def _update_choices(self, predictions: PredictionSet) -> None:
        """Offer only the networks, filters and sorts this epoch has data for."""
        nets = predictions.nets
        previous = self.confusion_net.currentData()
        self.confusion_net.blockSignals(True)
        self.confusion_net.clear()
        for net in nets:
            self.confusion_net.addItem(net.capitalize(), net)
        self.confusion_net.setCurrentIndex(nets.index(previous) if previous in nets else
                                           nets.index("student") if "student" in nets else 0)
        self.confusion_net.blockSignals(False)
        for box, available in ((self.filter_box, predictions.available_filters()),
                               (self.sort_box, predictions.available_sorts())):
            model = box.model()
            for row in range(box.count()):
                model.item(row).setEnabled(box.itemData(row) in available)
            if box.currentData() not in available:
                box.blockSignals(True)
                box.setCurrentIndex(0)
                box.blockSignals(False)

    def _update_metrics_table(self) -> None:
        if self.predictions is not None and self.run is not None:
            self.metrics_table.show_epoch(self.predictions, self.run, self.latency)

    def _update_confusion(self) -> None:
        predictions, run = self.predictions, self.run
        net = self.confusion_net.currentData()
        if predictions is None or run is None or net not in predictions.probs:
            return
        counts = confusion_matrix(predictions.label, predictions.predicted[net], predictions.num_classes)
        normalized = self.confusion_normalized.isChecked()
        self.confusion.set_matrix(counts, row_normalized(counts) if normalized else counts, run.class_names,
                                  normalized)
        self.confusion.setTitle(f"{net.capitalize()}: {'share of each true class' if normalized else 'counts'}",
                                color="k")

    def _selected_rows(self) -> np.ndarray:
        return select(self.predictions, self.filter_box.currentData(), self.sort_box.currentData(),
                      search=self.search.text(), haystacks=self.run.samples.haystacks, cell=self.cell)

    def _refresh_gallery(self) -> None:
        if self.predictions is None or self.run is None:
            return
        self.gallery_model.set_rows(self._selected_rows())
        self._update_count()

    def _update_count(self) -> None:
        total = self.predictions.num_samples if self.predictions is not None else 0
        shown = ""
        if self.run is not None:  # which field the tiles show, and whose input it is
            image_field = next((name for name, kind in self.run.samples.kinds.items() if kind == "image"), None)
            shown = f" · tiles: {self.run.samples.field_caption(image_field)}" if image_field else ""
        self.count_label.setText(f"{len(self.gallery_model.rows):,} of {total:,} samples{shown}")

    def _show_cell(self) -> None:
        cell, run = self.cell, self.run
        if cell is None or run is None:
            self.cell_label.hide()
            self.cell_clear.hide()
            return
        names = run.class_names
        self.cell_label.setText(f"Confusion cell: true <b>{names[cell.true_class]}</b>, "
                                f"{cell.net} predicted <b>{names[cell.predicted_class]}</b>")
        self.cell_label.show()
        self.cell_clear.show()

    def show_sample(self, row: int) -> None:
        if self.predictions is None or self.run is None:
            return
        self.detail.show_sample(row, self.run.samples, self.predictions, self.run.class_names)
        self.embedding.mark(row)  # the same sample ringed in the teacher's and the student's embedding
        self.sample_shown.emit(row)

    def _show_error(self, message: str) -> None:
        self.status.setText(message)
        self.status.show()

    # ------------------------------------------------------------------ handlers

    @Slot(int)
    def _on_epoch_slider_value_changed(self, position: int) -> None:
        if 0 <= position < len(self.epoch_state.epochs):
            self.epoch_state.position = position
            self._request_epoch()

    @Slot(int)
    def _on_confusion_net_changed(self, index: int) -> None:
        self._update_confusion()

    @Slot(bool)
    def _on_confusion_normalized_toggled(self, checked: bool) -> None:
        self._update_confusion()

    @Slot(int, int)
    def _on_confusion_cell_clicked(self, true_class: int, predicted_class: int) -> None:
        net = self.confusion_net.currentData()
        if self.predictions is None or net is None:
            return
        self.cell = ConfusionCell(net, true_class, predicted_class)
        # The gallery then shows exactly the cell's samples: no other filter, no search.
        for widget in (self.filter_box, self.search):
            widget.blockSignals(True)
        self.filter_box.setCurrentIndex(0)
        self.search.clear()
        for widget in (self.filter_box, self.search):
            widget.blockSignals(False)
        self._show_cell()
        self._refresh_gallery()
        self.right_tabs.setCurrentIndex(0)

    @Slot()
    def _on_cell_clear_clicked(self) -> None:
        self.cell = None
        self._show_cell()
        self._refresh_gallery()

    @Slot(int)
    def _on_filter_box_changed(self, index: int) -> None:
        self._refresh_gallery()

    @Slot(int)
    def _on_sort_box_changed(self, index: int) -> None:
        self._refresh_gallery()

    @Slot(str)
    def _on_search_text_changed(self, text: str) -> None:
        self._search_timer.start()  # wait for a pause in typing: one search, not one per key

    @Slot()
    def _on_search_timer_timeout(self) -> None:
        self._refresh_gallery()

    @Slot(int)
    def _on_gallery_sample_selected(self, row: int) -> None:
        self.show_sample(row)

    @Slot(int)
    def _on_embedding_sample_clicked(self, row: int) -> None:
        self.show_sample(row)

    @Slot(str)
    def _on_runner_failed(self, message: str) -> None:
        self._show_error(message.splitlines()[0])

    @Slot(str)
    def _on_export_button_failed(self, message: str) -> None:
        self.export_result.hide()
        self._show_error(f"Export failed: {message}")

    @Slot(str, str)
    def _on_export_button_finished(self, path: str, line: str) -> None:
        self.status.hide()
        self.export_result.setText(line)
        self.export_result.show()

