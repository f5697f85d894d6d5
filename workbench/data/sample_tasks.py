"""Sample datasets of the VQA and segmentation tasks: shape scenes in the manifest layout.

- ``write_vqa_sample``: scenes of 1-3 shapes with a question each ("what colour is the circle?",
  "how many shapes are there?", "what shape is red?", "is there a star?"). The answer needs the
  image; the question alone only narrows it. The teacher may also read a ``caption`` that
  describes the scene (a share of captions is vague), which a share of ruined images makes worth
  having: the fused teacher beats the image + question student.
- ``write_segmentation_sample``: scenes of 2 different shapes; the ``text`` names one of them
  ("the circle", "the red shape") and the mask marks that shape only, with its class id. The
  image alone does not say which shape is meant, so the image + text teacher beats the
  image-only student. Mask edges (pixels the shape covers partly) are 255, the ignore index.

Files are byte-identical for a given seed and set of options, as the classification sample's.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from workbench.data.masks import CLASSES_FILE, IGNORE_INDEX
from workbench.data.sample import COLOURS, MARKER, TEXTURES, draw_shape, staged_folder, texture_background
from workbench.errors import WorkbenchError

SCENE_SHAPES = ("circle", "square", "triangle", "star")
SCENE_COLOURS = ("red", "blue", "green", "yellow", "purple", "white")
COUNT_WORDS = ("zero", "one", "two", "three")
_SCALE = 4  # scenes are drawn at 4x and reduced: smooth edges, and masks whose edge pixels are known


def _check_options(scenes: int, image_size: int, image_noise: float) -> None:
    if scenes < 10:
        raise WorkbenchError(f"a sample dataset needs at least 10 scenes, not {scenes}")
    if not 16 <= image_size <= 512:
        raise WorkbenchError(f"sample image size must be between 16 and 512 pixels, not {image_size}")
    if not 0.0 <= image_noise <= 1.0:
        raise WorkbenchError(f"image_noise is a share between 0 and 1, not {image_noise}")


def _scene(size: int, count: int, rng: np.random.Generator, radius_range: tuple[float, float] = (0.13, 0.19)
           ) -> tuple[Image.Image, list[dict]]:
    """A textured background with ``count`` shapes of different kinds and colours that do not overlap
    (a shape's radius: ``radius_range`` of the side, larger when alone); returns the image at 4x size
    and each shape's kind, colour and geometry."""
    canvas = size * _SCALE
    image = Image.fromarray(texture_background(str(rng.choice(TEXTURES)), canvas, rng))
    draw = ImageDraw.Draw(image)
    kinds = rng.choice(len(SCENE_SHAPES), size=count, replace=False)
    colours = rng.choice(len(SCENE_COLOURS), size=count, replace=False)
    shapes: list[dict] = []
    for kind, colour in zip(kinds, colours):
        radius = canvas * rng.uniform(*radius_range) if count > 1 else canvas * rng.uniform(0.2, 0.3)
        for _ in range(100):  # rejection sampling: a place clear of the shapes drawn so far
            cx, cy = (rng.uniform(radius + 1, canvas - radius - 1) for _ in range(2))
            if all(math.hypot(cx - s["cx"], cy - s["cy"]) > radius + s["radius"] + 2 for s in shapes):
                break
        shape = {"kind": SCENE_SHAPES[kind], "colour": SCENE_COLOURS[colour], "cx": cx, "cy": cy,
                 "radius": radius, "angle": rng.uniform(0, 2 * math.pi)}
        fill = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLOURS[shape["colour"]])
        draw_shape(draw, shape["kind"], fill, shape["cx"], shape["cy"], radius, shape["angle"])
        shapes.append(shape)
    return image, shapes


def _finish(image: Image.Image, size: int, noisy: bool, rng: np.random.Generator) -> bytes:
    """Reduce to ``size``, ruin it with heavy noise when ``noisy``, add light noise; PNG bytes."""
    pixels = np.asarray(image.resize((size, size), Image.Resampling.LANCZOS)).astype(np.float64)
    if noisy:
        pixels += rng.normal(0.0, 120.0, pixels.shape)
    pixels += rng.normal(0.0, 6.0, pixels.shape)
    return _png(Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8)))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _write_manifest(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# ----------------------------------------------------------------------------- VQA


def _question(shapes: list[dict], rng: np.random.Generator) -> tuple[str, str, str]:
    """(question, answer, question type) about a scene."""
    kind = int(rng.integers(4))
    target = shapes[int(rng.integers(len(shapes)))]
    if kind == 0:
        return f"what colour is the {target['kind']}?", target["colour"], "colour"
    if kind == 1:
        return "how many shapes are there?", COUNT_WORDS[len(shapes)], "count"
    if kind == 2:
        return f"what shape is {target['colour']}?", target["kind"], "shape"
    asked = str(rng.choice(SCENE_SHAPES))
    return f"is there a {asked}?", "yes" if any(s["kind"] == asked for s in shapes) else "no", "exists"


def _scene_caption(shapes: list[dict], vague: bool) -> str:
    if vague:
        return "a picture with something in it" if len(shapes) == 1 else f"a picture with {COUNT_WORDS[len(shapes)]} things in it"
    return " and ".join(f"a {s['colour']} {s['kind']}" for s in shapes)


def write_vqa_sample(root: str | os.PathLike, scenes: int = 600, image_size: int = 32, seed: int = 0,
                     image_noise: float = 0.25, caption_noise: float = 0.2) -> Path:
    """Write the VQA sample (``manifest.csv``: image, question, answer, question_type, caption)."""
    _check_options(scenes, image_size, image_noise)
    with staged_folder(root) as staging:
        (staging / "images").mkdir()
        rows = []
        for i in range(scenes):
            rng = np.random.default_rng([seed, 1, i])
            image, shapes = _scene(image_size, int(rng.integers(1, 4)), rng)
            name = f"images/scene_{i:04d}.png"
            (staging / name).write_bytes(_finish(image, image_size, rng.random() < image_noise, rng))
            question, answer, question_type = _question(shapes, rng)
            rows.append({"image": name, "question": question, "answer": answer, "question_type": question_type,
                         "caption": _scene_caption(shapes, rng.random() < caption_noise)})
        _write_manifest(staging / "manifest.csv", list(rows[0]), rows)
        options = {"task": "vqa", "scenes": scenes, "image_size": image_size, "seed": seed,
                   "image_noise": image_noise, "caption_noise": caption_noise}
        (staging / MARKER).write_text(json.dumps(options, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Path(root).expanduser().absolute()


# ----------------------------------------------------------------------------- segmentation


def _target_mask(shape: dict, class_id: int, size: int) -> Image.Image:
    """The target shape's mask at ``size``: its class id where the shape covers the whole pixel,
    255 (ignore) where it covers part of it, 0 elsewhere; a palette PNG."""
    canvas = size * _SCALE
    cover = Image.new("L", (canvas, canvas), 0)
    draw_shape(ImageDraw.Draw(cover), shape["kind"], 1, shape["cx"], shape["cy"], shape["radius"], shape["angle"])
    share = np.asarray(cover, dtype=np.float64).reshape(size, _SCALE, size, _SCALE).mean((1, 3))
    ids = np.where(share >= 1.0, class_id, np.where(share > 0.0, IGNORE_INDEX, 0)).astype(np.uint8)
    mask = Image.fromarray(ids, "P")
    palette = [0, 0, 0, 230, 25, 75, 60, 180, 75, 0, 130, 200, 245, 130, 48] + [0] * (3 * 250) + [255, 255, 255]
    mask.putpalette(palette)
    return mask


def write_segmentation_sample(root: str | os.PathLike, scenes: int = 400, image_size: int = 32, seed: int = 0,
                              image_noise: float = 0.0) -> Path:
    """Write the segmentation sample (``manifest.csv``: image, mask, text; ``classes.txt``)."""
    _check_options(scenes, image_size, image_noise)
    with staged_folder(root) as staging:
        (staging / "images").mkdir()
        (staging / "masks").mkdir()
        rows = []
        for i in range(scenes):
            rng = np.random.default_rng([seed, 2, i])
            # Two large shapes: the target covers a good share of the pixels, so a short run learns it.
            image, shapes = _scene(image_size, 2, rng, radius_range=(0.2, 0.26))
            target = shapes[int(rng.integers(len(shapes)))]
            name = f"scene_{i:04d}.png"
            (staging / "images" / name).write_bytes(_finish(image, image_size, rng.random() < image_noise, rng))
            class_id = SCENE_SHAPES.index(target["kind"]) + 1
            (staging / "masks" / name).write_bytes(_png(_target_mask(target, class_id, image_size)))
            text = f"the {target['kind']}" if rng.random() < 0.5 else f"the {target['colour']} shape"
            rows.append({"image": f"images/{name}", "mask": f"masks/{name}", "text": text})
        _write_manifest(staging / "manifest.csv", list(rows[0]), rows)
        (staging / CLASSES_FILE).write_text("\n".join(("background", *SCENE_SHAPES)) + "\n", encoding="utf-8")
        options = {"task": "segmentation", "scenes": scenes, "image_size": image_size, "seed": seed,
                   "image_noise": image_noise}
        (staging / MARKER).write_text(json.dumps(options, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Path(root).expanduser().absolute()
