"""A config with plug-ins opened in the app: the plug-in's loss term gets its editor and formula symbol,
the plug-in's encoder is offered for image fields."""

from __future__ import annotations

import threading
from pathlib import Path

from workbench.config import config_to_toml

from tests.gui.conftest import wait_until_idle

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_opening_a_config_with_plugins_shows_their_term_and_encoder(isolated_registry, make_window,
                                                                    make_tiny_config, tmp_path, qtbot):
    window = make_window(make_tiny_config())
    assert "similarity" not in window.loss_panel.term_editors
    text = config_to_toml(make_tiny_config()).replace(
        "plugins = []", f'plugins = ["{EXAMPLES / "similarity_loss.py"}", "{EXAMPLES / "mobile_encoder.py"}"]')
    path = tmp_path / "with_plugins.toml"
    path.write_text(text + "\n[loss.similarity]\nweight = 0.5\n", encoding="utf-8")

    window.document.open(path)

    editor = window.loss_panel.term_editors["similarity"]
    assert editor.title() == "Similarity preserving (SP)" and editor.isChecked()
    assert window.loss_panel.formula_label.text() == "L = 1.0·CE + 1.0·KD(T=4) + 0.5·SP(embedding)"
    editor.form.editor("source").widget.setCurrentText("logits")
    assert window.config.loss.similarity.source == "logits"
    assert window.loss_panel.formula_label.text().endswith("0.5·SP(logits)")
    scale = editor.form.editor("scale").widget
    assert "Range: above 0 to 10000." in scale.toolTip()

    combo = window.model_panel.student_editor.encoder_editors["image"].type_combo
    assert "mobile_cnn" in [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentText("mobile_cnn")
    assert window.config.student.encoders["image"].params == {"width": 16, "depth": 3}
    wait_until_idle(qtbot, window)  # the recount it started ends inside the test


def test_freezing_an_encoder_in_the_model_panel_shows_the_trained_count(make_window, make_tiny_config, qtbot):
    window = make_window(make_tiny_config())
    editor = window.model_panel.teacher_editor.encoder_editors["image"]
    editor.training_editors["train"].widget.setCurrentText("frozen")
    assert window.config.teacher.encoders["image"].train == "frozen"
    qtbot.waitUntil(lambda: "trained)" in window.model_panel.teacher_editor.count_label.text(), timeout=10_000)
    counts = window.model_panel.counts
    assert counts["teacher_trainable"] < counts["teacher"]
    assert f"({counts['teacher_trainable']:,} trained)" in window.model_panel.teacher_editor.count_label.text()
    wait_until_idle(qtbot, window)


def test_a_backbone_with_a_model_list_gets_a_search_box(isolated_registry, make_window, make_tiny_config, qtbot):
    from torch import nn

    @isolated_registry.register_encoder("zoo", modality="image")
    class ZooEncoder(nn.Module):  # stands in for timm, which lists its ~1,300 models the same way
        def __init__(self, spec, *, model: str = "alpha_net"):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(spec["channels"], 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.out_dim = 4

        def forward(self, x):
            return self.body(x)

        @staticmethod
        def model_names():  # timm's import makes its first listing take seconds: never on the GUI thread
            listed_in.append(threading.current_thread())
            return ["alpha_net", "beta_net_small", "Gamma_SMALL_v2", "delta"]

    listed_in: list[threading.Thread] = []

    window = make_window(make_tiny_config())
    editor = window.model_panel.student_editor.encoder_editors["image"]
    editor.type_combo.setCurrentText("zoo")
    line = editor.param_editors["model"].widget
    qtbot.waitUntil(lambda: line.placeholderText() == "search 4 models")
    assert listed_in and threading.main_thread() not in listed_in
    completer = line.completer()
    completer.setCompletionPrefix("small")  # anywhere in the name, any case
    assert completer.completionCount() == 2
    assert "model" not in window.model_panel.teacher_editor.encoder_editors["image"].param_editors  # cnn: no list
    # Names that arrive after the type changed again are not offered for the new type's model box.
    editor.type_combo.setCurrentText("cnn")
    editor.type_combo.setCurrentText("zoo")
    editor.type_combo.setCurrentText("hf_image")
    wait_until_idle(qtbot, window)  # the recount the type change started ends inside the test
    assert len(listed_in) == 2 and editor.param_editors["model"].widget.completer() is None
