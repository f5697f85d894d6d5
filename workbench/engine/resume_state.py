"""What a stopped run needs to continue exactly: where it stopped, and the state of its random generators.

The trainer writes the full training state into ``<stage>-last.pt`` (``Trainer._save_last``);
this module reads the resume point back and handles the generator states.
"""

from __future__ import annotations

from typing import Any

import torch

from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.runs import RunRecord
from workbench.errors import WorkbenchError


def resume_point(record: RunRecord) -> dict[str, Any]:
    """The latest stage checkpoint with its training state; a run killed before its first checkpoint
    starts over in its folder (stage None, metrics.jsonl emptied)."""
    for stage in ("student", "teacher"):
        path = record.checkpoint_path(stage, "last")
        if path.is_file():
            checkpoint = load_checkpoint(path)
            training = checkpoint.get("training")
            if training is None:
                raise WorkbenchError(f"{path} has no training state; the run cannot be resumed.")
            return {"stage": stage, "checkpoint": checkpoint, "events_offset": training["events_offset"],
                    "results": training["results"], "timings": training["timings"]}
    return {"stage": None, "checkpoint": None, "events_offset": 0, "results": {}, "timings": {}}


def generator_states(device: torch.device) -> list[torch.Tensor]:
    """The states of the generators a forward pass on ``device`` draws from (dropout): the CPU's and the device's."""
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    elif device.type == "mps":
        states.append(torch.mps.get_rng_state())
    return states


def set_generator_states(device: torch.device, states: list[torch.Tensor]) -> None:
    torch.set_rng_state(states[0])
    if device.type == "cuda":
        torch.cuda.set_rng_state(states[1], device)
    elif device.type == "mps":
        torch.mps.set_rng_state(states[1])
