"""Pictures for the loggers, drawn with Pillow (the engine has no Qt): a confusion matrix and a gallery grid.

Both return ``uint8`` arrays of shape (height, width, 3).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_FONT_SIZE = 11
_MAX_NAME = 12
_LOW, _HIGH = np.array([255, 255, 255]), np.array([8, 48, 107])  # white to dark blue, as a sequential map
_RIGHT, _WRONG = (0, 110, 60), (190, 30, 30)
_MAX_CELL_NUMBERS = 20  # class count up to which each cell shows its count


@functools.cache
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _short(name: str) -> str:
    return name if len(name) <= _MAX_NAME else name[:_MAX_NAME - 1] + "…"


def confusion_image(counts: np.ndarray, class_names: list[str], title: str) -> np.ndarray:
    """The confusion matrix as a heatmap, each row coloured by its share of the true class, counts in the cells."""
    classes = counts.shape[0]
    cell = int(np.clip(480 // max(classes, 1), 8, 40))
    font = _font()
    names = [_short(name) for name in class_names]
    left = 8 + max((int(font.getlength(name)) for name in names), default=0)
    top, bottom = 24, 18
    footer = "rows: true class, columns: predicted"
    width = max(left + classes * cell, 4 + int(font.getlength(title)), left + int(font.getlength(footer))) + 8
    height = top + classes * cell + bottom
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((4, 4), title, fill="black", font=font)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    for row in range(classes):
        y = top + row * cell
        draw.text((left - 4, y + cell / 2), names[row], fill="black", font=font, anchor="rm")
        for column in range(classes):
            x = left + column * cell
            colour = tuple(int(c) for c in _LOW + (_HIGH - _LOW) * shares[row, column])
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=colour, outline=(220, 220, 220))
            if classes <= _MAX_CELL_NUMBERS and counts[row, column]:
                ink = "white" if shares[row, column] > 0.5 else "black"
                draw.text((x + cell / 2, y + cell / 2), str(counts[row, column]), fill=ink, font=font, anchor="mm")
    draw.text((left, top + classes * cell + 3), footer, fill=(90, 90, 90), font=font)
    return np.asarray(image)


def gallery_image(paths: list[str], captions: list[tuple[str, str]], thumb: int = 72, columns: int = 8
                  ) -> np.ndarray:
    """Thumbnails in a grid, each captioned with its true and predicted class: green when right, red when wrong."""
    columns = max(1, min(columns, len(paths)))
    rows = (len(paths) + columns - 1) // columns
    line = _FONT_SIZE + 3
    width, height = columns * (thumb + 6) + 6, rows * (thumb + 2 * line + 8) + 6
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font()
    for i, (path, (true, predicted)) in enumerate(zip(paths, captions)):
        x = 6 + (i % columns) * (thumb + 6)
        y = 6 + (i // columns) * (thumb + 2 * line + 8)
        image.paste(_thumbnail(path, thumb), (x, y))
        for row, (text, ink) in enumerate(((true, (60, 60, 60)), (predicted, _RIGHT if predicted == true else _WRONG))):
            while text and font.getlength(text) > thumb:
                text = text[:-1]
            draw.text((x, y + thumb + 2 + row * line), text, fill=ink, font=font)
    return np.asarray(image)


@functools.lru_cache(maxsize=64)
def _thumbnail(path: str, size: int) -> Image.Image:
    with Image.open(Path(path)) as source:
        source.draft("RGB", (size, size))  # JPEGs decode at a reduced size
        picture = source.convert("RGB")
    scale = size / max(picture.size)
    # Small images are enlarged with visible pixels rather than blurred; large ones shrink smoothly.
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), resample)
    canvas = Image.new("RGB", (size, size), (240, 240, 240))
    canvas.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
    return canvas


def gallery_samples(samples: list[dict[str, Any]], image_field: str, count: int) -> list[int]:
    """Positions (in prediction order) of ``count`` validation samples spread over the set, with a readable image."""
    usable = [i for i, sample in enumerate(samples) if Path(str(sample["values"].get(image_field, ""))).is_file()]
    if len(usable) <= count:
        return usable
    return [usable[int(k)] for k in np.linspace(0, len(usable) - 1, count).round()]
