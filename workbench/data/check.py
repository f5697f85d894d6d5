"""``check_dataset``: scan, split and summarise a dataset folder for people and programs."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.data.index import SPLITS, DatasetIndex, Problem
from workbench.data.scan import scan_dataset
from workbench.data.text import split_tokens


@dataclass
class DatasetReport:
    index: DatasetIndex
    splits: dict[str, list[int]]
    split_source: str  # "given" (from the folders or the manifest) or "drawn" (stratified with the seed)
    class_counts: dict[str, dict[str, int]]
    text_stats: dict[str, dict[str, float]]
    problems: list[Problem]
    trainable: bool
    advice: str  # when not trainable: what to do
    val_fraction: float = 0.2
    seed: int = 0
    text_max_length: int = 32
    skipped: int = 0  # samples left out because of an error
    task: str = "classification"
    errors: int = field(init=False)
    warnings: int = field(init=False)

    def __post_init__(self) -> None:
        self.errors = sum(p.severity == "error" for p in self.problems)
        self.warnings = len(self.problems) - self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.index.root),
            "layout": self.index.layout,
            "samples": len(self.index.samples),
            "skipped": self.skipped,
            "classes": [{"name": name, **counts} for name, counts in self.class_counts.items()],
            "fields": {name: info.to_dict() for name, info in self.index.fields.items()},
            "text_stats": self.text_stats,
            "splits": {name: len(indices) for name, indices in self.splits.items()},
            "split_source": self.split_source,
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "problems": [problem.to_dict() for problem in self.problems],
            "errors": self.errors,
            "warnings": self.warnings,
            "trainable": self.trainable,
            "advice": self.advice,
            "task": self.task,
            "out_of_vocabulary": self.index.out_of_vocabulary,
            "mask_classes": self.index.target_names,
        }

    def format_text(self) -> str:
        index = self.index
        layout = {"manifest": "manifest", "class_folders": "class folders"}[index.layout]
        lines = [
            f"Dataset   {index.root}",
            f"Layout    {layout}",
            f"Samples   {sum(len(indices) for indices in self.splits.values())} usable, {self.skipped} skipped",
            "",
        ]
        if self.task == "vqa":
            lines.append(f"Answers ({len(self.class_counts)} classes; {index.out_of_vocabulary} sample(s) with an "
                         "out-of-vocabulary answer left out)")
        elif self.task == "segmentation":
            names = index.target_names or []
            lines += [f"Mask classes ({len(names)}): " + ", ".join(f"{i} {name}" for i, name in enumerate(names)),
                      "", f"Images by main class ({len(self.class_counts)})"]
        else:
            lines.append(f"Classes ({len(self.class_counts)})")
        width = max([len("class"), *(len(name) for name in self.class_counts)])
        if self.class_counts:
            lines.append(f"  {'class':<{width}}  {'train':>6} {'val':>6} {'test':>6} {'total':>6}")
        for name, counts in self.class_counts.items():
            lines.append(f"  {name:<{width}}  {counts['train']:>6} {counts['val']:>6} {counts['test']:>6} {counts['total']:>6}")
        lines += ["", "Fields"]
        for name, info in index.fields.items():
            detail = info.source
            if info.kind == "image":
                detail += ", grayscale" if info.grayscale else ", RGB"
            if info.shape is not None:
                detail += f", shape {list(info.shape)}"
            lines.append(f"  {name:<12} {info.kind:<6} ({detail})")
        for name, stats in self.text_stats.items():
            lines.append(
                f"  text {name!r}: {stats['count']} captions, tokens min {stats['tokens_min']} / "
                f"mean {stats['tokens_mean']:.1f} / median {stats['tokens_median']:g} / max {stats['tokens_max']}, "
                f"{stats['truncated']} longer than {self.text_max_length} tokens (truncated)"
            )
        how = "as given" if self.split_source == "given" else f"validation drawn: {self.val_fraction:.0%} per class, seed {self.seed}"
        sizes = ", ".join(f"{name} {len(self.splits[name])}" for name in SPLITS)
        lines += ["", f"Splits    {sizes} ({how})", ""]
        if self.problems:
            lines.append(f"Problems ({self.errors} error(s): sample skipped; {self.warnings} warning(s): sample kept)")
            for problem in self.problems:
                where = f" [{problem.sample_id}]" if problem.sample_id and problem.sample_id != problem.path else ""
                lines.append(f"  {problem.severity:<7} {problem.path}: {problem.reason}{where}")
        else:
            lines.append("Problems  none")
        lines.append("")
        if self.trainable:
            lines.append(
                f"Trainable: yes ({len(self.splits['train'])} training and {len(self.splits['val'])} validation "
                f"samples in {len(index.class_names)} classes)"
            )
        else:
            lines.append(f"Trainable: no. {self.advice}")
        return "\n".join(lines)


def check_dataset(root: str | os.PathLike, data_cfg: Any, seed: int) -> DatasetReport:
    """Scan ``root``, split it and say whether a run can train on it (raises only for a missing folder)."""
    index = scan_dataset(root, data_cfg)
    problems = list(index.problems)
    splits, split_source = assign_splits(index, data_cfg.val_fraction, seed, problems)
    # A segmentation sample's label is only its mask's main class: no class is unlearnable for lack of one.
    dropped = _check_classes(index, splits, problems) if index.target_names is None else 0
    # Errors first, then warnings; each in path order, so that a folder's problems read together.
    problems.sort(key=lambda p: (p.severity != "error", p.path))
    skipped = (len({p.sample_id for p in problems if p.severity == "error" and p.sample_id}) + dropped
               + index.out_of_vocabulary)
    class_counts = {name: {"train": 0, "val": 0, "test": 0, "total": 0} for name in index.class_names}
    for split, indices in splits.items():
        for i in indices:
            counts = class_counts[index.samples[i].label]
            counts[split] += 1
            counts["total"] += 1
    used = [i for indices in splits.values() for i in indices]
    text_stats = {
        name: _text_stats(index, used, name, data_cfg)
        for name, info in index.fields.items()
        if info.kind == "text"
    }
    trainable, advice = _trainability(index, splits)
    return DatasetReport(
        index=index,
        splits=splits,
        split_source=split_source,
        class_counts=class_counts,
        text_stats=text_stats,
        problems=problems,
        trainable=trainable,
        advice=advice,
        val_fraction=data_cfg.val_fraction,
        seed=seed,
        text_max_length=data_cfg.text_max_length,
        skipped=skipped,
        task=getattr(data_cfg, "task", "classification"),
    )


def _sample_groups(index: DatasetIndex) -> list[list[int]]:
    """Samples that share a file (or, with inline text only, the same values) form one group.

    A group is never divided between splits, so the same file cannot be trained on and validated.
    """
    file_fields = [name for name, info in index.fields.items() if info.source == "file"]
    parent = list(range(len(index.samples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Any, int] = {}
    for i, sample in enumerate(index.samples):
        keys = [sample.values[name] for name in file_fields] or [tuple(sample.values.values())]
        for key in keys:
            j = owner.setdefault(key, i)
            if j != i:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(index.samples)):
        groups[find(i)].append(i)
    return list(groups.values())  # ordered by first sample, since dicts keep insertion order


def assign_splits(
    index: DatasetIndex, val_fraction: float, seed: int, problems: list[Problem]
) -> tuple[dict[str, list[int]], str]:
    """Given splits are used as they are; without any validation samples, a stratified
    ``val_fraction`` of each class's training groups is drawn with ``seed``."""
    groups = _sample_groups(index)
    group_split: list[str | None] = []
    for group in groups:
        first = index.samples[group[0]].split
        if len(group) == 1:
            group_split.append(first)
            continue
        given = {index.samples[i].split for i in group}
        if len(given - {None}) > 1:
            problems.append(
                Problem(
                    index.samples[group[0]].id,
                    f"the same file is listed in several splits ({', '.join(sorted(s for s in given if s))}); "
                    f"all its samples are kept in {first or 'train'}",
                    "warning",
                    index.samples[group[0]].id,
                )
            )
        group_split.append(first or next((s for s in given if s), None))
    splits: dict[str, list[int]] = {name: [] for name in SPLITS}
    if "val" in group_split:
        source = "given"
        for group, split in zip(groups, group_split):
            splits[split or "train"].extend(group)
    else:
        source = "drawn" if val_fraction > 0 else "given"
        by_class: dict[str, list[int]] = defaultdict(list)
        for g, (group, split) in enumerate(zip(groups, group_split)):
            if split == "test":
                splits["test"].extend(group)
            else:
                by_class[index.samples[group[0]].label].append(g)
        rng = np.random.default_rng(seed)
        for label in sorted(by_class):
            candidates = by_class[label]
            n_val = min(len(candidates) - 1, max(1, round(val_fraction * len(candidates)))) if val_fraction > 0 else 0
            chosen = set(rng.permutation(len(candidates))[:n_val].tolist())
            for k, g in enumerate(candidates):
                splits["val" if k in chosen else "train"].extend(groups[g])
    for indices in splits.values():
        indices.sort()
    return splits, source


def _check_classes(index: DatasetIndex, splits: dict[str, list[int]], problems: list[Problem]) -> int:
    """Classes that cannot be learned (no training samples) are dropped; tiny classes are flagged.

    Returns how many samples were dropped.
    """
    totals: dict[str, int] = defaultdict(int)
    in_train: set[str] = set()
    for split, indices in splits.items():
        for i in indices:
            totals[index.samples[i].label] += 1
            if split == "train":
                in_train.add(index.samples[i].label)
    for label in sorted(totals):
        if label not in in_train:
            elsewhere = sorted({s for s, indices in splits.items() for i in indices if index.samples[i].label == label})
            problems.append(
                Problem(
                    label,
                    f"class {label!r} appears only in {'/'.join(elsewhere)} ({totals[label]} samples) and cannot be "
                    "learned; its samples are skipped: add training samples of it or remove it",
                    "error",
                )
            )
        elif totals[label] < 2:
            problems.append(
                Problem(label, f"class {label!r} has only {totals[label]} sample; add more (dozens per class work best)", "warning")
            )
    dropped = set(totals) - in_train
    if not dropped:
        return 0
    for split in splits:
        splits[split] = [i for i in splits[split] if index.samples[i].label not in dropped]
    index.class_names = sorted(in_train)
    return sum(totals[label] for label in dropped)


def _text_stats(index: DatasetIndex, used: list[int], name: str, data_cfg: Any) -> dict[str, float]:
    lengths = [
        len(split_tokens(index.text(index.samples[i], name), data_cfg.text_lowercase, data_cfg.text_nfkc)) for i in used
    ]
    if not lengths:
        return {"count": 0, "tokens_min": 0, "tokens_mean": 0.0, "tokens_median": 0.0, "tokens_max": 0, "truncated": 0}
    return {
        "count": len(lengths),
        "tokens_min": min(lengths),
        "tokens_mean": sum(lengths) / len(lengths),
        "tokens_median": statistics.median(lengths),
        "tokens_max": max(lengths),
        "truncated": sum(n > data_cfg.text_max_length for n in lengths),
    }


def _trainability(index: DatasetIndex, splits: dict[str, list[int]]) -> tuple[bool, str]:
    if not index.samples:
        if index.layout == "manifest":
            return False, "No usable sample: fix the problems listed above in the manifest and run the check again."
        return False, (
            "No usable sample: put images in one folder per class (ROOT/<class>/<name>.png, with optional "
            "<name>.txt captions), or write a manifest.csv with a 'label' column; `workbench sample DIR` writes an example."
        )
    train_classes = {index.samples[i].label for i in splits["train"]}
    if index.target_names is None and len(train_classes) < 2:
        return False, f"Only {len(train_classes)} class has training samples; a classifier needs at least 2 classes."
    if not splits["val"]:
        return False, "No validation samples: add a val/ split, or set data.val_fraction above 0 with at least 2 samples per class."
    return True, ""
