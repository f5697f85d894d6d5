"""Reusing the frozen teacher of an earlier run: which run, whether it may be reused here, its architecture.

A teacher may be reused only with the same seed and data settings (so the same validation
split and preprocessing), fields, classes and dataset: otherwise validation samples may
have been in its training set. What the app checks when a teacher is chosen, and the
trainer before it makes a run folder; ``load_reused_teacher`` loads it once the data is prepared.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from workbench.config import ExperimentConfig, config_to_dict
from workbench.data import dataset_fingerprint
from workbench.engine.checkpoint import checkpoint_file, load_checkpoint
from workbench.engine.hf_text import offline_encoders
from workbench.engine.runs import RunRecord
from workbench.errors import ConfigError, WorkbenchError

# Data settings that decide the split and the fitted preprocessing: a reused teacher must
# have been trained with the same ones, or validation samples may be in its training set.
_SPLIT_FREE_DATA_KEYS = frozenset({"root", "num_workers", "cache_mb", "augment"})


def _data_settings(cfg: ExperimentConfig) -> dict[str, Any]:
    return {key: value for key, value in config_to_dict(cfg.data).items() if key not in _SPLIT_FREE_DATA_KEYS}


def check_teacher_reuse(cfg: ExperimentConfig, report: Any) -> dict[str, Any]:
    """Whether the teacher named by ``cfg.teacher.checkpoint`` may be reused with this config and the
    dataset ``report`` describes: its run, seed and data settings (so the same validation split), its
    fields, classes and dataset fingerprint. Raises a ConfigError for ``teacher.checkpoint`` naming the
    first difference; returns the source (its ``config``: the reused teacher's architecture) and gives
    ``cfg.teacher`` that architecture. What the app checks when a teacher is chosen, and the trainer
    before it makes a run folder."""
    source = resolve_teacher_source(cfg)
    where = f"The teacher of {source['run_dir']}"
    if report is None or not report.trainable:
        return source
    missing = [name for name in cfg.teacher.fields if name not in report.index.fields]
    if missing:
        raise ConfigError(f"{where} reads the field '{missing[0]}', which this dataset does not have "
                          f"(its fields: {', '.join(report.index.fields)}).", "teacher.checkpoint")
    class_names = list(report.index.target_names or report.index.class_names)
    if source["class_names"] and source["class_names"] != class_names:
        raise ConfigError(f"{where} knows other classes ({', '.join(source['class_names'][:6])}...) than this "
                          f"dataset ({', '.join(class_names[:6])}...).", "teacher.checkpoint")
    if source["fingerprint"] and source["fingerprint"] != dataset_fingerprint(report):
        raise ConfigError(f"{where} was trained on other data (the dataset fingerprint differs): its validation "
                          "split would not match this run's, so validation samples may have been in its training "
                          "set. Train a new teacher on this dataset.", "teacher.checkpoint")
    return source


def resolve_teacher_source(cfg: ExperimentConfig) -> dict[str, Any]:
    """Find the reused teacher (a run folder or a checkpoint file in one), check it may be reused here,
    and give ``cfg.teacher`` its architecture, so config.toml describes the network really used."""
    given = Path(cfg.teacher.checkpoint).expanduser()
    if given.is_dir():
        run_dir, path = given, checkpoint_file(given, "teacher", "best")
    elif given.parent.name == "checkpoints":
        run_dir, path = given.parent.parent, given
    else:
        raise ConfigError(f"teacher.checkpoint must be a run folder or a checkpoint file in its checkpoints/ "
                          f"folder: {given}", "teacher.checkpoint")
    record = RunRecord.open(run_dir)
    checkpoint = load_checkpoint(path)
    if checkpoint.get("net") != "teacher":
        raise ConfigError(f"{path} holds the {checkpoint.get('net')}, not a teacher.", "teacher.checkpoint")
    source_cfg = record.config_with_plugins()
    why = None
    if source_cfg.train.seed != cfg.train.seed:
        why = f"train.seed was {source_cfg.train.seed} there and is {cfg.train.seed} here"
    else:
        theirs, ours = _data_settings(source_cfg), _data_settings(cfg)
        changed = [key for key in ours if theirs.get(key) != ours[key]]
        if changed:
            why = "data." + changed[0] + f" was {theirs.get(changed[0])!r} there and is {ours[changed[0]]!r} here"
    if why:
        raise ConfigError(f"Cannot reuse the teacher of {record.path}: {why}. The validation split and "
                          "preprocessing must be the same, or validation samples may have been in the teacher's "
                          "training set. Use the same settings or train a new teacher.", "teacher.checkpoint")
    # A library text model is built from the source run's copies of its config and tokenizer: reusing it
    # needs neither the model's folder nor the network (its weights are in the checkpoint).
    teacher = offline_encoders(source_cfg.teacher, record.path, "teacher")
    cfg.teacher = dataclasses.replace(teacher, checkpoint=cfg.teacher.checkpoint)
    return {"run_dir": record.path, "path": path, "checkpoint": checkpoint,
            "fingerprint": record.summary.get("dataset_fingerprint"),
            "class_names": list(record.summary.get("class_names") or [])}


def load_reused_teacher(source: dict[str, Any], teacher: nn.Module, fingerprint: str, class_names: list[str]) -> None:
    """Load the reused teacher's weights into ``teacher``, once the prepared data shows that it was trained
    on this very dataset (``fingerprint``) and classes."""
    if source["fingerprint"] != fingerprint:
        raise WorkbenchError(
            f"The teacher in {source['run_dir']} was trained on other data (the dataset fingerprint differs); "
            "its validation split would not match this run's, so validation samples may have been in its "
            "training set. Train a new teacher on this dataset (empty teacher.checkpoint).")
    if source["class_names"] != class_names:
        raise WorkbenchError(f"The teacher in {source['run_dir']} knows other classes than this dataset.")
    teacher.load_state_dict(source["checkpoint"]["model"])
