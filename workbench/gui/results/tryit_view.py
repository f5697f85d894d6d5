"""Try a run's networks on new inputs: choose files and/or type a text, see the probabilities.

The run's own preprocessing (image statistics, vocabulary) encodes the inputs, so the
teacher and the student see them exactly as they saw their validation samples.
Loading the checkpoints and predicting run in a worker thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.assets import html_colour
from workbench.engine.inference import Predictor
from workbench.gui.results.detail import top_classes
from workbench.gui.results.gallery import decode_scaled
from workbench.gui.jobs import JobView
from workbench.gui.results.plots import GroupedBarPlot
from workbench.gui.results.segmentation import decode_images, overlay, to_pixmap

_FILE_FILTERS = {"image": "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff)",
                 "audio": "Sounds (*.wav *.flac *.ogg)", "array": "Arrays (*.npy)"}
_PREVIEW_SIDE = 160


class TryItView(JobView):
    """``set_run(run_dir)``, give inputs, press Predict; ``predicted`` carries ``{net: probabilities}``."""

    run_ready = Signal(str)  # the run's networks are loaded; inputs can be given
    predicted = Signal(object)  # {net: (C,) probabilities}: object, as a dict would become a QVariantMap
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__("try-it", parent)
        self.run_dir: str | None = None
        self.predictor: Predictor | None = None
        self._inputs: dict[str, QLineEdit | QPlainTextEdit] = {}
        self.title = QLabel("Open a run to try its networks on new inputs.")
        self.title.setWordWrap(True)
        self.form = QFormLayout()
        self.preview = QLabel()
        self.preview.setFixedSize(_PREVIEW_SIDE, _PREVIEW_SIDE)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.hide()
        self.predict_button = QPushButton("Predict")
        self.predict_button.setEnabled(False)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = GroupedBarPlot("Top-5 probabilities", "probability")
        # Segmentation runs: each network's predicted mask over the input image, in place of the bars.
        self.mask_panel = QWidget()
        self.mask_row = QHBoxLayout(self.mask_panel)
        self.mask_row.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.mask_panel.hide()

        inputs = QVBoxLayout()
        inputs.addLayout(self.form)
        buttons = QHBoxLayout()
        buttons.addWidget(self.predict_button)
        buttons.addStretch(1)
        inputs.addLayout(buttons)
        inputs.addWidget(self.preview)
        inputs.addWidget(self.result)
        inputs.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(inputs, 2)
        body.addWidget(self.bars, 3)
        body.addWidget(self.mask_panel, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(body, 1)
        self.predict_button.clicked.connect(self._on_predict_button_clicked)

    # ------------------------------------------------------------------ public

    @Slot(str)
    def set_run(self, run_dir: str) -> None:
        self.run_dir, self.predictor = str(run_dir), None
        self._runner.cancel_all()
        self.predict_button.setEnabled(False)
        self.title.setText(f"Loading the networks of <b>{Path(run_dir).name}</b>…")
        self.result.clear()
        self.bars.set_values([], {})
        self._runner.submit("load", lambda: Predictor.from_run(run_dir), self._on_predictor_loaded,
                            self._on_job_failed)

    def input_fields(self) -> list[str]:
        """The fields the loaded run's networks take, in the form's order."""
        return list(self._inputs)

    def set_input(self, field: str, value: str) -> None:
        """Give a field's input: a file path, or the text of a text field."""
        widget = self._inputs[field]
        if isinstance(widget, QPlainTextEdit):
            widget.setPlainText(value)
        else:
            widget.setText(value)

    def predict(self) -> None:
        predictor, values = self.predictor, self._values()
        if predictor is None:
            return
        missing = {net: predictor.missing_fields(net, values) for net in predictor.networks}
        if all(missing.values()):
            self.bars.set_values([], {})  # the bars of an earlier prediction would answer another input
            self.result.setText("Give " + " or ".join(f"{', '.join(fields)} (for the {net})"
                                                      for net, fields in missing.items()) + ".")
            return
        self.predict_button.setEnabled(False)
        self._runner.submit("predict", lambda: predictor.predict(values), self._on_prediction_finished,
                            self._on_job_failed)

    # ------------------------------------------------------------------ internals

    def _values(self) -> dict[str, str]:
        values = {}
        for field, widget in self._inputs.items():
            if isinstance(widget, QPlainTextEdit):
                values[field] = widget.toPlainText()
            elif widget.text().strip():
                values[field] = widget.text().strip()
        return values

    def _build_inputs(self, predictor: Predictor) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._inputs = {}
        used = [field for net in predictor.networks for field in predictor.fields(net)]
        for field in dict.fromkeys(used):
            kind = predictor.preprocessing.fields[field].kind
            users = [net for net in predictor.networks if field in predictor.fields(net)]
            label = QLabel(field)
            label.setToolTip(f"{kind} input of the {', '.join(users)}")
            if kind == "text":
                editor = QPlainTextEdit()
                editor.setPlaceholderText("Type a text")
                editor.setMaximumHeight(90)
                self.form.addRow(label, editor)
                self._inputs[field] = editor
                continue
            line = QLineEdit()
            line.setPlaceholderText(f"{kind} file")
            choose = QPushButton("Choose…")
            choose.clicked.connect(lambda checked=False, field=field, kind=kind: self._choose_file(field, kind))
            if kind == "image":
                line.textChanged.connect(self._on_image_path_changed)
            row = QHBoxLayout()
            row.addWidget(line, 1)
            row.addWidget(choose)
            self.form.addRow(label, row)
            self._inputs[field] = line

    def _choose_file(self, field: str, kind: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the {field}", "", _FILE_FILTERS.get(kind, ""))
        if path:
            self.set_input(field, path)

    def _on_predictor_loaded(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._build_inputs(predictor)
        nets = ", ".join(f"{net} ({', '.join(predictor.fields(net))})" for net in predictor.networks)
        self.title.setText(f"<b>{Path(self.run_dir).name}</b>, best checkpoints: {nets}. Give inputs, then Predict.")
        self.predict_button.setEnabled(True)
        self.run_ready.emit(self.run_dir)

    def _on_prediction_finished(self, probabilities: dict[str, np.ndarray]) -> None:
        self.predict_button.setEnabled(True)
        names = self.predictor.class_names
        segmentation = self.predictor.task == "segmentation"
        self.bars.setVisible(not segmentation)
        self.mask_panel.setVisible(segmentation)
        if segmentation:
            self._show_masks(probabilities)
            self.predicted.emit(probabilities)
            return
        lines = [f"<b>{net}</b>: {names[int(p.argmax())]} ({p.max():.1%})" for net, p in probabilities.items()]
        skipped = [net for net in self.predictor.networks if net not in probabilities]
        if skipped:
            lines.append(f"<i>not shown: {', '.join(skipped)} (an input it needs is missing)</i>")
        self.result.setText("<br>".join(lines))
        classes = top_classes(probabilities)
        self.bars.set_values([names[c] for c in classes], {net: p[classes] for net, p in probabilities.items()})
        self.predicted.emit(probabilities)

    def _show_masks(self, probabilities: dict[str, np.ndarray]) -> None:
        """Each network's mask over the image, and the classes it finds (share of the pixels)."""
        names = self.predictor.class_names
        while self.mask_row.count():
            widget = self.mask_row.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        image_field = next(field for field, info in self.predictor.preprocessing.fields.items() if info.kind == "image")
        size = next(iter(probabilities.values())).shape[-1]
        image = decode_images([self._values().get(image_field)], size)[0]
        lines = []
        for net, probs in probabilities.items():
            mask = probs.argmax(0).astype(np.uint8)
            shares = np.bincount(mask.reshape(-1), minlength=len(names)) / mask.size
            found = ", ".join(f"{names[c]} {shares[c]:.0%}" for c in np.flatnonzero(shares) if c > 0)
            lines.append(f"<b>{net}</b>: {found or 'background only'}")
            tile = QLabel()
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if image is not None:
                tile.setPixmap(to_pixmap(overlay(image, mask, 0.55), _PREVIEW_SIDE))
            caption = QLabel(net)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            column = QWidget()
            column_layout = QVBoxLayout(column)
            column_layout.addWidget(tile)
            column_layout.addWidget(caption)
            self.mask_row.addWidget(column)
        skipped = [net for net in self.predictor.networks if net not in probabilities]
        if skipped:
            lines.append(f"<i>not shown: {', '.join(skipped)} (an input it needs is missing)</i>")
        self.result.setText("<br>".join(lines))

    def _on_job_failed(self, message: str) -> None:
        self.predict_button.setEnabled(self.predictor is not None)
        first = message.splitlines()[0]
        self.bars.set_values([], {})  # the bars of an earlier prediction would answer another input
        self.result.setText(html_colour(first, "error"))
        self.failed.emit(first)

    @Slot()
    def _on_predict_button_clicked(self) -> None:
        self.predict()

    @Slot(str)
    def _on_image_path_changed(self, path: str) -> None:
        if not Path(path).is_file():
            self.preview.hide()
            return
        self._runner.submit("preview", lambda: decode_scaled(path, _PREVIEW_SIDE), self._on_preview_decoded,
                            lambda message: self.preview.hide())

    def _on_preview_decoded(self, image) -> None:
        self.preview.setPixmap(QPixmap.fromImage(image))
        self.preview.show()
