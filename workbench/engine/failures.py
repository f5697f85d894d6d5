"""How a run fails in words: a loss that diverged, or memory that ran out, each said as one message
naming where it happened and what to change (a ``WorkbenchError``, as every user's problem is)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from workbench.engine.checkpoint import checkpoint_file
from workbench.errors import WorkbenchError, first_line


class TrainingDiverged(WorkbenchError):
    """A loss term became NaN or infinite; the message names the term, the network and the step."""


class OutOfMemory(WorkbenchError):
    """The CPU allocator or the GPU ran out of memory; the message names the stage, epoch, batch and batch size."""


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    # The CPU allocator raises a plain RuntimeError: "DefaultCPUAllocator: can't allocate memory: ...".
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def out_of_memory(error: BaseException, device: torch.device | None, stage: str | None,
                  position: tuple[int, int | None], batch_size: int, run_dir: Path) -> OutOfMemory:
    """The allocator's ``error`` as one message: where it happened (``position``: epoch, batch or None while
    validating) and what to change. On a GPU, what the failed batch held is given back first."""
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()  # for the app and the next run
    epoch, batch = position
    where = f"{stage} stage" if stage else "the start (building the networks)"
    if stage and epoch:
        where += f", epoch {epoch}, " + (f"batch {batch}" if batch else "validation")
    return OutOfMemory(f"Out of memory at the {where}, batch size {batch_size}: try a smaller batch "
                       "(train.batch_size) or network. The run resumes from its last checkpoint "
                       f"(workbench train --resume {run_dir}). ({first_line(error)})")


def check_finite(terms: dict[str, dict[str, float]], losses: dict[str, float], run_dir: Path, stage: str, step: int,
                 epoch: int, batch_number: int) -> None:
    """Raise ``TrainingDiverged`` for the first loss term (``terms``: the stage's main network's, ``losses``:
    each network's total) that is NaN or infinite."""
    main_net = "teacher" if stage == "teacher" else "student"
    bad = [(main_net, name, values["raw"]) for name, values in terms.items()
           if not math.isfinite(values["raw"]) or not math.isfinite(values["weighted"])]
    if "baseline" in losses and not math.isfinite(losses["baseline"]):
        bad.append(("baseline", "ce", losses["baseline"]))
    if not bad:
        return
    net, term, value = bad[0]
    last = checkpoint_file(run_dir, stage, "last")
    kept = (f"The last good checkpoint, {last.relative_to(run_dir)}, is kept." if last.exists()
            else "No checkpoint was written before it.")
    raise TrainingDiverged(
        f"The {net}'s loss term '{term}' became {value} at step {step} ({stage} stage, epoch {epoch}, "
        f"batch {batch_number}); training stopped. {kept} Try a lower train.lr, gradient clipping "
        "(train.grad_clip) or fp32 precision.")
