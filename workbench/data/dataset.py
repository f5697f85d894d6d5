"""Loading for training: ``prepare_data``, ``PairedDataset``, ``collate_batch``, ``make_loader``."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from workbench.data.check import DatasetReport, check_dataset
from workbench.data.index import DatasetIndex, FieldInfo
from workbench.data.image import draw_geometry
from workbench.data.masks import read_mask, resize_mask, shift_mask
from workbench.data.hf_tokenizer import TokenizerChoice
from workbench.data.preprocessing import ImageProcessor, Preprocessing
from workbench.data.text import PAD_ID
from workbench.errors import WorkbenchError


class PairedDataset(Dataset):
    """``dataset[i]`` -> ``{field: tensor, ..., "label": int, "index": int}`` (``index`` into ``index.samples``).

    The fields are those of ``preprocessing``: a field that no network reads is never decoded.
    For segmentation (``index.target_names`` set) ``label`` is the mask: int64 (H, W) class ids on
    the image grid, 255 = ignore; augmentation flips and shifts the images and the mask together.
    """

    def __init__(
        self,
        index: DatasetIndex,
        sample_indices: list[int],
        preprocessing: Preprocessing,
        class_names: list[str],
        augment: bool = False,
    ):
        self.sample_indices = list(sample_indices)
        self.preprocessing = preprocessing
        self.augment = augment
        self.class_names = list(class_names)
        class_ids = {name: i for i, name in enumerate(class_names)}
        self._masks = ([index.samples[i].meta["mask"] for i in self.sample_indices]
                       if index.target_names is not None else None)
        images = [p for p in preprocessing.processors.values() if isinstance(p, ImageProcessor)]
        self._mask_grid = images[0] if images else None  # masks are resized and cached as this image field
        # Only what __getitem__ needs, so that DataLoader workers receive little.
        self._items = [
            (
                class_ids[index.samples[i].label],
                {
                    name: index.text(index.samples[i], name) if info.kind == "text" else index.samples[i].values[name]
                    for name, info in index.fields.items()
                    if name in preprocessing.processors
                },
            )
            for i in self.sample_indices
        ]

    def __len__(self) -> int:
        return len(self.sample_indices)

    @property
    def labels(self) -> list[int]:
        """The class id of every sample, in dataset order (without decoding any field)."""
        return [label for label, _ in self._items]

    def __getitem__(self, position: int) -> dict[str, Any]:
        label, raw_values = self._items[position]
        if self._masks is not None:
            return self._segmentation_item(position, raw_values)
        item: dict[str, Any] = {
            name: self.preprocessing.encode(name, raw, augment=self.augment) for name, raw in raw_values.items()
        }
        item["label"] = label
        item["index"] = self.sample_indices[position]
        return item

    def _segmentation_item(self, position: int, raw_values: dict[str, str]) -> dict[str, Any]:
        if self._mask_grid is None:
            raise WorkbenchError("segmentation needs an image field in the networks' fields: the mask is "
                                 "predicted on its grid")
        mask = torch.from_numpy(self.mask(position).astype(np.int64))
        geometry = draw_geometry(mask.shape[0]) if self.augment else None
        item: dict[str, Any] = {name: self.preprocessing.encode(name, raw, augment=self.augment, geometry=geometry)
                                for name, raw in raw_values.items()}
        item["label"] = shift_mask(mask, *geometry) if geometry is not None else mask
        item["index"] = self.sample_indices[position]
        return item

    def mask(self, position: int) -> np.ndarray:
        """The sample's mask on the image grid, uint8 (H, W) (decoded once, then cached with the images)."""
        grid = self._mask_grid
        key = ("mask", self._masks[position])
        mask = grid.cache.get(key)
        if mask is None:
            mask = resize_mask(read_mask(self._masks[position], grid.max_pixels), grid.size)
            grid.cache.put(key, mask)
        return mask


def collate_batch(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack each field; 1-D int64 fields (text ids) are right-padded with ``PAD_ID`` to the batch's longest."""
    batch: dict[str, torch.Tensor] = {}
    for name, first in items[0].items():
        if not isinstance(first, torch.Tensor):
            batch[name] = torch.tensor([item[name] for item in items], dtype=torch.int64)
        elif first.dtype == torch.int64 and first.dim() == 1:
            batch[name] = torch.nn.utils.rnn.pad_sequence([item[name] for item in items], batch_first=True, padding_value=PAD_ID)
        else:
            batch[name] = torch.stack([item[name] for item in items])
    return batch


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0) -> DataLoader:
    """A DataLoader whose shuffling order depends only on ``seed``.

    Workers are persistent so that each keeps its image cache from one epoch to the next.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_batch,
        generator=generator,
        persistent_workers=num_workers > 0,
    )


@dataclass
class PreparedData:
    train: PairedDataset
    val: PairedDataset
    test: PairedDataset | None
    class_names: list[str]
    fields: dict[str, FieldInfo]
    preprocessing: Preprocessing
    report: DatasetReport
    fingerprint: str


def prepare_data(data_cfg: Any, seed: int, report: DatasetReport | None = None,
                 fields: Collection[str] | None = None,
                 tokenizers: Mapping[str, TokenizerChoice] | None = None) -> PreparedData:
    """Check the dataset (unless ``report`` is given), fit preprocessing on train, build the datasets.

    ``fields`` (default: all) limits the preprocessing, the datasets and ``PreparedData.fields`` to the
    fields the networks read, so that e.g. an unused audio field's spectrograms are never computed.
    Each field's preprocessing is fitted on its own, so a field's fitted state does not depend on
    which other fields are used. ``tokenizers`` names the text fields read with a Hugging Face tokenizer
    (see ``Preprocessing.fit``).
    """
    if report is None:
        report = check_dataset(data_cfg.root, data_cfg, seed)
    if not report.trainable:
        raise WorkbenchError(f"dataset {report.index.root} cannot be trained on: {report.advice} (run `workbench check` for details)")
    index = report.index
    if fields is not None:
        unknown = sorted(set(fields) - set(index.fields))
        if unknown:
            raise WorkbenchError(f"the dataset has no field {', '.join(map(repr, unknown))}; "
                                 f"its fields: {', '.join(index.fields) or 'none'}")
        # A view of the index with only the used fields: the samples (and their values) are shared.
        index = dataclasses.replace(index, fields={name: info for name, info in index.fields.items() if name in fields})
    preprocessing = Preprocessing.fit(index, report.splits["train"], data_cfg, seed, tokenizers)
    class_names = list(index.target_names or index.class_names)

    def build(split: str, augment: bool = False) -> PairedDataset:
        return PairedDataset(index, report.splits[split], preprocessing, class_names, augment)

    return PreparedData(
        train=build("train", augment=data_cfg.augment),
        val=build("val"),
        test=build("test") if report.splits["test"] else None,
        class_names=class_names,
        fields=dict(index.fields),
        preprocessing=preprocessing,
        report=report,
        fingerprint=dataset_fingerprint(report),
    )


def dataset_fingerprint(report: DatasetReport) -> str:
    """sha256 over each used sample's label, split and values (relative path, size, mtime for files)."""
    index = report.index
    digest = hashlib.sha256()
    for split, indices in report.splits.items():
        for i in indices:
            sample = index.samples[i]
            digest.update(f"{split}\0{sample.id}\0{sample.label}\0".encode())
            for name, value in sample.values.items():
                if index.fields[name].source == "file":
                    info = os.stat(value)
                    digest.update(f"{name}\0{index.relative(value)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
                else:
                    digest.update(f"{name}\0{value}\0".encode())
    return digest.hexdigest()
