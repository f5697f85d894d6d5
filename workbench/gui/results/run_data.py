"""A run folder read into plain data for the result views (Qt-free, so it runs in worker threads).

Everything here may be slow on a long run or 10,000 samples (JSON, caption files,
npz arrays) and is called from :class:`jobs.JobRunner` jobs, never on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.index import FieldInfo
from workbench.data.preprocessing import Preprocessing
from workbench.data.text import read_text_file
from workbench.config import MAX_TEXT_BYTES, NETS, config_to_dict
from workbench.engine.result import RunResult, run_result
from workbench.engine.runs import RunRecord, list_runs
from workbench.errors import WorkbenchError
from workbench.gui.results.masks import MaskSet, is_mask_set
from workbench.gui.results.selection import PredictionSet


@dataclass
class SampleInfo:
    """What the result views know about the validation samples, in prediction-row order."""

    ids: list[str]
    labels: list[str]
    image_paths: list[str | None]  # the first image field's file, or None
    texts: list[str]  # the text fields' texts joined (captions), possibly empty
    field_texts: list[dict[str, str]]  # text field -> its text
    haystacks: list[str]  # lower-case id, file names and captions, for the search box
    values: list[dict[str, str]]  # every field's value (file path, or the text of inline text)
    kinds: dict[str, str]  # field -> image | text | audio | array
    field_users: dict[str, list[str]] = field(default_factory=dict)  # field -> the networks that read it

    def title(self, row: int) -> str:
        """What to call a sample: a manifest row by its main file ("cat_12.png, manifest.csv row 5"),
        a class-folder sample by its path."""
        sample_id = self.ids[row]
        source, _, line = sample_id.rpartition(":")
        if not source.startswith("manifest.") or not line.isdigit():
            return sample_id
        files = [Path(value).name for name, value in self.values[row].items()
                 if value and self.kinds.get(name) in ("image", "audio", "array") and Path(value).suffix]
        return f"{files[0]}, {source} row {line}" if files else f"{source} row {line}"

    def field_caption(self, name: str) -> str:
        """A field and who reads it: "image (teacher + student input)"."""
        users = self.field_users.get(name, [])
        return f"{name} ({' + '.join(users)} input)" if users else f"{name} (no network's input)"

    @classmethod
    def from_samples(cls, samples: list[dict[str, Any]], fields: dict[str, FieldInfo]) -> SampleInfo:
        """From ``samples.json`` entries; caption files are read here (worker thread), once."""
        image_field = next((name for name, info in fields.items() if info.kind == "image"), None)
        text_fields = [name for name, info in fields.items() if info.kind == "text"]
        ids, labels, image_paths, texts, field_texts, haystacks, values = [], [], [], [], [], [], []
        for sample in samples:
            sample_values = {name: str(value) for name, value in sample.get("values", {}).items()}
            own_texts = {name: _field_text(sample_values.get(name, ""), fields[name]) for name in text_fields}
            text = " / ".join(own_texts.values())
            file_names = " ".join(Path(value).name for name, value in sample_values.items()
                                  if fields.get(name) is not None and fields[name].source == "file")
            ids.append(str(sample["id"]))
            labels.append(str(sample.get("label", "")))
            image_paths.append(sample_values.get(image_field) if image_field else None)
            texts.append(text)
            field_texts.append(own_texts)
            haystacks.append(f"{sample['id']} {file_names} {text}".lower())
            values.append(sample_values)
        return cls(ids, labels, image_paths, texts, field_texts, haystacks, values,
                   {name: info.kind for name, info in fields.items()})


def _field_text(value: str, info: FieldInfo) -> str:
    """A text field's text: the inline value, or its caption file's."""
    if info.source == "inline" or not value:
        return value
    try:
        return read_text_file(value, MAX_TEXT_BYTES)[0].strip()
    except OSError:
        return ""


@dataclass
class LoadedRun:
    """A run's static parts and the list of its validation epochs; predictions load per epoch."""

    class_names: list[str]
    samples: SampleInfo
    epochs: list[tuple[str, int]]  # (stage, epoch) in training order
    params: dict[str, int] = field(default_factory=dict)
    checkpoint_bytes: dict[str, int] = field(default_factory=dict)  # net -> size of its best checkpoint
    summary: dict[str, Any] = field(default_factory=dict)  # summary.json (its result: engine/result.py)


def checkpoint_sizes(run_dir: Path) -> dict[str, int]:
    sizes = {}
    for net in NETS:
        for which in ("best", "last"):
            path = run_dir / "checkpoints" / f"{net}-{which}.pt"
            if path.is_file():
                sizes[net] = path.stat().st_size
                break
    return sizes


def load_run(run_dir: str | Path) -> LoadedRun:
    record = RunRecord.open(Path(run_dir))
    preprocessing = Preprocessing.load(record.path / "preprocessing.json")
    samples = SampleInfo.from_samples(record.samples(), preprocessing.fields)
    epochs = [(stage, epoch) for stage in ("teacher", "student") for epoch in record.prediction_epochs(stage)]
    params: dict[str, int] = dict(record.summary.get("params") or {})
    class_names = list(record.summary.get("class_names") or [])
    if not params or not class_names:
        for event in record.events():
            if event.get("event") == "fit_start":
                params = params or dict(event.get("params") or {})
                class_names = class_names or list(event.get("class_names") or [])
                break
    try:
        config = record.config
        readers = {"teacher": config.teacher.fields, "student": config.student.fields}
    except WorkbenchError:  # a damaged config.toml: the samples are still shown, without who reads them
        readers = {}
    samples.field_users = {name: [net for net, fields in readers.items() if name in fields]
                           for name in preprocessing.fields}
    return LoadedRun(class_names, samples, epochs, params, checkpoint_sizes(record.path), dict(record.summary or {}))


def load_epoch(run_dir: str | Path, stage: str, epoch: int) -> PredictionSet | MaskSet:
    return epoch_set(stage, epoch, RunRecord.open(Path(run_dir)).predictions(stage, epoch))


def epoch_set(stage: str, epoch: int, arrays: dict[str, np.ndarray]) -> PredictionSet | MaskSet:
    """A validation epoch's arrays, ready to show (derived arrays computed): class probabilities, or a
    segmentation run's masks."""
    if is_mask_set(arrays):
        return MaskSet.from_arrays(stage, epoch, arrays).derive()
    return PredictionSet.from_arrays(stage, epoch, arrays).derive()


# ----------------------------------------------------------------------------- the runs table

@dataclass
class RunRow:
    """One line of the runs table."""

    run_dir: str
    name: str
    date: str
    dataset: str
    teacher_fields: str
    student_fields: str
    result: RunResult  # best checkpoint and last epoch of each network, the gain under each
    status: str
    config: dict[str, Any] | None  # None when config.toml cannot be read


def _run_date(folder_name: str) -> str:
    """``20260101-093000-name`` -> ``2026-01-01 09:30``."""
    stamp = folder_name[:15]
    if len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit():
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return ""


def run_rows(runs_dir: str | Path) -> list[RunRow]:
    """The runs table of a runs folder (reads every run's summary and config: call off the GUI thread)."""
    rows = []
    for record in list_runs(Path(runs_dir)):
        summary = record.summary or {}
        try:
            config: dict[str, Any] | None = config_to_dict(record.config)
        except WorkbenchError:  # a damaged config.toml: list the run anyway, it can still be deleted
            config = None
        name = record.path.name
        root = config["data"]["root"] if config else ""
        rows.append(RunRow(
            run_dir=str(record.path), name=name, date=_run_date(name), dataset=Path(root).name if root else "",
            teacher_fields=", ".join(config["teacher"]["fields"]) if config else "",
            student_fields=", ".join(config["student"]["fields"]) if config else "",
            result=run_result(summary), status=record.status, config=config))
    return rows


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": value}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


_MISSING = "(not set)"


def config_diff(first: dict[str, Any], second: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, first value, second value)`` for exactly the keys whose values differ."""
    a, b = flatten(first), flatten(second)
    return [(key, a.get(key, _MISSING), b.get(key, _MISSING)) for key in sorted(set(a) | set(b))
            if a.get(key, _MISSING) != b.get(key, _MISSING)]


def validation_curves(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{"<net>/<metric>": [(epoch, value), ...]}`` from the run's validation events, in order."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for event in RunRecord.open(Path(run_dir)).events():
        if event.get("event") != "validation":
            continue
        for net, values in (event.get("metrics") or {}).items():
            # The teacher is validated again in the student stage; its own stage is its curve.
            if net == "teacher" and event.get("stage") != "teacher":
                continue
            for metric, value in values.items():
                if isinstance(value, (int, float)):
                    curves.setdefault(f"{net}/{metric}", []).append((int(event["epoch"]), float(value)))
    return curves
