"""summary.json: the run's status, each network's best and last validation figures, the result, timings.

The trainer keeps one results entry per network as the validation epochs come
(``record_validation``; the resume state carries them), and ``run_summary`` turns them into
summary.json, with the result of the run (engine/result.py: best and last, the gain under each,
and the paired tests of ``paired_tests``).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from typing import Any, Sequence

import numpy as np
import torch

from workbench.engine.result import run_result
from workbench.engine.stats import paired_test
from workbench.engine.tasks import Task
from workbench.engine.validation import Best


def record_validation(results: dict[str, dict[str, Any]], metrics: dict[str, dict[str, float]],
                      predicted: dict[str, Any], best: dict[str, Best], epoch: int, metric: str) -> None:
    """Update ``results`` with an epoch's ``metrics``: each network's last figures, best so far and predictions."""
    for net, values in metrics.items():
        result = results.setdefault(net, {})
        if net in best:
            result.update(final=values, final_epoch=epoch, best=dataclasses.asdict(best[net]))
        elif "best" not in result:  # a reused teacher: its evaluation is its best and its last
            result.update(final=values, final_epoch=None,
                          best={"value": values[metric], "epoch": None, "metrics": values})
    for net in metrics:
        results[net]["final_predicted"] = predicted[net]


def paired_tests(results: dict[str, dict[str, Any]], labels: np.ndarray | None,
                 class_names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Student against baseline on the same validation samples (engine/stats.py), at the last epoch and
    between the best checkpoints (each chosen by the same rule on its own validation figures).
    ``labels``: the validation labels (None before the data is prepared, when nothing was validated)."""
    student, baseline = results.get("student", {}), results.get("baseline", {})
    tests: dict[str, dict[str, Any] | None] = {"last": None, "best": None}
    if labels is None or student.get("final_predicted") is None or baseline.get("final_predicted") is None:
        return tests
    tests["last"] = paired_test(labels, student["final_predicted"], baseline["final_predicted"], class_names)
    best_student, best_baseline = student["best"], baseline["best"]
    if best_student.get("predicted") is not None and best_baseline.get("predicted") is not None:
        tests["best"] = {**paired_test(labels, best_student["predicted"], best_baseline["predicted"], class_names),
                         "student_epoch": best_student["epoch"], "baseline_epoch": best_baseline["epoch"]}
    return tests


def run_summary(status: str, base: dict[str, Any], results: dict[str, dict[str, Any]], task: Task, metric: str,
                retrieval: dict[str, Any] | None, paired: dict[str, dict[str, Any] | None],
                timings: dict[str, float], error: str | None = None) -> dict[str, Any]:
    """The content of summary.json: ``base`` (the run's settings and environment) and what ``results`` say."""
    summary: dict[str, Any] = {"status": status, **base}
    for net, result in results.items():
        best = result.get("best") or {}
        entry = dict(result.get("final", {}))
        for key in dict.fromkeys(("val_accuracy", "val_macro_f1", "val_loss", task.main_metric)):
            if key in best.get("metrics", {}):
                entry[f"best_{key}"] = best["metrics"][key]
        entry["best_epoch"] = best.get("epoch")
        entry["best_metric"] = metric
        entry["last_epoch"] = result.get("final_epoch")
        summary[net] = entry
    summary["task"] = task.name
    summary["gain_metric"] = task.main_metric
    if retrieval is not None:
        summary["retrieval"] = retrieval
    # The one definition of the run's result (engine/result.py), best and last, gain under each.
    summary["result"] = run_result(summary, paired).to_dict()
    summary["timings"] = {key: round(value, 3) for key, value in timings.items()}
    summary["error"] = error
    return summary


def environment_versions() -> dict[str, str]:
    """The versions a run was trained with (summary.json's ``versions``)."""
    try:
        workbench_version = importlib.metadata.version("workbench")
    except importlib.metadata.PackageNotFoundError:
        workbench_version = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "workbench": workbench_version}
