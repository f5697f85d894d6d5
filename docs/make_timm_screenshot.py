"""Render the Model tab with a timm teacher image encoder and its model search open: docs/screenshots/model_timm.png.

The teacher's image encoder is timm's resnet18 (randomly initialised; no download), frozen;
"atto" is typed into its `model` box, whose search list (a popup window of its own) is
painted onto the window's picture where it shows. Needs timm and torchvision (README,
Pretrained backbones). Regenerate; never edit by hand:

    python docs/make_timm_screenshot.py
"""

from __future__ import annotations

from screenshot_session import sample_session, save

SIZE = (1280, 720)


def main() -> int:
    with sample_session() as session:
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QPainter
        from PySide6.QtWidgets import QScrollArea

        from workbench.config import EncoderConfig

        session.config.teacher.encoders["image"] = EncoderConfig("timm", {"model": "resnet18"}, train="frozen")
        window = session.open_window(SIZE)  # settles: the check, the counts, timm's model list
        window.tabs.setCurrentWidget(window.model_panel)
        line = window.model_panel.teacher_editor.encoder_editors["image"].param_editors["model"].widget
        window.model_panel.findChild(QScrollArea).ensureWidgetVisible(line, 0, 120)
        session.settle(window)
        line.setFocus()
        line.setText("atto")  # typed, not confirmed: the config keeps resnet18
        line.completer().setCompletionPrefix(line.text())
        line.completer().complete()
        session.app.processEvents()
        picture = window.grab()
        popup = line.completer().popup()
        painter = QPainter(picture)
        painter.drawPixmap(window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
        painter.end()
        save(picture, "model_timm")
        print("teacher:", window.model_panel.teacher_editor.count_label.text(), "|", line.placeholderText(),
              "|", line.completer().completionCount(), "names offered for 'atto'")
        popup.hide()
        session.close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
