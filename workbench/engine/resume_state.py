"""What a stopped run needs to continue exactly: where it stopped, and the state of its random generators.

The trainer writes the full training state into ``<stage>-last.pt`` (``Trainer._save_last``);
this module reads the run and its resume point back (``open_for_resume``), puts a stage back as
its checkpoint left it (``restore_stage``) and handles the generator states.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.atomic import remove_leftover_temp_files
from workbench.config import CONFIGURED_NETS, ExperimentConfig
from workbench.engine import distributed
from workbench.engine.checkpoint import load_checkpoint, set_rng_state
from workbench.engine.config_validation import check_config
from workbench.engine.hf_text import offline_encoders
from workbench.engine.learner import Learner
from workbench.engine.runs import RunRecord
from workbench.errors import WorkbenchError


def open_for_resume(run_dir: str | Path, context: distributed.DistributedContext
                    ) -> tuple[Path, ExperimentConfig, dict[str, Any], dict[str, Any]]:
    """A stopped, killed or failed run's folder, config, resume point and summary, on every rank. Rank 0 reads
    them (on several machines only its machine has the run folder) and sends them to the others."""
    found = None
    if context.is_main:
        record = RunRecord.open(run_dir)
        if record.summary.get("status") == "finished":
            raise WorkbenchError(f"{record.path} has finished training; there is nothing to resume.")
        remove_leftover_temp_files(record.path)  # of writes the kill or crash interrupted
        found = (record.path, check_config(record.config_with_plugins()), resume_point(record), record.summary)
    path, cfg, resume_from, previous_summary = distributed.from_main(found, context)
    if resume_from["checkpoint"] is not None:
        ran_with = resume_from["checkpoint"]["training"].get("world_size", 1)
        if ran_with != context.world_size:
            raise WorkbenchError(
                f"{path} was trained by {ran_with} process(es) and is resumed by {context.world_size}: each "
                f"process's share of an epoch would differ. Resume it with {ran_with} (torchrun "
                "--nproc_per_node times --nnodes).")
    return path, cfg, resume_from, previous_summary


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


def resumed_networks_config(cfg: ExperimentConfig, run_dir: Path, stage: str | None) -> ExperimentConfig:
    """``cfg`` with its library text models built from the run's copies of their configs (``offline_encoders``)
    in the networks the resume point's checkpoints load (the teacher from the teacher stage on, the student
    in the student stage), and wherever a model starts from no weights: a resumed run needs neither the
    model's folder nor the cache, and builds the networks of the uninterrupted run."""
    restored = {"teacher": ("teacher",), "student": ("teacher", "student")}.get(stage, ())
    nets = {net: offline_encoders(getattr(cfg, net), run_dir, net, weights_restored=net in restored)
            for net in CONFIGURED_NETS}
    return dataclasses.replace(cfg, **nets)


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


def restore_stage(checkpoint: dict[str, Any], learners: list[Learner], objective: nn.Module,
                  baseline: nn.Module | None, context: distributed.DistributedContext,
                  device: torch.device) -> dict[str, Any]:
    """Put a stage back as its last checkpoint left it: the main network's weights (in the student stage the
    objective's and the baseline's too), each learner's optimizer, schedule and scaler, and this rank's
    random generators. Returns the checkpoint's training state (progress, best so far, early stopping)."""
    state = checkpoint["training"]
    learners[0].network.load_state_dict(checkpoint["model"])
    if state["stage"] == "student":
        objective.load_state_dict(state["objective"])
        if baseline is not None:
            baseline.load_state_dict(state["baseline_model"])
    for learner in learners:
        learner.load_state(state["learners"][learner.name])
    if context.enabled:
        distributed.set_rng_state(state["rng_by_rank"][context.rank], device)
    else:
        set_rng_state(state["rng"])
    return state
