"""What the Data and Model panels show about a dataset, computed off the GUI thread.

``inspect_dataset`` runs the data layer's check and adds what only the app needs: token
counts per caption for the histogram, a few decoded thumbnails for the preview grid, and
the networks' input specs for live parameter counts. Those come from the data layer's
processors (``data.preprocessing.describe_inputs``): the preprocessing training would fit,
without its statistics, which are too slow to fit while a user edits and which parameter
counts do not depend on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from workbench.data.check import DatasetReport, check_dataset
from workbench.data.preprocessing import describe_inputs
from workbench.data.text import split_tokens

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
    input_specs = describe_inputs(index, report.splits.get("train", []), data_cfg)
    return DatasetOverview(report, input_specs, text_lengths, _previews(report))


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
