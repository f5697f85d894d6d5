"""Reading a dataset folder: layout detection, manifests, class folders and file checks.

Nothing here raises for bad data: every unusable sample becomes an ``error`` problem
(the sample is skipped) and every doubtful one a ``warning`` (the sample is kept).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.registry import FIELD_KINDS
from workbench.data.audio import AudioError, read_audio
from workbench.data.image import ImageDecodeError, open_checked, to_mode
from workbench.data.masks import MaskError, check_mask, read_class_names
from workbench.data.index import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    KIND_BY_EXTENSION,
    SPLITS,
    TEXT_EXTENSIONS,
    DatasetIndex,
    FieldInfo,
    Problem,
    Sample,
)
from workbench.data.text import read_text_file
from workbench.errors import WorkbenchError

MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")
RESERVED_COLUMNS = ("label", "split")
# Per task (data.task): the column holding each sample's target, and extra columns that are no input field.
TARGET_COLUMNS = {"classification": "label", "vqa": "answer", "segmentation": "mask"}
META_COLUMNS = {"vqa": ("question_type",)}
_NO_TARGET = {
    "classification": "sample has no label; fill in the 'label' column",
    "vqa": "sample has no answer; fill in the 'answer' column",
    "segmentation": "sample has no mask; name its mask PNG in the 'mask' column",
}
_NO_TARGET_COLUMN = {
    "classification": "manifest has no 'label' column; add one with each sample's class name",
    "vqa": "manifest has no 'answer' column; VQA needs each question's answer (and a 'question' column)",
    "segmentation": "manifest has no 'mask' column; segmentation needs a mask PNG of class ids per image",
}
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test", "testing": "test"}
_EXTENSIONS_BY_KIND = {kind: sorted(ext for ext, k in KIND_BY_EXTENSION.items() if k == kind) for kind in FIELD_KINDS}
# A manifest value longer than this, or with a line break, is text even if it ends like a file name.
_MAX_PATH_LENGTH = 1024
# A class-folder scan gives up on a folder once it has met this many entries that are not samples (and
# ten times more of them than images): a home folder or / is answered in a moment, not after a full walk.
MAX_UNRECOGNISED = 2000
DATASET_LAYOUTS = ("A dataset folder holds either a manifest (manifest.csv or manifest.jsonl with a 'label' column "
                   "and one column per field) or one folder per class with its images (ROOT/<class>/<name>.png, "
                   "with optional <name>.txt captions and <name>.wav sounds beside them, optionally under train/, "
                   "val/ and test/); `workbench sample DIR` writes an example.")


class _NotADataset(Exception):
    """Raised inside a class-folder scan that met too many entries that are not samples."""


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
        scanner: _Scanner = _ManifestScanner(folder, data_cfg, manifests[0])
        if len(manifests) > 1:
            scanner.warn(manifests[1], f"ignored: {manifests[0]} is used when both manifests exist")
    else:
        scanner = _ClassFolderScanner(folder, data_cfg)
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


@dataclass
class _Candidate:
    """A sample before its files are checked."""

    id: str
    label: str
    split: str | None
    values: dict[str, str]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path shown, reason)
    meta: dict[str, str] = field(default_factory=dict)
    excluded: bool = False  # left out for a reason reported once for many samples (e.g. a rare VQA answer)


@dataclass
class _FileCheck:
    error: str | None = None
    warning: str | None = None
    shape: tuple[int, ...] | None = None


class _PathGuard:
    """Turns dataset-relative paths into absolute ones, refusing any that lead outside the root.

    Directory real paths are cached, so checking many files in a few folders costs one
    ``lstat`` per file.
    """

    def __init__(self, root: Path):
        self.root = str(root)
        self.real_root = os.path.realpath(root)
        self._inside_by_dir: dict[str, bool] = {}

    def inside(self, real_path: str) -> bool:
        return real_path == self.real_root or real_path.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def resolve(self, raw: str) -> tuple[str, str | None]:
        """``(absolute path, problem)`` for a path written in a manifest."""
        text = raw.strip().replace("\\", "/")
        if os.path.isabs(text) or (len(text) > 1 and text[1] == ":"):
            return text, "absolute path; write paths relative to the dataset folder"
        path = os.path.normpath(os.path.join(self.root, text))
        if not path.startswith(self.root.rstrip(os.sep) + os.sep):
            return path, "path leaves the dataset folder ('..'); keep every file inside it"
        return path, None

    def check(self, path: str) -> str | None:
        """What is wrong with a file that must be a non-empty regular file inside the root, or None."""
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return "file not found"
        except OSError as exc:
            return f"cannot access file: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            real = os.path.realpath(path)
            if not self.inside(real):
                return "symbolic link points outside the dataset folder; copy the file in instead"
            try:
                info = os.stat(real)
            except OSError:
                return "broken symbolic link"
        else:
            parent = os.path.dirname(path)
            inside = self._inside_by_dir.get(parent)
            if inside is None:
                inside = self._inside_by_dir[parent] = self.inside(os.path.realpath(parent))
            if not inside:
                return "folder is a symbolic link pointing outside the dataset folder"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size == 0:
            return "empty file (0 bytes)"
        return None


class _Scanner:
    layout = ""

    def __init__(self, root: Path, data_cfg: Any):
        self.root = root
        self.cfg = data_cfg
        self.guard = _PathGuard(root)
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

    def candidates(self) -> list[_Candidate]:
        raise NotImplementedError

    def _check_targets(self, candidates: list[_Candidate]) -> None:
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

    def _check_files(self, candidates: list[_Candidate]) -> dict[str, _FileCheck]:
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
        workers = min(8, (os.cpu_count() or 1) + 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            checks = dict(zip(kinds, pool.map(self._check_file, kinds.items())))
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

    def _check_file(self, item: tuple[str, str]) -> _FileCheck:
        path, kind = item
        problem = self.guard.check(path)
        if problem:
            return _FileCheck(error=problem)
        try:
            if kind == "image":
                with open_checked(path, self.cfg.max_image_pixels) as image:
                    to_mode(image, grayscale=False)  # the conversion training will do must work too
            elif kind == "audio":
                read_audio(path)
            elif kind == "array":
                return _check_array(path)
            else:
                return self._check_text_file(path)
        except (ImageDecodeError, AudioError) as exc:
            return _FileCheck(error=str(exc))
        except (ValueError, OSError) as exc:  # e.g. an image mode Pillow cannot convert to RGB
            return _FileCheck(error=f"cannot read {kind} file: {exc}")
        return _FileCheck()

    def _check_text_file(self, path: str) -> _FileCheck:
        text, problem = read_text_file(path, self.cfg.max_text_bytes)
        if problem and not text:
            return _FileCheck(error=problem)
        if not text.strip():
            return _FileCheck(error="empty caption; write a caption or remove the sample")
        self.texts[path] = text
        return _FileCheck(warning=problem)

    def _settle_array_shapes(self, candidates: list[_Candidate], checks: dict[str, _FileCheck]) -> None:
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


def _check_array(path: str) -> _FileCheck:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # reads the header only
    except (ValueError, OSError, EOFError) as exc:
        return _FileCheck(error=f"cannot read .npy array: {exc}")
    if not isinstance(array, np.ndarray):
        return _FileCheck(error="not a single .npy array")
    shape, kind = tuple(array.shape), array.dtype.kind
    del array
    if kind not in "biuf":
        return _FileCheck(error=f"array dtype is not numeric (kind {kind!r}); save numbers (int or float)")
    if 0 in shape:
        return _FileCheck(error=f"array is empty (shape {shape})")
    return _FileCheck(shape=shape)


class _ManifestScanner(_Scanner):
    layout = "manifest"

    def __init__(self, root: Path, data_cfg: Any, manifest: str):
        super().__init__(root, data_cfg)
        self.manifest = manifest

    def candidates(self) -> list[_Candidate]:
        rows = self._read_rows()
        if rows is None:
            return []
        columns, records = rows
        target = TARGET_COLUMNS[self.task]
        reserved = {target, "split", *META_COLUMNS.get(self.task, ())}
        field_names = [c for c in columns if c not in reserved]
        for name in field_names:
            self.fields[name] = self._infer_field(name, [record[name] for _, record in records if name in record])
        if not self.fields:
            self.error(self.manifest, f"manifest has no field columns besides {target}/split; add e.g. an 'image' or "
                                      "'text' column")
        if self.task == "vqa" and "question" not in self.fields:
            self.error(self.manifest, "manifest has no 'question' column; VQA needs the question asked about each "
                                      "image")
        candidates: list[_Candidate] = []
        first_row_by_content: dict[tuple, str] = {}
        for row_id, record in records:
            label = record.get(target, "").strip()
            if self.task == "vqa":  # "Red", "red " and "red" are one answer
                label = " ".join(label.lower().split())
            candidate = _Candidate(row_id, label, self._split(record.get("split", ""), row_id), {})
            if not label:
                candidate.errors.append((row_id, _NO_TARGET[self.task]))
            elif self.task == "segmentation":
                candidate.label = ""  # the mask's main class, set when the mask is checked
                path, problem = self.guard.resolve(label)
                if problem:
                    candidate.errors.append((label, problem))
                candidate.meta["mask"] = path
            for name in META_COLUMNS.get(self.task, ()):
                if record.get(name, "").strip():
                    candidate.meta[name] = record[name].strip()
            content = tuple(map(record.get, columns))
            if content in first_row_by_content:
                candidate.errors.append((row_id, f"duplicate of {first_row_by_content[content]}; remove one of the rows"))
            else:
                first_row_by_content[content] = row_id
            for name, info in self.fields.items():
                self._add_value(candidate, info, record.get(name, ""))
            candidates.append(candidate)
        return candidates

    def _check_targets(self, candidates: list[_Candidate]) -> None:
        if self.task == "vqa":
            self._keep_frequent_answers(candidates)
        elif self.task == "segmentation":
            self._check_masks(candidates)

    def _keep_frequent_answers(self, candidates: list[_Candidate]) -> None:
        """The ``data.answer_classes`` most frequent answers become the classes (ties: alphabetical);
        samples with another answer are left out, one problem per such answer."""
        usable = [c for c in candidates if not c.errors]
        counts = Counter(c.label for c in usable)
        kept = {answer for answer, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                [:self.cfg.answer_classes]}
        for answer in sorted(set(counts) - kept):
            self.error(f"answer {answer!r}", f"{counts[answer]} sample(s) with this answer left out: it is not among "
                                             f"the {self.cfg.answer_classes} most frequent answers (data.answer_classes)")
        for candidate in usable:
            if candidate.label not in kept:
                candidate.excluded = True
                self.out_of_vocabulary += 1

    def _check_masks(self, candidates: list[_Candidate]) -> None:
        """Every mask readable, of its image's size, with ids among classes.txt's; its main class is its label."""
        names = read_class_names(self.root)
        if isinstance(names, str):
            self.error("classes.txt", names)
            for candidate in candidates:
                candidate.excluded = True
            return
        self.target_names = names
        image_fields = [name for name, info in self.fields.items() if info.kind == "image"]
        if not image_fields:
            self.error(self.manifest, "segmentation needs an image column beside the mask column")
        usable = [c for c in candidates if not c.errors]

        def check(candidate: _Candidate) -> str | int:
            image = candidate.values.get(image_fields[0]) if image_fields else None
            try:
                return check_mask(candidate.meta["mask"], image, len(names), self.cfg.max_image_pixels)
            except (MaskError, OSError) as exc:
                return str(exc)

        workers = min(8, (os.cpu_count() or 1) + 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for candidate, outcome in zip(usable, pool.map(check, usable)):
                if isinstance(outcome, str):
                    candidate.errors.append((self.relative(candidate.meta["mask"]), outcome))
                else:
                    candidate.label = names[outcome]

    def _read_rows(self) -> tuple[list[str], list[tuple[str, dict[str, str]]]] | None:
        data = (self.root / self.manifest).read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = data.decode("utf-8-sig", errors="replace")
            self.warn(self.manifest, f"not valid UTF-8 (byte {exc.start}); read with replacement characters, re-save it as UTF-8")
        reader = self._read_csv if self.manifest.endswith(".csv") else self._read_jsonl
        columns, records = reader(text)
        if TARGET_COLUMNS[self.task] not in columns:
            self.error(self.manifest, _NO_TARGET_COLUMN[self.task])
            return None
        return columns, records

    def _read_csv(self, text: str) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
        # newline="" keeps line breaks inside quoted captions; the csv module handles CRLF itself.
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, None)
        if not header:
            return [], []
        columns = [name.strip() or f"column{i + 1}" for i, name in enumerate(header)]
        records = []
        for number, row in enumerate(rows, start=2):  # row 1 is the header, as a spreadsheet shows it
            if not row:
                continue  # a blank line is not a sample
            row_id = f"{self.manifest}:{number}"
            if len(row) != len(columns):
                self.error(row_id, f"row has {len(row)} values but the header has {len(columns)} columns; check its quotes and commas", row_id)
                continue
            records.append((row_id, dict(zip(columns, row))))
        return columns, records

    def _read_jsonl(self, text: str) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
        columns: dict[str, None] = {}
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            row_id = f"{self.manifest}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                self.error(row_id, f"not valid JSON: {exc.msg} (column {exc.colno})", row_id)
                continue
            if not isinstance(obj, dict):
                self.error(row_id, "line is not a JSON object; write one {\"label\": ..., ...} per line", row_id)
                continue
            record = {str(k).strip(): "" if v is None else v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
            columns.update(dict.fromkeys(record))
            records.append((row_id, record))
        return list(columns), records

    def _split(self, raw: str, row_id: str) -> str | None:
        value = raw.strip().lower()
        if not value:
            return None
        split = _SPLIT_ALIASES.get(value)
        if split is None:
            self.warn(row_id, f"unknown split {raw!r} (expected {', '.join(SPLITS)}); the sample is split automatically", row_id)
        return split

    def _infer_field(self, name: str, values: list[str]) -> FieldInfo:
        """A column of mostly file names of one kind is a file field of that kind; anything else is inline text."""
        grayscale = name in self.cfg.grayscale
        kinds = Counter(_path_kind(value) for value in values if value.strip())
        filled = sum(kinds.values())
        explicit = self.cfg.field_types.get(name)
        if explicit in ("image", "audio", "array"):
            return FieldInfo(name, explicit, "file", grayscale=grayscale)
        if explicit == "text":
            source = "file" if kinds["text"] * 2 > filled else "inline"
            return FieldInfo(name, "text", source)
        kind, count = max(((k, n) for k, n in kinds.items() if k), key=lambda kn: kn[1], default=(None, 0))
        if kind is not None and count * 2 > filled:
            return FieldInfo(name, kind, "file", grayscale=grayscale and kind == "image")
        return FieldInfo(name, "text", "inline")

    def _add_value(self, candidate: _Candidate, info: FieldInfo, raw: str) -> None:
        if info.source == "inline":
            if not raw.strip():
                what = "no question" if self.task == "vqa" and info.name == "question" else "empty caption"
                candidate.errors.append((candidate.id, f"{what} in column {info.name!r}"))
            candidate.values[info.name] = raw
            return
        if not raw.strip():
            candidate.errors.append((candidate.id, f"no file named in column {info.name!r}"))
            return
        path, problem = self.guard.resolve(raw)
        if problem is None and info.name not in self.cfg.field_types and _path_kind(raw) != info.kind:
            extensions = "/".join(_EXTENSIONS_BY_KIND[info.kind])
            problem = f"column {info.name!r} holds {info.kind} files ({extensions}), but this is not one"
        if problem:
            candidate.errors.append((raw.strip(), problem))
        candidate.values[info.name] = path


def _path_kind(value: str) -> str | None:
    """The field kind a manifest value names by its file extension, or None for inline text."""
    value = value.rstrip()
    dot = value.rfind(".")
    # Cheap string tests first: this runs for every value of every column.
    if dot < 0 or len(value) - dot > 5 or len(value) > _MAX_PATH_LENGTH or "\n" in value:
        return None
    return KIND_BY_EXTENSION.get(value[dot:].lower())


class _ClassFolderScanner(_Scanner):
    """``ROOT/[train|val|test/]<class>/<name>.<image>`` with ``<name>.txt`` / ``<name>.wav`` beside."""

    layout = "class_folders"

    def candidates(self) -> list[_Candidate]:
        self._unrecognised = self._images = 0
        try:
            return self._candidates()
        except _NotADataset:
            # The warnings gathered so far name files of a folder that is no dataset: one problem says it all.
            self.problems = [Problem(".", f"not a dataset: after {self._unrecognised} entries that are not samples "
                                          f"(and {self._images} images) the scan stopped. {DATASET_LAYOUTS}",
                                     "error")]
            self.fields = {}
            return []

    def _count(self, unrecognised: int = 0, images: int = 0) -> None:
        self._unrecognised += unrecognised
        self._images += images
        if self._unrecognised > max(MAX_UNRECOGNISED, 10 * self._images):
            raise _NotADataset

    def _candidates(self) -> list[_Candidate]:
        top = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir() and not entry.name.startswith("."))
        split_folders = {name: _SPLIT_ALIASES.get(name.lower()) for name in top}
        if top and "train" in split_folders.values() and all(split_folders.values()):
            groups = [(split_folders[name], self.root / name) for name in top]
        else:
            groups = [(None, self.root)]
        images: list[tuple[str | None, str, str, dict[str, str]]] = []  # split, label, image path, companions
        self._report_loose_files(self.root)
        for split, folder in groups:
            if folder != self.root:
                self._report_loose_files(folder)
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.startswith(".") or not entry.is_dir():
                    continue
                for image, companions in self._walk_class(Path(entry.path)):
                    images.append((split, entry.name, image, companions))
        if images:
            self.fields["image"] = FieldInfo("image", "image", "file", grayscale="image" in self.cfg.grayscale)
        for name, kind in (("text", "text"), ("audio", "audio")):
            if any(name in companions for *_, companions in images):
                self.fields[name] = FieldInfo(name, kind, "file")
        candidates = []
        for split, label, image, companions in images:
            candidate = _Candidate(self.relative(image), label, split, {"image": image})
            stem = os.path.splitext(image)[0]
            for name in ("text", "audio"):
                if name not in self.fields:
                    continue
                if name in companions:
                    candidate.values[name] = companions[name]
                else:
                    wanted = ".txt" if name == "text" else ".wav"
                    candidate.errors.append((self.relative(stem + wanted), f"missing {name} file beside the image; add it or remove the image"))
            candidates.append(candidate)
        return candidates

    def _report_loose_files(self, folder: Path) -> None:
        for entry in os.scandir(folder):
            if entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                self.error(self.relative(entry.path), "image is not inside a class folder; move it into ROOT/<class>/")

    def _walk_class(self, class_dir: Path) -> list[tuple[str, dict[str, str]]]:
        """(image path, {"text": caption path, "audio": sound path}) for every image under the class folder."""
        found = []
        visited: set[str] = set()
        for directory, subdirs, files in os.walk(class_dir, followlinks=True):
            real = os.path.realpath(directory)
            if not self.guard.inside(real) or real in visited:
                if not self.guard.inside(real):
                    self.error(self.relative(directory), "folder is a symbolic link pointing outside the dataset folder; skipped")
                subdirs.clear()
                continue
            visited.add(real)
            self._count(unrecognised=1)  # a folder is an entry too: deep trees of few files count
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            by_stem: dict[str, list[str]] = {}
            for name in sorted(files):
                if not name.startswith("."):
                    stem, ext = os.path.splitext(name)
                    by_stem.setdefault(stem, []).append(ext)
            for stem, extensions in by_stem.items():
                found.extend(self._group(directory, stem, extensions))
        return found

    def _group(self, directory: str, stem: str, extensions: list[str]) -> list[tuple[str, dict[str, str]]]:
        base = os.path.join(directory, stem)
        image_exts = [e for e in extensions if e.lower() in IMAGE_EXTENSIONS]
        companions = {}
        for ext in extensions:
            lower = ext.lower()
            if lower in TEXT_EXTENSIONS:
                companions["text"] = base + ext
            elif lower in AUDIO_EXTENSIONS:
                companions["audio"] = base + ext
            elif lower not in IMAGE_EXTENSIONS:
                self.warn(self.relative(base + ext), "ignored: not an image, caption (.txt) or sound (.wav/.flac)")
                self._count(unrecognised=1)
        if not image_exts:
            for path in companions.values():
                self.warn(self.relative(path), "ignored: no image with the same name beside it")
            self._count(unrecognised=len(companions))
            return []
        self._count(images=len(image_exts))
        return [(base + ext, companions) for ext in image_exts]
