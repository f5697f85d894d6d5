"""The validation epoch: each network's outputs on the validation split, and what the epoch reports of them.

``evaluate`` runs networks over the split and keeps what the task needs (probabilities or masks,
embeddings, metrics); ``epoch_metrics`` adds each network's agreement with the teacher and each
sample's predicted class; ``validation_payload`` is the ``on_validation_end`` record (metrics,
prediction arrays, and in the student stage the distillation gain with its paired test);
``retrieval_metrics`` measures cross-modal retrieval in the contrastive term's shared space.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from workbench.config import NETS
from workbench.engine.device import autocast
from workbench.engine.metrics import agreement, recall_at_k
from workbench.engine.result import improves
from workbench.engine.stats import paired_test
from workbench.engine.tasks import Task


@dataclasses.dataclass
class Best:
    """Best validation value of one network so far, and the metrics at that epoch."""

    value: float | None = None
    epoch: int | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    # The class predicted for each validation sample at that epoch: the paired test of the best checkpoints.
    predicted: list[int] | None = None

    def improves(self, value: float, metric: str) -> bool:
        return improves(self.value, value, metric)


@torch.no_grad()
def evaluate(networks: dict[str, nn.Module], loader: Iterable[dict[str, torch.Tensor]], task: Task,
             metric_context: dict[str, Any], device: torch.device, precision: str) -> dict[str, Any]:
    """What the task keeps of each network's outputs (probabilities or masks), its embeddings and its
    metrics over the validation set, in sample order; ``_labels`` and ``_index`` are the samples'."""
    for network in networks.values():
        network.eval()
    collectors = {name: task.collector(metric_context) for name in networks}
    labels, indices = [], []
    for batch in loader:
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        labels.append(batch["label"].cpu())
        indices.append(batch["index"].cpu())
        for name, network in networks.items():
            with autocast(device, precision):
                output = network(batch)
            collectors[name].add(output.logits.float(), batch["label"], output.embedding)
    label_array = torch.cat(labels).numpy()
    results: dict[str, Any] = {name: collector.result(label_array) for name, collector in collectors.items()}
    results["_labels"] = label_array
    results["_index"] = torch.cat(indices).numpy()
    return results


def epoch_metrics(validated: dict[str, Any], task: Task) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Each network's metrics (the others' with their agreement with the teacher) and each sample's
    predicted class (None: the task has no class per sample), for the paired test of the gain."""
    teacher_preds = task.predictions(validated["teacher"])
    metrics = {}
    for net in NETS:
        if net in validated:
            metrics[net] = dict(validated[net]["metrics"])
            if net != "teacher":
                metrics[net]["agreement"] = agreement(task.predictions(validated[net]), teacher_preds)
    predicted = {net: task.sample_classes(validated[net]) for net in metrics}
    return metrics, predicted


def validation_payload(stage: str, epoch: int, step: int, validated: dict[str, Any],
                       metrics: dict[str, dict[str, float]], predicted: dict[str, Any], task: Task,
                       class_names: Sequence[str]) -> dict[str, Any]:
    """The ``on_validation_end`` payload of an epoch (docs/architecture.md)."""
    predictions = {"index": validated["_index"], "label": validated["_labels"]}
    for net in metrics:
        predictions.update({f"{net}_{key}": value for key, value in validated[net].items() if key != "metrics"})
    # The frozen teacher's metrics do not change in the student stage: they are logged in its own
    # stage (and kept in the summary); its predictions stay in every epoch's arrays, for comparison.
    logged = {net: values for net, values in metrics.items() if net != "teacher" or stage == "teacher"}
    payload = {"stage": stage, "epoch": epoch, "step": step, "metrics": logged, "predictions": predictions}
    if "baseline" in metrics and stage == "student":
        gain_metric = task.main_metric
        payload["distillation_gain"] = metrics["student"][gain_metric] - metrics["baseline"][gain_metric]
        if predicted["student"] is not None:
            payload["paired_test"] = paired_test(validated["_labels"], predicted["student"], predicted["baseline"],
                                                 class_names)
    return payload


@torch.no_grad()
def shared_embeddings(term: nn.Module, validated: dict[str, Any]) -> dict[str, np.ndarray]:
    """The student's and the teacher's validation embeddings in the contrastive ``term``'s shared space."""
    device = next(term.parameters()).device
    return {net: head(torch.from_numpy(validated[net]["embedding"]).to(device)).float().cpu().numpy()
            for net, head in (("student", term.student_head), ("teacher", term.teacher_head))}


def retrieval_metrics(shared: dict[str, np.ndarray], field_kinds: dict[str, str], student_fields: Sequence[str],
                      teacher_fields: Sequence[str]) -> dict[str, Any]:
    """Cross-modal retrieval on the validation split in the contrastive term's shared space: each
    student embedding (the student's modalities) queries the teacher embeddings (the teacher's
    modalities) for its own sample, and the other way round; Recall@1/5/10."""
    student, teacher = shared["student"], shared["teacher"]
    student_side = "+".join(dict.fromkeys(field_kinds[name] for name in student_fields))
    teacher_side = "+".join(dict.fromkeys(field_kinds[name] for name in teacher_fields))
    return {"samples": int(student.shape[0]), "student_modalities": student_side,
            "teacher_modalities": teacher_side,
            f"{student_side}->{teacher_side}": recall_at_k(student, teacher),
            f"{teacher_side}->{student_side}": recall_at_k(teacher, student)}
