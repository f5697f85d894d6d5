"""Results of a segmentation run: scores, per-class IoU, a gallery by IoU gap, and mask overlays.

``SegmentationPage`` shows one validation epoch's ``MaskSet`` (masks.py): a table of mIoU and pixel
accuracy per network, per-class IoU bars, a gallery sorted by how much better the teacher
segments an image than the student (per-image IoU gap), and the chosen image with its true mask
and each network's prediction drawn over it, with an opacity slider.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.assets import class_colour
from workbench.config import NETS
from workbench.data.image import decode_uint8
from workbench.engine.tasks import IGNORE_INDEX
from workbench.gui.jobs import JobRunner
from workbench.gui.results.masks import MaskSet
from workbench.gui.results.plots import GroupedBarPlot
from workbench.gui.results.run_data import SampleInfo

TILE = 96
OVERLAY_SIDE = 176
_MAX_PIXELS = 40_000_000


def overlay(image: np.ndarray, mask: np.ndarray, opacity: float) -> np.ndarray:
    """(H, W, 3) uint8: ``image`` with each class id but background (0) and ignore (255) painted in its
    colour at ``opacity``; ignored pixels are hatched grey, so that unscored edges are visible."""
    colours = np.array([QColor(class_colour(c)).getRgb()[:3] for c in range(256)], dtype=np.float64)
    painted = image.astype(np.float64)
    chosen = (mask > 0) & (mask != IGNORE_INDEX)
    painted[chosen] = (1 - opacity) * painted[chosen] + opacity * colours[mask[chosen]]
    painted[mask == IGNORE_INDEX] = (1 - opacity) * painted[mask == IGNORE_INDEX] + opacity * 160.0
    return np.clip(np.round(painted), 0, 255).astype(np.uint8)


def to_pixmap(pixels: np.ndarray, side: int) -> QPixmap:
    """A pixmap of an (H, W, 3) uint8 array, scaled to ``side`` without smoothing (pixels stay visible)."""
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.FastTransformation)


def decode_images(paths: list[str | None], size: int) -> list[np.ndarray | None]:
    """Each image as the networks saw it (resized and centre-cropped like its mask); None if unreadable."""
    images = []
    for path in paths:
        try:
            images.append(decode_uint8(path, size, False, _MAX_PIXELS) if path else None)
        except (OSError, ValueError):
            images.append(None)
    return images


class SegmentationPage(QWidget):
    """Shows a ``MaskSet``: ``show_epoch(masks, samples, class_names)``, then ``show_sample(row)``."""

    sample_shown = Signal(int)

    def __init__(self, runner: JobRunner, parent=None):
        super().__init__(parent)
        self._runner = runner
        self.masks: MaskSet | None = None
        self.samples: SampleInfo | None = None
        self.class_names: list[str] = []
        self.images: list[np.ndarray | None] = []
        self.row: int | None = None

        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(90)
        self.iou_bars = GroupedBarPlot("Per-class IoU", "IoU")
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.table)
        left.addWidget(self.iou_bars)
        left.setStretchFactor(1, 1)

        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(TILE, TILE))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setSpacing(4)
        self.gallery.setWordWrap(True)
        gallery_title = QLabel("Gallery: images where the teacher beats the student most come first "
                               "(per-image IoU, teacher minus student); each tile shows the student's mask")
        gallery_title.setWordWrap(True)

        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity_label = QLabel()
        self.title = QLabel("Click a tile to see its masks here.")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.panels: dict[str, tuple[QLabel, QLabel]] = {}
        grid = QGridLayout()
        for column, name in enumerate(("truth", *NETS)):
            picture, caption = QLabel(), QLabel(name)
            picture.setFixedSize(OVERLAY_SIDE, OVERLAY_SIDE)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(picture, 0, column)
            grid.addWidget(caption, 1, column)
            self.panels[name] = (picture, caption)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Mask opacity:"))
        opacity_row.addWidget(self.opacity, 1)
        opacity_row.addWidget(self.opacity_label)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 4, 0, 0)
        detail_layout.addWidget(self.title)
        detail_layout.addLayout(opacity_row)
        detail_layout.addLayout(grid)
        detail_layout.addWidget(self.legend)
        detail_layout.addStretch(1)
        gallery_page = QWidget()
        gallery_layout = QVBoxLayout(gallery_page)
        gallery_layout.setContentsMargins(0, 0, 0, 0)
        gallery_layout.addWidget(gallery_title)
        gallery_layout.addWidget(self.gallery, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(gallery_page)
        right.addWidget(detail)
        right.setSizes([2000, 2600])
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(left)
        body.addWidget(right)
        body.setSizes([2000, 3000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(body)
        self._on_opacity_value_changed(self.opacity.value())

        self.opacity.valueChanged.connect(self._on_opacity_value_changed)
        self.gallery.currentRowChanged.connect(self._on_gallery_current_row_changed)

    def show_epoch(self, masks: MaskSet, samples: SampleInfo, class_names: list[str]) -> None:
        self.masks, self.samples, self.class_names = masks, samples, class_names
        scores = masks.scores(class_names)
        rows = [("val_miou", "mIoU"), ("val_accuracy", "Pixel accuracy"), ("val_macro_f1", "Mean F1 (Dice)"),
                ("image_iou", "Mean per-image IoU")]
        self.table.setColumnCount(len(masks.nets))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels([net.capitalize() for net in masks.nets])
        self.table.setVerticalHeaderLabels([label for _, label in rows])
        for column, net in enumerate(masks.nets):
            for row, (key, _) in enumerate(rows):
                value = float(masks.image_iou[net].mean()) if key == "image_iou" else scores[net][key]
                item = QTableWidgetItem(f"{value:.1%}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, column, item)
        self.iou_bars.set_values(class_names, {
            net: np.array([scores[net].get(f"val_iou/{name}", np.nan) for name in class_names]) for net in masks.nets})
        self.legend.setText("Colours: " + ", ".join(
            f"<span style='color:{class_colour(c)}'>■</span> {name}" for c, name in enumerate(class_names) if c > 0)
            + ", <span style='color:#a0a0a0'>■</span> ignored (255)")
        size = int(masks.label.shape[1])
        paths = list(samples.image_paths[:masks.num_samples])
        if len(self.images) != len(paths):  # the images are the same at every epoch: decoded once per run
            self.images = [None] * len(paths)
            self._runner.submit("segmentation-images", lambda: decode_images(paths, size), self._on_images_decoded)
        self._fill_gallery()
        if self.row is not None and self.row < masks.num_samples:
            self.show_sample(self.row)

    def clear(self) -> None:
        self.masks, self.images, self.row = None, [], None
        self.gallery.clear()
        self.table.setRowCount(0)
        self.iou_bars.set_values([], {})
        for picture, _ in self.panels.values():
            picture.clear()
        self.title.setText("Click a tile to see its masks here.")

    def show_sample(self, row: int) -> None:
        masks, samples = self.masks, self.samples
        if masks is None or samples is None:
            return
        self.row = row
        texts = "; ".join(f"{name}: “{text}”" for name, text in samples.field_texts[row].items())
        ious = "   ".join(f"{net} IoU {masks.image_iou[net][row]:.2f}" for net in masks.nets)
        self.title.setText(f"<b>{samples.title(row)}</b> {texts}<br>{ious}")
        image = self.images[row] if row < len(self.images) else None
        opacity = self.opacity.value() / 100
        for name, (picture, caption) in self.panels.items():
            mask = masks.label[row] if name == "truth" else masks.masks.get(name, [None] * (row + 1))[row]
            if mask is None or image is None:
                picture.setText("(loading)" if mask is not None else "")
                caption.setText(name if mask is not None else "")
                continue
            picture.setPixmap(to_pixmap(overlay(image, mask, opacity), OVERLAY_SIDE))
            caption.setText("true mask" if name == "truth" else f"{name}: IoU {masks.image_iou[name][row]:.2f}")
        self.sample_shown.emit(row)

    def _fill_gallery(self) -> None:
        masks = self.masks
        current = self.row
        self.gallery.blockSignals(True)
        self.gallery.clear()
        shown = masks.masks.get("student", next(iter(masks.masks.values())))
        for row in masks.gap_order():
            row = int(row)
            gap = (f"gap {masks.image_iou['teacher'][row] - masks.image_iou['student'][row]:+.2f}"
                   if "teacher" in masks.masks and "student" in masks.masks else "")
            item = QListWidgetItem(gap)
            item.setData(Qt.ItemDataRole.UserRole, row)
            image = self.images[row] if row < len(self.images) else None
            if image is not None:
                item.setIcon(QIcon(to_pixmap(overlay(image, shown[row], 0.55), TILE)))
            self.gallery.addItem(item)
            if row == current:
                self.gallery.setCurrentItem(item)
        self.gallery.blockSignals(False)

    def _on_images_decoded(self, images: list[np.ndarray | None]) -> None:
        self.images = images
        if self.masks is not None:
            self._fill_gallery()
            if self.row is not None:
                self.show_sample(self.row)

    def _on_opacity_value_changed(self, value: int) -> None:
        self.opacity_label.setText(f"{value}%")
        if self.row is not None:
            self.show_sample(self.row)

    def _on_gallery_current_row_changed(self, position: int) -> None:
        item = self.gallery.item(position)
        if item is not None:
            self.show_sample(int(item.data(Qt.ItemDataRole.UserRole)))
