"""The Model tab offers hf_text for text fields, with its parameters and a parameter count read from the model."""

from __future__ import annotations

import pytest

from workbench.engine.models import count_parameters

from tests.gui.conftest import wait_until_idle
from tiny_runs import save_tiny_bert

transformers = pytest.importorskip("transformers")


def test_a_text_field_can_take_a_hugging_face_model_and_its_count(make_window, make_tiny_config, tiny_dataset,
                                                                   tmp_path, qtbot):
    bert = save_tiny_bert(tiny_dataset, tmp_path / "bert")
    window = make_window(make_tiny_config())
    before = window.model_panel.counts["teacher"]
    editor = window.model_panel.teacher_editor.encoder_editors["text"]
    assert "hf_text" in [editor.type_combo.itemText(i) for i in range(editor.type_combo.count())]
    editor.type_combo.setCurrentText("hf_text")
    pooling = editor.param_editors["pooling"].widget
    assert [pooling.itemText(i) for i in range(pooling.count())] == ["cls", "mean"]
    line = editor.param_editors["model"].widget
    line.setText(str(bert))
    line.editingFinished.emit()
    assert window.config.teacher.encoders["text"].params["model"] == str(bert)
    bert_size = count_parameters(transformers.AutoModel.from_pretrained(bert))
    qtbot.waitUntil(lambda: window.model_panel.counts.get("teacher", before) != before, timeout=20_000)
    wait_until_idle(qtbot, window)
    counts = window.model_panel.counts
    assert isinstance(counts["teacher"], int) and counts["teacher"] > bert_size
    assert f"{counts['teacher']:,}" in window.model_panel.teacher_editor.count_label.text()
