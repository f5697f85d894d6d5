"""The Model panel with timm itself (not a stand-in): its search box offers timm's model list, and a timm
teacher encoder's parameters are counted, as the trainer builds it. Runs where timm and torchvision import;
in CI, ``tests/engine/test_vision_backbones_interpreter.py`` runs it under ``$WORKBENCH_TIMM_PYTHON``."""

from __future__ import annotations

from workbench.config import EncoderConfig
from workbench.engine.models import build_network, count_parameters

from tests.gui.conftest import wait_until_idle
from vision_libraries import TIMM_MODEL, import_or_skip

timm = import_or_skip("timm")
import_or_skip("torchvision")


def test_the_timm_encoder_searches_timm_models_and_counts_their_parameters(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config())
    editor = window.model_panel.teacher_editor.encoder_editors["image"]
    editor.type_combo.setCurrentText("timm")
    line = editor.param_editors["model"].widget
    # Listed off the GUI thread (importing timm takes seconds): the search box comes when the names do.
    qtbot.waitUntil(lambda: line.placeholderText() == f"search {len(timm.list_models()):,} models", timeout=60_000)
    completer = line.completer()
    completer.setCompletionPrefix("CONVNEXT_AT")  # anywhere in the name, any case
    offered = [completer.completionModel().index(row, 0).data() for row in range(completer.completionCount())]
    assert "convnext_atto" in offered and all("convnext_at" in name for name in offered)

    line.setText(TIMM_MODEL)
    line.editingFinished.emit()
    editor.training_editors["train"].widget.setCurrentText("frozen")
    assert window.config.teacher.encoders["image"] == EncoderConfig(
        "timm", {"model": TIMM_MODEL, "pretrained": False, "weights": "", "image_size": 0}, train="frozen")
    wait_until_idle(qtbot, window)
    teacher = build_network(window.config.teacher, window.model_panel.input_specs, window.model_panel.num_classes)
    backbone = count_parameters(teacher.encoders["image"])
    assert backbone > 90_000  # test_efficientnet's 99 k, not a stand-in
    counts = window.model_panel.counts
    assert counts["teacher"] == count_parameters(teacher)
    assert counts["teacher_trainable"] == counts["teacher"] - backbone
    assert window.model_panel.teacher_editor.count_label.text() == (
        f"Parameters: {counts['teacher']:,} ({counts['teacher_trainable']:,} trained)")
