"""Training panel: optimisation, schedule (with a preview of the learning rate), device, run and logging options."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from workbench.assets import ui_colour
from workbench.config import ExperimentConfig, TrainConfig
from workbench.engine.schedule import learning_rate_curve
from workbench.gui.forms import DataclassForm
from workbench.gui.overview import DatasetOverview
from workbench.gui.panels.base import ConfigPanel
from workbench.gui.plotting import small_plot
from workbench.options import help_text

OPTIMISATION = ["epochs", "teacher_epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
                "grad_clip"]
SCHEDULE = ["schedule", "warmup_epochs", "step_size", "gamma"]
RUN = ["seed", "precision", "baseline", "early_stopping_patience", "early_stopping_metric", "runs_dir", "name"]
LOGGING = ["tensorboard", "mlflow_uri", "mlflow_experiment"]  # config.log: where the run is logged besides its folder
PREVIEW_STEPS_PER_EPOCH = 20


def available_devices() -> list[tuple[str, str]]:
    """(device string, description) of what this machine has: CPU, each CUDA device, MPS."""
    import torch

    devices = [("auto", "auto: the first GPU, else CPU"), ("cpu", "CPU")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append((f"cuda:{i}", f"cuda:{i}: {props.name} ({props.total_memory / 2**30:.0f} GiB)"))
    if torch.backends.mps.is_available():
        devices.append(("mps", "mps: Apple GPU (Metal)"))
    return devices


class TrainingPanel(ConfigPanel):
    """Edits ``config.train`` and ``config.log``."""

    title, sections = "Training", ("train", "log")

    def __init__(self, config: ExperimentConfig, parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config
        self.forms = [DataclassForm(config.train, "train", names, self) for names in (OPTIMISATION, SCHEDULE, RUN)]
        self.log_form = DataclassForm(config.log, "log", LOGGING, self)
        self.forms.append(self.log_form)
        self.log_form.editors["log.mlflow_uri"].widget.setPlaceholderText("off; e.g. http://mlflow-server:5000")
        for form in self.forms:
            form.edited.connect(self._on_form_edited)
        self.device_combo = QComboBox(self)
        self.device_combo.setObjectName("train.device")
        meta = next(f.metadata for f in TrainConfig.__dataclass_fields__.values() if f.name == "device")
        self.device_combo.setToolTip(help_text(meta))
        for device, description in available_devices():
            self.device_combo.addItem(description, device)
        self.device_combo.currentIndexChanged.connect(self._on_device_combo_changed)
        self.forms[2].layout_.insertRow(1, "Device", self.device_combo)
        self.lr_plot = small_plot("Learning rate over the student stage", height=200)
        self.lr_plot.setLabel("bottom", "epoch")
        self.lr_plot.getAxis("left").setWidth(56)  # room for tick labels such as 0.0005
        self.lr_curve = self.lr_plot.plot(pen=ui_colour("schedule"))

        boxes = []
        for title, form in zip(("Optimisation", "Schedule", "Run", "Logging"), self.forms):
            box = QGroupBox(title, self)
            QVBoxLayout(box).addWidget(form)
            boxes.append(box)
        boxes[1].layout().addWidget(self.lr_plot)
        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(boxes[0])
        left.addWidget(boxes[2])
        left.addStretch(1)
        columns.addLayout(left, 1)
        right = QVBoxLayout()
        right.addWidget(boxes[1])
        right.addWidget(boxes[3])
        right.addStretch(1)
        columns.addLayout(right, 1)
        inner = QWidget(self)
        inner.setLayout(columns)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        QVBoxLayout(self).addWidget(scroll)
        self._show_device()
        self._show_schedule()

    @property
    def editors(self) -> dict:
        return {key: editor for form in self.forms for key, editor in form.editors.items()}

    def set_config(self, config: ExperimentConfig) -> None:
        self.config = config
        for form in self.forms:
            form.set_object(config.log if form is self.log_form else config.train)
        self._show_device()
        self._show_schedule()

    @Slot(object)
    def on_dataset_checked(self, _overview: DatasetOverview) -> None:
        """A new dataset's task may have changed the selection metric (the Data panel fits the config to it)."""
        self.set_config(self.config)

    @Slot(str)
    def _on_form_edited(self, key: str) -> None:
        self._show_schedule()
        self.edited.emit(key)

    @Slot(int)
    def _on_device_combo_changed(self, index: int) -> None:
        device = self.device_combo.itemData(index)
        if device and device != self.config.train.device:
            self.config.train.device = device
            self.edited.emit("train.device")

    def _show_device(self) -> None:
        device = self.config.train.device
        index = self.device_combo.findData(device)
        if index < 0:  # a device this machine lacks (a config from elsewhere): keep it, visibly
            self.device_combo.addItem(f"{device} (not found on this machine)", device)
            index = self.device_combo.count() - 1
        blocked = self.device_combo.blockSignals(True)
        self.device_combo.setCurrentIndex(index)
        self.device_combo.blockSignals(blocked)

    def _show_schedule(self) -> None:
        """The trainer's own schedule (engine.schedule), at a typical number of steps per epoch."""
        epoch, lr = learning_rate_curve(self.config.train, PREVIEW_STEPS_PER_EPOCH)
        self.lr_curve.setData([0.0, *epoch], [lr[0] if self.config.train.warmup_epochs == 0 else 0.0, *lr])
        self.lr_plot.setXRange(0, max(1, self.config.train.epochs), padding=0.02)
        self.lr_plot.setYRange(0, max(self.config.train.lr, 1e-12) * 1.08, padding=0)
