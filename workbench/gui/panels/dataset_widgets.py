"""The Data tab's views of one checked dataset: its problems, its fields with the teacher's and the
student's choice, and a few of its samples."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QAction, QImage, QKeySequence, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

PREVIEW_CELL_WIDTH = 140  # captions wrap inside; the grid never widens the panel


class ProblemsTable(QTableView):
    """Severity, file and reason of every problem; sortable, and Ctrl+C copies the selected rows."""

    COLUMNS = ("Severity", "File", "Reason")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source_model = QStandardItemModel(0, len(self.COLUMNS), self)
        self.source_model.setHorizontalHeaderLabels(list(self.COLUMNS))
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self.source_model)
        self.setModel(proxy)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.setColumnWidth(1, 220)
        copy = QAction("Copy", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        self.addAction(copy)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    def set_problems(self, problems: list) -> None:
        self.source_model.removeRows(0, self.source_model.rowCount())
        for problem in problems:
            self.source_model.appendRow([QStandardItem(problem.severity), QStandardItem(problem.path),
                                         QStandardItem(problem.reason)])

    def copy_selection(self) -> str:
        """Selected rows (all rows when none is selected) as tab-separated text, on the clipboard."""
        model = self.model()
        rows = sorted({index.row() for index in self.selectionModel().selectedIndexes()}) or range(model.rowCount())
        lines = ["\t".join(model.index(row, col).data() for col in range(model.columnCount())) for row in rows]
        text = "\n".join(lines)
        QApplication.clipboard().setText(text)
        return text


class FieldPicker(QTableWidget):
    """Each dataset field with its kind and source, and whether the teacher and the student see it."""

    selection_changed = Signal(list, list)  # teacher fields, student fields
    TEACHER_COLUMN, STUDENT_COLUMN = 3, 4

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["Field", "Type", "Source", "Teacher", "Student"])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeaderItem(self.TEACHER_COLUMN).setToolTip("Fields the teacher network sees (fused).")
        self.horizontalHeaderItem(self.STUDENT_COLUMN).setToolTip("Fields the student network sees.")
        self._filling = False
        self.itemChanged.connect(self._on_item_changed)

    def set_fields(self, fields: dict, teacher: list[str], student: list[str]) -> None:
        self._filling = True
        self.setRowCount(len(fields))
        for row, info in enumerate(fields.values()):
            shape = f" {tuple(info.shape)}" if info.shape else ""
            kind = f"{info.kind}{shape}{' (grayscale)' if info.grayscale else ''}"
            for col, text in enumerate((info.name, kind, info.source)):
                self.setItem(row, col, QTableWidgetItem(text))
            for col, chosen in ((self.TEACHER_COLUMN, teacher), (self.STUDENT_COLUMN, student)):
                item = QTableWidgetItem()
                item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                item.setCheckState(Qt.CheckState.Checked if info.name in chosen else Qt.CheckState.Unchecked)
                self.setItem(row, col, item)
        self.setFixedHeight(self.horizontalHeader().height() + 6 + sum(self.rowHeight(r) for r in range(len(fields))))
        self._filling = False

    def chosen(self, column: int) -> list[str]:
        return [self.item(row, 0).text() for row in range(self.rowCount())
                if self.item(row, column).checkState() == Qt.CheckState.Checked]

    def set_checked(self, field: str, column: int, checked: bool) -> None:
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == field:
                self.item(row, column).setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    @Slot(QTableWidgetItem)
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() in (self.TEACHER_COLUMN, self.STUDENT_COLUMN):
            self.selection_changed.emit(self.chosen(self.TEACHER_COLUMN), self.chosen(self.STUDENT_COLUMN))


def student_field_hint(fields: dict, student: list[str]) -> str:
    """What the Fields box says under the picker: which inputs the student gets, and, where the dataset has
    several fields of that kind (a clean and a degraded image, RGB and depth), that the default is only the
    first of them, so that nobody distils into the wrong input by accident."""
    if not student:
        return "Tick the fields the student sees: the inputs it will have when it is deployed."
    text = f"The student sees <b>{', '.join(student)}</b>: tick the inputs it will have when it is deployed."
    kind = fields[student[0]].kind if student[0] in fields else None
    same_kind = [name for name, info in fields.items() if info.kind == kind]
    if len(same_kind) > 1:
        text += (f" This dataset has {len(same_kind)} {kind} fields ({', '.join(same_kind)}); a new dataset's "
                 f"student gets the first {kind} field, which may not be the one you mean.")
    return text


class PreviewGrid(QWidget):
    """A few paired samples: thumbnail, caption and label, in as many columns as its width holds (at most
    ``COLUMNS``), so that it never widens the panel: at 1280x720 six columns needed a horizontal scrollbar."""

    COLUMNS = 6

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)  # its minimum is one column's
        self.cells: list[QWidget] = []
        self._columns = 0  # columns the cells are arranged in now

    def minimumSizeHint(self) -> QSize:
        return QSize(PREVIEW_CELL_WIDTH, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def set_samples(self, previews: list) -> None:
        for cell in self.cells:
            self.grid.removeWidget(cell)
            cell.deleteLater()
        self.cells = []
        for preview in previews:
            cell = QFrame(self)
            cell.setFrameShape(QFrame.Shape.StyledPanel)
            cell.setFixedWidth(PREVIEW_CELL_WIDTH)
            layout = QVBoxLayout(cell)
            picture = QLabel(cell)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setMinimumHeight(64)
            if preview.thumbnail is not None:
                picture.setPixmap(_pixmap(preview.thumbnail).scaled(
                    64, 64, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
            else:
                picture.setText("(no image)")
            caption = QLabel(preview.caption or "(no caption)", cell)
            caption.setWordWrap(True)
            caption.setToolTip(preview.sample_id)
            label = QLabel(f"<b>{preview.label}</b>", cell)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            for widget in (picture, label, caption):
                layout.addWidget(widget)
            self.cells.append(cell)
        self._columns = 0
        self._arrange()

    def _arrange(self) -> None:
        spacing = max(0, self.grid.horizontalSpacing())
        columns = max(1, min(self.COLUMNS, (self.width() + spacing) // (PREVIEW_CELL_WIDTH + spacing)))
        if columns == self._columns:
            return
        self._columns = columns
        for cell in self.cells:
            self.grid.removeWidget(cell)
        for i, cell in enumerate(self.cells):
            self.grid.addWidget(cell, i // columns, i % columns)


def _pixmap(array: np.ndarray) -> QPixmap:
    height, width, _ = array.shape
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage must not outlive the numpy buffer
