"""Render the Model tab with a timm teacher image encoder and its model search open: docs/screenshots/model_timm.png.

The teacher's image encoder is timm's resnet18 (randomly initialised; no download), frozen;
"atto" is typed into its `model` box, whose search list (a popup window of its own) is
painted onto the window's picture where it shows. Needs timm and torchvision (README,
Pretrained backbones). Regenerate; never edit by hand:

    python docs/make_timm_screenshot.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "screenshots"
SIZE = (1280, 720)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")  # the user's own folders stay untouched
        from PySide6.QtCore import QEventLoop, QPoint, QSettings
        from PySide6.QtGui import QPainter
        from PySide6.QtWidgets import QScrollArea

        from workbench.config import EncoderConfig, ExperimentConfig, default_config
        from workbench.data import check_dataset, write_sample_dataset
        from workbench.gui.app import create_application

        app = create_application()
        from workbench.gui.main_window import MainWindow

        dataset = write_sample_dataset(Path(tmp) / "sample", classes=6, per_class=20, image_size=32)
        config = default_config(check_dataset(dataset, ExperimentConfig().data, seed=0))
        config.teacher.encoders["image"] = EncoderConfig("timm", {"model": "resnet18"}, train="frozen")
        window = MainWindow(config, QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(*SIZE)
        window.show()

        def settle() -> None:
            deadline = time.monotonic() + 120
            while not window.is_idle() and time.monotonic() < deadline:  # the check, the counts, timm's model list
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
                time.sleep(0.02)
            app.processEvents()

        settle()
        window.tabs.setCurrentWidget(window.model_panel)
        line = window.model_panel.teacher_editor.encoder_editors["image"].param_editors["model"].widget
        window.model_panel.findChild(QScrollArea).ensureWidgetVisible(line, 0, 120)
        settle()
        line.setFocus()
        line.setText("atto")  # typed, not confirmed: the config keeps resnet18
        line.completer().setCompletionPrefix(line.text())
        line.completer().complete()
        app.processEvents()
        picture = window.grab()
        popup = line.completer().popup()
        painter = QPainter(picture)
        painter.drawPixmap(window.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
        painter.end()
        OUT.mkdir(parents=True, exist_ok=True)
        target = OUT / "model_timm.png"
        picture.save(str(target))
        print(f"wrote {target}")
        print("teacher:", window.model_panel.teacher_editor.count_label.text(), "|", line.placeholderText(),
              "|", line.completer().completionCount(), "names offered for 'atto'")
        popup.hide()
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
