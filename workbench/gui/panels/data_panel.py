"""Data panel: choose a dataset folder, see its check, pick the teacher's and the student's fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.assets import html_colour, ui_colour
from workbench.config import CONFIGURED_NETS, SAMPLE_QUICK_START, ConfigIssue, ExperimentConfig, default_config
from workbench.data.scan import detect_task
from workbench.gui.config_document import user_data_dir
from workbench.gui.dialogs import open_error_dialog
from workbench.gui.forms import DataclassForm, ValueEditor
from workbench.gui.jobs import JobError, JobRunner
from workbench.gui.overview import DatasetOverview, inspect_dataset
from workbench.gui.panels.base import ConfigPanel
from workbench.gui.panels.dataset_widgets import FieldPicker, PreviewGrid, ProblemsTable, student_field_hint
from workbench.gui.plotting import set_bars, small_plot

DATA_OPTIONS = ["task", "answer_classes", "val_fraction", "image_size", "augment", "text_max_length", "cache_mb",
                "num_workers"]
# The check reads the folder differently for these: changing one checks the folder again.
_RECHECK_OPTIONS = ("data.task", "data.answer_classes")
MAX_RECENT = 8


def _settings_list(value: Any) -> list[str]:
    """QSettings hands back a str for a one-element list and None for none."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


class DataPanel(ConfigPanel):
    """Edits ``config.data`` and the networks' field lists; checks the dataset folder in the background,
    fits the config to it, and announces each finished check. Also makes the built-in sample dataset,
    and keeps the recently checked datasets (in the app's settings).

    Its issues are the dataset's: still being checked, not trainable, or lacking a chosen field.
    """

    title, sections = "Data", ("data",)
    check_finished = Signal(object)  # DatasetOverview; the config's data section is fitted to it already
    fields_changed = Signal()  # the teacher's or the student's field list in the config changed

    def __init__(self, config: ExperimentConfig, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config
        self.settings = settings
        self.overview: DatasetOverview | None = None
        # Newest wins: only the last folder asked for reports. The sample is written on the same thread.
        self._jobs = JobRunner("data-panel", self)
        self.recent: list[str] = []
        self.setAcceptDrops(True)

        self.first_start_banner = QFrame(self)
        self.first_start_banner.setObjectName("firstStartBanner")
        banner_layout = QHBoxLayout(self.first_start_banner)
        self.banner_label = QLabel("<b>No dataset yet.</b> Create the built-in sample (shapes with captions) "
                                   "to try the workbench, or choose a folder of your own.", self.first_start_banner)
        self.banner_label.setWordWrap(True)
        self.create_sample_button = QPushButton("Create sample dataset", self.first_start_banner)
        self.create_sample_button.setDefault(True)
        self.create_sample_button.clicked.connect(self.create_sample)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.create_sample_button)

        self.path_edit = QLineEdit(self)
        self.path_edit.setPlaceholderText("Dataset folder: class folders, or a manifest.csv / manifest.jsonl")
        self.path_edit.returnPressed.connect(self._on_path_edit_return_pressed)
        self.choose_button = QPushButton("Choose folder…", self)
        self.choose_button.clicked.connect(self._on_choose_button_clicked)
        self.recent_button = QToolButton(self)
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_button.setMenu(self.recent_menu)
        self.recheck_button = QPushButton("Check again", self)
        self.recheck_button.clicked.connect(self._on_recheck_button_clicked)
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)  # indeterminate: the check reports no progress
        self.busy_bar.setMaximumWidth(160)
        self.busy_bar.hide()
        self.status_label = QLabel("Drop a dataset folder here, or choose one.", self)
        self.status_label.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:", self))
        top.addWidget(self.path_edit, 1)
        for widget in (self.choose_button, self.recent_button, self.recheck_button, self.busy_bar):
            top.addWidget(widget)

        self.summary_label = QLabel(self)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.setWordWrap(True)
        self.field_picker = FieldPicker(self)
        self.field_picker.selection_changed.connect(self._on_field_picker_selection_changed)
        self.options_form = DataclassForm(config.data, "data", DATA_OPTIONS, self)
        self.options_form.edited.connect(self._on_options_form_edited)
        self.problems_table = ProblemsTable(self)
        self.problems_box = QGroupBox("Problems", self)
        QVBoxLayout(self.problems_box).addWidget(self.problems_table)

        summary_box = QGroupBox("Summary", self)
        QVBoxLayout(summary_box).addWidget(self.summary_label)
        fields_box = QGroupBox("Fields: which inputs feed the teacher and the student", self)
        self.field_hint = QLabel(self)
        self.field_hint.setWordWrap(True)
        fields_layout = QVBoxLayout(fields_box)
        fields_layout.addWidget(self.field_picker)
        fields_layout.addWidget(self.field_hint)
        options_box = QGroupBox("Loading options", self)
        QVBoxLayout(options_box).addWidget(self.options_form)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(summary_box)
        left_layout.addWidget(fields_box)
        left_layout.addWidget(options_box)
        left_layout.addStretch(1)

        self.class_plot = small_plot("Samples per class")
        self.text_plot = small_plot("Tokens per caption")
        for plot in (self.class_plot, self.text_plot):
            plot.setMaximumHeight(210)
        self.preview_grid = PreviewGrid(self)
        preview_box = QGroupBox("Preview", self)
        QVBoxLayout(preview_box).addWidget(self.preview_grid)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        plots = QHBoxLayout()
        plots.addWidget(self.class_plot)
        plots.addWidget(self.text_plot)
        right_layout.addLayout(plots)
        right_layout.addWidget(self.problems_box, 1)
        right_layout.addWidget(preview_box)

        self.details = QSplitter(Qt.Orientation.Horizontal, self)
        self.details.addWidget(left)
        self.details.addWidget(right)
        self.details.setStretchFactor(0, 0)
        self.details.setStretchFactor(1, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.details)

        layout = QVBoxLayout(self)
        layout.addWidget(self.first_start_banner)
        layout.addLayout(top)
        layout.addWidget(self.status_label)
        layout.addWidget(scroll, 1)
        self.details.setEnabled(False)
        self.first_start_banner.hide()
        self.set_recent(_settings_list(settings.value("data/recent")))

    # ------------------------------------------------------------------ public

    def set_config(self, config: ExperimentConfig) -> None:
        """Edit another config (File > New / Open); checks its dataset if it names one."""
        self.config = config
        self.options_form.set_object(config.data)
        self.path_edit.setText(config.data.root)
        if self.overview is not None:
            self._show_fields()
        if config.data.root and (self.overview is None or
                                 Path(config.data.root) != Path(self.overview.report.index.root)):
            self.check_folder(config.data.root)

    @property
    def editors(self) -> dict[str, ValueEditor]:
        return self.options_form.editors

    def issues(self) -> list[ConfigIssue]:
        """What the config cannot know alone: whether its dataset is checked, trainable and has its fields."""
        if self.is_checking():
            return [ConfigIssue("data.root", "The dataset is still being checked.")]
        overview = self.overview
        if overview is None or not self.config.data.root or \
                Path(self.config.data.root).resolve() != Path(overview.report.index.root).resolve():
            return []
        issues = []
        if not overview.report.trainable:
            issues.append(ConfigIssue("data.root", f"The dataset cannot train: {overview.report.advice}"))
        fields = overview.report.index.fields
        for net in CONFIGURED_NETS:
            for name in getattr(self.config, net).fields:
                if name not in fields:
                    issues.append(ConfigIssue(f"{net}.fields", f"The dataset has no field '{name}' "
                                                               f"(it has {', '.join(fields)})."))
        return issues

    def open_initial_dataset(self) -> None:
        """At the app's start: the config's dataset; without one the last dataset checked, or for a new
        user the offer of the sample."""
        if self.config.data.root:
            self.set_config(self.config)
            return
        recent = [folder for folder in self.recent if Path(folder).is_dir()]
        if recent:
            self.check_folder(recent[0])
        else:
            self.first_start_banner.show()

    def set_recent(self, folders: list[str]) -> None:
        self.recent = list(folders)[:MAX_RECENT]
        self._update_recent_menu()

    def is_checking(self) -> bool:
        return self._jobs.is_pending("check")

    def is_busy(self) -> bool:
        return not self._jobs.is_idle()

    def check_folder(self, folder: str) -> None:
        """Check ``folder`` in the background; a newer request replaces one still running."""
        folder = str(Path(folder).expanduser().resolve())
        self.path_edit.setText(folder)
        if folder != self.config.data.root:  # a new folder: its manifest's columns say its task
            self.config.data.task = detect_task(folder)
            self.options_form.set_object(self.config.data)
        self.config.data.root = folder
        self.busy_bar.show()
        self.status_label.setText(f"Checking {folder}…")
        data_cfg, seed = self.config.copy().data, self.config.train.seed
        self._jobs.submit("check", lambda: inspect_dataset(folder, data_cfg, seed), self._on_check_finished,
                          self._on_check_failed)
        self.reported.emit(f"Checking {folder}…", "")
        self.issues_changed.emit()

    @Slot()
    def create_sample(self) -> None:
        """Write the built-in sample into the user's data folder (in the background), then check it."""
        from workbench.data import write_sample_dataset

        target = user_data_dir() / "sample"
        self.create_sample_button.setEnabled(False)
        self.reported.emit("Creating the sample dataset…", f"Creating the sample dataset in {target}")
        options = dict(SAMPLE_QUICK_START)
        self._jobs.submit("sample", lambda: str(write_sample_dataset(target, **options)), self._on_sample_created,
                          self._on_sample_failed)

    def shutdown(self) -> None:
        """Stop the check's thread (the window closes)."""
        self._jobs.shutdown()

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self._dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = self._dropped_folder(event.mimeData())
        if folder is not None:
            event.acceptProposedAction()
            self.check_folder(folder)

    @staticmethod
    def _dropped_folder(mime) -> str | None:
        for url in mime.urls() if mime.hasUrls() else []:
            path = Path(url.toLocalFile())
            if url.isLocalFile() and path.is_dir():
                return str(path)
        return None

    # ------------------------------------------------------------------ handlers

    @Slot()
    def _on_choose_button_clicked(self) -> None:
        start = self.config.data.root or (self.recent[0] if self.recent else str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Choose a dataset folder", start)
        if folder:
            self.check_folder(folder)

    @Slot()
    def _on_path_edit_return_pressed(self) -> None:
        if self.path_edit.text().strip():
            self.check_folder(self.path_edit.text().strip())

    @Slot()
    def _on_recheck_button_clicked(self) -> None:
        if self.config.data.root:
            self.check_folder(self.config.data.root)

    @Slot()
    def _on_recent_action_triggered(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.check_folder(action.data())

    def _on_check_finished(self, overview: DatasetOverview) -> None:
        self.busy_bar.hide()
        self.overview = overview
        report, index = overview.report, overview.report.index
        if report.trainable:  # Recent lists datasets, not every folder someone once pointed at
            self._remember(str(index.root))
        self.first_start_banner.hide()
        fields_replaced = self._adapt_config(report)
        self._show_overview(overview)
        if not report.trainable:  # e.g. the scan's early "not a dataset" answer, with what a dataset looks like
            self.status_label.setText(html_colour(f"{index.root} cannot be trained on: {report.advice}", "error"))
        self.check_finished.emit(overview)
        if fields_replaced:
            self.edited.emit("teacher.fields")  # the student's too: one edit, one validation
        self.reported.emit(f"{len(index.samples)} samples, {len(index.class_names)} classes in {index.root}",
                           f"Checked {index.root}: {len(index.samples)} samples, {len(report.problems)} problem(s), "
                           f"{'trainable' if report.trainable else 'not trainable'}")
        self.issues_changed.emit()

    def _on_check_failed(self, message: JobError) -> None:
        self.busy_bar.hide()
        self.status_label.setText(html_colour(f"Cannot check this folder: {message}", "error"))
        self.reported.emit("The dataset check failed", f"Dataset check failed: {message}")
        self.issues_changed.emit()

    def _on_sample_created(self, folder: str) -> None:
        self.reported.emit("", f"Sample dataset ready in {folder}")
        self.create_sample_button.setEnabled(True)
        self.check_folder(folder)

    def _on_sample_failed(self, error: JobError) -> None:
        self.create_sample_button.setEnabled(True)
        open_error_dialog(self.window(), "Cannot create the sample dataset", error, error.details)

    @Slot(list, list)
    def _on_field_picker_selection_changed(self, teacher: list, student: list) -> None:
        """The user's choice of fields: each network keeps the encoders of the fields it still sees."""
        self.field_hint.setText(student_field_hint(self.overview.report.index.fields, student))
        changed = []
        for net, fields in zip(CONFIGURED_NETS, (teacher, student)):
            network = getattr(self.config, net)
            if network.fields != fields:
                network.fields = list(fields)
                network.encoders = {name: enc for name, enc in network.encoders.items() if name in fields}
                changed.append(net)
        self.fields_changed.emit()  # first: the Model panel's new editors are the ones then marked invalid
        for net in changed:
            self.edited.emit(f"{net}.fields")

    @Slot(str)
    def _on_options_form_edited(self, key: str) -> None:
        self.edited.emit(key)
        if key in _RECHECK_OPTIONS and self.config.data.root:
            self.check_folder(self.config.data.root)

    # ------------------------------------------------------------------ helpers

    def _adapt_config(self, report) -> bool:
        """Point the config at the checked folder; a dataset its fields do not fit gets the defaults for it
        (teacher on every field, student on the image). True when the fields were replaced (the Model panel
        shows the new ones on ``check_finished``)."""
        self.config.data.root = str(report.index.root)
        chosen = self.config.teacher.fields + self.config.student.fields
        if self.config.teacher.fields and self.config.student.fields and \
                all(name in report.index.fields for name in chosen):
            return False
        defaults = default_config(report)
        for net in CONFIGURED_NETS:
            getattr(self.config, net).fields = getattr(defaults, net).fields
            getattr(self.config, net).encoders = getattr(defaults, net).encoders
        if report.task == "segmentation":  # its decoder width, kept narrow (see config.default_config)
            for net in CONFIGURED_NETS:
                getattr(self.config, net).fusion_hidden = getattr(defaults, net).fusion_hidden
        if "val_miou" in (defaults.train.early_stopping_metric, self.config.train.early_stopping_metric):
            self.config.train.early_stopping_metric = defaults.train.early_stopping_metric  # mIoU: segmentation only
        return True

    def _remember(self, folder: str) -> None:
        self.recent = [folder, *(f for f in self.recent if f != folder)][:MAX_RECENT]
        self._update_recent_menu()
        self.settings.setValue("data/recent", self.recent)

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for folder in self.recent:
            action = self.recent_menu.addAction(folder)
            action.setData(folder)
            action.triggered.connect(self._on_recent_action_triggered)
        self.recent_button.setEnabled(bool(self.recent))

    def _show_overview(self, overview: DatasetOverview) -> None:
        report, index = overview.report, overview.report.index
        self.details.setEnabled(True)
        layout = {"manifest": "manifest", "class_folders": "class folders"}.get(index.layout, index.layout)
        sizes = ", ".join(f"{name} {len(indices)}" for name, indices in report.splits.items())
        how = "as given" if report.split_source == "given" else f"validation drawn ({report.val_fraction:.0%})"
        verdict = (html_colour("trainable", "ok") if report.trainable
                   else html_colour(f"not trainable: {report.advice}", "error"))
        self.summary_label.setText(
            f"<table cellspacing=4>"
            f"<tr><td>Layout</td><td><b>{layout}</b></td></tr>"
            f"<tr><td>Samples</td><td><b>{len(index.samples)}</b> in {len(index.class_names)} classes</td></tr>"
            f"<tr><td>Splits</td><td>{sizes} ({how})</td></tr>"
            f"<tr><td>Problems</td><td>{report.errors} error(s), {report.warnings} warning(s)</td></tr>"
            f"<tr><td>Verdict</td><td>{verdict}</td></tr></table>")
        self.status_label.setText(f"Checked {index.root}")
        self._show_fields()
        counts = [report.class_counts[name]["total"] for name in index.class_names]
        set_bars(self.class_plot, list(index.class_names), counts)
        self._show_text_lengths(overview)
        self.problems_table.set_problems(report.problems)
        self.problems_box.setTitle(f"Problems ({len(report.problems)})")
        self.preview_grid.set_samples(overview.previews)

    def _show_text_lengths(self, overview: DatasetOverview) -> None:
        self.text_plot.clear()
        if not overview.text_lengths:
            self.text_plot.setTitle("Tokens per caption (no text field)")
            return
        name, lengths = next(iter(overview.text_lengths.items()))
        self.text_plot.setTitle(f"Tokens per caption ({name})")
        if lengths.size:
            counts = np.bincount(lengths)
            self.text_plot.plot(np.arange(counts.size + 1) - 0.5, counts, stepMode="center", fillLevel=0,
                                brush=ui_colour("chart"), pen=ui_colour("chart"))
            self.text_plot.setYRange(0, counts.max() * 1.1, padding=0)
            self.text_plot.setXRange(-0.5, counts.size - 0.5, padding=0)

    def _show_fields(self) -> None:
        if self.overview is not None:
            fields = self.overview.report.index.fields
            self.field_picker.set_fields(fields, self.config.teacher.fields, self.config.student.fields)
            self.field_hint.setText(student_field_hint(fields, self.config.student.fields))
