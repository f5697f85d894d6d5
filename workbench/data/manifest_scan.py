"""A dataset described by a manifest (manifest.csv or manifest.jsonl): one row per sample, one column per field.

A column of mostly file names of one kind is a file field of that kind; anything else is
inline text. The task (``data.task``) says which column is the target: ``label``
(classification), ``answer`` (vqa: the most frequent answers become the classes) or ``mask``
(segmentation: a PNG of class ids, checked against its image and classes.txt).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.data.index import KIND_BY_EXTENSION, SPLITS, FieldInfo
from workbench.data.masks import MaskError, check_mask, read_class_names
from workbench.data.scanner import CHECK_THREADS, SPLIT_ALIASES, Candidate, Scanner
from workbench.registry import FIELD_KINDS

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
_EXTENSIONS_BY_KIND = {kind: sorted(ext for ext, k in KIND_BY_EXTENSION.items() if k == kind) for kind in FIELD_KINDS}
# A manifest value longer than this, or with a line break, is text even if it ends like a file name.
_MAX_PATH_LENGTH = 1024


class ManifestScanner(Scanner):
    layout = "manifest"

    def __init__(self, root: Path, data_cfg: Any, manifest: str):
        super().__init__(root, data_cfg)
        self.manifest = manifest

    def candidates(self) -> list[Candidate]:
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
        candidates: list[Candidate] = []
        first_row_by_content: dict[tuple, str] = {}
        for row_id, record in records:
            label = record.get(target, "").strip()
            if self.task == "vqa":  # "Red", "red " and "red" are one answer
                label = " ".join(label.lower().split())
            candidate = Candidate(row_id, label, self._split(record.get("split", ""), row_id), {})
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

    def _check_targets(self, candidates: list[Candidate]) -> None:
        if self.task == "vqa":
            self._keep_frequent_answers(candidates)
        elif self.task == "segmentation":
            self._check_masks(candidates)

    def _keep_frequent_answers(self, candidates: list[Candidate]) -> None:
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

    def _check_masks(self, candidates: list[Candidate]) -> None:
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

        def check(candidate: Candidate) -> str | int:
            image = candidate.values.get(image_fields[0]) if image_fields else None
            try:
                return check_mask(candidate.meta["mask"], image, len(names), self.cfg.max_image_pixels)
            except (MaskError, OSError) as exc:
                return str(exc)

        with ThreadPoolExecutor(max_workers=CHECK_THREADS) as pool:
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
        split = SPLIT_ALIASES.get(value)
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

    def _add_value(self, candidate: Candidate, info: FieldInfo, raw: str) -> None:
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
