"""Form editors built from the config's field metadata (help, choices, low, high).

Tooltips, bounds and choices come from the ``option(...)`` metadata (``workbench.options``) of
the config's fields and the loss terms' options, so the form, the commented TOML and the
validation messages say the same thing. Bounds the metadata marks as open (``low_open``) stay
reachable in the editor on purpose: validation (``engine.config_validation``) then explains why the
value cannot run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from workbench.options import help_text

INT_LIMIT = 2**31 - 1
FLOAT_LIMIT = 1e9


# Labels that a plain "underscores to spaces" would leave cryptic.
LABELS = {"lr": "Learning rate", "val_fraction": "Validation fraction", "cache_mb": "Image cache (MiB)",
          "embed_dim": "Embedding size", "fusion_hidden": "Fusion width", "dim": "Dimension",
          "grad_clip": "Gradient clip", "runs_dir": "Runs folder", "name": "Run name", "tensorboard": "TensorBoard",
          "mlflow_uri": "MLflow URI", "mlflow_experiment": "MLflow experiment"}


def humanize(name: str) -> str:
    """``early_stopping_patience`` -> ``Early stopping patience``."""
    if name in LABELS:
        return LABELS[name]
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


class CompactDoubleSpinBox(QDoubleSpinBox):
    """Shows 0.2 and 1e-05 rather than 0.200000 and 0.000010, and accepts both notations."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(10)  # precision kept; the text shows only the digits that matter
        self.setMinimumWidth(110)  # the size hint counts on fixed decimals and would squeeze "0.9"

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt's name)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int) -> object:
        try:
            float(text)
            return QValidator.State.Acceptable, text, position
        except ValueError:
            partial = text.strip() in ("", "-", ".", "-.") or text.lower().endswith(("e", "e-", "e+"))
            return (QValidator.State.Intermediate if partial else QValidator.State.Invalid), text, position


class ValueEditor(QObject):
    """One editor widget with a uniform value interface, whatever widget it is."""

    edited = Signal(object)  # the new value, after a user's (or a test's) change

    def __init__(self, widget: QWidget, read: Callable[[], Any], write: Callable[[Any], None],
                 change_signal: Any, tooltip: str):
        super().__init__(widget)
        self.widget = widget
        self._read, self._write = read, write
        self._updating = False
        self.tooltip = tooltip
        widget.setToolTip(tooltip)
        change_signal.connect(self._on_widget_changed)

    def value(self) -> Any:
        return self._read()

    def set_value(self, value: Any) -> None:
        """Show ``value`` without reporting it as an edit."""
        self._updating = True
        try:
            self._write(value)
        finally:
            self._updating = False

    def mark_invalid(self, reason: str | None) -> None:
        self.widget.setProperty("invalid", bool(reason))  # the style sheet's *[invalid="true"] rule
        self.widget.style().unpolish(self.widget)  # a changed property restyles only when polished again
        self.widget.style().polish(self.widget)
        self.widget.setToolTip(f"<b>{reason}</b><br>{self.tooltip}" if reason else self.tooltip)
        self.widget.setProperty("invalid_reason", reason or "")

    def _on_widget_changed(self, *_args: Any) -> None:
        if not self._updating:
            self.edited.emit(self._read())


def make_editor(value: Any, meta: dict | None = None, parent: QWidget | None = None) -> ValueEditor:
    """An editor suited to ``value``'s type and the field's metadata."""
    meta = meta or {}
    tooltip = help_text(meta)
    if meta.get("choices"):
        combo = QComboBox(parent)
        combo.addItems([str(choice) for choice in meta["choices"]])
        combo.setCurrentText(str(value))
        return ValueEditor(combo, combo.currentText, combo.setCurrentText, combo.currentTextChanged, tooltip)
    if isinstance(value, bool):
        box = QCheckBox(parent)
        box.setChecked(value)
        return ValueEditor(box, box.isChecked, box.setChecked, box.toggled, tooltip)
    if isinstance(value, int):
        spin = QSpinBox(parent)
        spin.setRange(int(meta["low"]) if meta.get("low") is not None else -INT_LIMIT,
                      int(meta["high"]) if meta.get("high") is not None else INT_LIMIT)
        spin.setValue(value)
        spin.setKeyboardTracking(False)
        return ValueEditor(spin, spin.value, spin.setValue, spin.valueChanged, tooltip)
    if isinstance(value, float):
        spin = CompactDoubleSpinBox(parent)
        spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        spin.setRange(float(meta["low"]) if meta.get("low") is not None else -FLOAT_LIMIT,
                      float(meta["high"]) if meta.get("high") is not None else FLOAT_LIMIT)
        spin.setValue(value)
        spin.setKeyboardTracking(False)
        return ValueEditor(spin, spin.value, spin.setValue, spin.valueChanged, tooltip)
    if isinstance(value, (list, tuple)):  # encoder params such as channels = [32, 64]
        line = QLineEdit(", ".join(str(v) for v in value), parent)
        return ValueEditor(line, lambda: _parse_int_list(line.text()),
                           lambda v: line.setText(", ".join(str(x) for x in v)), line.editingFinished, tooltip)
    line = QLineEdit(str(value), parent)
    return ValueEditor(line, line.text, line.setText, line.editingFinished, tooltip)


def _parse_int_list(text: str) -> list[int] | str:
    """``"32, 64"`` -> ``[32, 64]``; anything else is kept as text so that validation can name it."""
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        return text


class DataclassForm(QWidget):
    """A form for the scalar fields of one config dataclass; edits write straight into the object."""

    edited = Signal(str)  # dotted key of the edited field

    def __init__(self, obj: Any, prefix: str, names: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._obj = obj
        self.prefix = prefix
        self.layout_ = QFormLayout(self)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.editors: dict[str, ValueEditor] = {}
        for f in dataclasses.fields(obj):
            if names is not None and f.name not in names:
                continue
            value = getattr(obj, f.name)
            if isinstance(value, (dict, list)) or dataclasses.is_dataclass(value):
                continue  # structured values have their own editors (fields, encoders)
            editor = make_editor(value, dict(f.metadata), self)
            editor.widget.setObjectName(f"{prefix}.{f.name}")
            editor.edited.connect(self._make_writer(f.name))
            self.layout_.addRow(humanize(f.name), editor.widget)
            self.editors[f"{prefix}.{f.name}"] = editor

    def _make_writer(self, name: str) -> Callable[[Any], None]:
        def write(value: Any) -> None:
            setattr(self._obj, name, value)
            self.edited.emit(f"{self.prefix}.{name}")

        return write

    def set_object(self, obj: Any) -> None:
        """Edit another instance (a newly opened config); the editors show its values."""
        self._obj = obj
        for key, editor in self.editors.items():
            editor.set_value(getattr(obj, key.rsplit(".", 1)[1]))

    def editor(self, name: str) -> ValueEditor:
        return self.editors[f"{self.prefix}.{name}"]
