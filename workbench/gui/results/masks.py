"""One validation epoch of a segmentation run, as the result views use it: pure numpy, no Qt.

The epoch's arrays (``label`` and ``<net>_mask``, uint8 (N, H, W) on the image grid, 255 =
ignore) become a ``MaskSet``: per-image IoU of each network, the trainer's scores, and the
gallery's order (teacher minus student per-image IoU, largest first).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from workbench.config import NETS
from workbench.engine.metrics import segmentation_metrics
from workbench.engine.tasks import IGNORE_INDEX, per_image_iou


def is_mask_set(arrays: dict[str, np.ndarray]) -> bool:
    """Whether a validation epoch's arrays are a segmentation run's (masks, not class probabilities)."""
    return any(key.endswith("_mask") for key in arrays)


@dataclass
class MaskSet:
    """One validation epoch of a segmentation run: true masks and each network's predicted masks."""

    stage: str
    epoch: int
    label: np.ndarray  # (N, H, W) uint8 class ids, 255 = ignore
    masks: dict[str, np.ndarray]  # net -> (N, H, W) uint8
    num_classes: int = 0
    index: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, stage: str, epoch: int, arrays: dict[str, np.ndarray]) -> MaskSet:
        masks = {net: np.asarray(arrays[f"{net}_mask"]) for net in NETS if f"{net}_mask" in arrays}
        label = np.asarray(arrays["label"])
        # Enough classes for every id present (IoUs only count classes present, so more would change nothing).
        present = [label[label != IGNORE_INDEX].max(initial=0), *(mask.max(initial=0) for mask in masks.values())]
        return cls(stage, int(epoch), label, masks, int(max(present)) + 1,
                   np.asarray(arrays["index"]) if "index" in arrays else None)

    @property
    def nets(self) -> list[str]:
        return [net for net in NETS if net in self.masks]

    @property
    def num_samples(self) -> int:
        return int(self.label.shape[0])

    @cached_property
    def image_iou(self) -> dict[str, np.ndarray]:
        """Per-image mean IoU of each network (N,)."""
        return {net: per_image_iou(self.label, mask, self.num_classes) for net, mask in self.masks.items()}

    def scores(self, class_names: list[str]) -> dict[str, dict[str, float]]:
        """Per network: the trainer's segmentation metrics (mIoU, pixel accuracy, per-class IoU)."""
        return {net: segmentation_metrics(self.label, mask, self.num_classes, IGNORE_INDEX, class_names)
                for net, mask in self.masks.items()}

    def gap_order(self) -> np.ndarray:
        """Rows by teacher minus student per-image IoU, largest gap first (dataset order without both)."""
        if "teacher" not in self.masks or "student" not in self.masks:
            return np.arange(self.num_samples)
        gap = self.image_iou["teacher"] - self.image_iou["student"]
        return np.argsort(-gap, kind="stable")

    def derive(self) -> MaskSet:
        """Compute the per-image IoUs now (in a worker thread)."""
        self.image_iou  # noqa: B018
        return self
