"""Sample detail: the sample's image(s) and text, and the top-k probabilities of each network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from workbench.gui.results.gallery import decode_scaled
from workbench.gui.jobs import JobRunner
from workbench.gui.results.plots import GroupedBarPlot
from workbench.gui.results.run_data import SampleInfo
from workbench.gui.results.selection import PredictionSet

TOP_K = 5
IMAGE_SIDE = 128  # with its caption, the detail fits a 1280x720 window beside the gallery


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
        self.task = "classification"  # a VQA run's title shows the question, the answer and top-3 answers
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
        if self.task == "vqa":  # the question is the point: each network's three likeliest answers
            guesses = "<br>".join(
                f"{net}: " + ", ".join(f"{_escape(class_names[c])} ({predictions.probs[net][row, c]:.0%})"
                                       for c in np.argsort(-predictions.probs[net][row], kind="stable")[:3])
                for net in predictions.nets)
            question = samples.field_texts[row].get("question", "")
            self.title.setText(f"<b>{_escape(samples.title(row))}</b> — <b>{_escape(question)}</b> "
                               f"true answer: <b>{_escape(label)}</b><br>{guesses}")
        else:
            guesses = "   ".join(f"{net}: {class_names[int(predictions.predicted[net][row])]} "
                                   f"({predictions.confidence[net][row]:.0%})" for net in predictions.nets)
            self.title.setText(f"<b>{_escape(samples.title(row))}</b> — true: <b>{label}</b>   {guesses}")
        if new_sample:
            values = samples.values[row]
            # Images, and arrays drawn as images: each captioned with its field and the networks reading it.
            shown = [name for name, kind in samples.kinds.items() if kind in ("image", "array") and values.get(name)]
            self._set_images([samples.field_caption(name) for name in shown])
            for position, name in enumerate(shown):
                path, kind = values[name], samples.kinds[name]
                decode = (lambda path=path: decode_scaled(path, IMAGE_SIDE)) if kind == "image" else (
                    lambda path=path: array_picture(path, IMAGE_SIDE))
                self._runner.submit(("detail-image", position), decode,
                                    lambda image, position=position, row=row: self._on_image_decoded(row, position,
                                                                                                      image))
            texts = [f"<b>{_escape(samples.field_caption(name))}</b>: {_escape(text)}"
                     for name, text in samples.field_texts[row].items()]
            others = [f"<b>{_escape(samples.field_caption(name))}</b>: {_escape(Path(values[name]).name)}"
                      for name, kind in samples.kinds.items() if kind == "audio" and values.get(name)]
            self.text.setText("<br><br>".join(texts + others))
        classes = top_classes({net: probs[row] for net, probs in predictions.probs.items()})
        self.bars.set_values([class_names[c] for c in classes],
                             {net: probs[row, classes] for net, probs in predictions.probs.items()})

    def _set_images(self, names: list[str]) -> None:
        while self.images.count():
            widget = self.images.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for caption in names:
            tile = QWidget()
            column = QVBoxLayout(tile)
            column.setContentsMargins(0, 0, 0, 0)
            picture = QLabel("(loading)")
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setFixedSize(IMAGE_SIDE, IMAGE_SIDE)
            text = QLabel(caption)  # which field, and which network reads it
            text.setAlignment(Qt.AlignmentFlag.AlignCenter)
            text.setWordWrap(True)
            text.setFixedWidth(IMAGE_SIDE)
            column.addWidget(picture)
            column.addWidget(text)
            tile.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self.images.addWidget(tile)

    def picture(self, position: int) -> QLabel:
        """The label holding the ``position``-th picture."""
        return self.images.itemAt(position).widget().layout().itemAt(0).widget()

    def image_captions(self) -> list[str]:
        """The captions under the shown pictures (for tests)."""
        return [self.images.itemAt(i).widget().layout().itemAt(1).widget().text() for i in range(self.images.count())]

    def _on_image_decoded(self, row: int, position: int, image: QImage | str) -> None:
        if row != self.row or position >= self.images.count():
            return
        picture = self.picture(position)
        if isinstance(image, str):  # an array that cannot be drawn: what it is instead
            picture.setText(image)
            picture.setWordWrap(True)
        else:
            picture.setPixmap(QPixmap.fromImage(image))


def array_picture(path: str, side: int) -> QImage | str:
    """A ``.npy`` array as a grey picture (2-D, or 3-D with the channels first or last, min to max
    of the sample), scaled to ``side``; anything else as a line saying its shape and range."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    values = np.asarray(array, dtype=np.float64)
    described = f"{Path(path).name}\nshape {tuple(array.shape)}, {array.dtype}"
    if values.size:
        described += f"\nmin {np.nanmin(values):.3g}, max {np.nanmax(values):.3g}"
    if values.ndim == 3 and min(values.shape) <= 4:  # channels: their mean
        values = values.mean(axis=int(np.argmin(values.shape)))
    if values.ndim != 2 or min(values.shape) < 2:
        return described
    low, high = np.nanmin(values), np.nanmax(values)
    grey = np.nan_to_num((values - low) / (high - low) * 255 if high > low else np.zeros_like(values))
    grey = np.ascontiguousarray(grey.astype(np.uint8))
    image = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1], QImage.Format.Format_Grayscale8).copy()
    return image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
