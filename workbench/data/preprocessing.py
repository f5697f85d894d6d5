"""Per-field preprocessing fitted on the training split, serialisable to JSON, applied alike
to training samples and to new input (try-it, export)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image

from workbench.atomic import atomic_write_json
from workbench.data.audio import LogMel, read_audio
from workbench.data.hf_tokenizer import TOKENIZERS_FOLDER, HuggingFaceTextProcessor, TokenizerChoice, folder_name
from workbench.data.image import Geometry, augment_uint8, decode_uint8
from workbench.data.index import DatasetIndex, FieldInfo
from workbench.data.text import Tokenizer
from workbench.errors import WorkbenchError

# Statistics are estimated on at most this many training samples: enough for a mean and a
# standard deviation, and fitting stays quick on large datasets.
_STATS_SAMPLES = 2000
_MIN_STD = 1e-6

FORMAT_VERSION = 1


class MemoryCache:
    """Decoded files kept in memory up to a byte budget, so that later epochs do not decode again.

    Entries are never evicted: once the budget is full, further files are decoded every time,
    which keeps the cached part stable instead of thrashing.
    """

    def __init__(self, budget_bytes: int = 0):
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self._entries: dict[tuple[str, str], np.ndarray | torch.Tensor] = {}

    def get(self, key: tuple[str, str]) -> np.ndarray | torch.Tensor | None:
        return self._entries.get(key)

    def put(self, key: tuple[str, str], value: np.ndarray | torch.Tensor) -> None:
        size = value.nbytes
        if self.used_bytes + size <= self.budget_bytes:
            self._entries[key] = value
            self.used_bytes += size


class ImageProcessor:
    """uint8 decode (cached), optional augmentation, per-channel normalisation."""

    def __init__(self, size: int, grayscale: bool, mean: list[float], std: list[float], max_pixels: int):
        self.size = size
        self.grayscale = grayscale
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.max_pixels = max_pixels
        self.cache = MemoryCache()

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def load(self, path: str) -> np.ndarray:
        """(H, W, C) uint8, from the cache when this file was decoded before."""
        key = ("image", path)
        array = self.cache.get(key)
        if array is None:
            array = decode_uint8(path, self.size, self.grayscale, self.max_pixels)
            self.cache.put(key, array)
        return array

    def to_tensor(self, array: np.ndarray, augment: bool = False, geometry: Geometry | None = None) -> torch.Tensor:
        if augment:
            image = augment_uint8(array, geometry=geometry)
        else:
            image = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0
        return (image - self.mean) / self.std

    def encode(self, raw: str | os.PathLike | Image.Image | np.ndarray, augment: bool = False,
               geometry: Geometry | None = None) -> torch.Tensor:
        if isinstance(raw, np.ndarray):
            raw = Image.fromarray(raw)
        if isinstance(raw, Image.Image):
            array = decode_uint8(raw, self.size, self.grayscale, self.max_pixels)
        else:
            array = self.load(os.fspath(raw))
        return self.to_tensor(array, augment, geometry)

    def fit(self, paths: list[str]) -> None:
        total = torch.zeros(self.channels, dtype=torch.float64)
        squares = torch.zeros(self.channels, dtype=torch.float64)
        count = 0
        for path in paths:
            pixels = torch.from_numpy(self.load(path).reshape(-1, self.channels)).double() / 255.0
            total += pixels.sum(0)
            squares += (pixels**2).sum(0)
            count += pixels.shape[0]
        mean = total / max(count, 1)
        std = (squares / max(count, 1) - mean**2).clamp_min(0).sqrt()
        self.mean = mean.float().view(-1, 1, 1)
        self.std = torch.where(std < _MIN_STD, torch.ones_like(std), std).float().view(-1, 1, 1)

    def spec(self) -> dict[str, Any]:
        # mean/std: what a pretrained backbone needs to undo this normalisation (engine/backbones.py).
        return {"kind": "image", "channels": self.channels, "size": self.size,
                "mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist(),
                "input_shape": [self.channels, self.size, self.size], "dtype": "float32"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "grayscale": self.grayscale,
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "max_pixels": self.max_pixels,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageProcessor:
        return cls(data["size"], data["grayscale"], data["mean"], data["std"], data["max_pixels"])


class TextProcessor:
    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def encode(self, raw: str) -> torch.Tensor:
        """int64 (L,), 1 <= L <= max_length, unpadded: ``collate_batch`` pads."""
        return self.tokenizer.encode(str(raw))

    def spec(self) -> dict[str, Any]:
        # input_shape: at its longest; a batch is padded to its own longest text (collate_batch).
        return {"kind": "text", "vocab_size": self.tokenizer.vocab_size, "max_length": self.tokenizer.max_length,
                "input_shape": [self.tokenizer.max_length], "dtype": "int64"}

    def to_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextProcessor:
        return cls(Tokenizer.from_dict(data["tokenizer"]))


class AudioProcessor:
    """Log-mel spectrogram standardised with the training split's mean and standard deviation."""

    def __init__(self, sample_rate: int, seconds: float, n_mels: int, mean: float = 0.0, std: float = 1.0):
        self.mel = LogMel(sample_rate, seconds, n_mels)
        self.seconds = seconds
        self.mean = mean
        self.std = std
        self.cache = MemoryCache()

    def log_mel(self, raw: str | os.PathLike | tuple[np.ndarray, int]) -> torch.Tensor:
        if isinstance(raw, tuple):
            return self.mel(*raw)
        key = ("audio", os.fspath(raw))
        spectrum = self.cache.get(key)
        if spectrum is None:
            spectrum = self.mel(*read_audio(raw))
            self.cache.put(key, spectrum)
        return spectrum

    def encode(self, raw: str | os.PathLike | tuple[np.ndarray, int]) -> torch.Tensor:
        """float32 (1, n_mels, frames); ``raw`` is a sound file or ``(samples, sample_rate)``."""
        return ((self.log_mel(raw) - self.mean) / self.std).unsqueeze(0)

    def fit(self, paths: list[str]) -> None:
        spectra = torch.stack([self.log_mel(path) for path in paths]).double()
        self.mean = float(spectra.mean())
        self.std = max(float(spectra.std()), _MIN_STD) if spectra.numel() > 1 else 1.0

    def spec(self) -> dict[str, Any]:
        return {"kind": "audio", "n_mels": self.mel.n_mels, "frames": self.mel.frames, "sample_rate": self.mel.sample_rate,
                "input_shape": [1, self.mel.n_mels, self.mel.frames], "dtype": "float32"}

    def to_dict(self) -> dict[str, Any]:
        return {"sample_rate": self.mel.sample_rate, "seconds": self.seconds, "n_mels": self.mel.n_mels, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioProcessor:
        return cls(data["sample_rate"], data["seconds"], data["n_mels"], data["mean"], data["std"])


class ArrayProcessor:
    """Standardisation of fixed-shape numeric arrays: per feature for vectors, one mean/std for maps."""

    def __init__(self, shape: tuple[int, ...], mean: list[float] | float = 0.0, std: list[float] | float = 1.0):
        self.shape = tuple(shape)
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)
        self.cache = MemoryCache()

    def load(self, raw: str | os.PathLike | np.ndarray) -> torch.Tensor:
        if isinstance(raw, np.ndarray):
            return self._checked(raw)
        key = ("array", os.fspath(raw))
        tensor = self.cache.get(key)
        if tensor is None:  # read and checked once, then kept like decoded images (within the budget)
            tensor = self._checked(np.load(raw, allow_pickle=False))
            self.cache.put(key, tensor)
        return tensor

    def _checked(self, array: np.ndarray) -> torch.Tensor:
        if array.dtype.kind not in "biuf":
            raise WorkbenchError(f"array dtype {array.dtype} is not numeric")
        if tuple(array.shape) != self.shape:
            raise WorkbenchError(f"array has shape {tuple(array.shape)}, the field expects {self.shape}")
        return torch.from_numpy(np.asarray(array, dtype=np.float32))

    def encode(self, raw: str | os.PathLike | np.ndarray) -> torch.Tensor:
        return (self.load(raw) - self.mean) / self.std

    def fit(self, paths: list[str]) -> None:
        stacked = torch.stack([self.load(path) for path in paths]).double()
        if len(self.shape) == 1:
            mean, std = stacked.mean(0), stacked.std(0, unbiased=False)
        else:
            mean, std = stacked.mean(), stacked.std(unbiased=False)
        self.mean = mean.float()
        self.std = torch.where(std < _MIN_STD, torch.ones_like(std), std).float()

    def spec(self) -> dict[str, Any]:
        return {"kind": "array", "shape": list(self.shape), "input_shape": list(self.shape), "dtype": "float32"}

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArrayProcessor:
        return cls(tuple(data["shape"]), data["mean"], data["std"])


_PROCESSORS = {"image": ImageProcessor, "text": TextProcessor, "audio": AudioProcessor, "array": ArrayProcessor}


def new_processor(index: DatasetIndex, field: str, train_indices: Iterable[int], data_cfg: Any,
                  tokenizer: TokenizerChoice | None = None) -> Any:
    """A field's processor as the config sets it up, before its statistics are fitted (images,
    audio and arrays: mean 0, std 1). A text field's tokenizer is fitted here: its vocabulary
    is part of what the networks are built for; with ``tokenizer`` (an ``hf_text`` encoder reads
    the field) it is that Hugging Face tokenizer instead."""
    info = index.fields[field]
    if info.kind == "text" and tokenizer is not None:
        return HuggingFaceTextProcessor.create(tokenizer, data_cfg.text_max_length)
    if info.kind == "text":
        texts = (index.text(index.samples[i], field) for i in train_indices)
        return TextProcessor(Tokenizer.fit(texts, data_cfg.text_max_length, data_cfg.text_lowercase, data_cfg.text_nfkc,
                                           data_cfg.text_min_freq, data_cfg.text_max_vocab))
    if info.kind == "image":
        channels = 1 if info.grayscale else 3
        return ImageProcessor(data_cfg.image_size, info.grayscale, [0.0] * channels, [1.0] * channels,
                              data_cfg.max_image_pixels)
    if info.kind == "audio":
        return AudioProcessor(data_cfg.audio_sample_rate, data_cfg.audio_seconds, data_cfg.audio_n_mels)
    return ArrayProcessor(info.shape or ())


def describe_inputs(index: DatasetIndex, train_indices: list[int], data_cfg: Any,
                    tokenizers: Mapping[str, TokenizerChoice] | None = None) -> dict[str, dict[str, Any]]:
    """What each field's network input will be under ``data_cfg``: ``Preprocessing.input_specs()``
    of the preprocessing that training would fit, without fitting the statistics (no image or
    audio is decoded; an image's mean and std read 0 and 1). Cheap enough to repeat while a
    user edits the config; parameter counts and memory estimates need nothing more."""
    return {name: new_processor(index, name, train_indices, data_cfg, (tokenizers or {}).get(name)).spec()
            for name in index.fields}


class Preprocessing:
    """The fitted state of every field; ``encode`` turns one raw input into the tensor a network sees."""

    def __init__(self, fields: dict[str, FieldInfo], processors: dict[str, Any], cache_mb: int = 0):
        self.fields = fields
        self.processors = processors
        self.set_cache_budget(cache_mb)

    @classmethod
    def fit(cls, index: DatasetIndex, train_indices: list[int], data_cfg: Any, seed: int = 0,
            tokenizers: Mapping[str, TokenizerChoice] | None = None) -> Preprocessing:
        """``tokenizers``: text fields tokenized by a Hugging Face tokenizer instead of a vocabulary fitted on the
        training split."""
        processors = {name: new_processor(index, name, train_indices, data_cfg, (tokenizers or {}).get(name))
                      for name in index.fields}
        # The cache is shared before fitting, so that files decoded for the statistics are reused by the first epoch.
        fitted = cls(dict(index.fields), processors, data_cfg.cache_mb)
        subset = train_indices
        if len(train_indices) > _STATS_SAMPLES:
            subset = sorted(np.random.default_rng(seed).permutation(train_indices)[:_STATS_SAMPLES].tolist())
        for name, processor in processors.items():
            if not isinstance(processor, (TextProcessor, HuggingFaceTextProcessor)):
                processor.fit([index.samples[i].values[name] for i in subset])
        return fitted

    def encode(self, field: str, raw_value: Any, augment: bool = False, geometry: Geometry | None = None
               ) -> torch.Tensor:
        """The tensor for one raw input: an image path or PIL image, a text, a sound file or
        ``(samples, rate)``, an .npy path or array. ``augment`` applies to training images only;
        ``geometry`` fixes its flip and crop (those of a segmentation mask)."""
        processor = self.processors.get(field)
        if processor is None:
            raise WorkbenchError(f"unknown field {field!r}; this preprocessing has {', '.join(self.processors)}")
        if isinstance(processor, ImageProcessor):
            return processor.encode(raw_value, augment, geometry)
        return processor.encode(raw_value)

    def set_cache_budget(self, cache_mb: int) -> None:
        """One memory budget for decoded images, audio spectrograms and arrays of all fields (not saved)."""
        cache = MemoryCache(cache_mb * 2**20)
        for processor in self.processors.values():
            if isinstance(processor, (ImageProcessor, AudioProcessor, ArrayProcessor)):
                processor.cache = cache

    def input_specs(self) -> dict[str, dict[str, Any]]:
        return {name: processor.spec() for name, processor in self.processors.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "fields": {
                name: {"info": self.fields[name].to_dict(), "state": processor.to_dict()}
                for name, processor in self.processors.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path | None = None) -> Preprocessing:
        """``base``: the folder of the preprocessing file (where a Hugging Face tokenizer's files were copied)."""
        if data.get("version") != FORMAT_VERSION:
            raise WorkbenchError(f"preprocessing format version {data.get('version')!r} is not supported (expected {FORMAT_VERSION})")
        fields, processors = {}, {}
        for name, entry in data["fields"].items():
            info = FieldInfo.from_dict(entry["info"])
            fields[name] = info
            if "hf_tokenizer" in entry["state"]:
                processors[name] = HuggingFaceTextProcessor.from_dict(entry["state"], base)
            else:
                processors[name] = _PROCESSORS[info.kind].from_dict(entry["state"])
        return cls(fields, processors)

    def save(self, path: str | Path) -> None:
        """The JSON file, and a copy of each Hugging Face tokenizer's files in ``tokenizers/<field>/`` beside it."""
        for name, processor in self.processors.items():
            if isinstance(processor, HuggingFaceTextProcessor):
                folder = Path(path).parent / TOKENIZERS_FOLDER / folder_name(name)
                processor.save_files(folder)
                processor.folder = folder
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Preprocessing:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), Path(path).parent)
        except (OSError, ValueError, KeyError) as exc:
            raise WorkbenchError(f"cannot read preprocessing file {path}: {exc}") from None
