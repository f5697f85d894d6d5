"""Segmentation masks: class names, checks, decoding to the image grid, and joint augmentation.

A mask is a single-channel PNG whose pixel values are class ids (mode ``L``), or a palette PNG
(mode ``P``) whose palette indices are the class ids. Id ``IGNORE_INDEX`` (255) marks pixels that
are not scored. The class names come from ``classes.txt`` beside the manifest: one name per line,
line 1 is id 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workbench.data.image import ImageDecodeError, open_checked

IGNORE_INDEX = 255
CLASSES_FILE = "classes.txt"
_MASK_MODES = ("L", "P", "I", "I;16")


class MaskError(ValueError):
    """A mask that cannot be used; the message says why and what to do."""


def read_class_names(root: Path) -> list[str] | str:
    """The class names of ``classes.txt``, or the reason they cannot be read (a string)."""
    path = root / CLASSES_FILE
    if not path.is_file():
        return (f"segmentation needs {CLASSES_FILE} in the dataset folder: one class name per line, line 1 "
                "is mask id 0 (e.g. background)")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {CLASSES_FILE}: {exc}"
    if len(names) < 2:
        return f"{CLASSES_FILE} lists {len(names)} class(es); segmentation needs at least 2 (e.g. background and one)"
    if len(names) > IGNORE_INDEX:
        return f"{CLASSES_FILE} lists {len(names)} classes; at most {IGNORE_INDEX} fit in a mask (255 = ignore)"
    if len(set(names)) != len(names):
        return f"{CLASSES_FILE} names a class twice; give each id its own name"
    return names


def read_mask(path: str | Path, max_pixels: int) -> np.ndarray:
    """The mask's class ids as a (H, W) array, at the file's own size."""
    try:
        with open_checked(path, max_pixels) as image:
            if image.mode not in _MASK_MODES:
                raise MaskError(f"mask is a {image.mode} image; save class ids as a single-channel (L) or "
                                "palette (P) PNG, one id per pixel")
            return np.asarray(image)
    except ImageDecodeError as exc:
        raise MaskError(f"cannot read mask: {exc}") from None


def check_mask(mask_path: str, image_path: str | None, num_classes: int, max_pixels: int) -> int:
    """Check a mask against its image and the classes; returns the mask's main class id (the most
    frequent id other than 0 and 255, else 0). Raises ``MaskError`` with the reason."""
    ids = read_mask(mask_path, max_pixels)
    if image_path is not None:
        with Image.open(image_path) as image:  # the header is enough for the size
            size = image.size
        if (ids.shape[1], ids.shape[0]) != size:
            raise MaskError(f"mask is {ids.shape[1]}x{ids.shape[0]} pixels but its image is {size[0]}x{size[1]}; "
                            "a mask must have its image's size")
    counts = np.bincount(ids.reshape(-1).astype(np.int64), minlength=IGNORE_INDEX + 1)
    unknown = [i for i in np.flatnonzero(counts) if num_classes <= i != IGNORE_INDEX]
    if unknown:
        shown = ", ".join(str(int(i)) for i in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise MaskError(f"mask has class id(s) {shown} outside the {num_classes} classes of {CLASSES_FILE} "
                        f"(ids 0-{num_classes - 1}, 255 = ignore)")
    foreground = counts[1:num_classes]
    return int(foreground.argmax()) + 1 if foreground.any() else 0


def resize_mask(ids: np.ndarray, size: int) -> np.ndarray:
    """The mask on the image's grid: the same shorter-side scale and centre crop as ``resize_square``,
    with nearest-neighbour sampling so that ids stay ids."""
    image = Image.fromarray(ids.astype(np.uint8), "L")
    width, height = image.size
    scale = size / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_width, new_height) != image.size:
        image = image.resize((new_width, new_height), Image.Resampling.NEAREST)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    if image.size != (size, size):
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image)


def shift_mask(mask: torch.Tensor, flip: bool, pad: int, top: int, left: int) -> torch.Tensor:
    """The geometric part of ``augment_uint8`` applied to a (H, W) mask: the same flip and shifted crop
    (reflect padding, as the image), so that image and mask stay aligned."""
    if flip:
        mask = mask.flip(-1)
    height, width = mask.shape
    padded = torch.nn.functional.pad(mask[None, None].float(), (pad, pad, pad, pad), mode="reflect")[0, 0]
    return padded[top:top + height, left:left + width].to(mask.dtype)
