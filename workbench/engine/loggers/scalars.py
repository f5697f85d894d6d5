"""The numbers of an event as named scalars: one naming for TensorBoard tags and MLflow metric keys.

Names (TensorBoard tags; MLflow prefixes each with the stage, ``student/loss/kd``, because its
steps restart with each stage):

- per batch: ``loss/<term>`` (raw), ``loss_weighted/<term>``, ``loss/total``, ``loss/baseline``,
  ``train_accuracy/<net>``, ``lr``;
- per validation: ``<metric>/<net>`` for val_accuracy, val_macro_f1, val_loss, val_top5 and
  agreement (with the teacher), and ``distillation_gain`` with its paired test's 95% interval
  (``distillation_gain_interval/low`` and ``/high``) and McNemar p (``distillation_gain_mcnemar_p``).
  No name is another's prefix followed by ``/``: MLflow's file store keeps each metric as a file.
"""

from __future__ import annotations

import math
from typing import Any, Iterator


def event_scalars(event: str, payload: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """``(name, value)`` of every finite number a ``train_batch`` or ``validation`` event carries."""
    if event == "train_batch":
        for term, values in payload["losses"].items():
            if isinstance(values, dict):
                yield f"loss/{term}", values["raw"]
                yield f"loss_weighted/{term}", values["weighted"]
            else:
                yield f"loss/{term}", values  # "total"
        if "baseline_loss" in payload:
            yield "loss/baseline", payload["baseline_loss"]
        for net, accuracy in payload.get("train_accuracy", {}).items():
            yield f"train_accuracy/{net}", accuracy
        yield "lr", payload["lr"]
    elif event == "validation":
        for net, metrics in payload["metrics"].items():
            for metric, value in metrics.items():
                yield f"{metric}/{net}", value
        if payload.get("distillation_gain") is not None:
            yield "distillation_gain", payload["distillation_gain"]
        test = payload.get("paired_test")
        if test:
            yield "distillation_gain_interval/low", test["interval"][0]
            yield "distillation_gain_interval/high", test["interval"][1]
            yield "distillation_gain_mcnemar_p", test["mcnemar_p"]


def finite_scalars(event: str, payload: dict[str, Any]) -> list[tuple[str, float]]:
    """:func:`event_scalars` less the values that are not finite numbers (neither backend stores those well)."""
    return [(name, float(value)) for name, value in event_scalars(event, payload)
            if isinstance(value, (int, float)) and math.isfinite(value)]
