"""The built-in sample dataset: coloured shapes on textured backgrounds, with captions
(and optionally short sounds), in the class-folder layout.

The class is the shape. A share of the images is ruined by heavy noise or occlusion, so
an image-only student cannot tell their class, while their captions still can: the
teacher (image + text) knows things the student does not, which is where distillation
helps. A share of captions is vague or misleading, so the text alone is not enough either.

The quick-start sample (``workbench.config.SAMPLE_QUICK_START``) gives the data its own train/val split: few labelled
training samples, a share of them filed under a wrong class (label noise: the image and caption
show the true shape, only the folder is wrong), and a clean validation split large enough
(360 samples) for the paired test of the gain to mean something. The teacher reads the true
shape in most captions, so its soft targets correct labels that the baseline can only memorise.
Everything is drawn from per-sample random generators derived from ``seed``, so the
files are byte-identical for a given seed and set of options.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from workbench.data.audio import encode_wav, tone
from workbench.errors import WorkbenchError

MARKER = ".workbench-sample.json"

SHAPES = ("circle", "square", "triangle", "diamond", "star", "cross", "ring", "hexagon", "pentagon", "arrow")
SHAPE_WORDS = {
    "circle": ("circle", "round disc", "round dot"),
    "square": ("square", "box", "square block"),
    "triangle": ("triangle", "three-sided shape", "wedge"),
    "diamond": ("diamond", "rhombus", "tilted square"),
    "star": ("star", "five-pointed star", "starlike shape"),
    "cross": ("cross", "plus sign", "plus shape"),
    "ring": ("ring", "hollow circle", "loop"),
    "hexagon": ("hexagon", "six-sided shape", "honeycomb cell"),
    "pentagon": ("pentagon", "five-sided shape", "home plate"),
    "arrow": ("arrow", "pointer", "arrowhead shape"),
}
COLOURS = {
    "red": (214, 48, 49),
    "blue": (40, 90, 220),
    "green": (40, 170, 70),
    "yellow": (240, 200, 30),
    "purple": (140, 60, 190),
    "orange": (245, 130, 30),
    "cyan": (40, 200, 210),
    "pink": (240, 120, 170),
    "white": (245, 245, 245),
    "black": (25, 25, 25),
}
TEXTURES = ("striped", "checkered", "dotted", "gradient", "speckled")
VAGUE_CAPTIONS = (
    "some shape on a {texture} background",
    "a small picture with a {colour} thing",
    "an object, hard to say what",
    "a {texture} pattern with something on it",
)
# Sampled at 8 kHz to keep the files small; the audio pipeline resamples to the configured rate.
AUDIO_RATE = 8000
AUDIO_SECONDS = 0.5


def write_sample_dataset(
    root: str | os.PathLike,
    classes: int = 6,
    per_class: int = 80,
    image_size: int = 32,
    seed: int = 0,
    audio: bool = False,
    image_noise: float = 0.3,
    caption_noise: float = 0.2,
    val_per_class: int = 0,
    label_noise: float = 0.0,
) -> Path:
    """Write the sample dataset to ``root`` (a new or empty folder, or an earlier sample) and return it.

    ``image_noise``: share of images with heavy noise or occlusion; ``caption_noise``: share of
    captions that are vague or name the wrong shape. ``val_per_class`` > 0 writes ``train/`` and
    ``val/`` folders (``per_class`` training samples, ``val_per_class`` validation samples per class);
    0 leaves the split to the trainer. ``label_noise``: share of training samples filed under a
    wrong class.
    """
    if not 2 <= classes <= len(SHAPES):
        raise WorkbenchError(f"the sample dataset has 2 to {len(SHAPES)} classes, not {classes}")
    if per_class < 2:
        raise WorkbenchError(f"the sample dataset needs at least 2 samples per class, not {per_class}")
    if not 8 <= image_size <= 512:
        raise WorkbenchError(f"sample image size must be between 8 and 512 pixels, not {image_size}")
    if val_per_class < 0:
        raise WorkbenchError(f"val_per_class must be 0 (no given split) or more, not {val_per_class}")
    for name, share in (("image_noise", image_noise), ("caption_noise", caption_noise), ("label_noise", label_noise)):
        if not 0.0 <= share <= 1.0:
            raise WorkbenchError(f"{name} is a share between 0 and 1, not {share}")
    with staged_folder(root) as staging:
        splits = [("train", per_class), ("val", val_per_class)] if val_per_class else [("", per_class)]
        for split_index, (split, count) in enumerate(splits):
            for k in range(classes):
                for i in range(count):
                    # The validation split draws from other generators: adding it leaves the training files as they are.
                    rng = np.random.default_rng([seed, k, i] if split_index == 0 else [seed, k, i, split_index])
                    label = SHAPES[k]
                    if split == "train" and label_noise and rng.random() < label_noise:
                        label = SHAPES[(k + 1 + int(rng.integers(classes - 1))) % classes]  # filed under a wrong class
                    folder = staging / split / label
                    folder.mkdir(parents=True, exist_ok=True)
                    _write_sample(folder / f"{SHAPES[k]}_{i:04d}", k, classes, image_size, audio, image_noise,
                                  caption_noise, rng)
        options = {
            "classes": classes, "per_class": per_class, "image_size": image_size, "seed": seed,
            "audio": audio, "image_noise": image_noise, "caption_noise": caption_noise,
            "val_per_class": val_per_class, "label_noise": label_noise,
        }  # fmt: skip
        (staging / MARKER).write_text(json.dumps(options, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Path(root).expanduser().absolute()


@contextlib.contextmanager
def staged_folder(root: str | os.PathLike) -> Iterator[Path]:
    """A staging folder beside ``root`` (a new or empty folder, or an earlier sample dataset), moved to
    ``root`` when the block ends: a failure leaves no half-written dataset."""
    target = Path(root).expanduser().absolute()
    if target.exists() and not (target / MARKER).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise WorkbenchError(f"{target} exists and is not an earlier sample dataset; choose a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_sample(stem: Path, k: int, classes: int, image_size: int, audio: bool, image_noise: float,
                  caption_noise: float, rng: np.random.Generator) -> None:
    """One sample of shape ``SHAPES[k]``: the image, its caption and (with ``audio``) its sound."""
    shape = SHAPES[k]
    noisy = rng.random() < image_noise
    colour_name = list(COLOURS)[k] if rng.random() < 0.6 else str(rng.choice(list(COLOURS)))
    texture = str(rng.choice(TEXTURES))
    image = _draw(shape, colour_name, texture, image_size, noisy, rng)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    stem.with_suffix(".png").write_bytes(buffer.getvalue())
    caption = _caption(shape, colour_name, texture, classes, caption_noise, rng)
    stem.with_suffix(".txt").write_text(caption + "\n", encoding="utf-8", newline="\n")
    if audio:
        base = 220.0 * 2 ** (k / 4)
        sound = tone([base, base * 1.5], AUDIO_SECONDS, AUDIO_RATE, rng, noise=0.05)
        stem.with_suffix(".wav").write_bytes(encode_wav(sound, AUDIO_RATE))


def _caption(shape: str, colour: str, texture: str, classes: int, caption_noise: float, rng: np.random.Generator) -> str:
    if rng.random() < caption_noise:
        if rng.random() < 0.5:
            return str(rng.choice(VAGUE_CAPTIONS)).format(texture=texture, colour=colour)
        shape = str(rng.choice([s for s in SHAPES[:classes] if s != shape]))  # misleading: the wrong shape
    word = str(rng.choice(SHAPE_WORDS[shape]))
    size = str(rng.choice(("small", "large", "medium", "tiny", "big")))
    template = int(rng.integers(4))
    if template == 0:
        return f"a {colour} {word} on a {texture} background"
    if template == 1:
        return f"{size} {colour} {word}"
    if template == 2:
        return f"there is a {word} here, coloured {colour}"
    return f"a {texture} backdrop behind a {size} {word}"


def _draw(shape: str, colour: str, texture: str, size: int, noisy: bool, rng: np.random.Generator) -> Image.Image:
    scale = 2  # drawn at twice the size and reduced, for smooth edges
    canvas = size * scale
    image = Image.fromarray(texture_background(texture, canvas, rng))
    draw = ImageDraw.Draw(image)
    radius = canvas * rng.uniform(0.22, 0.34)
    cx, cy = (rng.uniform(radius + 1, canvas - radius - 1) for _ in range(2))
    angle = rng.uniform(0, 2 * math.pi)
    fill = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in COLOURS[colour])
    draw_shape(draw, shape, fill, cx, cy, radius, angle)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(image).astype(np.float64)
    if noisy:
        if rng.random() < 0.5:
            pixels += rng.normal(0.0, 110.0, pixels.shape)  # heavy noise drowns the shape
        else:
            # Occlusion: a grey patch hides most of the shape.
            half = max(2, round(radius / scale * 0.85))
            x, y = round(cx / scale), round(cy / scale)
            pixels[max(0, y - half) : y + half, max(0, x - half) : x + half] = rng.uniform(90, 160)
    pixels += rng.normal(0.0, 6.0, pixels.shape)
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, fill: tuple[int, ...] | int, cx: float, cy: float,
               radius: float, angle: float) -> None:
    """One shape centred at (cx, cy); the sample generators also draw it on a mask with a class id."""
    outline = max(1, round(radius * 0.3))
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=outline)
    elif shape == "cross":
        arm = radius * 0.35
        for points in (((-radius, -arm), (radius, arm)), ((-arm, -radius), (arm, radius))):
            corners = [(x, y) for x in (points[0][0], points[1][0]) for y in (points[0][1], points[1][1])]
            corners = [corners[0], corners[1], corners[3], corners[2]]
            draw.polygon(_rotate(corners, angle, cx, cy), fill=fill)
    else:
        draw.polygon(_rotate(_outline(shape, radius), angle, cx, cy), fill=fill)


def _outline(shape: str, radius: float) -> list[tuple[float, float]]:
    def regular(n: int, r: float = radius, offset: float = 0.0) -> list[tuple[float, float]]:
        return [(r * math.cos(offset + 2 * math.pi * j / n), r * math.sin(offset + 2 * math.pi * j / n)) for j in range(n)]

    if shape == "square":
        return regular(4, radius, math.pi / 4)
    if shape == "diamond":
        return [(0.0, -radius), (radius * 0.65, 0.0), (0.0, radius), (-radius * 0.65, 0.0)]
    if shape == "triangle":
        return regular(3)
    if shape == "hexagon":
        return regular(6)
    if shape == "pentagon":
        return regular(5)
    if shape == "star":
        outer, inner = regular(5), regular(5, radius * 0.42, math.pi / 5)
        return [point for pair in zip(outer, inner) for point in pair]
    # arrow, pointing along +x
    r = radius
    return [(-r, -0.25 * r), (0.1 * r, -0.25 * r), (0.1 * r, -0.7 * r), (r, 0.0), (0.1 * r, 0.7 * r), (0.1 * r, 0.25 * r), (-r, 0.25 * r)]


def _rotate(points: list[tuple[float, float]], angle: float, cx: float, cy: float) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points]


def texture_background(texture: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8 background in two muted random colours."""
    first, second = (rng.uniform(60, 200, 3) for _ in range(2))
    y, x = np.mgrid[0:size, 0:size]
    if texture == "striped":
        period = rng.integers(4, 12)
        mix = ((x + y * rng.integers(0, 2)) // period % 2).astype(np.float64)
    elif texture == "checkered":
        period = rng.integers(4, 12)
        mix = ((x // period + y // period) % 2).astype(np.float64)
    elif texture == "dotted":
        period = rng.integers(5, 10)
        mix = (((x % period) - period / 2) ** 2 + ((y % period) - period / 2) ** 2 < (period / 4) ** 2).astype(np.float64)
    elif texture == "gradient":
        mix = (x * math.cos(rng.uniform(0, math.pi)) + y * math.sin(rng.uniform(0, math.pi))) / (2 * size) + 0.5
    else:
        mix = rng.random((size, size))
    pixels = first * (1 - mix[..., None]) + second * mix[..., None]
    return np.clip(pixels, 0, 255).astype(np.uint8)
