"""What the Data and Model panels show about a dataset, computed off the GUI thread.

``inspect_dataset`` runs the data layer's check and adds what only the app needs: token
counts per caption for the histogram, a few decoded thumbnails for the preview grid, and
cheap network input specs for live parameter counts.

Input specs, decided here: fitting the full preprocessing (image statistics) is too slow to
repeat while a user edits, and parameter counts do not depend on statistics. Shapes come
from the config (image size, audio settings), the scan (array shapes, grayscale) and, for
text, the vocabulary fitted on the training captions exactly as the trainer will fit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from workbench.data.audio import LogMel
from workbench.data.check import DatasetReport, check_dataset
from workbench.data.text import Tokenizer, split_tokens

PREVIEW_SAMPLES = 8
THUMBNAIL_SIZE = 96


@dataclass
class PreviewSample:
    label: str
    sample_id: str
    thumbnail: np.ndarray | None  # uint8 (H, W, 3), or None when the sample has no image field
    caption: str


@dataclass
class DatasetOverview:
    report: DatasetReport
    input_specs: dict[str, dict[str, Any]]
    text_lengths: dict[str, np.ndarray] = field(default_factory=dict)  # tokens per caption, per text field
    previews: list[PreviewSample] = field(default_factory=list)

    @property
    def field_kinds(self) -> dict[str, str]:
        return {name: info.kind for name, info in self.report.index.fields.items()}


def inspect_dataset(root: str | Path, data_cfg: Any, seed: int) -> DatasetOverview:
    report = check_dataset(Path(root), data_cfg, seed=seed)
    index = report.index
    used = [i for indices in report.splits.values() for i in indices]
    text_fields = [name for name, info in index.fields.items() if info.kind == "text"]
    text_lengths = {
        name: np.array([len(split_tokens(index.text(index.samples[i], name), data_cfg.text_lowercase,
                                         data_cfg.text_nfkc)) for i in used], dtype=np.int64)
        for name in text_fields
    }
    return DatasetOverview(report, estimate_input_specs(report, data_cfg), text_lengths, _previews(report))


def estimate_input_specs(report: DatasetReport, data_cfg: Any) -> dict[str, dict[str, Any]]:
    index = report.index
    train = report.splits.get("train", [])
    specs: dict[str, dict[str, Any]] = {}
    for name, info in index.fields.items():
        if info.kind == "image":
            specs[name] = {"kind": "image", "channels": 1 if info.grayscale else 3, "size": data_cfg.image_size}
        elif info.kind == "text":
            tokenizer = Tokenizer.fit((index.text(index.samples[i], name) for i in train), data_cfg.text_max_length,
                                      data_cfg.text_lowercase, data_cfg.text_nfkc, data_cfg.text_min_freq,
                                      data_cfg.text_max_vocab)
            specs[name] = {"kind": "text", "vocab_size": tokenizer.vocab_size, "max_length": tokenizer.max_length}
        elif info.kind == "audio":
            mel = LogMel(data_cfg.audio_sample_rate, data_cfg.audio_seconds, data_cfg.audio_n_mels)
            specs[name] = {"kind": "audio", "n_mels": mel.n_mels, "frames": mel.frames,
                           "sample_rate": mel.sample_rate}
        else:
            specs[name] = {"kind": "array", "shape": list(info.shape or ())}
    return specs


def _previews(report: DatasetReport) -> list[PreviewSample]:
    """One training sample per class, in class order, up to PREVIEW_SAMPLES."""
    index = report.index
    image_field = next((n for n, info in index.fields.items() if info.kind == "image"), None)
    text_field = next((n for n, info in index.fields.items() if info.kind == "text"), None)
    chosen: dict[str, int] = {}
    for i in report.splits.get("train", []) or range(len(index.samples)):
        chosen.setdefault(index.samples[i].label, i)
    previews = []
    for label in sorted(chosen)[:PREVIEW_SAMPLES]:
        sample = index.samples[chosen[label]]
        thumbnail = None
        if image_field is not None:
            try:
                with Image.open(sample.values[image_field]) as image:
                    image = image.convert("RGB")
                    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                    thumbnail = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
            except OSError:
                thumbnail = None  # the problems table already names unreadable files
        caption = index.text(sample, text_field) if text_field is not None else ""
        previews.append(PreviewSample(label, sample.id, thumbnail, caption.strip()))
    return previews
