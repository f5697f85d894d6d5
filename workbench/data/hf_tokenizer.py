"""A text field tokenized by a Hugging Face tokenizer (the one of an ``hf_text`` encoder's model).

The field's tensor keeps the contract of every text field (1-D int64 token ids, 0 = padding, so
``collate_batch`` and fixed-length export padding are unchanged): the tokenizer's ids are shifted
up by ``ID_OFFSET``, and the ``hf_text`` encoder shifts them back and makes the attention mask
from the non-zero ids. Any text encoder reading the field (a ``bag`` or ``gru`` student, say)
sees the same wordpiece ids, with a vocabulary of ``len(tokenizer) + 1``.

A run keeps a copy of the tokenizer's files (``tokenizers/<field>/`` beside ``preprocessing.json``),
so inference, Try it and export load it offline, whatever the cache holds later. The tokenizer is
loaded on first use: listing or opening a run imports no transformers.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import torch

from workbench.atomic import write_error
from workbench.data.text import PAD_ID
from workbench.errors import ConfigError
from workbench.extras import from_hugging_face, import_extra

ID_OFFSET = PAD_ID + 1
TOKENIZERS_FOLDER = "tokenizers"


@dataclass(frozen=True)
class TokenizerChoice:
    """The Hugging Face tokenizer of a text field: its hub name or folder, and the config key that chose it.
    ``saved``: a copy of its files to load instead (a resumed run's ``tokenizers/<field>/``), whose hub
    ``revision`` the run recorded."""

    source: str
    key: str = ""
    saved: str = ""
    revision: str | None = None


def folder_name(name: str) -> str:
    """A field or network name as a folder name (manifest columns may hold any character)."""
    return re.sub(r"[^\w.-]", "_", name)


def load_tokenizer(source: str, key: str = "") -> Any:
    """The Hugging Face tokenizer of a hub name or a local folder (a ConfigError at ``key`` if unreachable)."""
    transformers = import_extra("transformers", "hf")
    transformers.utils.logging.disable_progress_bar()
    return from_hugging_face(transformers.AutoTokenizer.from_pretrained, source, "tokenizer", key)


class HuggingFaceTextProcessor:
    """Token ids of a Hugging Face tokenizer (special tokens included), truncated to ``max_length``."""

    def __init__(self, source: str, max_length: int, vocab_size: int, revision: str | None = None,
                 folder: Path | None = None, tokenizer: Any = None):
        self.source = source  # the hub name or folder the config named
        self.max_length = max_length
        self.vocab_size = vocab_size  # ids + ID_OFFSET are below this
        self.revision = revision  # the hub commit the files came from, when known
        self.folder = folder  # a copy of the tokenizer's files (a run's tokenizers/<field>/), preferred to source
        self._tokenizer = tokenizer

    @classmethod
    def create(cls, choice: TokenizerChoice, max_length: int) -> HuggingFaceTextProcessor:
        source = choice.source
        try:
            tokenizer = load_tokenizer(choice.saved or source, choice.key)
        except ConfigError as error:
            raise ConfigError(f"{choice.key}: {error}" if choice.key else str(error), choice.key) from None
        model_limit = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_limit, int) and 0 < model_limit < max_length:
            max_length = model_limit
        if choice.saved:
            revision = choice.revision
        else:
            revision = None if Path(source).expanduser().is_dir() else _cached_revision(source)
        return cls(source, max_length, len(tokenizer) + ID_OFFSET, revision, tokenizer=tokenizer)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            saved = self.folder is not None and self.folder.is_dir()
            self._tokenizer = load_tokenizer(str(self.folder) if saved else self.source)
        return self._tokenizer

    def encode(self, raw: str) -> torch.Tensor:
        """int64 (L,), 1 <= L <= max_length, unpadded: the tokenizer's ids + ID_OFFSET."""
        ids = self.tokenizer(str(raw), truncation=True, max_length=self.max_length)["input_ids"]
        return torch.tensor(ids, dtype=torch.int64) + ID_OFFSET if ids else torch.tensor([PAD_ID])

    def spec(self) -> dict[str, Any]:
        return {"kind": "text", "vocab_size": self.vocab_size, "max_length": self.max_length,
                "input_shape": [self.max_length], "dtype": "int64", "tokenizer": self.source}

    def to_dict(self) -> dict[str, Any]:
        files = f"{TOKENIZERS_FOLDER}/{self.folder.name}" if self.folder is not None else None
        return {"hf_tokenizer": {"source": self.source, "revision": self.revision, "files": files,
                                 "vocab_size": self.vocab_size, "max_length": self.max_length}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path | None = None) -> HuggingFaceTextProcessor:
        """``base``: the folder of the preprocessing file, where the copied tokenizer files (``files``) are."""
        entry = data["hf_tokenizer"]
        folder = base / entry["files"] if base is not None and entry.get("files") else None
        return cls(entry["source"], entry["max_length"], entry["vocab_size"], entry.get("revision"), folder)

    def save_files(self, folder: Path) -> None:
        """The tokenizer's files into ``folder`` (replaced whole: a crash leaves the old copy or the new one)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging, old = folder.with_name(f".{folder.name}.tmp"), folder.with_name(f".{folder.name}.old")
        try:
            shutil.rmtree(staging, ignore_errors=True)  # a crashed save's leftover
            staging.mkdir()
            self.tokenizer.save_pretrained(str(staging))
            if folder.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        except OSError as error:
            raise write_error(error, folder) from None


def _cached_revision(name: str) -> str | None:
    """The hub commit that the cached tokenizer files of ``name`` came from (``.../snapshots/<commit>/...``)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("tokenizer_config.json", "tokenizer.json", "vocab.txt"):
        path = try_to_load_from_cache(name, filename)
        if isinstance(path, str) and "snapshots" in Path(path).parts[:-1]:
            parts = Path(path).parts
            return parts[parts.index("snapshots") + 1]
    return None
