"""What a run is built from: its prepared data and its networks, each initialised from a seed of its own.

``prepare_run_data`` checks the networks' fields, prepares only the fields they read and refuses a
dataset that changed under a resumed run; ``build_networks`` makes the teacher, the student, the
baseline (the student's very weights) and the objective; ``write_run_inputs`` stores what the
results and inference read back (samples.json, preprocessing.json, the library models' architectures).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from workbench.atomic import atomic_write_json
from workbench.config import CONFIGURED_NETS, ExperimentConfig
from workbench.data import PreparedData, prepare_data
from workbench.engine.batches import derived_seed
from workbench.engine.hf_text import field_tokenizers, save_architectures, saved_tokenizers
from workbench.engine.losses import Objective, objective_context
from workbench.engine.models import build_network, count_parameters
from workbench.errors import ConfigError, WorkbenchError


def prepare_run_data(cfg: ExperimentConfig, report: Any, previous_fingerprint: str | None,
                     resumed_dir: Path | None = None) -> PreparedData:
    """The data of the fields the networks read (fitted preprocessing, datasets); ``previous_fingerprint``:
    the dataset a resumed run started with, which it must still be. A resumed run (``resumed_dir``) reads its
    text fields with its own copies of their Hugging Face tokenizers."""
    if report.trainable:  # an untrainable dataset is reported by prepare_data, with the reason
        check_fields(cfg, report.index.fields)
    # Only the fields a network reads are fitted and decoded.
    used_fields = {*cfg.teacher.fields, *cfg.student.fields}
    tokenizers = field_tokenizers(cfg)
    if resumed_dir is not None:
        tokenizers = saved_tokenizers(tokenizers, resumed_dir)
    data = prepare_data(cfg.data, cfg.train.seed, report, fields=used_fields, tokenizers=tokenizers)
    if previous_fingerprint and previous_fingerprint != data.fingerprint:
        raise WorkbenchError(f"The dataset in {cfg.data.root} changed since this run started (its fingerprint "
                             "differs); a resumed run must see the same data. Start a new run instead.")
    return data


def check_fields(cfg: ExperimentConfig, fields: dict[str, Any]) -> None:
    """An unknown field in a network's list is a user error, named before any preprocessing is fitted."""
    for net in CONFIGURED_NETS:
        for name in getattr(cfg, net).fields:
            if name not in fields:
                raise ConfigError(f"{net}.fields: the dataset has no field '{name}'. Its fields: "
                                  f"{', '.join(fields) or 'none'}.", f"{net}.fields")


def metric_context(data: PreparedData, class_names: list[str]) -> dict[str, Any]:
    """What the task's metrics need beside the outputs: the class names, and each validation sample's
    question type (VQA) when every sample has one."""
    samples = data.report.index.samples
    question_types = [samples[i].meta.get("question_type") for i in data.val.sample_indices]
    return {"class_names": class_names, "question_types": question_types if all(question_types) else None}


class Networks(NamedTuple):
    teacher: nn.Module
    student: nn.Module
    baseline: nn.Module | None  # None: train.baseline is off
    objective: Objective

    def parameter_counts(self) -> dict[str, int]:
        """summary.json's ``params``: each network's parameters, and the objective's learned parts'."""
        params = {"teacher": count_parameters(self.teacher), "student": count_parameters(self.student)}
        if self.baseline is not None:
            params["baseline"] = count_parameters(self.baseline)
        params["objective"] = count_parameters(self.objective)
        return params


def build_networks(cfg: ExperimentConfig, specs: dict[str, dict[str, Any]], num_classes: int, spatial: bool,
                   device: torch.device) -> Networks:
    """The run's networks on ``device``, each initialised from its own seed (derived from ``train.seed``)."""
    seed = cfg.train.seed
    torch.manual_seed(derived_seed(seed, "init", "teacher"))
    teacher = build_network(cfg.teacher, specs, num_classes, "teacher", spatial).to(device)
    torch.manual_seed(derived_seed(seed, "init", "student"))
    student = build_network(cfg.student, specs, num_classes, "student", spatial).to(device)
    # The baseline starts from the student's very weights: the two differ only in their objective.
    baseline = copy.deepcopy(student) if cfg.train.baseline else None
    torch.manual_seed(derived_seed(seed, "init", "objective"))
    objective = Objective(cfg.loss, objective_context(cfg.loss, specs, num_classes, student, teacher)).to(device)
    return Networks(teacher, student, baseline, objective)


def write_run_inputs(run_dir: Path, data: PreparedData, networks: Networks) -> None:
    """What the results and inference read back: the validation samples (samples.json, in validation order),
    the fitted preprocessing and the library models' architectures."""
    samples = data.report.index.samples
    atomic_write_json(run_dir / "samples.json", [
        {"index": i, "id": samples[i].id, "label": samples[i].label, "values": samples[i].values,
         **({"meta": samples[i].meta} if samples[i].meta else {})}
        for i in data.val.sample_indices])
    data.preprocessing.save(run_dir / "preprocessing.json")
    save_architectures(run_dir, {"teacher": networks.teacher, "student": networks.student})
