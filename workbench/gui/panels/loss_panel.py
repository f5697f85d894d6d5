"""Loss panel: every objective term with its switch, weight and options, and the live formula line."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from workbench.config import ExperimentConfig
from workbench.engine.losses import describe_objective
from workbench.registry import loss_class
from workbench.gui.forms import DataclassForm, ValueEditor
from workbench.gui.panels.base import ConfigPanel

DEFAULT_ON_WEIGHT = 1.0


class TermEditor(QGroupBox):
    """One term: the group's check box switches it on and off; off means weight 0 (its options grey out)."""

    edited = Signal(str)

    def __init__(self, name: str, term, parent: QWidget | None = None):
        super().__init__(loss_class(name).title, parent)  # the term's own declaration
        self.name = name
        self.term = term
        self._last_weight = term.weight or DEFAULT_ON_WEIGHT
        self.setObjectName(f"loss.{name}")
        self.setCheckable(True)
        weight_help = next(f.metadata["help"] for f in dataclasses.fields(term) if f.name == "weight")
        self.setToolTip(weight_help)  # the one-sentence "what it does", from the config
        self.form = DataclassForm(term, f"loss.{name}", parent=self)
        self.form.edited.connect(self._on_form_edited)
        description = QLabel(weight_help, self)
        description.setWordWrap(True)
        description.setProperty("role", "muted")  # coloured by the style sheet
        layout = QVBoxLayout(self)
        layout.addWidget(description)
        layout.addWidget(self.form)
        layout.addStretch(1)  # boxes in a row share a height; keep their text at the top
        self.toggled.connect(self._on_toggled)
        self._show_state()

    def set_term(self, term) -> None:
        self.term = term
        self._last_weight = term.weight or self._last_weight
        self.form.set_object(term)
        self._show_state()

    def _show_state(self) -> None:
        blocked = self.blockSignals(True)
        self.setChecked(self.term.weight > 0)
        self.blockSignals(blocked)

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        if on:
            self.term.weight = self._last_weight
        else:
            self._last_weight = self.term.weight or self._last_weight
            self.term.weight = 0.0
        self.form.editor("weight").set_value(self.term.weight)
        self.edited.emit(f"loss.{self.name}.weight")

    @Slot(str)
    def _on_form_edited(self, key: str) -> None:
        if key.endswith(".weight"):
            if self.term.weight > 0:
                self._last_weight = self.term.weight
            blocked = self.blockSignals(True)
            self.setChecked(self.term.weight > 0)
            self.blockSignals(blocked)
        self.edited.emit(key)


class LossPanel(ConfigPanel):
    """Edits ``config.loss``; the formula line follows every edit."""

    title, sections = "Loss", ("loss",)
    COLUMNS = 2

    def __init__(self, config: ExperimentConfig, parent: QWidget | None = None):
        super().__init__(parent)
        self.config = config
        self.formula_label = QLabel(self)
        self.formula_label.setObjectName("formula")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.formula_label.setFont(font)
        self.formula_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint = QLabel("Tick a term to use it. The student minimises the weighted sum; "
                      "hover over a term or an option for what it does.", self)
        hint.setWordWrap(True)
        self.term_editors: dict[str, TermEditor] = {}
        self.grid = QGridLayout()
        for column in range(self.COLUMNS):
            self.grid.setColumnStretch(column, 1)
        self._add_term_editors()
        inner = QWidget(self)
        layout = QVBoxLayout(inner)
        layout.addWidget(self.formula_label)
        layout.addWidget(hint)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        QVBoxLayout(self).addWidget(scroll)
        self._show_formula()

    def _add_term_editors(self) -> None:
        """One editor per registered term (built-ins, then plug-ins), two to a row."""
        for i, (name, term) in enumerate(self.config.loss.terms().items()):
            editor = TermEditor(name, term, self)
            editor.edited.connect(self._on_term_edited)
            self.grid.addWidget(editor, i // self.COLUMNS, i % self.COLUMNS)
            self.term_editors[name] = editor

    @property
    def editors(self) -> dict[str, ValueEditor]:
        return {key: editor for term in self.term_editors.values() for key, editor in term.form.editors.items()}

    def set_config(self, config: ExperimentConfig) -> None:
        self.config = config
        if list(config.loss.terms()) != list(self.term_editors):  # a plug-in added (or a config dropped) terms
            for editor in self.term_editors.values():
                self.grid.removeWidget(editor)
                editor.hide()  # deleteLater waits for the event loop; until then it must not show
                editor.deleteLater()
            self.term_editors = {}
            self._add_term_editors()
        else:
            for name, term in config.loss.terms().items():
                self.term_editors[name].set_term(term)
        self._show_formula()

    @Slot(str)
    def _on_term_edited(self, key: str) -> None:
        self._show_formula()
        self.edited.emit(key)

    def _show_formula(self) -> None:
        try:
            self.formula_label.setText(describe_objective(self.config.loss))
        except Exception as error:  # e.g. a negative weight typed in: say why instead of a formula
            self.formula_label.setText(f"L = ?  ({error})")
