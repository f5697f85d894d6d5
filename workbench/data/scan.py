"""Reading a dataset folder: which layout it has, and its scan into a ``DatasetIndex``.

A folder with ``manifest.csv`` / ``manifest.jsonl`` is read by ``manifest_scan``, any other
by ``folder_scan`` (class folders); both check every file they name (``file_checks``) through
the flow they share (``scanner``). Nothing here raises for bad data: every unusable sample
becomes an ``error`` problem (the sample is skipped) and every doubtful one a ``warning``
(the sample is kept).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from workbench.data.folder_scan import MAX_UNRECOGNISED, ClassFolderScanner
from workbench.data.index import IMAGE_EXTENSIONS, DatasetIndex
from workbench.data.manifest_scan import TARGET_COLUMNS, ManifestScanner
from workbench.data.scanner import DATASET_LAYOUTS, Scanner
from workbench.errors import WorkbenchError
from workbench.registry import FIELD_KINDS

MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")


def not_a_dataset(root: str | os.PathLike) -> str | None:
    """Why ``root`` is not a dataset folder, with what one looks like; None when it may be one.

    Cheap enough for a list of recent folders: it looks for a manifest, then for one image inside a
    class folder, and stops after ``MAX_UNRECOGNISED`` entries.
    """
    folder = Path(root).expanduser()
    if not folder.is_dir():
        return f"{folder} is not a folder. {DATASET_LAYOUTS}"
    if any((folder / name).is_file() for name in MANIFEST_NAMES):
        return None
    seen = 0
    pending = [(folder, 0)]  # breadth first: root/<class>/image, root/<split>/<class>/image
    while pending and seen < MAX_UNRECOGNISED:
        directory, depth = pending.pop(0)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if entry.name.startswith("."):
                continue
            if depth >= 1 and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                return None
            if depth < 2 and entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), depth + 1))
    return (f"{folder} has no manifest and no class folder with images in the {seen} entries looked at. "
            f"{DATASET_LAYOUTS}")


def scan_dataset(root: str | os.PathLike, data_cfg: Any) -> DatasetIndex:
    """Every readable sample of the folder and every problem found (see docs/architecture.md)."""
    folder = Path(root).expanduser()
    if not str(root).strip() or not folder.is_dir():
        raise WorkbenchError(f"dataset folder {str(root)!r} does not exist or is not a folder; set data.root to a folder of data")
    folder = folder.absolute()
    for kind in data_cfg.field_types.values():
        if kind not in FIELD_KINDS:
            raise WorkbenchError(f"unknown field type {kind!r} in data.field_types; use one of {', '.join(FIELD_KINDS)}")
    manifests = [name for name in MANIFEST_NAMES if (folder / name).is_file()]
    task = getattr(data_cfg, "task", "classification")
    if task != "classification" and not manifests:
        needs = {"vqa": "image, question and answer", "segmentation": "image and mask (and optional text)"}[task]
        raise WorkbenchError(f"data.task = {task} needs a manifest (manifest.csv or manifest.jsonl) in {folder} with "
                             f"{needs} columns; `workbench sample --task {task} DIR` writes an example")
    if manifests:
        scanner: Scanner = ManifestScanner(folder, data_cfg, manifests[0])
        if len(manifests) > 1:
            scanner.warn(manifests[1], f"ignored: {manifests[0]} is used when both manifests exist")
    else:
        scanner = ClassFolderScanner(folder, data_cfg)
    return scanner.scan()


def detect_task(root: str | os.PathLike) -> str:
    """The task a folder's manifest is written for, from its columns: ``answer`` (and no ``label``) is
    vqa, ``mask`` is segmentation; anything else (class folders included) is classification."""
    folder = Path(root).expanduser()
    for name in MANIFEST_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8-sig", errors="replace") as handle:
                first = handle.readline()
        except OSError:
            return "classification"
        if name.endswith(".jsonl"):
            try:
                columns = set(json.loads(first)) if first.strip() else set()
            except (ValueError, TypeError):
                return "classification"
        else:
            columns = {column.strip() for column in next(csv.reader([first]), [])}
        if "label" in columns:
            return "classification"
        for task in ("vqa", "segmentation"):
            if TARGET_COLUMNS[task] in columns:
                return task
        return "classification"
    return "classification"
