"""The frozen teacher's outputs, computed once per sample in the student stage and reused every epoch.

In the student stage the teacher is frozen and in eval mode, so its output for a sample
depends only on the sample's inputs. When those inputs are not augmented (no augmentation,
or none of the teacher's fields is an image), the first student epoch computes every
sample's logits and embedding and later epochs read them back instead of running the
teacher: with a large pretrained teacher its forward pass is most of a student step.

Rows are kept in memory up to a byte budget; a larger cache lives in a memory-mapped file
(deleted when the stage ends). Values are stored in their own dtype (on disk as float32,
which holds float16/bfloat16 values exactly), so a cached output is bit-identical to the
one computed in the first epoch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


class TeacherOutputCache:
    """Per-sample rows of every tensor of the teacher's output (a NamedTuple), keyed by the sample's ``index``."""

    def __init__(self, num_samples: int, budget_bytes: int, folder: Path):
        self.num_samples = num_samples
        self.budget_bytes = budget_bytes
        self.folder = folder
        self.on_disk = False
        self._known = torch.zeros(num_samples, dtype=torch.bool)
        self._rows: dict[str, torch.Tensor | np.memmap | None] | None = None
        self._dtypes: dict[str, torch.dtype] = {}
        self._output_type: type | None = None
        self._files: list[Path] = []

    def lookup(self, indices: torch.Tensor, device: torch.device) -> Any | None:
        """The cached output for these samples (on ``device``), or None unless every one is cached."""
        rows = indices.cpu()
        if self._rows is None or not bool(self._known[rows].all()):
            return None
        parts = {}
        for name, store in self._rows.items():
            if store is None:
                parts[name] = None
            elif isinstance(store, torch.Tensor):
                parts[name] = store[rows].to(device, non_blocking=True)
            else:
                values = torch.from_numpy(np.ascontiguousarray(store[rows.numpy()]))
                parts[name] = values.to(device=device, dtype=self._dtypes[name])
        return self._output_type(**parts)

    def store(self, indices: torch.Tensor, output: Any) -> None:
        rows = indices.cpu()
        parts = output._asdict()
        if self._rows is None:
            self._output_type = type(output)
            self._allocate(parts)
        for name, value in parts.items():
            store = self._rows[name]
            if store is None:
                continue
            if isinstance(store, torch.Tensor):
                store[rows] = value.detach().cpu()
            else:
                store[rows.numpy()] = value.detach().float().cpu().numpy()
        self._known[rows] = True

    def close(self) -> None:
        """Drop the rows and delete the file of an on-disk cache."""
        self._rows = None
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files = []

    def _allocate(self, parts: dict[str, Any]) -> None:
        shapes = {name: tuple(value.shape[1:]) for name, value in parts.items() if value is not None}
        self._dtypes = {name: parts[name].dtype for name in shapes}
        row_bytes = sum(int(np.prod(shape)) * parts[name].element_size() for name, shape in shapes.items())
        self.on_disk = row_bytes * self.num_samples > self.budget_bytes
        self._rows = {}
        for name, value in parts.items():
            if value is None:
                self._rows[name] = None
            elif not self.on_disk:
                self._rows[name] = torch.empty((self.num_samples, *shapes[name]), dtype=value.dtype)
            else:
                self.folder.mkdir(parents=True, exist_ok=True)
                handle = tempfile.NamedTemporaryFile(dir=self.folder, prefix=f"teacher-{name}-", suffix=".npy",
                                                     delete=False)
                handle.close()
                path = Path(handle.name)
                self._files.append(path)
                self._rows[name] = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                                             shape=(self.num_samples, *shapes[name]))
                if os.name == "posix":  # the mapping outlives the name: nothing is left behind if the run dies
                    path.unlink()


def teacher_cache_for(cfg: Any, teacher_kinds: list[str], requires_teacher: bool, num_samples: int,
                      folder: Path) -> TeacherOutputCache | None:
    """A cache for the student stage, or None when it is off, not needed, or would change the results.

    ``teacher_kinds``: the kinds of the teacher's fields. Augmentation changes images between
    epochs, so a teacher that sees an augmented image field runs every batch.
    """
    if cfg.train.teacher_cache_mb <= 0 or not requires_teacher:
        return None
    if cfg.data.augment and "image" in teacher_kinds:
        return None
    return TeacherOutputCache(num_samples, cfg.train.teacher_cache_mb * 2**20, folder)
