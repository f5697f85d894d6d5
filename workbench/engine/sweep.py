"""Sweeps (``workbench study SPEC.toml``) with Optuna as the search and the trial store (the ``[study]`` extra).

One Optuna trial is one run: a parameter point and one seed. Optuna's storage is the queue:

- **grid**: every grid point x seed is enqueued when the study is created; each process asks the
  storage for the next waiting trial, which the storage hands to exactly one of them;
- **random / tpe**: a process asks Optuna's sampler (RandomSampler, TPESampler) for a new point,
  runs it with the first seed and enqueues the same point with the other seeds, for whichever
  process asks next. TPE maximises the gain (or the student's accuracy: ``objective``). Two
  processes asking at the same moment may try one point more than ``trials``.

The storage is a SQLite file in the study folder by default, or any Optuna storage URL
(``postgresql://...``, ``mysql://...``, ``journal:///path/file.log``) for several machines. Other
processes join with ``workbench study --join STORAGE``. A trial whose training raises is told
FAILED with the error in its ``error`` attribute; a trial left RUNNING by a killed process is
failed as interrupted and queued again by ``--resume`` (which continues its run folder).
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Any, Callable

from workbench.engine.study import (SEED_KEY, StudySpec, create_study_dir, summarize, teacher_reusable, trial_config,
                                    trial_metrics, trial_name, trial_record, write_study_json)
from workbench.engine.runs import RunRecord
from workbench.errors import WorkbenchError

DB_FILE = "study.db"
# Optuna's trial states as study.json names them; PRUNED marks a trial a process created and dropped
# (it found the queue empty after all), which study.json leaves out.
_STATES = {"COMPLETE": "complete", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}

TrainerFactory = Callable[[Any, Path, "Path | None"], Any]  # (config, study folder, run folder to resume) -> Trainer


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise WorkbenchError("workbench study needs Optuna, an optional extra: pip install 'workbench[study]' "
                             "(or pip install optuna).") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def open_storage(url: str) -> Any:
    """An Optuna storage from a URL: ``sqlite:///file.db``, another SQLAlchemy URL, or ``journal:///file.log``."""
    optuna = _optuna()
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url[len("journal://"):]))
    # Several processes share a SQLite file: wait for its lock instead of failing at once.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite:") else None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except Exception as error:  # SQLAlchemy's errors for a bad URL or an unreachable server
        raise WorkbenchError(f"Cannot open the study storage {url}: {error}") from None


def _sampler(spec: StudySpec) -> Any:
    optuna = _optuna()
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({**spec.grid, SEED_KEY: spec.seeds}, seed=0)
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler()
    return optuna.samplers.RandomSampler()  # unseeded: two joined processes must not draw the same points


def _distributions(spec: StudySpec) -> dict[str, Any]:
    distributions = _optuna().distributions
    found: dict[str, Any] = {key: distributions.CategoricalDistribution(values) for key, values in spec.grid.items()}
    if spec.sampler == "grid":
        found[SEED_KEY] = distributions.CategoricalDistribution(spec.seeds)
    for key, bounds in spec.ranges.items():
        if "choices" in bounds:
            found[key] = distributions.CategoricalDistribution(bounds["choices"])
        elif all(isinstance(bounds[side], int) for side in ("low", "high")) and not isinstance(bounds.get("step", 1),
                                                                                             float):
            found[key] = distributions.IntDistribution(bounds["low"], bounds["high"], log=bool(bounds.get("log")),
                                                       step=int(bounds.get("step", 1)))
        else:
            found[key] = distributions.FloatDistribution(float(bounds["low"]), float(bounds["high"]),
                                                         log=bool(bounds.get("log")), step=bounds.get("step"))
    return found


# ----------------------------------------------------------------------------- start, join, resume


def start_study(spec: StudySpec, runs_dir: str | Path | None = None) -> tuple[Any, Path]:
    """Create the study folder and the Optuna study (grid: every trial enqueued); returns (study, folder)."""
    optuna = _optuna()
    study_dir = create_study_dir(runs_dir or spec.base.train.runs_dir, spec)
    url = spec.storage or f"sqlite:///{study_dir / DB_FILE}"
    try:
        study = optuna.create_study(study_name=spec.name, storage=open_storage(url), direction="maximize",
                                    sampler=_sampler(spec))
    except optuna.exceptions.DuplicatedStudyError:
        raise WorkbenchError(f"The storage {url} already has a study named '{spec.name}': join it with "
                             f"`workbench study --join {url}`, or give this one another name.") from None
    study.set_user_attr("spec", spec.to_dict())
    study.set_user_attr("study_dir", str(study_dir))
    study.set_user_attr("storage", url)
    if spec.sampler == "grid":
        import itertools

        keys = list(spec.grid)
        for values in itertools.product(*spec.grid.values()):
            for seed in spec.seeds:
                study.enqueue_trial({**dict(zip(keys, values)), SEED_KEY: seed}, user_attrs={"seed": seed})
    write_study(study, study_dir)
    return study, study_dir


def load_study(storage: str, name: str | None = None) -> tuple[Any, StudySpec]:
    """An existing study in ``storage`` (a URL, or a study folder with its study.db) and its spec."""
    optuna = _optuna()
    url = _storage_url(storage)
    opened = open_storage(url)
    names = [summary.study_name for summary in optuna.get_all_study_summaries(opened)]
    if name is None:
        if len(names) != 1:
            raise WorkbenchError(f"{url} holds {len(names)} studies ({', '.join(names) or 'none'}); name one with "
                                 "--name.")
        name = names[0]
    elif name not in names:
        raise WorkbenchError(f"{url} has no study named '{name}'; it has: {', '.join(names) or 'none'}.")
    found = optuna.load_study(study_name=name, storage=opened)
    if "spec" not in found.user_attrs:
        raise WorkbenchError(f"The study '{name}' in {url} was not made by workbench study (it has no spec).")
    spec = StudySpec.from_dict(found.user_attrs["spec"])
    return optuna.load_study(study_name=name, storage=opened, sampler=_sampler(spec)), spec


def _storage_url(storage: str) -> str:
    path = Path(storage).expanduser()
    if path.is_dir():
        if (path / DB_FILE).is_file():
            return f"sqlite:///{(path / DB_FILE).resolve()}"
        raise WorkbenchError(f"{path} has no {DB_FILE}; give the study's storage URL (study.json names it).")
    if path.is_file() and path.suffix == ".db":
        return f"sqlite:///{path.resolve()}"
    if "://" not in storage:
        raise WorkbenchError(f"{storage} is neither a study folder nor a storage URL (sqlite:///..., "
                             "postgresql://..., journal:///...).")
    return storage


def study_folder(study: Any, out: str | Path | None = None) -> Path:
    """Where this process writes its runs: ``out``, else the study folder named in the storage."""
    folder = Path(out).expanduser() if out else Path(study.user_attrs["study_dir"])
    if not out and not folder.is_dir():
        raise WorkbenchError(f"The study folder {folder} is not reachable from this machine; give --out DIR for "
                             "the run folders of this process (study.json is then written there too).")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def requeue_interrupted(study: Any) -> list[int]:
    """Fail every RUNNING trial as interrupted and queue its point again, continuing its run folder.

    For ``--resume``: only when no other process of the study is still running, or its trials
    would be run twice."""
    optuna = _optuna()
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        user_attrs = {"seed": trial.user_attrs.get("seed"), "requeued_from": trial.number}
        if trial.user_attrs.get("run_dir"):
            user_attrs["resume_run_dir"] = trial.user_attrs["run_dir"]
        study.enqueue_trial(trial.params, user_attrs=user_attrs)
        requeued.append(trial.number)
    return requeued


# ----------------------------------------------------------------------------- the worker loop


def run_worker(study: Any, spec: StudySpec, study_dir: Path, make_trainer: TrainerFactory,
               should_stop: Callable[[], bool] = lambda: False,
               on_update: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run trials of ``study`` until there are none left (or ``should_stop``); returns the last study.json."""
    optuna = _optuna()
    states = optuna.trial.TrialState
    distributions = _distributions(spec)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    summary = write_study(study, study_dir)
    while not should_stop() and _more_to_run(study, spec):
        trial = study.ask(distributions)
        queued = "seed" in trial.user_attrs  # every queued trial carries its seed; a new point from the sampler not
        if spec.sampler == "grid" and not queued:  # another process took the last queued trial meanwhile
            trial.set_user_attr("error", "dropped: the queue was empty when this trial was created")
            study.tell(trial, state=states.PRUNED)
            break
        params = {key: value for key, value in trial.params.items() if key != SEED_KEY}
        seed = trial.user_attrs.get("seed")
        if seed is None:  # a new point from the sampler: this process runs the first seed, the others are queued
            seed = spec.seeds[0]
            trial.set_user_attr("sampled", True)
            for other in spec.seeds[1:]:
                study.enqueue_trial(params, user_attrs={"seed": other})
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", worker)
        _run_trial(study, spec, study_dir, trial, params, seed, make_trainer)
        summary = write_study(study, study_dir)
        if on_update is not None:
            on_update(summary)
    return summary


def _run_trial(study: Any, spec: StudySpec, study_dir: Path, trial: Any, params: dict[str, Any], seed: int,
               make_trainer: TrainerFactory) -> None:
    states = _optuna().trial.TrialState
    try:
        cfg = trial_config(spec.base, params, seed)
        cfg.train.name = trial_name(params, seed)
        teacher = _reusable_teacher(study, spec, seed)
        if teacher and not cfg.teacher.checkpoint:
            cfg.teacher.checkpoint = teacher
        resume = trial.user_attrs.get("resume_run_dir")
        resume_dir = Path(resume) if resume and (Path(resume) / "config.toml").is_file() else None
        finished = RunRecord.open(resume_dir).summary if resume_dir else {}
        if finished.get("status") == "finished":  # killed after its run ended, before the storage heard of it
            trial.set_user_attr("run_dir", str(resume_dir))
            summary = finished
        else:
            trainer = make_trainer(cfg, study_dir, resume_dir)
            trial.set_user_attr("run_dir", str(trainer.run_dir))
            summary = trainer.fit()
    except Exception as error:  # the trial failed; the study goes on (KeyboardInterrupt leaves it RUNNING)
        message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
        trial.set_user_attr("error", message)
        study.tell(trial, state=states.FAIL)
        return
    if summary["status"] != "finished":  # stopped: queued again to continue its run folder
        study.tell(trial, state=states.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"seed": seed, "resume_run_dir": summary["run_dir"],
                                                      "requeued_from": trial.number})
        return
    metrics = trial_metrics(summary)
    trial.set_user_attr("metrics", metrics)
    if teacher_reusable(spec.parameters) and not summary.get("teacher_source"):
        trial.set_user_attr("teacher_run", summary["run_dir"])
    value = metrics["gain"] if spec.objective == "gain" else metrics["student"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        trial.set_user_attr("error", f"the run has no {spec.objective} (is train.baseline off?)")
        study.tell(trial, state=states.FAIL)
        return
    study.tell(trial, value)


def _more_to_run(study: Any, spec: StudySpec) -> bool:
    states = _optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False)
    if any(trial.state == states.WAITING for trial in trials):
        return True
    if spec.sampler == "grid":
        return False
    return sum(1 for trial in trials if trial.user_attrs.get("sampled")) < spec.trials


def _reusable_teacher(study: Any, spec: StudySpec, seed: int) -> str | None:
    """A teacher this trial may load instead of training one: same seed, only student-side keys varied."""
    if not teacher_reusable(spec.parameters):
        return None
    states = _optuna().trial.TrialState
    for trial in study.get_trials(deepcopy=False, states=(states.COMPLETE,)):
        folder = trial.user_attrs.get("teacher_run")
        if trial.user_attrs.get("seed") == seed and folder and (Path(folder) / "checkpoints").is_dir():
            return folder
    return None


def write_study(study: Any, study_dir: Path) -> dict[str, Any]:
    """study.json from the storage: every process can write it, and the last one written is complete."""
    spec = StudySpec.from_dict(study.user_attrs["spec"])
    trials = []
    every = study.get_trials(deepcopy=False)
    requeued = {trial.user_attrs["requeued_from"]: trial.number for trial in every if "requeued_from" in trial.user_attrs}
    for trial in every:
        state = _STATES.get(trial.state.name)
        if state is None:
            continue
        params = {key: value for key, value in trial.params.items() if key != SEED_KEY}
        if not params and trial.system_attrs.get("fixed_params"):
            params = {key: value for key, value in trial.system_attrs["fixed_params"].items() if key != SEED_KEY}
        error = trial.user_attrs.get("error")
        if trial.number in requeued:
            error = f"interrupted (stopped, or its process ended); continued as trial {requeued[trial.number]}"
        record = trial_record(trial.number, params, trial.user_attrs.get("seed"), state,
                              trial.user_attrs.get("run_dir"), error=error, metrics=trial.user_attrs.get("metrics"))
        record["worker"] = trial.user_attrs.get("worker")
        trials.append(record)
    summary = summarize(spec.name, "sweep", spec.parameters, trials,
                        {"seeds": spec.seeds, "sampler": spec.sampler, "storage": study.user_attrs.get("storage"),
                         "objective": spec.objective})
    write_study_json(study_dir, summary)
    return summary


def default_trainer(callbacks: Callable[[], list[Any]] = list) -> TrainerFactory:
    """A factory building each trial's Trainer (or resuming its run folder) with fresh ``callbacks()``."""
    from workbench.engine.trainer import Trainer

    def make(cfg: Any, study_dir: Path, resume_dir: Path | None) -> Any:
        if resume_dir is not None:
            return Trainer.resume(resume_dir, callbacks=callbacks())
        return Trainer(cfg, callbacks=callbacks(), runs_dir=study_dir)

    return make
