"""Checks of one dataset file: inside the dataset folder, a regular non-empty file, and readable as its kind.

A scan checks every referenced file once, from a pool of threads (``check_file`` keeps no
state: decoding releases the GIL); what is wrong becomes the sample's error, what is doubtful
a warning.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.data.audio import AudioError, read_audio
from workbench.data.image import ImageDecodeError, open_checked, to_mode
from workbench.data.text import read_text_file


@dataclass
class FileCheck:
    error: str | None = None
    warning: str | None = None
    shape: tuple[int, ...] | None = None  # arrays
    text: str | None = None  # text files: their text, kept so that training does not read them again


class PathGuard:
    """Turns dataset-relative paths into absolute ones, refusing any that lead outside the root.

    Directory real paths are cached, so checking many files in a few folders costs one
    ``lstat`` per file.
    """

    def __init__(self, root: os.PathLike):
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


def check_file(path: str, kind: str, guard: PathGuard, data_cfg: Any) -> FileCheck:
    """Whether the file at ``path`` is usable as a ``kind`` field (data_cfg: its size limits)."""
    problem = guard.check(path)
    if problem:
        return FileCheck(error=problem)
    try:
        if kind == "image":
            with open_checked(path, data_cfg.max_image_pixels) as image:
                to_mode(image, grayscale=False)  # the conversion training will do must work too
        elif kind == "audio":
            read_audio(path)
        elif kind == "array":
            return _check_array(path)
        else:
            return _check_text_file(path, data_cfg.max_text_bytes)
    except (ImageDecodeError, AudioError) as exc:
        return FileCheck(error=str(exc))
    except (ValueError, OSError) as exc:  # e.g. an image mode Pillow cannot convert to RGB
        return FileCheck(error=f"cannot read {kind} file: {exc}")
    return FileCheck()


def _check_text_file(path: str, max_bytes: int) -> FileCheck:
    text, problem = read_text_file(path, max_bytes)
    if problem and not text:
        return FileCheck(error=problem)
    if not text.strip():
        return FileCheck(error="empty caption; write a caption or remove the sample")
    return FileCheck(warning=problem, text=text)


def _check_array(path: str) -> FileCheck:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # reads the header only
    except (ValueError, OSError, EOFError) as exc:
        return FileCheck(error=f"cannot read .npy array: {exc}")
    if not isinstance(array, np.ndarray):
        return FileCheck(error="not a single .npy array")
    shape, kind = tuple(array.shape), array.dtype.kind
    del array
    if kind not in "biuf":
        return FileCheck(error=f"array dtype is not numeric (kind {kind!r}); save numbers (int or float)")
    if 0 in shape:
        return FileCheck(error=f"array is empty (shape {shape})")
    return FileCheck(shape=shape)
