"""Studies: one config run over several seeds, or a sweep over config keys, grouped in one folder.

A study folder (``<runs dir>/<time>-study-<name>/``) holds:

- ``study.toml``: what was varied (a study spec, see ``load_spec``; ``base.toml`` beside it is
  the base config), so that ``workbench study study.toml`` runs the same study again;
- one run folder per trial (an ordinary run folder);
- ``study.json``: every trial (its parameters, seed, state, run folder, error, metrics) and,
  for each parameter point, mean, std and 95% interval over seeds of the teacher's, student's
  and baseline's accuracy and of the gain, plus the paired test pooled over seeds
  (engine/stats.py). Figures are those of the runs' ``best`` selection (engine/result.py).

``workbench train CONFIG --seeds N`` runs seeds 0..N-1 here, one after the other, with no
extra dependency. Sweeps with Optuna are in engine/sweep.py and write the same study.json.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from workbench.atomic import atomic_write_json, atomic_write_text
from workbench.config import (NETS, ExperimentConfig, apply_overrides, config_from_dict, config_to_dict, load_config,
                              save_config)
from workbench.engine.config_validation import check_config
from workbench.engine.runs import create_run_dir
from workbench.engine.stats import describe_values, pooled_test
from workbench.errors import ConfigError, WorkbenchError

SPEC_FILE = "study.toml"
BASE_FILE = "base.toml"
STUDY_FILE = "study.json"
SELECTION = "best"
SAMPLERS = ("grid", "random", "tpe")
SEED_KEY = "train.seed"
# Config keys that leave the teacher stage unchanged: trials that differ only in these (and share a
# seed) may reuse one trained teacher (the trainer checks the data settings and the seed again).
STUDENT_SIDE_PREFIXES = ("loss.", "student.")


@dataclasses.dataclass
class StudySpec:
    """What a study runs: a base config, the seeds, and a grid and/or ranges over config keys."""

    name: str
    base: ExperimentConfig
    seeds: list[int]
    grid: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    ranges: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    sampler: str = "grid"
    trials: int = 0  # random/tpe: parameter points to try
    objective: str = "gain"  # what TPE maximises: the gain, or the student's accuracy
    storage: str = ""  # an Optuna storage URL; empty = study.db (SQLite) in the study folder

    @property
    def parameters(self) -> list[str]:
        return [*self.grid, *(key for key in self.ranges if key not in self.grid)]

    def to_dict(self) -> dict[str, Any]:
        """The spec as TOML-able data, with the base config inline (what a joining process reads)."""
        return {"name": self.name, "seeds": self.seeds, "sampler": self.sampler, "trials": self.trials,
                "objective": self.objective, "storage": self.storage, "grid": self.grid, "random": self.ranges,
                "base": config_to_dict(self.base)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySpec:
        return cls(name=data["name"], base=config_from_dict(data["base"]), seeds=list(data["seeds"]),
                   grid=dict(data.get("grid") or {}), ranges=dict(data.get("random") or {}),
                   sampler=data.get("sampler", "grid"), trials=int(data.get("trials") or 0),
                   objective=data.get("objective", "gain"), storage=data.get("storage", ""))


def load_spec(path: str | Path, overrides: Iterable[str] = ()) -> StudySpec:
    """Read and check a study spec (TOML). Every mistake is a ConfigError naming the file and key.

    ``name`` (default: the file's name), ``base`` (the config file, relative to the spec), ``seeds``
    (a count N for seeds 0..N-1, or a list), ``sampler`` (grid | random | tpe), ``trials``
    (random/tpe: parameter points), ``objective`` (gain | student), ``storage`` (an Optuna URL),
    ``set`` (fixed overrides, as --set), ``[grid]`` (key = [values]) and ``[random]`` (key = {low, high,
    log, step} or {choices}). Keys may be quoted ("loss.kd.weight") or nested tables.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Study spec not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    known = {"name", "base", "seeds", "sampler", "trials", "objective", "storage", "set", "grid", "random"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}: unknown key '{key}'. Known: {', '.join(sorted(known))}.", key)
    if "base" not in data:
        raise ConfigError(f"{path}: 'base' must name the base config file (e.g. base = \"exp.toml\").", "base")
    base = load_config(path.parent / str(data["base"]), [*data.get("set", []), *overrides])
    grid = _flatten(data.get("grid", {}))
    ranges = _flatten(data.get("random", {}), leaf=lambda value: isinstance(value, dict) and (
        "low" in value or "choices" in value))
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: grid.{key} must be a non-empty list of values.", f"grid.{key}")
    for key, bounds in ranges.items():
        _check_range(path, key, bounds)
    sampler = data.get("sampler", "random" if ranges else "grid")
    if sampler not in SAMPLERS:
        raise ConfigError(f"{path}: sampler must be one of {', '.join(SAMPLERS)}, got '{sampler}'.", "sampler")
    if sampler == "grid" and ranges:
        raise ConfigError(f"{path}: the grid sampler takes [grid] only; use sampler = \"random\" or \"tpe\" for "
                          "[random] ranges.", "sampler")
    if sampler != "grid" and not int(data.get("trials", 0)) > 0:
        raise ConfigError(f"{path}: the {sampler} sampler needs trials = N (parameter points to try).", "trials")
    objective = data.get("objective", "gain")
    if objective not in ("gain", "student"):
        raise ConfigError(f"{path}: objective must be 'gain' or 'student', got '{objective}'.", "objective")
    spec = StudySpec(name=str(data.get("name") or path.stem), base=base, seeds=_seeds(path, data.get("seeds", 1)),
                     grid=grid, ranges=ranges, sampler=sampler, trials=int(data.get("trials", 0)),
                     objective=objective, storage=str(data.get("storage", "")))
    if SEED_KEY in spec.parameters:
        raise ConfigError(f"{path}: vary the seed with 'seeds', not as a parameter.", SEED_KEY)
    for key in spec.parameters:  # each key must be a config key that takes its values
        for value in grid.get(key) or _range_examples(ranges[key]):
            trial_config(base, {key: value}, spec.seeds[0], where=str(path))
    return spec


def _flatten(table: dict[str, Any], prefix: str = "", leaf: Callable[[Any], bool] = lambda v: not isinstance(v, dict)
             ) -> dict[str, Any]:
    flat = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if leaf(value):
            flat[name] = value
        elif isinstance(value, dict):
            flat.update(_flatten(value, name + ".", leaf))
        else:
            flat[name] = value
    return flat


def _check_range(path: Path, key: str, bounds: Any) -> None:
    where = f"random.{key}"
    if not isinstance(bounds, dict):
        raise ConfigError(f"{path}: {where} must be {{low = .., high = ..}} or {{choices = [..]}}.", where)
    if "choices" in bounds:
        if not isinstance(bounds["choices"], list) or not bounds["choices"]:
            raise ConfigError(f"{path}: {where}.choices must be a non-empty list.", where)
        return
    low, high = bounds.get("low"), bounds.get("high")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (low, high)) or low >= high:
        raise ConfigError(f"{path}: {where} needs numbers low < high, got low={low!r}, high={high!r}.", where)
    if bounds.get("log") and low <= 0:
        raise ConfigError(f"{path}: {where} with log = true needs low > 0.", where)


def _range_examples(bounds: dict[str, Any]) -> list[Any]:
    return list(bounds["choices"]) if "choices" in bounds else [bounds["low"], bounds["high"]]


def _seeds(path: Path, value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ConfigError(f"{path}: seeds must be a count (N >= 1: seeds 0..N-1) or a list of integers, got {value!r}.",
                      "seeds")


def trial_config(base: ExperimentConfig, params: dict[str, Any], seed: int, where: str = "") -> ExperimentConfig:
    """The base config with a trial's parameter values and seed (checked like --set values)."""
    overrides = [f"{key}={json.dumps(value)}" for key, value in params.items()] + [f"{SEED_KEY}={seed}"]
    try:
        return check_config(apply_overrides(base.copy(), overrides))
    except ConfigError as error:
        raise ConfigError(f"{where + ': ' if where else ''}{error}", error.key) from None


def trial_name(params: dict[str, Any], seed: int) -> str:
    """A run folder name that says what the trial varied: ``kd.temperature=4-seed1``."""
    parts = [f"{key.split('.', 1)[-1]}={value}" for key, value in params.items()]
    return "-".join([*parts, f"seed{seed}"])


def teacher_reusable(parameters: Iterable[str]) -> bool:
    """Whether trials differing only in these keys train the same teacher for the same seed."""
    return all(key.startswith(STUDENT_SIDE_PREFIXES) and not key.startswith("loss.ce.") for key in parameters)


def create_study_dir(runs_dir: str | Path, spec: StudySpec) -> Path:
    """The study folder, with study.toml and base.toml: the study, runnable again as it is."""
    study_dir = create_run_dir(runs_dir, f"study-{spec.name}")
    save_config(spec.base, study_dir / BASE_FILE)
    write_spec(study_dir, spec)
    return study_dir


def write_spec(study_dir: Path, spec: StudySpec) -> None:
    import tomli_w

    data = spec.to_dict()
    data.pop("base")
    data["base"] = BASE_FILE
    if data["seeds"] == list(range(len(data["seeds"]))):
        data["seeds"] = len(data["seeds"])
    if not data["storage"]:
        data.pop("storage")
    atomic_write_text(study_dir / SPEC_FILE, "# What this study varied; `workbench study study.toml` runs it again.\n"
                      + tomli_w.dumps({key: value for key, value in data.items() if value not in ({}, 0)}))


# ----------------------------------------------------------------------------- trials and study.json


def trial_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """What a study keeps of a run: each network's accuracy, the gain and its paired test (``best`` selection)."""
    block = (summary.get("result") or {}).get(SELECTION) or {}
    metrics = {net: (block.get(net) or {}).get("val_accuracy") for net in NETS}
    metrics["gain"] = block.get("distillation_gain")
    metrics["paired_test"] = block.get("paired_test")
    return metrics


def trial_record(number: int, params: dict[str, Any], seed: int, state: str, run_dir: str | Path | None = None,
                 summary: dict[str, Any] | None = None, error: str | None = None,
                 metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """One trial of study.json; ``state`` is complete | failed | running | waiting | stopped."""
    if metrics is None and summary is not None:
        metrics = trial_metrics(summary)
    return {"number": number, "params": dict(params), "seed": seed, "state": state,
            "run_dir": str(run_dir) if run_dir else None, "error": error, **(metrics or {})}


def summarize(name: str, kind: str, parameters: list[str], trials: list[dict[str, Any]],
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """study.json: the trials, and per parameter point the statistics over its completed seeds."""
    groups: dict[str, dict[str, Any]] = {}
    for trial in trials:
        key = json.dumps(trial["params"], sort_keys=True)
        groups.setdefault(key, {"params": trial["params"], "trials": []})["trials"].append(trial)
    points = []
    for group in groups.values():
        done = [trial for trial in group["trials"] if trial["state"] == "complete"]
        point = {"params": group["params"], "runs": len(done), "seeds": sorted(trial["seed"] for trial in done)}
        for metric in (*NETS, "gain"):
            point[metric] = describe_values([trial.get(metric) for trial in done])
        point["pooled_test"] = pooled_test([trial["paired_test"] for trial in done if trial.get("paired_test")])
        points.append(point)
    return {"name": name, "kind": kind, "selection": SELECTION, "parameters": parameters,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"), **(extra or {}),
            "trials": sorted(trials, key=lambda trial: trial["number"]), "points": points}


def write_study_json(study_dir: Path, study: dict[str, Any]) -> None:
    atomic_write_json(study_dir / STUDY_FILE, study)


def read_study(study_dir: str | Path) -> dict[str, Any]:
    path = Path(study_dir) / STUDY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{study_dir} is not a study folder (no {STUDY_FILE}).") from None


def list_studies(runs_dir: str | Path) -> list[Path]:
    """The study folders directly inside ``runs_dir``, oldest first."""
    runs_dir = Path(runs_dir).expanduser()
    if not runs_dir.is_dir():
        return []
    return [path.resolve() for path in sorted(runs_dir.iterdir()) if (path / STUDY_FILE).is_file()]


# ----------------------------------------------------------------------------- repeats over seeds


TrainerFactory = Callable[[ExperimentConfig, Path], Any]  # (config, study folder) -> a Trainer to fit


def run_seeds(cfg: ExperimentConfig, seeds: int, runs_dir: str | Path | None = None,
              make_trainer: TrainerFactory | None = None,
              on_update: Callable[[Path, dict[str, Any]], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Run ``cfg`` with seeds 0..N-1 into a new study folder; returns (folder, study.json content).

    ``make_trainer`` builds each seed's trainer (the CLI adds its progress printer; the default
    has no callbacks); ``on_update`` is called after each trial with the new study.json. A stopped
    trial ends the study there (its run stays resumable); a failed one is recorded and the next
    seed runs.
    """
    from workbench.engine.trainer import Trainer

    if seeds < 1:
        raise WorkbenchError(f"--seeds must be at least 1, got {seeds}.")
    make_trainer = make_trainer or (lambda config, folder: Trainer(config, runs_dir=folder))
    spec = StudySpec(name=cfg.train.name or _objective_name(cfg), base=cfg, seeds=list(range(seeds)))
    study_dir = create_study_dir(runs_dir or cfg.train.runs_dir, spec)
    trials = [trial_record(seed, {}, seed, "waiting") for seed in spec.seeds]
    study = _update(study_dir, spec, trials)
    for seed in spec.seeds:
        config = trial_config(cfg, {}, seed)
        config.train.name = trial_name({}, seed)
        trials[seed]["state"] = "running"
        trainer = make_trainer(config, study_dir)
        trials[seed]["run_dir"] = str(trainer.run_dir)
        _update(study_dir, spec, trials)
        try:
            summary = trainer.fit()
        except WorkbenchError as error:
            trials[seed].update(state="failed", error=str(error))
        else:
            state = "complete" if summary["status"] == "finished" else "stopped"
            trials[seed] = trial_record(seed, {}, seed, state, trainer.run_dir, summary)
        study = _update(study_dir, spec, trials)
        if on_update is not None:
            on_update(study_dir, study)
        if trials[seed]["state"] == "stopped":
            break
    return study_dir, study


def _update(study_dir: Path, spec: StudySpec, trials: list[dict[str, Any]]) -> dict[str, Any]:
    study = summarize(spec.name, "seeds", [], trials, {"seeds": spec.seeds})
    write_study_json(study_dir, study)
    return study


def _objective_name(cfg: ExperimentConfig) -> str:
    return "-".join(name for name, term in cfg.loss.terms().items() if term.weight > 0) or "run"


# ----------------------------------------------------------------------------- text


def study_table(study: dict[str, Any]) -> str:
    """The closing table of a study: per parameter point, mean ± std [95% interval] over seeds, pooled test."""
    from workbench.engine.stats import describe_gain

    lines = []
    for point in study["points"]:
        label = ", ".join(f"{key} = {value}" for key, value in point["params"].items())
        lines.append(f"{label or 'all trials'}: {point['runs']} run(s), seeds {point['seeds']}")
        rows = [("", "mean", "std", "95% interval")]
        for metric in (*NETS, "gain"):
            values = point[metric]
            if values["mean"] is None:
                continue
            sign = "+" if metric == "gain" else ""
            interval = (f"[{values['interval'][0]:{sign}.3f}, {values['interval'][1]:{sign}.3f}]"
                        if values["interval"] else "–")
            std = f"{values['std']:.3f}" if values["std"] is not None else "–"
            rows.append((metric, f"{values['mean']:{sign}.3f}", std, interval))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
        pooled = point["pooled_test"]
        if pooled:
            lines.append(f"  pooled paired test ({pooled['runs']} runs, {pooled['samples']} validation pairs): "
                         f"{describe_gain(pooled)}")
    failed = [trial for trial in study["trials"] if trial["state"] == "failed"]
    for trial in failed:
        lines.append(f"trial {trial['number']} failed: {trial['error']}")
    lines.append("accuracies of each run's best checkpoints; interval: mean ± t(0.975, n-1)·std/√n over seeds; "
                 "pooled test: exact McNemar on the discordant pairs of every seed")
    return "\n".join(lines)
