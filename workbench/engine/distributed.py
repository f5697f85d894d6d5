"""Several processes training one run, launched by ``torchrun`` (PyTorch DDP); docs/distributed.md.

``torchrun`` starts one process per GPU (or per CPU slot) and tells each its place through the
environment: ``WORLD_SIZE``, ``RANK`` (0 .. WORLD_SIZE-1 over all machines) and ``LOCAL_RANK``
(its GPU on this machine). ``process_group()`` joins them; the trainer reads ``current()``.
Without torchrun (``WORLD_SIZE`` unset or 1) every function here is a no-op on one process,
and training is exactly what it was before distributed training existed.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from workbench.engine.device import resolve_device
from workbench.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the processes of one run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run folder and calls the callbacks."""
        return self.rank == 0


SINGLE_PROCESS = DistributedContext()


def _environment() -> DistributedContext:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE_PROCESS
    return DistributedContext(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world_size)


@contextlib.contextmanager
def process_group() -> Iterator[DistributedContext]:
    """Join the processes torchrun started (rendezvous from its environment), and leave on exit.

    The group has NCCL for CUDA tensors and Gloo for CPU tensors where CUDA exists (Gloo only
    otherwise): each collective then takes the backend of its tensors' device, so the same
    group serves a run on GPUs and one that ``train.device = "cpu"`` keeps on the CPU.
    """
    context = _environment()
    if not context.enabled or dist.is_initialized():
        yield current()
        return
    # The same choice on every rank (it must be); object collectives go through Gloo either way.
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available() and context.local_rank < torch.cuda.device_count():
        torch.cuda.set_device(context.local_rank)  # before any CUDA work: NCCL uses the current device
    dist.init_process_group(backend=backend)
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def current() -> DistributedContext:
    """This process's place: from the joined process group, or a single process without one."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return SINGLE_PROCESS
    return DistributedContext(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_world_size())


def rank_device(spec: str, context: DistributedContext) -> torch.device:
    """The device of this rank for ``train.device``: ``cuda:LOCAL_RANK`` for auto/cuda where CUDA exists,
    else the CPU (MPS has no DDP). A single process keeps ``resolve_device``'s choice."""
    device = resolve_device(spec)  # an unavailable device is the same user error as on one process
    if not context.enabled:
        return device
    if device.type != "cuda":
        return torch.device("cpu")
    if context.local_rank >= torch.cuda.device_count():
        raise ConfigError(f"This machine runs more training processes than it has GPUs ({torch.cuda.device_count()}): "
                          "give torchrun --nproc_per_node=<GPUs>, or set train.device = \"cpu\".", "train.device")
    return torch.device("cuda", context.local_rank)


def shard(order: list[int], context: DistributedContext) -> list[int]:
    """This rank's equal share of ``order``, as ``DistributedSampler`` takes it: the order is padded by
    wrapping around to a multiple of the world size, then rank r takes positions r, r+W, r+2W, ..."""
    if not context.enabled:
        return order
    total = math.ceil(len(order) / context.world_size) * context.world_size
    padded = (order * math.ceil(total / len(order)))[:total]
    return padded[context.rank::context.world_size]


def mean_over_ranks(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """The mean of ``values`` over the ranks (a NaN or inf on any rank makes the mean non-finite)."""
    if not context.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values)
    return values / context.world_size


def any_rank(flag: bool, device: torch.device, context: DistributedContext) -> bool:
    """True on every rank when ``flag`` is true on at least one (one tiny all-reduce)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def from_main(value: T, context: DistributedContext) -> T:
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if not context.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(context: DistributedContext) -> None:
    """Wait until every rank is here."""
    if context.enabled:
        dist.barrier()


def all_ranks(value: T, context: DistributedContext) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if not context.enabled:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_module(module: nn.Module, context: DistributedContext) -> None:
    """Give every rank rank 0's parameters and buffers (e.g. after rank 0 loaded a checkpoint file,
    which other machines may not be able to read)."""
    if not context.enabled:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def wrap(module: nn.Module, device: torch.device, context: DistributedContext) -> nn.Module:
    """``module`` in DistributedDataParallel (gradients averaged over the ranks during backward), or
    ``module`` itself on one process.

    BatchNorm keeps per-rank batch statistics; DDP broadcasts rank 0's running statistics before
    each forward, so validation and checkpoints use rank 0's. Every parameter of a trained module
    takes part in every forward, so ``find_unused_parameters`` (an extra graph walk per step) is off.
    """
    if not context.enabled:
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def rng_state(device: torch.device) -> dict[str, Any]:
    """This rank's RNG state: the CPU generator and its own GPU's only (``checkpoint.rng_state`` reads
    every GPU's, which would open a CUDA context on every GPU in every rank)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
