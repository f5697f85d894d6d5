"""Optional libraries (the pyproject extras): importing one with a one-line error naming the fix, and loading
Hugging Face files (models, configs, tokenizers) from a local folder, the cache or the hub with one clear
message when none has them.

Qt-free and torch-free: the data layer (tokenizers) and the engine (backbones) both use it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from workbench.errors import ConfigError, first_line


def import_extra(module: str, extra: str) -> Any:
    """Import an optional library, or raise the one-line error that says how to install it."""
    try:
        return importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - ImportError, or a broken install failing inside its import
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
        raise ConfigError(f"this encoder needs the optional extra: pip install 'workbench[{extra}]' "
                          f"({module} did not import: {reason})", "type") from None


def _looks_like_a_path(name: str) -> bool:
    """Whether ``name`` is meant as a folder (a hub id is ``name`` or ``org/name``)."""
    return name.startswith((".", "/", "~", "\\")) or name.count("/") > 1 or "\\" in name or ":" in name


def from_hugging_face(load: Callable[..., Any], name: str, what: str, key: str) -> Any:
    """``load(name)`` (a transformers ``from_pretrained``): a local folder, else the cache, else the hub.

    Trying the cache first (``local_files_only``) keeps a cached model quick and network-free. When no
    source has it, one ConfigError at ``key`` names the model and what to do.
    """
    folder = Path(name).expanduser()
    if folder.is_dir():
        try:
            return load(str(folder))
        except Exception as error:  # noqa: BLE001 - a folder without the files, or broken ones
            raise ConfigError(f"cannot load the {what} from the folder {folder}: {first_line(error)}. The folder needs "
                              "the files that save_pretrained writes (config.json, the tokenizer's files).",
                              key) from None
    if _looks_like_a_path(name):
        raise ConfigError(f"no folder {folder} for the {what}: give an existing folder saved with save_pretrained, "
                          "or a Hugging Face hub name such as bert-base-uncased", key)
    try:
        return load(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the cache: ask the hub below
        pass
    try:
        return load(name)
    except Exception as error:  # noqa: BLE001 - offline, unknown name, gated repo
        raise ConfigError(
            f"cannot load the {what} of Hugging Face model {name!r}: it is not in the local cache and the hub did not "
            f"provide it ({first_line(error)}). Download it once on a machine with a network (it stays in the cache, "
            "~/.cache/huggingface), or set model to a local folder saved with save_pretrained; weights = \"PATH\" "
            "loads a local weights file.", key) from None
