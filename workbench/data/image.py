"""Image fields: safe decoding of any Pillow mode to uint8 RGB or L, resizing, augmentation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError


class ImageDecodeError(ValueError):
    """An image that cannot be used; the message says why and what to do."""


def open_checked(source: str | Path, max_pixels: int, draft: tuple[str, int] | None = None) -> Image.Image:
    """Open an image and decode it fully, refusing it before decoding when it has too many pixels.

    Pillow's own decompression-bomb guard is process-wide state; the cap here is the
    config's, checked on the header, so a huge image is never decoded. ``draft``
    (mode, size) lets JPEGs decode at a reduced scale when only a thumbnail is needed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image is too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("cannot read image: not a format Pillow recognises, or a broken header") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"cannot read image: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageDecodeError(
            f"image has {width}x{height} = {width * height} pixels, over the cap of {max_pixels} "
            "(data.max_image_pixels); a decompression bomb or a very large photo: shrink it or raise the cap"
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone else's global setting must not hide truncated files
        raise ImageDecodeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; unset it so that broken images are found")
    if draft is not None and image.format == "JPEG":
        image.draft(draft[0], (draft[1], draft[1]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        image.close()
        raise ImageDecodeError(f"image is truncated or corrupt: {exc}") from None
    return image


def to_mode(image: Image.Image, grayscale: bool) -> Image.Image:
    """RGB (or L when ``grayscale``) from any mode, upright according to EXIF."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = Image.fromarray(_scale_to_uint8(np.asarray(image)), "L")
    if image.mode == "P" or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        # Transparent parts become white rather than whatever colour the hidden pixels hold.
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    target = "L" if grayscale else "RGB"
    return image if image.mode == target else image.convert(target)


def _scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    values = pixels.astype(np.float64)
    peak = values.max() if values.size else 0.0
    if pixels.dtype.kind == "f" and peak <= 1.0:
        values *= 255.0  # float images in [0, 1]
    elif peak > 255.0:
        values *= 255.0 / 65535.0  # 16-bit images
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to ``size`` and crop the centre square (no distortion)."""
    width, height = image.size
    scale = size / min(width, height)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_width, new_height) != image.size:
        image = image.resize((new_width, new_height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    return image.crop((left, top, left + size, top + size)) if image.size != (size, size) else image


def decode_uint8(source: str | Path | Image.Image, size: int, grayscale: bool, max_pixels: int) -> np.ndarray:
    """uint8 array (H, W, C) of the image ready for normalisation: mode fixed, upright, resized."""
    if isinstance(source, Image.Image):
        array = np.array(resize_square(to_mode(source, grayscale), size))
    else:
        with open_checked(source, max_pixels, draft=("L" if grayscale else "RGB", size)) as image:
            array = np.array(resize_square(to_mode(image, grayscale), size))
    return array[:, :, None] if array.ndim == 2 else array


Geometry = tuple[bool, int, int, int]  # horizontal flip, padding, crop top, crop left


def draw_geometry(height: int, generator: torch.Generator | None = None) -> Geometry:
    """The random flip and shifted crop of one augmentation (a segmentation mask reuses them)."""
    flip = bool(torch.rand((), generator=generator) < 0.5)
    pad = max(1, height // 8)
    top, left = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    return flip, pad, top, left


def augment_uint8(array: np.ndarray, generator: torch.Generator | None = None,
                  geometry: Geometry | None = None) -> torch.Tensor:
    """Light training augmentation on (H, W, C) uint8: flip, shifted crop, brightness/contrast jitter.

    ``geometry`` (from ``draw_geometry``) fixes the flip and crop, e.g. to those of the sample's mask.
    Returns float32 (C, H, W) in [0, 1].
    """
    image = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0
    height, width = image.shape[1:]
    flip, pad, top, left = geometry or draw_geometry(height, generator)
    if flip:
        image = image.flip(-1)
    padded = torch.nn.functional.pad(image[None], (pad, pad, pad, pad), mode="reflect")[0]
    image = padded[:, top : top + height, left : left + width]
    brightness, contrast = (1.0 + 0.4 * (torch.rand(2, generator=generator) - 0.5)).tolist()
    mean = image.mean()
    return ((image - mean) * contrast + mean * brightness).clamp(0.0, 1.0)
