"""What every dataset scan shares: the samples found (candidates), the per-file checks over a thread pool,
array shapes, and the index it returns. ``manifest_scan`` and ``folder_scan`` find the candidates.

Nothing here raises for bad data: every unusable sample becomes an ``error`` problem
(the sample is skipped) and every doubtful one a ``warning`` (the sample is kept).
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

from workbench.data.file_checks import FileCheck, PathGuard, check_file
from workbench.data.index import DatasetIndex, FieldInfo, Problem, Sample

# Threads that check files (and segmentation masks) at once: decoding releases the GIL.
CHECK_THREADS = min(8, (os.cpu_count() or 1) + 2)
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
                 "testing": "test"}
DATASET_LAYOUTS = ("A dataset folder holds either a manifest (manifest.csv or manifest.jsonl with a 'label' column "
                   "and one column per field) or one folder per class with its images (ROOT/<class>/<name>.png, "
                   "with optional <name>.txt captions and <name>.wav sounds beside them, optionally under train/, "
                   "val/ and test/); `workbench sample DIR` writes an example.")


@dataclass
class Candidate:
    """A sample before its files are checked."""

    id: str
    label: str
    split: str | None
    values: dict[str, str]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path shown, reason)
    meta: dict[str, str] = field(default_factory=dict)
    excluded: bool = False  # left out for a reason reported once for many samples (e.g. a rare VQA answer)


class Scanner:
    layout = ""

    def __init__(self, root: Path, data_cfg: Any):
        self.root = root
        self.cfg = data_cfg
        self.guard = PathGuard(root)
        self.problems: list[Problem] = []
        self.fields: dict[str, FieldInfo] = {}
        self.texts: dict[str, str] = {}
        self.task = getattr(data_cfg, "task", "classification")
        self.target_names: list[str] | None = None  # segmentation: the mask classes, by id
        self.out_of_vocabulary = 0  # VQA: samples left out because their answer is not a class

    def warn(self, path: str, reason: str, sample_id: str | None = None) -> None:
        self.problems.append(Problem(path, reason, "warning", sample_id))

    def error(self, path: str, reason: str, sample_id: str | None = None) -> None:
        self.problems.append(Problem(path, reason, "error", sample_id))

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/") if os.path.isabs(path) else path

    def candidates(self) -> list[Candidate]:
        raise NotImplementedError

    def _check_targets(self, candidates: list[Candidate]) -> None:
        """Task-specific checks of the targets, after the files (class folders: labels need none)."""

    def scan(self) -> DatasetIndex:
        candidates = self.candidates()
        for name in self.cfg.field_types:
            if name not in self.fields:
                self.warn(name, f"data.field_types names field {name!r}, which this dataset does not have")
        checks = self._check_files(candidates)
        self._settle_array_shapes(candidates, checks)
        self._check_targets(candidates)
        samples = []
        for candidate in candidates:
            for path, reason in candidate.errors:
                self.error(path, reason, candidate.id)
            if not candidate.errors and not candidate.excluded:
                samples.append(Sample(candidate.id, candidate.label, candidate.split, candidate.values, candidate.meta))
        return DatasetIndex(
            root=self.root,
            layout=self.layout,
            samples=samples,
            class_names=sorted({sample.label for sample in samples}),
            fields=self.fields,
            problems=self.problems,
            text_cache=self.texts,
            target_names=self.target_names,
            out_of_vocabulary=self.out_of_vocabulary,
        )

    def _check_files(self, candidates: list[Candidate]) -> dict[str, FileCheck]:
        """Check every referenced file once (a pool of threads: decoding releases the GIL)."""
        kinds: dict[str, str] = {}
        for candidate in candidates:
            if candidate.errors:
                continue
            for name, value in candidate.values.items():
                if self.fields[name].source == "file":
                    kinds[value] = self.fields[name].kind
        if not kinds:
            return {}
        with ThreadPoolExecutor(max_workers=CHECK_THREADS) as pool:
            checks = dict(zip(kinds, pool.map(check_file, kinds, kinds.values(), repeat(self.guard), repeat(self.cfg))))
        self.texts.update((path, check.text) for path, check in checks.items() if check.text is not None)
        warned: set[str] = set()
        for candidate in candidates:
            if candidate.errors:
                continue
            for name, value in candidate.values.items():
                check = checks.get(value) if self.fields[name].source == "file" else None
                if check is None:
                    continue
                if check.error:
                    candidate.errors.append((self.relative(value), check.error))
                elif check.warning and value not in warned:
                    warned.add(value)
                    self.warn(self.relative(value), check.warning, candidate.id)
        return checks

    def _settle_array_shapes(self, candidates: list[Candidate], checks: dict[str, FileCheck]) -> None:
        """An array field's shape is the most common one; arrays of another shape are errors."""
        for name, info in self.fields.items():
            if info.kind != "array":
                continue
            shapes = Counter(
                checks[c.values[name]].shape for c in candidates if not c.errors and checks[c.values[name]].shape
            )
            if not shapes:
                continue
            info.shape = shapes.most_common(1)[0][0]
            for candidate in candidates:
                if candidate.errors:
                    continue
                shape = checks[candidate.values[name]].shape
                if shape != info.shape:
                    candidate.errors.append(
                        (self.relative(candidate.values[name]), f"array shape {shape} differs from the field's shape {info.shape}")
                    )
