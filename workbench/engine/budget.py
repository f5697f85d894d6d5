"""Will a run fit in memory? An estimate made before any real tensor is allocated.

The networks and the objective are built on PyTorch's ``meta`` device (shapes, no
storage) and one batch goes through each trained network there, so that the parameter
count and the activation size of a batch are known exactly without the memory they
describe. A run whose estimate exceeds the machine's memory is refused with both
numbers, instead of dying in the allocator (or swapping for minutes) once it has started.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.errors import ConfigError, first_line

FLOAT_BYTES = 4  # parameters, gradients and optimizer state are fp32 whatever the autocast precision
# Optimizer state per parameter: Adam/AdamW keep two moments, SGD one momentum buffer.
_OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1}


@dataclasses.dataclass
class NetworkEstimate:
    name: str
    parameters: int
    parameter_bytes: int  # weights, gradients and optimizer state (frozen: weights only)
    activation_bytes: int  # outputs of every layer for one training batch (what backward keeps)

    @property
    def total(self) -> int:
        return self.parameter_bytes + self.activation_bytes


def memory_limit(device: torch.device) -> tuple[int, str]:
    """Bytes this process may use on ``device``, and where that limit comes from."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_properties(index).total_memory, f"the memory of {device}"
    limits = [(_physical_memory(), "this machine's memory")]
    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            limits.append((soft, "this process's memory limit (ulimit)"))
    cgroup = _cgroup_limit()
    if cgroup:
        limits.append((cgroup, "this container's memory limit"))
    return min(limits)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no limit we can read
        return 1 << 62


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:  # cgroup v1 says "no limit" with a huge number
            return int(text)
    return None


def estimate_run(cfg: Any, input_specs: dict[str, dict[str, Any]], num_classes: int, batch_size: int,
                 spatial: bool = False) -> list[list[NetworkEstimate]]:
    """The networks held in memory at once in each stage (teacher stage, then student stage), for
    training batches of ``batch_size`` samples.

    A network that cannot be built raises a ConfigError naming it.
    """
    from workbench.engine.losses import Objective, objective_context
    from workbench.engine.models import build_network

    batch = _meta_batch(input_specs, batch_size)
    states = _OPTIMIZER_STATES.get(cfg.train.optimizer, 2)
    with torch.device("meta"):
        teacher = _build(lambda: build_network(cfg.teacher, input_specs, num_classes, "teacher", spatial), "teacher")
        student = _build(lambda: build_network(cfg.student, input_specs, num_classes, "student", spatial), "student")
        objective = _build(lambda: Objective(cfg.loss, objective_context(cfg.loss, input_specs, num_classes, student,
                                                                          teacher)), "loss")
    teacher_activations = _activation_bytes(teacher, batch, "teacher")
    student_activations = _activation_bytes(student, batch, "student")

    def trained(name: str, modules: list[nn.Module], activations: int) -> NetworkEstimate:
        count = sum(p.numel() for module in modules for p in module.parameters())
        return NetworkEstimate(name, count, count * FLOAT_BYTES * (2 + states), activations)

    teacher_stage = [trained("teacher", [teacher], teacher_activations)]
    frozen_teacher = NetworkEstimate("teacher", teacher_stage[0].parameters,
                                     teacher_stage[0].parameters * FLOAT_BYTES, 0)
    student_stage = [frozen_teacher, trained("student", [student, objective], student_activations)]
    if cfg.train.baseline:
        student_stage.append(trained("baseline", [student], student_activations))
    return [teacher_stage, student_stage]


def check_fits_memory(cfg: Any, input_specs: dict[str, dict[str, Any]], num_classes: int, device: torch.device,
                      train_samples: int, spatial: bool = False) -> None:
    """Raise a ConfigError with the estimate and the limit when a stage would not fit on ``device``
    (a batch is at most the ``train_samples`` of the training split; ``spatial``: per-pixel outputs)."""
    batch_size = max(1, min(cfg.train.batch_size, train_samples))
    limit, source = memory_limit(device)
    for stage in estimate_run(cfg, input_specs, num_classes, batch_size, spatial):
        total = sum(net.total for net in stage)
        if total <= limit:
            continue
        biggest = max(stage, key=lambda net: net.total)
        if biggest.activation_bytes > biggest.parameter_bytes:
            key, advice = "train.batch_size", "lower train.batch_size or make the networks smaller"
        else:
            key, advice = biggest.name, (f"make the {biggest.name} smaller (encoder width, depth or dim, "
                                         "fusion_hidden, embed_dim)")
        parts = "; ".join(f"{net.name}: {net.parameters:,} parameters, {_size(net.parameter_bytes)} with gradients "
                          f"and optimizer state, {_size(net.activation_bytes)} of activations" for net in stage)
        raise ConfigError(f"{key}: this run needs about {_size(total)} of memory with batches of {batch_size}, "
                          f"more than the {_size(limit)} of {source}: {advice} ({parts}).", key)


def _size(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 / 10 else f"{size / 2**20:.1f} MiB"


def _build(make: Any, key: str) -> nn.Module:
    try:
        return make()
    except ConfigError:
        raise
    except (RuntimeError, ValueError, OverflowError, MemoryError) as error:
        # e.g. "Storage size calculation overflowed": sizes beyond what any tensor can hold.
        raise ConfigError(f"{key}: the network cannot be built with these sizes ({first_line(error)}); "
                          "make it smaller.", key) from None


def _meta_batch(input_specs: dict[str, dict[str, Any]], batch_size: int) -> dict[str, torch.Tensor]:
    batch = {}
    for name, spec in input_specs.items():
        batch[name] = torch.empty((batch_size, *spec["input_shape"]), dtype=getattr(torch, spec["dtype"]), device="meta")
    return batch


def _activation_bytes(network: nn.Module, batch: dict[str, torch.Tensor], key: str) -> int:
    """Bytes of every layer's output for one batch (what autograd keeps for the backward pass).

    A layer that cannot run on the meta device (a packed GRU needs its lengths on the CPU)
    makes the estimate count parameters only for that network.
    """
    total = 0

    def add(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [module for module in network.modules() if not list(module.children())]
    handles = [module.register_forward_hook(add) for module in leaves]
    try:
        with torch.no_grad():
            network(batch)
    except (NotImplementedError, RuntimeError, ValueError, TypeError):
        return total
    finally:
        for handle in handles:
            handle.remove()
    return total

