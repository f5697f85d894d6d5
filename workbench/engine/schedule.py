"""The learning-rate schedule: one function for the trainer's scheduler and for the Training tab's preview.

Torch-free, so that the preview (and a config check) does not load torch.
"""

from __future__ import annotations

import math
from typing import Any


def lr_factor(step: int, steps_per_epoch: int, epochs: int, train_cfg: Any) -> float:
    """Multiplier of the peak LR at optimizer step ``step`` (0-based): linear warm-up, then the schedule."""
    warmup = train_cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    if train_cfg.schedule == "step":
        return train_cfg.gamma ** (((step - warmup) // steps_per_epoch) // train_cfg.step_size)
    if train_cfg.schedule == "cosine":
        progress = (step - warmup) / max(1, epochs * steps_per_epoch - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return 1.0


def learning_rate_curve(train_cfg: Any, steps_per_epoch: int) -> tuple[list[float], list[float]]:
    """(epoch position, learning rate) of every optimizer step of the student stage, as the trainer applies them:
    step ``k`` trains with ``lr * lr_factor(k)`` and ends at epoch position ``(k + 1) / steps_per_epoch``."""
    steps = max(1, train_cfg.epochs * steps_per_epoch)
    positions = [(step + 1) / steps_per_epoch for step in range(steps)]
    rates = [train_cfg.lr * lr_factor(step, steps_per_epoch, train_cfg.epochs, train_cfg) for step in range(steps)]
    return positions, rates
