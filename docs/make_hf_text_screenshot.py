"""Render the Model tab with a Hugging Face text encoder on the teacher's captions: docs/screenshots/model_hf_text.png.

Saves a small randomly initialised BERT (2 layers, width 128; no download) and a word-level
tokenizer of the sample's caption words to a temporary folder, writes a config whose teacher
reads the captions with it (``type = "hf_text"``, frozen), opens it in the main window as
File > Open does, waits for the parameter counts and grabs the Model tab at 1280x720.
Regenerate; never edit by hand:

    python docs/make_hf_text_screenshot.py
"""

from __future__ import annotations

from pathlib import Path

from screenshot_session import sample_session, save

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
    with sample_session() as session:
        from PySide6.QtWidgets import QScrollArea, QWidget

        from workbench.config import config_to_dict

        model = session.folder / "small-bert"
        save_small_bert(session.dataset, model)
        table = config_to_dict(session.config)
        table["teacher"]["encoders"]["text"] = {"type": "hf_text", "model": str(model), "pretrained": True,
                                                "pooling": "mean", "train": "frozen"}
        window = session.open_window(SIZE, table=table)
        window.tabs.setCurrentWidget(window.model_panel)
        session.app.processEvents()  # laid out, so that the scroll below can find the parameter
        # Scrolled down to the hf_text encoder's parameters (the teacher's count stays in view above them).
        scroll = window.model_panel.findChild(QScrollArea)
        scroll.ensureWidgetVisible(window.model_panel.findChild(QWidget, "teacher.encoders.text.tokenizer"), 0, 8)
        session.app.processEvents()
        save(window.grab(), "model_hf_text")
        print("teacher:", window.model_panel.teacher_editor.count_label.text())
        session.close(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
