"""MLflow: one MLflow run per workbench run, through an explicit ``MlflowClient`` (no global active run).

- Run name: the run folder's name; tags: the objective line, the dataset fingerprint, the run folder.
- Params: the flattened config (``train.lr``, ``loss.kd.temperature``, ...).
- Metrics: the scalars of :mod:`workbench.engine.loggers.scalars`, keyed ``<stage>/<name>`` with the
  stage's step, sent in batches (every few seconds, at each validation and at the end); at the end the
  run's result under both selections (:func:`summary_scalars`).
- Artifacts at the end: config.toml, summary.json, the student's best checkpoint and its TorchScript
  export (made for the purpose when the run folder has none).

The MLflow run id is kept in the run folder's ``mlflow.json``: a resumed run continues the same
MLflow run.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_json
from workbench.engine.loggers.scalars import finite_scalars
from workbench.engine.result import SELECTIONS, run_result

RUN_ID_FILE = "mlflow.json"
FLUSH_SECONDS = 5.0
_BATCH_LIMIT = 1000  # MLflow takes at most 1000 metrics and 100 params per log_batch call
_PARAM_LIMIT = 100
_PARAM_VALUE_CHARS = 6000
_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "failed": "FAILED"}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train.lr": "0.001", ...}``: nested tables joined with dots, lists and tables of values as JSON."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
            flat[name] = text[:_PARAM_VALUE_CHARS]
    return flat


# MLflow's own HTTP defaults (7 retries with doubling waits, 120 s per request) take over four minutes
# to give up on a server that does not answer; the run's end would wait for that. These apply unless the
# user's environment sets them.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def summary_scalars(summary: dict[str, Any]) -> list[tuple[str, float]]:
    """The run's result under both selections (engine/result.py): ``summary/<best|last>/<net>/<metric>``,
    ``summary/<selection>/distillation_gain`` and its paired test's interval and McNemar p."""
    result = run_result(summary)
    values: list[tuple[str, float | None]] = []
    for selection in SELECTIONS:
        for net, figures in result.nets[selection].items():
            values.extend((f"summary/{selection}/{net}/{metric}", value) for metric, value in figures.metrics.items())
        values.append((f"summary/{selection}/distillation_gain", result.gain[selection]))
        test = result.paired_test.get(selection)
        if test:
            values += [(f"summary/{selection}/distillation_gain_interval/low", test["interval"][0]),
                       (f"summary/{selection}/distillation_gain_interval/high", test["interval"][1]),
                       (f"summary/{selection}/distillation_gain_mcnemar_p", test["mcnemar_p"])]
    return [(name, float(value)) for name, value in values
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)]


class MlflowBackend:
    def __init__(self, run_dir: Path, uri: str, experiment: str):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        if uri.startswith("file:") or "://" not in uri:
            # MLflow 3 refuses its file store unless asked for by name; a file: URI in the config is that ask.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.entities import Metric, Param, RunTag
            from mlflow.tracking import MlflowClient
        except ImportError as error:
            raise RuntimeError(f"the mlflow package is missing ({error}); install it with "
                               "pip install 'workbench[mlflow]'") from None
        self._metric, self._param, self._tag = Metric, Param, RunTag
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self.experiment = experiment
        self.run_dir = Path(run_dir)
        self.run_id: str | None = None
        self._pending: list[Any] = []
        self._last_flush = time.monotonic()

    def handle(self, event: str, payload: dict[str, Any], wall_time: float) -> None:
        if event == "fit_start":
            self._start(payload)
        elif event in ("train_batch", "validation"):
            stage, step, millis = payload["stage"], payload["step"], int(wall_time * 1000)
            self._pending.extend(self._metric(f"{stage}/{name}", value, millis, step)
                                 for name, value in finite_scalars(event, payload))
            if event == "validation" or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
                self._flush()
        elif event == "stage_end":
            self._flush()
        elif event == "fit_end":
            self._finish(payload["summary"], payload["status"])
        elif event == "exception":
            self._finish(payload["summary"], "failed")

    def close(self) -> None:
        if self.run_id is not None:
            self._flush()

    def _start(self, payload: dict[str, Any]) -> None:
        summary = payload["summary"]
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
        self.run_id = self._previous_run_id() if payload["resumed"] else None
        if self.run_id is not None:
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            run = self.client.create_run(experiment_id, run_name=summary.get("name") or self.run_dir.name, tags={
                "workbench.objective": summary.get("objective", ""),
                "workbench.dataset_fingerprint": str(summary.get("dataset_fingerprint", "")),
                "workbench.run_dir": str(self.run_dir),
                "workbench.device": str(payload.get("device_name", "")),
            })
            self.run_id = run.info.run_id
            atomic_write_json(self.run_dir / RUN_ID_FILE, {"tracking_uri": self.uri, "run_id": self.run_id})
            params = [self._param(key, value) for key, value in flatten(payload["config"]).items()]
            for first in range(0, len(params), _PARAM_LIMIT):
                self.client.log_batch(self.run_id, params=params[first:first + _PARAM_LIMIT])

    def _previous_run_id(self) -> str | None:
        try:
            saved = json.loads((self.run_dir / RUN_ID_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return saved.get("run_id") if saved.get("tracking_uri") == self.uri else None

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        for first in range(0, len(pending), _BATCH_LIMIT):
            self.client.log_batch(self.run_id, metrics=pending[first:first + _BATCH_LIMIT])

    def _finish(self, summary: dict[str, Any], status: str) -> None:
        if self.run_id is None:  # the run failed before it started: nothing was created to finish
            return
        millis = int(time.time() * 1000)
        self._pending.extend(self._metric(name, value, millis, 0) for name, value in summary_scalars(summary))
        self._flush()
        for name in ("config.toml", "summary.json"):
            if (self.run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(self.run_dir / name))
        checkpoint = self.run_dir / "checkpoints" / "student-best.pt"
        if checkpoint.is_file():
            self.client.log_artifact(self.run_id, str(checkpoint), "checkpoints")
            for exported in self._student_export():
                self.client.log_artifact(self.run_id, str(exported), "export")
        self.client.set_terminated(self.run_id, _STATUS.get(status, "FAILED"))

    def _student_export(self) -> list[Path]:
        """The student's TorchScript file and its description, exported now unless the run folder has them."""
        from workbench.engine.export import export_run

        model = self.run_dir / "export" / "student.pt"
        if not model.is_file():
            model = export_run(self.run_dir, fmt="torchscript", net="student")
        return [model, model.with_suffix(".json")]
