"""The window's message boxes: window-modal, opened without blocking, deleted when closed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def open_error_dialog(parent: QWidget, title: str, message: str, details: str, informative: str = "") -> QMessageBox:
    """A plain message with the traceback under "Show Details…"."""
    dialog = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    dialog.setObjectName("errorDialog")
    if informative:
        dialog.setInformativeText(informative)
    if details:
        dialog.setDetailedText(details)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def open_question(parent: QWidget, name: str, title: str, question: str) -> QMessageBox:
    """A Yes/No question whose default is No; its ``finished(int)`` says the answer."""
    box = QMessageBox(QMessageBox.Icon.Question, title, question,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName(name)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
