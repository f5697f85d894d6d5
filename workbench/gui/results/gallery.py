"""The prediction gallery: a list model over an index array, a painting delegate, lazy thumbnails.

The model holds ``rows`` (positions into the epoch's prediction arrays, in display
order, from :func:`selection.select`), so filtering and sorting 10,000 samples is a
numpy call and one model reset. Nothing per tile is stored: the delegate reads the
label, predictions and confidences straight from the arrays when it paints. A
thumbnail is decoded in a worker thread the first time its tile is painted and kept
in a bounded cache; until then the tile shows a grey box.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PIL import Image
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from workbench.assets import ui_colour
from workbench.gui.jobs import JobRunner
from workbench.gui.results.run_data import SampleInfo
from workbench.gui.results.selection import PredictionSet

THUMB_SIZE = 80
TILE_SIZE = QSize(156, 150)
RIGHT = QColor(ui_colour("right"))
WRONG = QColor(ui_colour("wrong"))
_CACHE_LIMIT = 3000  # thumbnails kept (80x80 RGB: about 60 MB at most)


def decode_scaled(path: str, side: int = THUMB_SIZE) -> QImage:
    """Decode an image file to an RGB ``QImage`` that fits ``side`` (safe off the GUI thread, unlike QPixmap).

    Small images are scaled up with nearest-neighbour, so that a 32-pixel sample stays visible and sharp.
    """
    with Image.open(path) as image:
        image.draft("RGB", (side, side))  # JPEG: decode at reduced scale directly
        image = image.convert("RGB")
        scale = side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR)
        return QImage(image.tobytes(), image.width, image.height, 3 * image.width,
                      QImage.Format.Format_RGB888).copy()


class GalleryModel(QAbstractListModel):
    """Tiles of the selected samples; ``set_rows`` replaces the selection in one reset."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.predictions: PredictionSet | None = None
        self.samples: SampleInfo | None = None
        self.class_names: list[str] = []
        self.rows = np.zeros(0, dtype=np.int64)
        self._position = np.zeros(0, dtype=np.int64)  # sample row -> display position, -1 if hidden
        self._thumbnails: OrderedDict[int, QPixmap] = OrderedDict()
        self._unreadable: set[int] = set()  # images that failed to decode: not asked for again at every paint
        self._loader = JobRunner("gallery-thumbnails", self, lifo=True, max_pending=256)

    # -- data in

    def set_data(self, predictions: PredictionSet, samples: SampleInfo, class_names: list[str],
                 rows: np.ndarray) -> None:
        """A new epoch (or run): keeps decoded thumbnails when the samples are the same."""
        if samples is not self.samples:
            self._thumbnails.clear()
            self._unreadable.clear()
            self._loader.cancel_all()
        self.predictions, self.samples, self.class_names = predictions, samples, class_names
        self.set_rows(rows)

    def clear(self) -> None:
        """No run shown (another is loading): no tiles."""
        self._loader.cancel_all()
        self.beginResetModel()
        self.predictions, self.samples, self.class_names = None, None, []
        self.rows = np.zeros(0, dtype=np.int64)
        self._position = np.zeros(0, dtype=np.int64)
        self._thumbnails.clear()
        self._unreadable.clear()
        self.endResetModel()

    def set_rows(self, rows: np.ndarray) -> None:
        self.beginResetModel()
        self.rows = np.asarray(rows, dtype=np.int64)
        size = self.predictions.num_samples if self.predictions is not None else 0
        self._position = np.full(size, -1, dtype=np.int64)
        self._position[self.rows] = np.arange(len(self.rows))
        self.endResetModel()

    def shutdown(self) -> None:
        self._loader.shutdown()

    # -- Qt model interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.samples is None:
            return None
        row = int(self.rows[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            return self.samples.ids[row]
        if role == Qt.ItemDataRole.ToolTipRole:
            text = self.samples.texts[row]
            return self.samples.ids[row] + (f"\n{text[:300]}" if text else "")
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    # -- what the delegate paints

    def sample_row(self, position: int) -> int:
        return int(self.rows[position])

    def thumbnail(self, row: int) -> QPixmap | None:
        """The cached thumbnail of a sample, or None (and a decode is queued) while it is not ready."""
        pixmap = self._thumbnails.get(row)
        if pixmap is not None:
            self._thumbnails.move_to_end(row)
            return pixmap
        path = self.samples.image_paths[row] if self.samples is not None else None
        if path and row not in self._unreadable and not self._loader.is_pending(row):
            self._loader.submit(row, lambda: decode_scaled(path), lambda image, row=row: self._store(row, image),
                                lambda message, row=row: self._unreadable.add(row))
        return None

    def _store(self, row: int, image: QImage) -> None:
        self._thumbnails[row] = QPixmap.fromImage(image)
        while len(self._thumbnails) > _CACHE_LIMIT:
            self._thumbnails.popitem(last=False)
        if row < len(self._position) and self._position[row] >= 0:
            index = self.index(int(self._position[row]))
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class TileDelegate(QStyledItemDelegate):
    """Paints a tile: thumbnail (or caption snippet), true label, teacher and student predictions."""

    def __init__(self, model: GalleryModel, parent=None):
        super().__init__(parent)
        self._model = model
        self._small = QFont()
        self._small.setPointSizeF(max(7.0, self._small.pointSizeF() - 1))
        self._bold = QFont(self._small)
        self._bold.setBold(True)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return TILE_SIZE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model = self._model
        ps, samples = model.predictions, model.samples
        if ps is None or samples is None:
            return
        row = model.sample_row(index.row())
        rect = option.rect.adjusted(3, 3, -3, -3)
        painter.save()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, option.palette.color(QPalette.ColorRole.Highlight).lighter(170) if selected
                         else option.palette.color(QPalette.ColorRole.Base))
        border_net = "student" if "student" in ps.probs else ps.nets[0]
        right = bool(ps.correct[border_net][row])
        painter.setPen(QPen(RIGHT if right else WRONG, 2))
        painter.drawRect(rect)

        thumb_rect = QRect(rect.x() + (rect.width() - THUMB_SIZE) // 2, rect.y() + 4, THUMB_SIZE, THUMB_SIZE)
        if samples.image_paths[row]:
            pixmap = model.thumbnail(row)
            if pixmap is None:
                painter.fillRect(thumb_rect, QColor(ui_colour("placeholder")))
            else:
                target = QRect(0, 0, pixmap.width(), pixmap.height())
                target.moveCenter(thumb_rect.center())
                painter.drawPixmap(target, pixmap)
        else:
            painter.setFont(self._small)
            painter.setPen(option.palette.color(QPalette.ColorRole.Text))
            painter.drawText(thumb_rect.adjusted(-30, 0, 30, 0),
                             int(Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignTop), samples.texts[row][:160])

        names = model.class_names
        y = thumb_rect.bottom() + 4
        line = 15
        text_rect = QRect(rect.x() + 5, y, rect.width() - 10, line)
        painter.setFont(self._bold)
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         painter.fontMetrics().elidedText(f"true: {names[ps.label[row]]}", Qt.TextElideMode.ElideRight,
                                                          text_rect.width()))
        painter.setFont(self._small)
        for net, prefix in (("teacher", "T"), ("student", "S")):
            if net not in ps.probs:
                continue
            text_rect.translate(0, line)
            predicted = int(ps.predicted[net][row])
            painter.setPen(RIGHT if ps.correct[net][row] else WRONG)
            text = f"{prefix}: {names[predicted]} {ps.confidence[net][row]:.0%}"
            painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, text_rect.width()))
        painter.restore()


class GalleryView(QListView):
    """A wrapping grid of tiles; clicking or moving to a tile reports its sample row."""

    sample_selected = Signal(int)

    def __init__(self, model: GalleryModel, parent=None):
        super().__init__(parent)
        self.setModel(model)
        self.setItemDelegate(TileDelegate(model, self))
        # ListMode + wrapping with uniform sizes lays out in O(1) per row; IconMode would
        # keep a geometry record per item and re-layout all 10,000 on every reset.
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setGridSize(TILE_SIZE)
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(30)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.selectionModel().currentChanged.connect(self._on_selection_current_changed)
        model.modelReset.connect(self._on_model_reset)

    @Slot(QModelIndex, QModelIndex)
    def _on_selection_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.sample_selected.emit(self.model().sample_row(current.row()))

    @Slot()
    def _on_model_reset(self) -> None:
        # The selection model is reset with the model; its signal stays connected.
        self.scrollToTop()

