"""Sample detail: the sample's image(s) and text, and the top-k probabilities of each network."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from workbench.gui.results.gallery import decode_scaled
from workbench.gui.results.jobs import JobRunner
from workbench.gui.results.plots import GroupedBarPlot
from workbench.gui.results.run_data import SampleInfo
from workbench.gui.results.selection import PredictionSet

TOP_K = 5
IMAGE_SIDE = 200


def top_classes(probs: dict[str, np.ndarray], k: int = TOP_K) -> list[int]:
    """The ``k`` classes with the highest probability (C,) under any network, most likely first."""
    best = np.max(np.stack(list(probs.values())), axis=0)
    return [int(c) for c in np.argsort(-best, kind="stable")[:k]]


class DetailPanel(QWidget):
    """Shows one sample; ``show_sample`` again with a new epoch's predictions updates the bars."""

    def __init__(self, runner: JobRunner, parent=None):
        super().__init__(parent)
        self._runner = runner
        self.row: int | None = None
        self.title = QLabel("Click a tile, a confusion cell's sample or an embedding point to see it here.")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.images = QHBoxLayout()
        self.images.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text_scroll = QScrollArea()
        text_scroll.setWidgetResizable(True)
        text_scroll.setWidget(self.text)
        text_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.bars = GroupedBarPlot(f"Top-{TOP_K} probabilities", "probability")
        self.bars.setMinimumWidth(220)

        media = QVBoxLayout()
        media.addLayout(self.images)
        media.addWidget(text_scroll, 1)
        body = QHBoxLayout()
        body.addLayout(media, 1)
        body.addWidget(self.bars, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)  # inside a splitter: its neighbours have no margin either
        layout.addWidget(self.title)
        layout.addLayout(body, 1)

    def clear(self) -> None:
        self.row = None
        self.title.setText("Click a tile, a confusion cell's sample or an embedding point to see it here.")
        self._set_images([])
        self.text.clear()
        self.bars.set_values([], {})

    def show_sample(self, row: int, samples: SampleInfo, predictions: PredictionSet, class_names: list[str]) -> None:
        new_sample = row != self.row
        self.row = row
        label = class_names[int(predictions.label[row])]
        guesses = "   ".join(f"{net}: {class_names[int(predictions.predicted[net][row])]} "
                               f"({predictions.confidence[net][row]:.0%})" for net in predictions.nets)
        self.title.setText(f"<b>{samples.ids[row]}</b> — true: <b>{label}</b>   {guesses}")
        if new_sample:
            values = samples.values[row]
            image_fields = [name for name, kind in samples.kinds.items() if kind == "image" and values.get(name)]
            self._set_images(image_fields)
            for position, name in enumerate(image_fields):
                path = values[name]
                self._runner.submit(("detail-image", position), lambda path=path: decode_scaled(path, IMAGE_SIDE),
                                    lambda image, position=position, row=row: self._on_image_decoded(row, position,
                                                                                                      image))
            texts = [f"<b>{name}</b>: {_escape(text)}" for name, text in samples.field_texts[row].items()]
            others = [f"<b>{name}</b>: {_escape(values[name])}" for name, kind in samples.kinds.items()
                      if kind in ("audio", "array") and values.get(name)]
            self.text.setText("<br><br>".join(texts + others))
        classes = top_classes({net: probs[row] for net, probs in predictions.probs.items()})
        self.bars.set_values([class_names[c] for c in classes],
                             {net: probs[row, classes] for net, probs in predictions.probs.items()})

    def _set_images(self, names: list[str]) -> None:
        while self.images.count():
            widget = self.images.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for name in names:
            label = QLabel(f"{name}\n(loading)")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setFixedSize(IMAGE_SIDE, IMAGE_SIDE)
            label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            label.setToolTip(name)
            self.images.addWidget(label)

    def _on_image_decoded(self, row: int, position: int, image: QImage) -> None:
        if row != self.row or position >= self.images.count():
            return
        self.images.itemAt(position).widget().setPixmap(QPixmap.fromImage(image))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
