"""The result of a run, defined once: what the CLI table, summary.json, the Runs table, Results,
the Live header and export all report.

Two selections, always named:

- **best**: each network's best checkpoint, chosen by ``train.early_stopping_metric`` on the
  validation split. The student's is chosen on the student's own validation figures, and the
  baseline's by the same rule on the baseline's, so the gain compares like with like. These are
  the ``<net>-best.pt`` checkpoints that export and Try it use.
- **last**: the last epoch trained (student and baseline at the same epoch).

The distillation gain is the student's minus the baseline's validation value of the task's
main metric (``gain_metric`` in the summary: accuracy, or mIoU for segmentation) under one
selection, never a mix of the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from workbench.config import NETS
from workbench.engine.stats import describe_gain

SELECTIONS = ("best", "last")
METRICS = ("val_accuracy", "val_macro_f1", "val_loss", "val_miou")
METRIC_LABELS = {"val_accuracy": "val accuracy", "val_macro_f1": "val macro-F1", "val_loss": "val loss",
                 "val_miou": "val mIoU"}

HIGHER_IS_BETTER = {"val_accuracy": True, "val_macro_f1": True, "val_loss": False, "val_miou": True}


def improves(best: float | None, value: float, metric: str) -> bool:
    """Whether ``value`` makes a new best checkpoint: strictly better (the first epoch wins a tie); NaN never."""
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if HIGHER_IS_BETTER[metric] else value < best


def summary_from_events(events: Iterable[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The per-network summary entries (as the trainer writes them) rebuilt from validation events.

    What the Live header reads during a run, before summary.json has them: the same entries, so
    :func:`run_result` gives the same best and last as the finished run's summary. A teacher is
    taken from its own stage's validations only (the student stage does not log it).
    """
    entries: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("event") != "validation":
            continue
        for net, values in (event.get("metrics") or {}).items():
            if net == "teacher" and event.get("stage") != "teacher":
                continue
            entry = entries.setdefault(net, {"best_metric": metric, "best_epoch": None})
            last = {key: values[key] for key in METRICS if key in values}
            entry.update(last, last_epoch=event.get("epoch"))
            if metric in values and improves(entry.get(f"best_{metric}"), values[metric], metric):
                entry.update({f"best_{key}": value for key, value in last.items()}, best_epoch=event.get("epoch"))
    return entries


@dataclass(frozen=True)
class NetResult:
    """One network under one selection: the epoch it comes from (None for a reused teacher) and its metrics."""

    epoch: int | None
    metrics: dict[str, float]

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("val_accuracy")


@dataclass(frozen=True)
class RunResult:
    """A run's result under both selections; ``nets[selection][net]``, ``gain[selection]``, and the gain's
    paired test ``paired_test[selection]`` (engine/stats.py: interval, McNemar p; None when not computed)."""

    metric: str  # the selection metric of "best"
    nets: dict[str, dict[str, NetResult]]
    gain: dict[str, float | None]
    paired_test: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    gain_metric: str = "val_accuracy"  # what the gain compares: the task's main metric

    def net(self, selection: str, net: str) -> NetResult | None:
        return self.nets[selection].get(net)

    def describe(self, selection: str) -> str:
        """What a figure under ``selection`` is, in words (for tooltips, table footers and export)."""
        if selection == "best":
            return (f"each network's checkpoint with the best {METRIC_LABELS[self.metric]} "
                    "(student and baseline chosen by the same rule)")
        epoch = self.last_epoch()
        return "last epoch" + (f" ({epoch})" if epoch is not None else "") + " trained"

    def last_epoch(self) -> int | None:
        student = self.nets["last"].get("student")
        return student.epoch if student is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The ``result`` block of summary.json."""
        block: dict[str, Any] = {"metric": self.metric, "gain_metric": self.gain_metric}
        for selection in SELECTIONS:
            block[selection] = {net: {"epoch": value.epoch, **value.metrics}
                                for net, value in self.nets[selection].items()}
            block[selection]["distillation_gain"] = self.gain[selection]
            block[selection]["paired_test"] = self.paired_test.get(selection)
            block[selection]["description"] = self.describe(selection)
        return block


def run_result(summary: dict[str, Any], paired_tests: dict[str, dict[str, Any] | None] | None = None) -> RunResult:
    """The result of a run from its summary (summary.json, or the summary a hook payload carries).

    Reads the per-network entries, so run folders written before the ``result`` block existed
    give the same answer. The paired tests come from ``paired_tests`` (the trainer computes them
    from the predictions) or else from the summary's ``result`` block.
    """
    metric = "val_accuracy"
    nets: dict[str, dict[str, NetResult]] = {selection: {} for selection in SELECTIONS}
    for net in NETS:
        entry = summary.get(net)
        if not isinstance(entry, dict) or "val_accuracy" not in entry:
            continue
        metric = entry.get("best_metric") or metric
        nets["last"][net] = NetResult(entry.get("last_epoch"),
                                      {key: entry[key] for key in METRICS if key in entry})
        best = {key: entry[f"best_{key}"] for key in METRICS if f"best_{key}" in entry}
        nets["best"][net] = NetResult(entry.get("best_epoch"), best or nets["last"][net].metrics)
    gain_metric = summary.get("gain_metric") or "val_accuracy"
    gain: dict[str, float | None] = {}
    for selection in SELECTIONS:
        student, baseline = nets[selection].get("student"), nets[selection].get("baseline")
        values = [net.metrics.get(gain_metric) if net else None for net in (student, baseline)]
        gain[selection] = values[0] - values[1] if None not in values else None
    if paired_tests is None:
        block = summary.get("result") or {}
        paired_tests = {selection: (block.get(selection) or {}).get("paired_test") for selection in SELECTIONS}
    return RunResult(metric, nets, gain, dict(paired_tests), gain_metric)


def format_gain(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def result_lines(result: RunResult) -> list[str]:
    """The closing table of ``workbench train``: best and last side by side, then the gain under each."""
    last_epoch = result.last_epoch()
    main = result.gain_metric
    # Segmentation's headline is mIoU, with pixel accuracy beside it; otherwise accuracy and macro-F1.
    second = "val_accuracy" if main != "val_accuracy" else "val_macro_f1"
    second_label = "pixel accuracy" if main == "val_miou" else "macro-F1"
    best_title = f"best {METRIC_LABELS[main]} (epoch)"
    last_title = f"last {METRIC_LABELS[main]}" + (f" (epoch {last_epoch})" if last_epoch else "")
    rows = [("", best_title, f"best {second_label}", last_title, f"last {second_label}")]
    for net in NETS:
        best, last = result.net("best", net), result.net("last", net)
        if best is None or last is None:
            continue
        epoch = f" ({best.epoch})" if best.epoch is not None else " (reused)"
        rows.append((net, _number(best.metrics.get(main)) + epoch, _number(best.metrics.get(second)),
                     _number(last.metrics.get(main)), _number(last.metrics.get(second))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if result.gain["best"] is not None:
        lines.append(f"distillation gain (student minus baseline {METRIC_LABELS[main]}): best {format_gain(result.gain['best'])}, "
                     f"last {format_gain(result.gain['last'])}")
    for selection, where in (("best", "best checkpoints"), ("last", "last epoch")):
        test = result.paired_test.get(selection)
        if test:
            epochs = (f" (student epoch {test['student_epoch']}, baseline epoch {test['baseline_epoch']})"
                      if selection == "best" else "")
            lines.append(f"  {where}{epochs}: {describe_gain(test)}; of {test['samples']} samples, "
                         f"{test['student_only']} only the student gets right, {test['baseline_only']} only the baseline")
    lines.append(f"best = {result.describe('best')}; last = {result.describe('last')}")
    if any(result.paired_test.values()):
        lines.append("95% interval: paired bootstrap over the validation samples; p: exact McNemar test")
    return lines


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def result_header(result: RunResult) -> str:
    """Rich text for the app (Live header, Results): one line per selection, each network's figure with
    its epoch, and the gain."""
    metric = METRIC_LABELS.get(result.gain_metric, result.gain_metric)
    lines = []
    for selection in ("best", "last"):
        parts = []
        for net in NETS:
            value = result.net(selection, net)
            if value is None or value.metrics.get(result.gain_metric) is None:
                continue
            epoch = "" if selection == "last" or value.epoch is None else f" (epoch {value.epoch})"
            parts.append(f"{net} {value.metrics[result.gain_metric]:.3f}{epoch}")
        gain, test = result.gain[selection], result.paired_test.get(selection)
        if test:
            parts.append(f"gain {describe_gain(test)}")
        elif gain is not None:
            parts.append(f"gain {gain:+.3f}")
        if selection == "best":
            title = f"★ Best checkpoint (by {METRIC_LABELS.get(result.metric, result.metric)})"
        else:
            title = f"Last epoch ({result.last_epoch()})" if result.last_epoch() is not None else "Last epoch"
        lines.append(f"<b>{title}</b> {metric}: " + " · ".join(parts))
    return "<br>".join(lines)
