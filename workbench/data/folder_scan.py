"""A dataset as class folders: ``ROOT/[train|val|test/]<class>/<name>.<image>``, with ``<name>.txt``
captions and ``<name>.wav`` sounds beside the images.

A folder that is no dataset (a home folder, /) is answered after a bounded walk: the scan
stops once it has met ``MAX_UNRECOGNISED`` entries that are not samples.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.data.index import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, TEXT_EXTENSIONS, FieldInfo, Problem
from workbench.data.scanner import DATASET_LAYOUTS, SPLIT_ALIASES, Candidate, Scanner

# A class-folder scan gives up on a folder once it has met this many entries that are not samples (and
# ten times more of them than images): a home folder or / is answered in a moment, not after a full walk.
MAX_UNRECOGNISED = 2000


class _NotADataset(Exception):
    """Raised inside a class-folder scan that met too many entries that are not samples."""


class ClassFolderScanner(Scanner):
    """``ROOT/[train|val|test/]<class>/<name>.<image>`` with ``<name>.txt`` / ``<name>.wav`` beside."""

    layout = "class_folders"

    def candidates(self) -> list[Candidate]:
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

    def _candidates(self) -> list[Candidate]:
        top = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir() and not entry.name.startswith("."))
        split_folders = {name: SPLIT_ALIASES.get(name.lower()) for name in top}
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
            candidate = Candidate(self.relative(image), label, split, {"image": image})
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
