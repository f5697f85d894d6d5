"""Builders of small hand-made datasets for the data-layer tests (imported by the test modules)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.config import DataConfig
from workbench.data.audio import encode_wav


def make_cfg(root: Path | str = "", **overrides) -> DataConfig:
    return dataclasses.replace(DataConfig(root=str(root)), **overrides)


def write_image(path: Path, colour=(200, 30, 30), size=(8, 8), mode="RGB", fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, format=fmt)
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_wav(path: Path, seconds=0.1, rate=8000, freq=440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    path.write_bytes(encode_wav(0.5 * np.sin(2 * np.pi * freq * t), rate))
    return path


def write_class_folders(root: Path, classes=("cat", "dog"), per_class=5, captions=True, audio=False) -> Path:
    """``root/<class>/<i>.png`` with a caption (and a sound) beside each image; colours differ per class."""
    for k, name in enumerate(classes):
        for i in range(per_class):
            stem = root / name / f"{name}{i}"
            write_image(stem.with_suffix(".png"), colour=(40 + 150 * k, 60 + 10 * i, 90))
            if captions:
                write_text(stem.with_suffix(".txt"), f"a picture of a {name} number {i}")
            if audio:
                write_wav(stem.with_suffix(".wav"), freq=300.0 + 200 * k)
    return root


def problem_reasons(report_or_index) -> dict[str, str]:
    """path -> reason of every problem (joined when a path has several)."""
    reasons: dict[str, str] = {}
    for problem in report_or_index.problems:
        reasons[problem.path] = (reasons.get(problem.path, "") + " | " + problem.reason).strip(" |")
    return reasons
