"""The checks a config can make on its own, without torch: its options' bounds and choices, paths, devices.

What needs the registered classes (which encoders exist and their parameters, the loss
terms' options) is checked by ``workbench.engine.config_validation.validate_config``, which runs
these checks first; that is the validation the app, the CLI, the trainer and the study use.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from workbench.config.schema import CONFIGURED_NETS, ENCODER_TRAINING, MAX_LR_SCALE, SECTIONS, ConfigIssue, \
    ExperimentConfig, LossConfig, NetworkConfig, section_entries
from workbench.options import option_problem
from workbench.registry import FIELD_KINDS


def section_issues(cfg: ExperimentConfig) -> list[ConfigIssue]:
    """The problems the config's own declarations find; the loss section's are the registry's (see module doc)."""
    issues: list[ConfigIssue] = []
    for section in SECTIONS:
        if section != "loss":
            issues += field_issues(getattr(cfg, section), section)
    for net_name in CONFIGURED_NETS:
        issues += _network_issues(getattr(cfg, net_name), net_name)
    for key, text in (("data.root", cfg.data.root), ("teacher.checkpoint", cfg.teacher.checkpoint),
                      ("train.runs_dir", cfg.train.runs_dir), ("train.name", cfg.train.name)):
        if "\0" in text:
            issues.append(ConfigIssue(key, "A path cannot contain a NUL character (\\0)."))
    if not cfg.data.root:
        issues.append(ConfigIssue("data.root", "Choose a dataset folder."))
    elif not _is_folder(cfg.data.root):
        issues.append(ConfigIssue("data.root", f"Folder not found: {cfg.data.root}"))
    for name, kind in cfg.data.field_types.items():
        if kind not in FIELD_KINDS:
            issues.append(ConfigIssue(f"data.field_types.{name}", f"'{kind}' is not one of {', '.join(FIELD_KINDS)}."))
    if cfg.train.early_stopping_metric == "val_miou" and cfg.data.task != "segmentation":
        issues.append(ConfigIssue("train.early_stopping_metric", "val_miou is a segmentation metric; this run's "
                                                                 f"task is {cfg.data.task}."))
    if cfg.teacher.checkpoint and not _is_folder(cfg.teacher.checkpoint, or_file=True):
        issues.append(ConfigIssue("teacher.checkpoint", f"Not found: {cfg.teacher.checkpoint}"))
    if cfg.train.device != "auto" and not _looks_like_device(cfg.train.device):
        issues.append(ConfigIssue("train.device", f"'{cfg.train.device}' is not a device: use auto, cpu, cuda, "
                                                  "cuda:N or mps."))
    return issues


def field_issues(obj: Any, prefix: str) -> list[ConfigIssue]:
    """Each value of a section (nested sections too) that breaks its option's choices or bounds."""
    issues: list[ConfigIssue] = []
    for name, value, meta in section_entries(obj):
        key = f"{prefix}.{name}"
        if dataclasses.is_dataclass(value) or isinstance(value, LossConfig):
            issues += field_issues(value, key)
            continue
        problem = option_problem(value, meta)
        if problem:
            issues.append(ConfigIssue(key, problem))
    return issues


def _network_issues(net: NetworkConfig, prefix: str) -> list[ConfigIssue]:
    """The network's fields, and how each encoder trains (``train``, ``lr_scale``: declared by the config)."""
    issues: list[ConfigIssue] = []
    if not net.fields:
        issues.append(ConfigIssue(f"{prefix}.fields", f"The {prefix} needs at least one field."))
    if len(set(net.fields)) != len(net.fields):
        issues.append(ConfigIssue(f"{prefix}.fields", "A field is listed twice."))
    for field_name, encoder in net.encoders.items():
        key = f"{prefix}.encoders.{field_name}"
        if encoder.train not in ENCODER_TRAINING:
            issues.append(ConfigIssue(f"{key}.train", f"'{encoder.train}' is not one of: {', '.join(ENCODER_TRAINING)}."))
        scale_problem = option_problem(encoder.lr_scale, {"low": 0.0, "low_open": True, "high": MAX_LR_SCALE})
        if scale_problem:
            issues.append(ConfigIssue(f"{key}.lr_scale", scale_problem))
    return issues


def _is_folder(text: str, or_file: bool = False) -> bool:
    """Whether the path names an existing folder (or file); False for one no system call accepts
    (a NUL character, a name too long)."""
    try:
        path = Path(text).expanduser()
        return path.exists() if or_file else path.is_dir()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: "~nosuchuser" cannot be expanded
        return False


def _looks_like_device(text: str) -> bool:
    kind, _, index = text.partition(":")
    return kind in ("cpu", "cuda", "mps", "xpu") and (not index or index.isdigit())
