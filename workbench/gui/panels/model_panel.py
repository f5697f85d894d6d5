"""Model panel: teacher and student encoders per field, fusion, embedding; live parameter counts.

Counting builds both networks with the engine's ``build_network`` on the CPU. That takes
from milliseconds to seconds (a ResNet-18 teacher), so it runs as a background job, a
short while after the last edit, on a job runner whose newest count wins (an edit makes an older one stale).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import shiboken6
import torch
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QCompleter,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from workbench.assets import html_colour
from workbench.config import (
    CONFIGURED_NETS,
    ENCODER_TRAINING,
    MAX_LR_SCALE,
    ConfigIssue,
    EncoderConfig,
    ExperimentConfig,
    NetworkConfig,
)
from workbench.engine.hf_text import with_tokenizers
from workbench.engine.models import build_network, count_parameters
from workbench.engine.runs import list_runs
from workbench.engine.tasks import get_task
from workbench.errors import ConfigError
from workbench.registry import ENCODERS, default_encoder, encoder_param_options, encoder_params, encoders_for
from workbench.engine.teacher_reuse import check_teacher_reuse
from workbench.gui.forms import DataclassForm, ValueEditor, humanize, make_editor
from workbench.gui.jobs import JobError, JobRunner
from workbench.gui.overview import DatasetOverview
from workbench.gui.panels.base import ConfigPanel

COUNT_DELAY_MS = 250
NETWORK_OPTIONS = ["fusion", "fusion_hidden", "embed_dim", "dropout"]


def count_network_parameters(config: ExperimentConfig, input_specs: dict, num_classes: int) -> dict[str, Any]:
    """{"teacher": int or error message, "student": ...}; runs in a pool thread."""
    counts: dict[str, Any] = {}
    try:
        input_specs = with_tokenizers(config, input_specs)  # a text field an hf_text encoder reads: its tokenizer
    except Exception as error:  # noqa: BLE001 - e.g. a model name half typed: both counts say why
        return {name: str(error) for name in CONFIGURED_NETS}
    for name in CONFIGURED_NETS:
        try:
            network = _build_without_memory(getattr(config, name), input_specs, num_classes, name,
                                            get_task(config.data.task).spatial)
            counts[name] = count_parameters(network)
            counts[f"{name}_trainable"] = count_parameters(network, trainable_only=True)
        except Exception as error:  # shown next to the count: the form is mid-edit, not broken
            counts[name] = str(error)
    return counts


def list_past_runs(runs_dir: str) -> list[tuple[str, str]]:
    """(label, folder) of earlier runs with a trained teacher, newest first."""
    runs = [(f"{record.name} ({record.status})", str(record.path)) for record in list_runs(runs_dir)
            if record.checkpoint_path("teacher", "best").is_file()]
    return runs[::-1]


def _build_without_memory(net_cfg: NetworkConfig, input_specs: dict, num_classes: int, name: str,
                          spatial: bool = False) -> Any:
    """The network on PyTorch's meta device (shapes, no storage): a count of a 4-billion-parameter
    network being typed in costs nothing. An encoder that cannot be built there is built for real.
    ``spatial``: the task's per-pixel network (segmentation), as the trainer builds it."""
    try:
        with torch.device("meta"):
            return build_network(net_cfg, input_specs, num_classes, name, spatial)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 (e.g. an encoder that loads weights from disk)
        return build_network(net_cfg, input_specs, num_classes, name, spatial)


class EncoderEditor(QGroupBox):
    """One field's encoder: its type (the registered encoders for the field's kind) and its parameters."""

    edited = Signal(str)

    def __init__(self, net_name: str, field: str, kind: str, encoder: EncoderConfig, parent: QWidget | None = None,
                 *, jobs: JobRunner | None = None):
        super().__init__(f"{field} ({kind})", parent)
        self.key = f"{net_name}.encoders.{field}"
        self.encoder = encoder
        self.jobs = jobs  # lists a library's model names off the GUI thread (the panel's runner)
        self.type_combo = QComboBox(self)
        self.type_combo.setObjectName(f"{self.key}.type")
        self.type_combo.addItems(encoders_for(kind))
        self.type_combo.setCurrentText(encoder.type)
        self.type_combo.setToolTip(f"Encoder for the {kind} field '{field}'.")
        self.type_combo.currentTextChanged.connect(self._on_type_combo_changed)
        self.form = QFormLayout(self)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.form.addRow("Encoder", self.type_combo)
        self.training_editors: dict[str, Any] = {}
        for name, meta in (("train", {"help": "full: its weights train; frozen: they stay fixed (eval mode) while the "
                                              "head trains.", "choices": ENCODER_TRAINING}),
                           ("lr_scale", {"help": "Multiplies the learning rate of this encoder's weights (e.g. 0.1 "
                                                 "to fine-tune a pretrained backbone).", "low": 0.0, "low_open": True,
                                         "high": MAX_LR_SCALE})):
            editor = make_editor(getattr(encoder, name), meta, self)
            editor.widget.setObjectName(f"{self.key}.{name}")
            editor.setObjectName(name)
            editor.edited.connect(self._on_training_edited)
            self.form.addRow("Training" if name == "train" else "LR multiplier", editor.widget)
            self.training_editors[name] = editor
        self.param_editors: dict[str, Any] = {}
        self._show_params()

    def _show_params(self) -> None:
        for editor in self.param_editors.values():
            self.form.removeRow(editor.widget)
        self.param_editors = {}
        defaults = encoder_params(self.encoder.type)
        for name, default in defaults.items():
            value = self.encoder.params.get(name, default)
            # An encoder class may describe its parameters (help, choices) in ``param_options``.
            declared = encoder_param_options(self.encoder.type).get(name, {})
            meta = {"help": f"{self.encoder.type} parameter '{name}' (default {default!r}).", **declared}
            editor = make_editor(value, meta, self)
            editor.widget.setObjectName(f"{self.key}.{name}")
            if isinstance(default, str) and "choices" not in meta:  # a model name or a folder: room to read it
                editor.widget.setMinimumWidth(280)
            if name == "model":
                self.param_editors[name] = editor  # before the names can arrive
                self._offer_model_names()
            editor.edited.connect(self._on_param_edited)
            editor.setObjectName(name)
            self.form.addRow(humanize(name), editor.widget)
            self.param_editors[name] = editor

    def _offer_model_names(self) -> None:
        """A search over the library's model names (timm lists about 1,300) as the user types, when it has a list.

        Listing imports the library (timm: seconds, the first time), so with a job runner it runs there and
        the search box appears when the names arrive.
        """
        names_of = getattr(ENCODERS[self.encoder.type], "model_names", None)
        if names_of is None:
            return
        show = partial(self._on_model_names_listed, self.encoder.type)
        if self.jobs is None:
            show(names_of())
        else:
            self.jobs.submit(self.model_names_job, names_of, show)

    @property
    def model_names_job(self) -> tuple[str, str]:
        return ("model-names", self.key)

    def _on_model_names_listed(self, encoder_type: str, names: list[str]) -> None:
        editor = self.param_editors.get("model") if shiboken6.isValid(self) else None
        if not names or editor is None or not shiboken6.isValid(editor.widget) or encoder_type != self.encoder.type:
            return  # no list, or the editor, its model box or its encoder type changed meanwhile
        line_edit = editor.widget
        completer = QCompleter(names, line_edit)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(15)
        line_edit.setCompleter(completer)
        line_edit.setPlaceholderText(f"search {len(names):,} models")

    @Slot(str)
    def _on_type_combo_changed(self, encoder_type: str) -> None:
        if encoder_type and encoder_type != self.encoder.type:
            self.encoder.type = encoder_type
            self.encoder.params = dict(encoder_params(encoder_type))
            self._show_params()
            self.edited.emit(f"{self.key}.type")

    @Slot(object)
    def _on_training_edited(self, value: Any) -> None:
        name = self.sender().objectName()
        setattr(self.encoder, name, value)
        self.edited.emit(f"{self.key}.{name}")

    @Slot(object)
    def _on_param_edited(self, value: Any) -> None:
        name = self.sender().objectName()
        self.encoder.params[name] = value
        self.edited.emit(f"{self.key}.{name}")


class NetworkEditor(QGroupBox):
    """Encoders of one network's fields, its fusion and embedding size, and its parameter count."""

    edited = Signal(str)

    def __init__(self, net_name: str, network: NetworkConfig, parent: QWidget | None = None,
                 *, jobs: JobRunner | None = None):
        super().__init__(net_name.capitalize(), parent)
        self.net_name = net_name
        self.network = network
        self.jobs = jobs
        self.count_label = QLabel("Parameters: –", self)
        self.count_label.setObjectName(f"{net_name}.params")
        font = self.count_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.count_label.setFont(font)
        self.fields_label = QLabel(self)
        self.encoders_layout = QVBoxLayout()
        self.options_form = DataclassForm(network, net_name, NETWORK_OPTIONS, self)
        self.options_form.edited.connect(self._on_options_form_edited)
        layout = QVBoxLayout(self)
        layout.addWidget(self.count_label)
        layout.addWidget(self.fields_label)
        layout.addLayout(self.encoders_layout)
        layout.addWidget(self.options_form)
        layout.addStretch(1)
        self.encoder_editors: dict[str, EncoderEditor] = {}

    def set_network(self, network: NetworkConfig, input_specs: dict[str, dict]) -> None:
        kinds = {name: spec["kind"] for name, spec in input_specs.items()}
        shapes = {name: spec.get("shape") for name, spec in input_specs.items()}
        self.network = network
        self.options_form.set_object(network)
        for editor in self.encoder_editors.values():
            self.encoders_layout.removeWidget(editor)
            editor.deleteLater()
        self.encoder_editors = {}
        self.fields_label.setText("Fields: " + (", ".join(network.fields) or "none: pick them in the Data panel"))
        for field in network.fields:
            kind = kinds.get(field)
            if kind is None:
                continue  # the dataset has no such field; validation names it
            if field not in network.encoders:
                default = default_encoder(kind, shapes.get(field))
                network.encoders[field] = EncoderConfig(default, dict(encoder_params(default)))
            encoder = network.encoders[field]
            editor = EncoderEditor(self.net_name, field, kind, encoder, self, jobs=self.jobs)
            editor.edited.connect(self._on_encoder_edited)
            self.encoders_layout.addWidget(editor)
            self.encoder_editors[field] = editor

    def show_count(self, count: Any, trainable: int | None = None) -> None:
        if isinstance(count, int):
            frozen = f" ({trainable:,} trained)" if trainable is not None and trainable != count else ""
            self.count_label.setText(f"Parameters: {count:,}{frozen}")
            self.count_label.setToolTip("")
        else:
            self.count_label.setText("Parameters: cannot build")
            self.count_label.setToolTip(str(count))

    @Slot(str)
    def _on_encoder_edited(self, key: str) -> None:
        self.edited.emit(key)

    @Slot(str)
    def _on_options_form_edited(self, key: str) -> None:
        self.edited.emit(key)


class ModelPanel(ConfigPanel):
    """Edits ``config.teacher`` and ``config.student``; counts their parameters in the background.

    Its issues are the reused teacher's: ``issues_changed`` follows each check of whether it fits.
    """

    title, sections = "Model", CONFIGURED_NETS
    counts_updated = Signal(object)

    def __init__(self, config: ExperimentConfig, parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config
        self.input_specs: dict[str, dict] = {}
        self.num_classes = 0
        self.report: Any = None  # the dataset's check report: what a reused teacher is checked against
        self.counts: dict[str, Any] = {}
        self.teacher_issues: list[ConfigIssue] = []
        self.reused_teacher: NetworkConfig | None = None  # the reused teacher's architecture, once checked
        self._jobs = JobRunner("model-panel", self)  # parameter counts, teacher checks, earlier runs

        self.teacher_editor = NetworkEditor("teacher", config.teacher, self, jobs=self._jobs)
        self.student_editor = NetworkEditor("student", config.student, self, jobs=self._jobs)
        for editor in (self.teacher_editor, self.student_editor):
            editor.edited.connect(self._on_network_edited)
        self.ratio_label = QLabel("Student / teacher size: –", self)
        self.ratio_label.setObjectName("ratio")

        self.train_new_radio = QRadioButton("Train a new teacher", self)
        self.reuse_radio = QRadioButton("Reuse the teacher of an earlier run:", self)
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.train_new_radio)
        self.source_group.addButton(self.reuse_radio)
        self.run_combo = QComboBox(self)
        self.run_combo.setMinimumWidth(320)
        self.run_combo.setToolTip(TEACHER_SOURCE_HELP)
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        self.train_new_radio.toggled.connect(self._on_train_new_radio_toggled)
        self.run_combo.activated.connect(self._on_run_combo_activated)
        source_box = QGroupBox("Teacher source", self)
        source_layout = QHBoxLayout(source_box)
        source_layout.addWidget(self.train_new_radio)
        source_layout.addWidget(self.reuse_radio)
        source_layout.addWidget(self.run_combo, 1)
        source_layout.addWidget(self.browse_button)
        self.teacher_status = QLabel(self)  # whether the chosen teacher fits this dataset and config
        self.teacher_status.setWordWrap(True)
        self.teacher_status.hide()

        self.count_timer = QTimer(self)
        self.count_timer.setSingleShot(True)
        self.count_timer.setInterval(COUNT_DELAY_MS)
        self.count_timer.timeout.connect(self._on_count_timer_timeout)

        networks = QHBoxLayout()
        networks.addWidget(self.teacher_editor, 1)
        networks.addWidget(self.student_editor, 1)
        inner = QWidget(self)
        inner_layout = QVBoxLayout(inner)
        inner_layout.addWidget(source_box)
        inner_layout.addWidget(self.teacher_status)
        inner_layout.addWidget(self.ratio_label)
        inner_layout.addLayout(networks, 1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        QVBoxLayout(self).addWidget(scroll)
        self.set_config(config)

    # ------------------------------------------------------------------ public

    def set_config(self, config: ExperimentConfig) -> None:
        self.config = config
        self._show_networks()
        self._show_teacher_source()
        self.check_teacher()

    @Slot(object)
    def set_dataset(self, overview: DatasetOverview) -> None:
        """A checked dataset: its fields' input specs and the class count the networks' heads have
        (segmentation's mask classes, else the labels)."""
        index = overview.report.index
        self.input_specs, self.num_classes = overview.input_specs, len(index.target_names or index.class_names)
        self.report = overview.report
        self._show_networks()
        self.check_teacher()

    def set_runs_dir(self, runs_dir: str) -> None:
        """List the runs in ``runs_dir`` whose teacher can be reused (in the background; again after a run)."""
        self._jobs.submit("past-runs", lambda: list_past_runs(runs_dir), self.set_past_runs,
                            self._on_past_runs_failed)

    def check_teacher(self) -> None:
        """Check the reused teacher against the config and dataset now, in the background (not at
        Start): ``teacher_issues`` and the panel say whether it fits; ``issues_changed`` follows."""
        checkpoint = self.config.teacher.checkpoint
        if not checkpoint:
            self._show_teacher_check([], None, "")
            return
        self.teacher_status.setText(f"Checking the teacher of {Path(checkpoint).name}…")
        self.teacher_status.show()
        config, report = self.config.copy(), self.report

        def check() -> NetworkConfig:
            check_teacher_reuse(config, report)  # gives config.teacher the reused teacher's architecture
            return config.teacher

        self._jobs.submit("teacher", check, self._on_teacher_check_finished, self._on_teacher_check_failed)

    def is_checking_teacher(self) -> bool:
        return self._jobs.is_pending("teacher")

    @Slot()
    def refresh(self) -> None:
        """Rebuild the editors after the Data panel changed the field choice."""
        self._show_networks()

    @property
    def editors(self) -> dict[str, ValueEditor]:
        """Every value editor of both networks, by config key (``teacher.encoders.image.width``)."""
        editors: dict[str, ValueEditor] = {}
        for network_editor in (self.teacher_editor, self.student_editor):
            editors.update(network_editor.options_form.editors)
            for encoder_editor in network_editor.encoder_editors.values():
                for name, editor in encoder_editor.param_editors.items():
                    editors[f"{encoder_editor.key}.{name}"] = editor
        return editors

    def set_past_runs(self, runs: list[tuple[str, str]]) -> None:
        """(label, run folder) of earlier runs whose teacher can be reused."""
        self.run_combo.clear()
        for label, path in runs:
            self.run_combo.addItem(label, path)
        self._show_teacher_source()

    def issues(self) -> list[ConfigIssue]:
        return self.teacher_issues

    def is_counting(self) -> bool:
        return self._jobs.is_pending("count") or self.count_timer.isActive()

    def is_busy(self) -> bool:
        listing = any(self._jobs.is_pending(editor.model_names_job) for network in (self.teacher_editor, self.student_editor)
                      for editor in network.encoder_editors.values())
        return self.is_counting() or self._jobs.is_pending("past-runs") or listing

    def shutdown(self) -> None:
        """Stop the counting thread (the window closes). The debounce timer first: firing later, it would
        start the thread again, and a thread still running when its panel is freed aborts the app."""
        self.count_timer.stop()
        self._jobs.shutdown()

    # ------------------------------------------------------------------ handlers

    @Slot(str)
    def _on_network_edited(self, key: str) -> None:
        self.edited.emit(key)
        self.count_timer.start()

    @Slot()
    def _on_count_timer_timeout(self) -> None:
        if not self.input_specs or self.num_classes < 1:
            return
        config, specs, classes = self.config.copy(), dict(self.input_specs), self.num_classes
        self._jobs.submit("count", lambda: count_network_parameters(config, specs, classes), self._on_count_finished,
                            self._on_count_failed)

    def _on_count_finished(self, counts: dict) -> None:
        self.counts = counts
        self.teacher_editor.show_count(counts["teacher"], counts.get("teacher_trainable"))
        self.student_editor.show_count(counts["student"], counts.get("student_trainable"))
        teacher, student = counts["teacher"], counts["student"]
        if isinstance(teacher, int) and isinstance(student, int) and teacher > 0 and student > 0:
            self.ratio_label.setText(f"Student / teacher size: <b>{student / teacher:.3f}</b> "
                                     f"(the student is {teacher / student:.1f}x smaller)" if student <= teacher else
                                     f"Student / teacher size: <b>{student / teacher:.2f}</b> "
                                     f"(the student is larger than the teacher)")
        else:
            self.ratio_label.setText("Student / teacher size: –")
        self.counts_updated.emit(counts)

    def _on_count_failed(self, message: JobError) -> None:
        self.ratio_label.setText(f"Cannot count parameters: {message}")

    def _on_past_runs_failed(self, message: JobError) -> None:
        self.reported.emit("", f"Cannot list earlier runs: {message}")

    def _on_teacher_check_finished(self, teacher: NetworkConfig) -> None:
        if not self.config.teacher.checkpoint:
            return  # "Train a new teacher" was chosen while it was being checked
        source = Path(self.config.teacher.checkpoint).name
        self._show_teacher_check([], teacher, html_colour(
            f"The teacher of {source} fits: same data, classes, seed and data settings. It is shown read-only "
            "below; the student stage alone will train.", "ok"))

    def _on_teacher_check_failed(self, message: JobError) -> None:
        if not self.config.teacher.checkpoint:
            return
        self._show_teacher_check([ConfigIssue("teacher.checkpoint", str(message))], None,
                                 html_colour(f"Cannot reuse this teacher: {message}", "error"))

    def _show_teacher_check(self, issues: list[ConfigIssue], teacher: NetworkConfig | None, text: str) -> None:
        self.teacher_issues, self.reused_teacher = issues, teacher
        self.teacher_status.setText(text)
        self.teacher_status.setVisible(bool(text))
        # A reused teacher is the one trained before: shown as it is, not editable; else the editor's own.
        self.teacher_editor.set_network(teacher or self.config.teacher, self.input_specs)
        self.teacher_editor.setEnabled(teacher is None)
        self.teacher_editor.setTitle(f"Teacher: reused from {Path(self.config.teacher.checkpoint).name} (read-only)"
                                     if teacher is not None else "Teacher")
        self.issues_changed.emit()

    @Slot(bool)
    def _on_train_new_radio_toggled(self, train_new: bool) -> None:
        self.run_combo.setEnabled(not train_new)
        self.browse_button.setEnabled(not train_new)
        checkpoint = "" if train_new else (self.run_combo.currentData() or self.config.teacher.checkpoint)
        if checkpoint != self.config.teacher.checkpoint:
            self.config.teacher.checkpoint = checkpoint or ""
            self.edited.emit("teacher.checkpoint")
            self.check_teacher()

    @Slot(int)
    def _on_run_combo_activated(self, _index: int) -> None:
        self.config.teacher.checkpoint = self.run_combo.currentData() or ""
        self.edited.emit("teacher.checkpoint")
        self.check_teacher()

    @Slot()
    def _on_browse_button_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an earlier run folder",
                                                  self.config.train.runs_dir or str(Path.home()))
        if folder:
            self._select_run(folder)
            self.config.teacher.checkpoint = folder
            self.edited.emit("teacher.checkpoint")
            self.check_teacher()

    # ------------------------------------------------------------------ helpers

    def _show_networks(self) -> None:
        self.teacher_editor.set_network(self.reused_teacher or self.config.teacher, self.input_specs)
        self.student_editor.set_network(self.config.student, self.input_specs)
        self.count_timer.start()

    def _select_run(self, path: str) -> None:
        index = self.run_combo.findData(path)
        if index < 0:
            self.run_combo.addItem(Path(path).name, path)
            index = self.run_combo.count() - 1
        self.run_combo.setCurrentIndex(index)

    def _show_teacher_source(self) -> None:
        checkpoint = self.config.teacher.checkpoint
        with_signals_blocked = self.train_new_radio.blockSignals(True)
        self.train_new_radio.setChecked(not checkpoint)
        self.reuse_radio.setChecked(bool(checkpoint))
        self.train_new_radio.blockSignals(with_signals_blocked)
        if checkpoint:
            self._select_run(checkpoint)
        self.run_combo.setEnabled(bool(checkpoint))
        self.browse_button.setEnabled(bool(checkpoint))


TEACHER_SOURCE_HELP = ("An earlier run folder (or checkpoint file) whose trained teacher is reused: "
                       "the teacher stage is skipped.")
