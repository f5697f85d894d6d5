"""Checkpoint files: written atomically, read with ``weights_only=True`` so that loading never runs code.

A checkpoint is a dict of tensors and plain data. Every file has ``format``, ``net``
(teacher / student / baseline), ``which`` (last / best), ``model`` (the network's state
dict), ``epoch`` and ``metrics``. ``<stage>-last.pt`` of the stage being trained also has
``training``: everything a resume needs (optimizers, schedulers, scaler, objective, RNG
state, progress in the stage, early-stopping state, metrics.jsonl offset).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.atomic import atomic_open
from workbench.errors import WorkbenchError, first_line

CHECKPOINT_FORMAT = 1


def checkpoint_file(run_dir: str | Path, net: str, which: str) -> Path:
    return Path(run_dir) / "checkpoints" / f"{net}-{which}.pt"


def save_checkpoint(path: str | Path, content: dict[str, Any]) -> None:
    """Write ``content`` (tensors and plain data only) atomically."""
    # Serialised in memory first: torch.save reports a failed write (a full disk) as a RuntimeError
    # without its errno, a plain write as the OSError it is.
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **content}, buffer)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getbuffer())


def save_network(run_dir: str | Path, net: str, which: str, weights: dict[str, torch.Tensor], epoch: int | None,
                 metrics: dict[str, Any], **extra: Any) -> None:
    """``checkpoints/<net>-<which>.pt``: the network's ``weights`` (a CPU state dict), the epoch, its metrics,
    and ``extra`` (the resume state ``training`` in the stage's last checkpoint; a reused teacher's ``source``)."""
    save_checkpoint(checkpoint_file(run_dir, net, which),
                    {"net": net, "which": which, "model": weights, "epoch": epoch, "metrics": metrics, **extra})


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict copied to the CPU: what a checkpoint stores."""
    return {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint on the CPU; anything that is not plain tensors and data is refused."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"Checkpoint not found: {path}")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise WorkbenchError(
            f"Refused to load {path}: it holds Python objects other than tensors and plain data, and loading "
            f"them could run code. Only checkpoints written by the workbench can be loaded. ({first_line(error)})"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise WorkbenchError(f"Cannot read checkpoint {path}: the file is damaged or not a checkpoint "
                             f"({first_line(error)}).") from None
    if not isinstance(content, dict) or content.get("format") != CHECKPOINT_FORMAT or "model" not in content:
        raise WorkbenchError(f"{path} is not a workbench checkpoint (format {CHECKPOINT_FORMAT}).")
    return content



def rng_state() -> dict[str, Any]:
    """The global torch RNG state (CPU, and every CUDA device when there is one)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
