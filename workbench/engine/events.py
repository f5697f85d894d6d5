"""What an event record says in words: one log line, the same in the CLI and in the app's run log.

An event record is a hook's payload with its name under ``"event"`` (``hooks.event_record``):
what metrics.jsonl stores and what the app's worker emits.
"""

from __future__ import annotations

from typing import Any, Mapping

from workbench.engine.stats import describe_gain


def describe_event(record: Mapping[str, Any], planned_epochs: Mapping[str, int] | None = None) -> str | None:
    """The log line of an event, or None for events too frequent to log (``train_batch``).

    ``planned_epochs`` (the fit_start record's ``epochs``) adds "of N" to a validation's epoch.
    """
    event = record.get("event")
    if event == "fit_start":
        params = ", ".join(f"{net} {count:,}" for net, count in record.get("params", {}).items() if count)
        verb = "Resuming" if record.get("resumed") else "Training"
        return (f"{verb} in {record.get('run_dir')}; device {record.get('device_name') or record.get('device')}; "
                f"parameters: {params}")
    if event == "stage_start":
        start = record.get("start_epoch") or 0
        return (f"{str(record['stage']).capitalize()} stage: {record.get('epochs')} epochs"
                + (f", resuming after epoch {start}" if start else ""))
    if event == "validation":
        planned = (planned_epochs or {}).get(record["stage"])
        accuracies = ", ".join(f"{net} {metrics.get('val_accuracy', float('nan')):.3f}"
                               for net, metrics in record.get("metrics", {}).items())
        test, gain = record.get("paired_test"), record.get("distillation_gain")
        gain_text = describe_gain(test) if test else (f"{gain:+.3f}" if gain is not None else None)
        return (f"{str(record['stage']).capitalize()} epoch {record['epoch']}" + (f"/{planned}" if planned else "")
                + f": val accuracy {accuracies}" + (f"; distillation gain {gain_text}" if gain_text else ""))
    if event == "stage_end":
        best = record.get("best") or {}
        how = "stopped" if record.get("stopped") else ("stopped early" if record.get("early_stopped") else "done")
        value = best.get("value")
        return (f"{str(record['stage']).capitalize()} stage {how} after {record.get('epochs_run')} epoch(s)"
                + (f"; best {best.get('metric')} {value:.4f} at epoch {best.get('epoch')}"
                   if isinstance(value, (int, float)) and best.get("epoch") is not None else ""))
    if event == "fit_end":
        return f"Run {record.get('status')}. Folder: {record.get('summary', {}).get('run_dir', '')}"
    if event == "exception":
        return f"Run failed: {record.get('message')}"
    return None
