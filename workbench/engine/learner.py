"""One network being trained: its optimizer, learning-rate schedule and gradient scaler, and its step.

A stage trains one ``Learner`` per network: the teacher; or the student (with the objective's learned
parts) and the baseline. A parameter group's learning rate is the peak rate times its encoder's
``lr_scale`` (``models.parameter_groups``), and the schedule (``schedule.lr_factor``) scales every
group alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from workbench.config import TrainConfig
from workbench.engine.device import autocast, grad_scaler
from workbench.engine.losses import Objective
from workbench.engine.models import parameter_groups
from workbench.engine.schedule import lr_factor
from workbench.engine.tasks import Task


@dataclasses.dataclass
class Learner:
    """One network being trained: its modules' parameters share one optimizer and schedule."""

    name: str
    network: nn.Module
    modules: list[nn.Module]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None

    def parameters(self) -> list[nn.Parameter]:
        return [p for module in self.modules for p in module.parameters() if p.requires_grad]

    def state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])

    def step(self, loss: torch.Tensor, grad_clip: float) -> None:
        """Back-propagate ``loss``, clip the gradients' norm (``grad_clip`` > 0), update, advance the schedule."""
        optimizer, scaler = self.optimizer, self.scaler
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(self.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(self.parameters(), grad_clip)
            optimizer.step()
        self.scheduler.step()


def build_learner(name: str, network: nn.Module, modules: list[nn.Module], train: TrainConfig, device: torch.device,
                  steps_per_epoch: int, epochs: int) -> Learner:
    """The learner of ``network``, training the parameters of ``modules`` with ``train``'s optimizer and schedule."""
    # Each group's lr is the peak lr times its multiplier; LambdaLR scales every group alike.
    params = [{"params": group["params"], "lr": train.lr * group["lr_scale"]} for group in parameter_groups(modules)]
    # On CUDA the fused kernels update every parameter in a few launches instead of several per
    # tensor: small networks there are bound by kernel launches, not by arithmetic.
    fused = {"fused": True} if device.type == "cuda" else {}
    if train.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay,
                                    **fused)
    elif train.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay, **fused)
    else:
        optimizer = torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay, **fused)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps_per_epoch, epochs, train))
    return Learner(name, network, modules, optimizer, scheduler, grad_scaler(device, train.precision))


class StudentWithObjective(nn.Module):
    """The student and the objective as one module, whose forward gives the student's output and loss.

    They share one optimizer, and the objective's learned parts (projectors, heads, decoder) get
    gradients as the student does, so under DDP they must be one wrapped module: DDP averages the
    gradients of the parameters of the module it wraps, and those only.
    """

    def __init__(self, student: nn.Module, objective: Objective, task: Task):
        super().__init__()
        self.student = student
        self.objective = objective
        self.task = task

    def forward(self, batch: dict[str, torch.Tensor], teacher_out: Any, device: torch.device, precision: str) -> Any:
        with autocast(device, precision):
            output = self.student(batch)
        loss, terms = self.objective(*self.task.loss_view(output, teacher_out, batch))
        return output, loss, terms
