"""The scanned view of a dataset folder: samples, fields and problems (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac"})
ARRAY_EXTENSIONS = frozenset({".npy"})
TEXT_EXTENSIONS = frozenset({".txt"})

# Which kind of field a file with a given extension makes.
KIND_BY_EXTENSION = {
    **{ext: "image" for ext in IMAGE_EXTENSIONS},
    **{ext: "audio" for ext in AUDIO_EXTENSIONS},
    **{ext: "array" for ext in ARRAY_EXTENSIONS},
    **{ext: "text" for ext in TEXT_EXTENSIONS},
}


@dataclass
class Problem:
    """Something wrong with the dataset. ``error`` samples are skipped; ``warning`` ones are kept."""

    path: str
    reason: str
    severity: str = "error"
    sample_id: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason, "severity": self.severity, "sample_id": self.sample_id}


@dataclass
class FieldInfo:
    """One input of a sample: its kind, where its values come from, and its fixed shape (arrays)."""

    name: str
    kind: str
    source: str = "file"
    shape: tuple[int, ...] | None = None
    grayscale: bool = False

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "shape": list(self.shape) if self.shape is not None else None,
            "grayscale": self.grayscale,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FieldInfo:
        shape = data.get("shape")
        return cls(
            name=data["name"],
            kind=data["kind"],
            source=data.get("source", "file"),
            shape=tuple(shape) if shape is not None else None,
            grayscale=bool(data.get("grayscale", False)),
        )


@dataclass
class Sample:
    """One labelled sample. ``values`` hold absolute file paths for file fields, the text for inline text.

    ``label`` is the class (the answer for VQA; for segmentation the main class of the mask, which
    splits and counts use). ``meta`` holds a task's extra columns: ``question_type`` (VQA), ``mask``
    (segmentation: the mask file's absolute path)."""

    id: str
    label: str
    split: str | None
    values: dict[str, str]
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class DatasetIndex:
    root: Path
    layout: str
    samples: list[Sample] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Decoded caption files by absolute path, filled by the scan so that no file is read twice.
    text_cache: dict[str, str] = field(default_factory=dict, repr=False)
    target_names: list[str] | None = None  # segmentation: the mask classes by id (classes.txt)
    out_of_vocabulary: int = 0  # VQA: samples left out because their answer is not among the classes

    def text(self, sample: Sample, name: str) -> str:
        """The text of a text field: inline, or the caption file's (decoded UTF-8, with replacement)."""
        value = sample.values[name]
        if self.fields[name].source == "inline":
            return value
        cached = self.text_cache.get(value)
        if cached is None:
            with open(value, "rb") as handle:
                cached = handle.read().decode("utf-8-sig", errors="replace")
        return cached

    def relative(self, path: str) -> str:
        """``path`` relative to the dataset root, as shown to people."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
