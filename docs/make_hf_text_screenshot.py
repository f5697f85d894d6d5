"""Render the Model tab with a Hugging Face text encoder on the teacher's captions: docs/screenshots/model_hf_text.png.

Saves a small randomly initialised BERT (2 layers, width 128; no download) and a word-level
tokenizer of the sample's caption words to a temporary folder, writes a config whose teacher
reads the captions with it (``type = "hf_text"``, frozen), opens it in the main window as
File > Open does, waits for the parameter counts and grabs the Model tab at 1280x720.
Regenerate; never edit by hand:

    python docs/make_hf_text_screenshot.py
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


def save_small_bert(dataset: Path, folder: Path) -> None:
    import torch
    import transformers

    words = sorted({word for path in dataset.rglob("*.txt") for word in path.read_text().lower().split()})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    transformers.BertTokenizer(vocab={token: i for i, token in enumerate(vocabulary)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=512, vocab_size=len(vocabulary), max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(folder)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")  # the user's own folders stay untouched
        from PySide6.QtCore import QEventLoop, QSettings

        import tomli_w

        from workbench.config import ExperimentConfig, config_to_dict, default_config
        from workbench.data import check_dataset, write_sample_dataset
        from workbench.gui.app import create_application

        app = create_application()
        from workbench.gui.main_window import MainWindow

        dataset = write_sample_dataset(Path(tmp) / "sample", classes=6, per_class=20, image_size=32)
        model = Path(tmp) / "small-bert"
        save_small_bert(dataset, model)
        data = config_to_dict(default_config(check_dataset(dataset, ExperimentConfig().data, seed=0)))
        data["teacher"]["encoders"]["text"] = {"type": "hf_text", "model": str(model), "pretrained": True,
                                               "pooling": "mean", "train": "frozen"}
        path = Path(tmp) / "exp.toml"
        path.write_text(tomli_w.dumps(data), encoding="utf-8")

        window = MainWindow(ExperimentConfig(), QSettings(str(Path(tmp) / "settings.ini"),
                                                          QSettings.Format.IniFormat))
        window.resize(*SIZE)
        window.show()
        window.open_config(path)
        deadline = time.monotonic() + 120
        while (window.data_panel.is_checking() or window.model_panel.is_counting()) and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)
        window.tabs.setCurrentWidget(window.model_panel)
        app.processEvents()
        from PySide6.QtWidgets import QScrollArea, QWidget

        # Scrolled down to the hf_text encoder's parameters (the teacher's count stays in view above them).
        scroll = window.model_panel.findChild(QScrollArea)
        scroll.ensureWidgetVisible(window.model_panel.findChild(QWidget, "teacher.encoders.text.tokenizer"), 0, 8)
        app.processEvents()
        OUT.mkdir(parents=True, exist_ok=True)
        target = OUT / "model_hf_text.png"
        window.grab().save(str(target))
        print(f"wrote {target}")
        print("teacher:", window.model_panel.teacher_editor.count_label.text())
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
