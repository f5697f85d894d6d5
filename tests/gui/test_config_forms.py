"""The forms edit the config; files round-trip through the window; invalid values block Start."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import QComboBox

from workbench.config import ExperimentConfig, config_to_dict, load_config, save_config


def perturbed(config: ExperimentConfig) -> ExperimentConfig:
    """A copy with every scalar value (encoder parameters included) changed to another valid value."""
    changed = config.copy()

    def change(obj: Any) -> None:
        for f in dataclasses.fields(obj):
            value, meta = getattr(obj, f.name), f.metadata
            if dataclasses.is_dataclass(value):
                change(value)
            elif meta.get("choices"):
                choices = meta["choices"]
                setattr(obj, f.name, choices[(choices.index(value) + 1) % len(choices)])
            elif isinstance(value, bool):
                setattr(obj, f.name, not value)
            elif isinstance(value, int):
                high = meta.get("high")
                setattr(obj, f.name, value + 1 if high is None or value + 1 <= high else value - 1)
            elif isinstance(value, float):
                high = meta.get("high")
                new = value + 0.05 if high is None or value + 0.05 <= high else value / 2
                setattr(obj, f.name, round(new, 6))
            elif isinstance(value, str) and f.name not in ("root", "checkpoint", "device", "runs_dir"):
                setattr(obj, f.name, f"{value}x")

    change(changed.data)
    for term in changed.loss.terms().values():
        change(term)
    change(changed.train)
    changed.train.device = "cpu"
    for network in (changed.teacher, changed.student):
        for name in ("fusion_hidden", "embed_dim"):
            setattr(network, name, getattr(network, name) + 1)
        network.dropout = 0.25
        for encoder in network.encoders.values():
            encoder.params = {k: v + 1 if isinstance(v, int) and not isinstance(v, bool) else v
                              for k, v in encoder.params.items()}
    return changed


def test_config_file_round_trips_every_field_through_the_forms(make_window, make_tiny_config, tmp_path, qtbot):
    window = make_window(make_tiny_config())
    original = perturbed(window.config)
    first = tmp_path / "first.toml"
    save_config(original, first)

    window.document.open(first)
    qtbot.waitUntil(lambda: not window.data_panel.is_checking() and not window.model_panel.is_counting(),
                    timeout=20_000)
    assert window.windowTitle().startswith("first.toml")
    assert not window.isWindowModified()
    for key, editor in window.editors().items():  # every form editor shows the file's value
        node: Any = window.config
        for part in key.split("."):
            node = node.params[part] if hasattr(node, "params") and part in node.params else (
                node[part] if isinstance(node, dict) else getattr(node, part))
        assert editor.value() == node, key

    second = tmp_path / "second.toml"
    assert window.file_menu.save(second)
    assert config_to_dict(load_config(second)) == config_to_dict(load_config(first))


def test_an_edit_marks_the_title_and_reaches_the_saved_file(make_window, make_tiny_config, tmp_path):
    window = make_window(make_tiny_config())
    path = tmp_path / "edited.toml"
    window.file_menu.save(path)
    assert not window.isWindowModified()

    window.training_panel.editors["train.lr"].widget.setValue(0.02)
    window.loss_panel.term_editors["feature"].setChecked(True)
    distance = window.loss_panel.term_editors["feature"].form.editor("distance").widget
    assert isinstance(distance, QComboBox)
    distance.setCurrentText("mse")

    assert window.isWindowModified()
    assert "L = 1.0·CE + 1.0·KD(T=4) + 1.0·Feature(mse)" in window.loss_panel.formula_label.text()
    window.file_menu.save()
    saved = load_config(path)
    assert saved.train.lr == 0.02
    assert (saved.loss.feature.weight, saved.loss.feature.distance) == (1.0, "mse")


def test_an_invalid_value_disables_start_with_its_reason(make_window, make_tiny_config):
    window = make_window(make_tiny_config())
    assert window.start_action.isEnabled()
    lr = window.training_panel.editors["train.lr"]

    lr.widget.setValue(0.0)

    assert not window.start_action.isEnabled()
    assert "train.lr" in window.run_toolbar.start_reason.text() and "greater than 0" in window.run_toolbar.start_reason.text()
    assert "greater than 0" in lr.widget.property("invalid_reason")
    assert window.tabs.tabText(3) == "Training ⚠"
    assert not window.start_run()

    lr.widget.setValue(0.001)
    assert window.start_action.isEnabled()
    assert not lr.widget.property("invalid_reason")
    assert window.tabs.tabText(3) == "Training"


def test_switching_every_loss_term_off_names_the_reason(make_window, make_tiny_config):
    window = make_window(make_tiny_config())
    for editor in window.loss_panel.term_editors.values():
        editor.setChecked(False)
    assert not window.start_action.isEnabled()
    assert "switch at least one on" in window.run_toolbar.start_reason.text()
    assert window.loss_panel.formula_label.text() == "L = 0"

    window.loss_panel.term_editors["kd"].setChecked(True)
    assert window.config.loss.kd.weight == 1.0  # the weight it had before it was switched off
    assert window.start_action.isEnabled()


def test_field_choice_and_encoder_edits_update_config_and_counts(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config())
    student_before = window.model_panel.counts["student"]
    picker = window.data_panel.field_picker

    picker.set_checked("text", picker.STUDENT_COLUMN, True)

    assert window.config.student.fields == ["image", "text"]
    assert "text" in window.config.student.encoders
    qtbot.waitUntil(lambda: not window.model_panel.is_counting() and
                    window.model_panel.counts["student"] > student_before, timeout=10_000)
    assert "Student / teacher size" in window.model_panel.ratio_label.text()

    width = window.model_panel.student_editor.encoder_editors["image"].param_editors["width"]
    width.widget.setValue(8)
    assert window.config.student.encoders["image"].params["width"] == 8
    bigger = window.model_panel.counts["student"]
    qtbot.waitUntil(lambda: not window.model_panel.is_counting() and window.model_panel.counts["student"] > bigger,
                    timeout=10_000)
