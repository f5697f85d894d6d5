"""The Fields box says which inputs the student gets, and warns where the default pick is ambiguous."""

from __future__ import annotations

from workbench.data.index import FieldInfo
from workbench.gui.panels.dataset_widgets import FieldPicker, student_field_hint


def test_the_hint_warns_when_the_dataset_has_several_fields_of_the_students_kind():
    fields = {"clean": FieldInfo("clean", "image"), "degraded": FieldInfo("degraded", "image"),
              "caption": FieldInfo("caption", "text", "inline")}
    hint = student_field_hint(fields, ["clean"])
    assert "<b>clean</b>" in hint
    assert "2 image fields (clean, degraded)" in hint and "first image field" in hint
    assert "first" not in student_field_hint(fields, ["caption"])  # one text field: nothing ambiguous
    assert student_field_hint(fields, []).startswith("Tick the fields the student sees")


def test_the_hint_follows_the_ticks_in_the_field_picker(make_window, make_tiny_config):
    window = make_window(make_tiny_config())
    panel = window.data_panel
    student = window.config.student.fields
    assert f"<b>{', '.join(student)}</b>" in panel.field_hint.text()

    for field in student:
        panel.field_picker.set_checked(field, FieldPicker.STUDENT_COLUMN, False)

    assert panel.field_hint.text().startswith("Tick the fields the student sees")
    assert window.config.student.fields == []
