"""Tasks: what a network predicts, how it is supervised and how it is scored (``data.task``).

The trainer is the same for every task; a task gives it the few parts that differ:

- ``supervised_loss`` / ``batch_accuracy``: the teacher's and the baseline's cross-entropy and the
  per-batch accuracy it logs (per sample, or per pixel with the ignore index left out);
- ``loss_view``: the outputs and batch the objective's terms see. Segmentation hands them one
  row per labelled pixel, so that ``ce``, ``kd`` and ``dkd`` become their per-pixel forms
  (pixel-wise KD: T^2 KL per pixel, averaged over the pixels) without a second copy of them;
- ``ValidationCollector``: what validation keeps of each network's outputs (probabilities,
  or predicted masks) and the metrics computed from it; ``main_metric`` is the metric the
  distillation gain compares (accuracy, or mIoU);
- the network head is chosen in ``models.build_network`` from ``task.spatial``.

A new task is one registered class (``@register_task``); its name must also be listed in
``workbench.config.TASKS``, which the config validates without importing torch.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workbench.config import TASKS as TASK_NAMES
from workbench.engine.metrics import classification_metrics, confusion_matrix, segmentation_metrics
from workbench.engine.models import NetworkOutput

IGNORE_INDEX = 255  # mask value of pixels that are not scored (borders, "don't care"), as in VOC

TASKS: dict[str, type[Task]] = {}


def register_task(name: str):
    def decorator(cls: type[Task]) -> type[Task]:
        if name not in TASK_NAMES:
            raise ValueError(f"task {name!r} must be listed in workbench.config.TASKS")
        cls.name = name
        TASKS[name] = cls
        return cls

    return decorator


def get_task(name: str) -> Task:
    return TASKS[name]()


class ValidationCollector:
    """Gathers one network's validation outputs batch by batch; ``result`` gives its arrays and metrics."""

    def __init__(self, task: Task, context: dict[str, Any]):
        self.task = task
        self.context = context
        self.loss_sum = 0.0
        self.count = 0
        self.kept: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, logits: torch.Tensor, labels: torch.Tensor, embedding: torch.Tensor) -> None:
        self.loss_sum += float(self.task.supervised_loss(logits, labels, reduction="sum"))
        self.count += self.task.scored_count(labels)
        self.kept["embedding"].append(embedding.float().cpu().numpy())
        for key, value in self.task.kept_outputs(logits).items():
            self.kept[key].append(value)

    def result(self, labels: np.ndarray) -> dict[str, Any]:
        arrays = {key: np.concatenate(values) for key, values in self.kept.items()}
        loss = self.loss_sum / max(1, self.count)
        arrays["metrics"] = self.task.metrics(labels, arrays, loss, self.context)
        return arrays


class Task:
    """Classification: one class per sample, cross-entropy, accuracy / macro-F1 / top-5."""

    name = "classification"
    main_metric = "val_accuracy"
    spatial = False  # whether networks predict a class per pixel

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0,
                        reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing, reduction=reduction)

    def batch_accuracy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (logits.argmax(1) == labels).float().mean()

    def scored_count(self, labels: torch.Tensor) -> int:
        return int(labels.shape[0])

    def loss_view(self, student: NetworkOutput, teacher: NetworkOutput | None, batch: dict[str, torch.Tensor]
                  ) -> tuple[NetworkOutput, NetworkOutput | None, dict[str, torch.Tensor]]:
        return student, teacher, batch

    def kept_outputs(self, logits: torch.Tensor) -> dict[str, np.ndarray]:
        """What validation keeps of a batch's logits, as ``<net>_<key>`` prediction arrays."""
        return {"probs": torch.softmax(logits.float(), 1).cpu().numpy()}

    def metrics(self, labels: np.ndarray, arrays: dict[str, np.ndarray], loss: float,
                context: dict[str, Any]) -> dict[str, float]:
        return classification_metrics(labels, arrays["probs"], loss)

    def predictions(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Each validation sample's predicted class (or mask), for the agreement with the teacher."""
        return arrays["probs"].argmax(1)

    def sample_classes(self, arrays: dict[str, np.ndarray]) -> list[int] | None:
        """Each validation sample's predicted class, for the paired test of the gain; None where a
        sample has no single class (segmentation)."""
        return arrays["probs"].argmax(1).tolist()

    def collector(self, context: dict[str, Any]) -> ValidationCollector:
        return ValidationCollector(self, context)


register_task("classification")(Task)


@register_task("vqa")
class QuestionAnsweringTask(Task):
    """VQA as answer classification: the classes are the most frequent answers.

    ``val_accuracy`` is the exact-match answer accuracy; with a ``question_type`` column the
    metrics add ``val_accuracy/<type>`` per question type.
    """

    def metrics(self, labels: np.ndarray, arrays: dict[str, np.ndarray], loss: float,
                context: dict[str, Any]) -> dict[str, float]:
        metrics = super().metrics(labels, arrays, loss, context)
        types = context.get("question_types")
        if types is not None:
            correct = arrays["probs"].argmax(1) == labels
            for kind in sorted(set(types)):
                chosen = np.asarray(types) == kind
                metrics[f"val_accuracy/{kind}"] = float(correct[chosen].mean())
        return metrics


@register_task("segmentation")
class SegmentationTask(Task):
    """A class per pixel: per-pixel cross-entropy (ignore index 255), mIoU, pixel accuracy, per-class IoU."""

    main_metric = "val_miou"
    spatial = True

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0,
                        reduction: str = "mean") -> torch.Tensor:
        if not (labels != IGNORE_INDEX).any():  # an all-ignored batch: a zero that keeps the graph
            return logits.float().sum() * 0.0
        return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing,
                               reduction=reduction)

    def batch_accuracy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scored = labels != IGNORE_INDEX
        return ((logits.argmax(1) == labels) & scored).float().sum() / scored.sum().clamp(min=1)

    def scored_count(self, labels: torch.Tensor) -> int:
        return int((labels != IGNORE_INDEX).sum())

    def loss_view(self, student: NetworkOutput, teacher: NetworkOutput | None, batch: dict[str, torch.Tensor]
                  ) -> tuple[NetworkOutput, NetworkOutput | None, dict[str, torch.Tensor]]:
        """One row per scored pixel: logits (P, C), labels (P,); embeddings and feature maps unchanged."""
        labels = batch["label"]
        scored = (labels != IGNORE_INDEX).reshape(-1)

        def rows(output: NetworkOutput) -> NetworkOutput:
            logits = output.logits
            flat = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])[scored]
            return output._replace(logits=flat)

        pixel_batch = {**batch, "label": labels.reshape(-1)[scored]}
        return rows(student), rows(teacher) if teacher is not None else None, pixel_batch

    def kept_outputs(self, logits: torch.Tensor) -> dict[str, np.ndarray]:
        return {"mask": logits.argmax(1).to(torch.uint8).cpu().numpy()}

    def metrics(self, labels: np.ndarray, arrays: dict[str, np.ndarray], loss: float,
                context: dict[str, Any]) -> dict[str, float]:
        metrics = {"val_loss": float(loss)}
        metrics.update(segmentation_metrics(labels, arrays["mask"], len(context["class_names"]), IGNORE_INDEX,
                                            context["class_names"]))
        return metrics

    def predictions(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        return arrays["mask"]

    def sample_classes(self, arrays: dict[str, np.ndarray]) -> list[int] | None:
        return None


def per_image_iou(labels: np.ndarray, masks: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean IoU of each image over the classes present in its truth or its prediction (N,)."""
    values = np.zeros(len(labels), dtype=np.float32)
    for i, (truth, pred) in enumerate(zip(labels, masks)):
        scored = truth != IGNORE_INDEX
        matrix = confusion_matrix(truth[scored], pred[scored], num_classes)
        union = matrix.sum(0) + matrix.sum(1) - np.diag(matrix)
        present = union > 0
        values[i] = float((np.diag(matrix)[present] / union[present]).mean()) if present.any() else 1.0
    return values
