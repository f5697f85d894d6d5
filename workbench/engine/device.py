"""Device and precision: ``auto`` picks CUDA, then MPS, then CPU; autocast and the fp16 gradient scaler."""

from __future__ import annotations

import contextlib
import os
import platform

import torch

from workbench.errors import ConfigError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str) -> torch.device:
    """The torch device for ``train.device``; an unavailable device is a user error."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"'{spec}' is not a device: use auto, cpu, cuda, cuda:N or mps.", "train.device") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device is '{spec}' but CUDA is not available here; use auto or cpu.",
                              "train.device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"train.device is '{spec}' but there are only {torch.cuda.device_count()} CUDA "
                              "device(s).", "train.device")
    elif device.type == "mps" and not _mps_available():
        raise ConfigError(f"train.device is '{spec}' but MPS is not available here; use auto or cpu.", "train.device")
    elif device.type not in ("cpu", "cuda", "mps"):
        backend = getattr(torch, device.type, None)
        if backend is None or not backend.is_available():
            raise ConfigError(f"train.device is '{spec}' but that backend is not available here.", "train.device")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_name(device: torch.device) -> str:
    """A human-readable name: the GPU model, or the CPU and its thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple GPU (MPS) on {platform.machine()}"
    cpu = platform.processor() or platform.machine() or "CPU"
    return f"CPU {cpu}, {torch.get_num_threads()} threads of {os.cpu_count()}"


def resolve_cpu_threads(configured: int, world_size: int = 1) -> int:
    """The CPU thread count a run trains with: ``train.cpu_threads``, or for 0 the cores less one.

    Less than every core because the app's GUI thread needs one (on 2 cores, a run that let torch
    take both trained 7x slower with the live plots shown). Under torchrun (several processes on
    one machine) 0 keeps the per-process count torchrun set (OMP_NUM_THREADS).
    """
    if configured > 0:
        return configured
    if world_size > 1:
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(1, cores - 1)


@contextlib.contextmanager
def cpu_threads(count: int):
    """Run torch's CPU operations of the calling thread with ``count`` threads, then restore the count.

    The thread count changes the order of floating-point sums, so it is part of what decides the
    numbers: the app (training in a worker thread) and the CLI set the same one.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to bf16/fp16 for ``precision``, or nothing for fp32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (its small range underflows gradients); bf16 and fp32 need none."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)
