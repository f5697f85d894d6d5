"""The training loop: stage 1 trains the teacher, stage 2 distils it into the student beside a CE-only baseline.

Shape (Lightning Fabric's "build your own trainer"): ``fit()`` runs the stages, each
stage runs epochs, each batch calls ``on_train_batch_end``; a cooperative stop flag,
checked every batch, is how Stop ends a run, always leaving a resumable checkpoint.

Exact resume on the CPU rests on three rules:

- every random stream is a pure function of the seed and where we are: network
  initialisation (per network), each stage's training RNG, each epoch's shuffle order;
- the last checkpoint holds the global RNG state, the optimizers, schedulers, scaler,
  the objective and the position in the epoch (batches done), so a resumed epoch skips
  the batches already trained and draws the same random numbers for the rest;
- a batch consumes random numbers in one fixed order (data augmentation, student,
  objective), whether or not the run was resumed.

Student and baseline are paired: they see the same batches (augmented once, for both) and
the baseline's forward replays the random numbers the student's forward drew, so both
draw the same dropout masks. With every distillation weight at 0 the two are the same
network trained the same way, and the distillation gain is exactly 0.

Under ``torchrun`` (docs/distributed.md) every rank runs this same loop on its share of each
epoch's order, with the trained modules in DistributedDataParallel; rank 0 alone validates,
writes the run folder and calls the callbacks, and the ranks agree every batch on stopping.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.metadata
import math
import platform
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from workbench.atomic import atomic_write_json, remove_leftover_temp_files
from workbench.config import CONFIGURED_NETS, NETS, ExperimentConfig, check, config_to_dict, save_config
from workbench.data import check_dataset, collate_batch, make_loader, prepare_data
from workbench.engine import distributed
from workbench.engine.budget import check_fits_memory
from workbench.engine.checkpoint import checkpoint_file, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from workbench.engine.device import autocast, cpu_threads, device_name, grad_scaler, resolve_cpu_threads
from workbench.engine.hf_text import field_tokenizers, save_architectures
from workbench.engine.hooks import Callback, CallbackList
from workbench.engine.loggers import experiment_loggers
from workbench.engine.losses import Objective, describe_objective, objective_context
from workbench.engine.metrics import agreement, recall_at_k
from workbench.engine.models import build_network, count_parameters, parameter_groups, set_train_mode
from workbench.engine.result import improves, run_result
from workbench.engine.runs import RunRecord, RunWriter, create_run_dir
from workbench.engine.resume_state import cpu_state, generator_states, resume_point, set_generator_states
from workbench.engine.schedule import lr_factor
from workbench.engine.stats import paired_test
from workbench.engine.teacher_cache import TeacherOutputCache, teacher_cache_for
from workbench.engine.tasks import Task, get_task
from workbench.engine.teacher_reuse import check_teacher_reuse, resolve_teacher_source
from workbench.errors import ConfigError, WorkbenchError, first_line




class TrainingDiverged(WorkbenchError):
    """A loss term became NaN or infinite; the message names the term, the network and the step."""


class OutOfMemory(WorkbenchError):
    """The CPU allocator or the GPU ran out of memory; the message names the stage, epoch, batch and batch size."""


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    # The CPU allocator raises a plain RuntimeError: "DefaultCPUAllocator: can't allocate memory: ...".
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``parts`` (e.g. "shuffle", stage, epoch)."""
    text = "/".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


class _EpochBatches(Sampler):
    """The batches of the current epoch; the trainer sets them before each epoch.

    One sampler and one DataLoader serve the whole stage, so persistent workers (and
    their image caches) live across epochs.
    """

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@dataclasses.dataclass
class _Learner:
    """One network being trained: its modules' parameters share one optimizer and schedule."""

    name: str
    network: nn.Module
    modules: list[nn.Module]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None

    def parameters(self) -> list[nn.Parameter]:
        return [p for module in self.modules for p in module.parameters() if p.requires_grad]

    def state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])


class _StudentWithObjective(nn.Module):
    """The student and the objective as one module, whose forward gives the student's output and loss.

    They share one optimizer, and the objective's learned parts (projectors, heads, decoder) get
    gradients as the student does, so under DDP they must be one wrapped module: DDP averages the
    gradients of the parameters of the module it wraps, and those only.
    """

    def __init__(self, student: nn.Module, objective: Objective, task: Task):
        super().__init__()
        self.student = student
        self.objective = objective
        self.task = task

    def forward(self, batch: dict[str, torch.Tensor], teacher_out: Any, device: torch.device, precision: str) -> Any:
        with autocast(device, precision):
            output = self.student(batch)
        loss, terms = self.objective(*self.task.loss_view(output, teacher_out, batch))
        return output, loss, terms


@dataclasses.dataclass
class _Best:
    """Best validation value of one network so far, and the metrics at that epoch."""

    value: float | None = None
    epoch: int | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    # The class predicted for each validation sample at that epoch: the paired test of the best checkpoints.
    predicted: list[int] | None = None

    def improves(self, value: float, metric: str) -> bool:
        return improves(self.value, value, metric)


class Trainer:
    """Trains one run. ``fit()`` returns the summary; ``request_stop()`` may be called from any thread.

    The run folder (``run_dir``) exists right after construction. Callbacks receive the
    hooks of docs/architecture.md; the run folder's own writer is called first.
    """

    def __init__(self, cfg: ExperimentConfig, callbacks: Iterable[Callback] = (), runs_dir: str | Path | None = None):
        self._dist = distributed.current()
        cfg = check(cfg.copy())
        # The resolved count goes into config.toml: a resumed or cloned run trains with the same one.
        cfg.train.cpu_threads = resolve_cpu_threads(cfg.train.cpu_threads, self._dist.world_size)
        self._teacher_source = None
        self._report = None
        if cfg.teacher.checkpoint:
            # Checked before the run folder exists: an incompatible teacher leaves no failed run behind.
            self._report = check_dataset(cfg.data.root, cfg.data, cfg.train.seed)
            self._teacher_source = check_teacher_reuse(cfg, self._report)
        self.cfg = cfg
        self.callbacks = list(callbacks)
        run_dir = None
        if self._dist.is_main:
            run_dir = create_run_dir(runs_dir or cfg.train.runs_dir, cfg.train.name or _default_name(cfg))
            save_config(cfg, run_dir / "config.toml")
        # Rank 0 names the folder (its timestamp); every rank must report and resume the same one.
        self.run_dir = distributed.from_main(run_dir, self._dist)
        self._resume: dict[str, Any] | None = None
        self._init_state()

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks: Iterable[Callback] = ()) -> Trainer:
        """Continue a stopped, killed or failed run from its last checkpoint, in the same folder."""
        context = distributed.current()
        found = None
        if context.is_main:  # on several machines, only rank 0's has the run folder: it sends what it read
            record = RunRecord.open(run_dir)
            if record.summary.get("status") == "finished":
                raise WorkbenchError(f"{record.path} has finished training; there is nothing to resume.")
            remove_leftover_temp_files(record.path)  # of writes the kill or crash interrupted
            found = (record.path, check(record.config_with_plugins()), resume_point(record), record.summary)
        path, cfg, resume_from, previous_summary = distributed.from_main(found, context)
        if resume_from["checkpoint"] is not None:
            ran_with = resume_from["checkpoint"]["training"].get("world_size", 1)
            if ran_with != context.world_size:
                raise WorkbenchError(
                    f"{path} was trained by {ran_with} process(es) and is resumed by {context.world_size}: each "
                    f"process's share of an epoch would differ. Resume it with {ran_with} (torchrun "
                    "--nproc_per_node times --nnodes).")
        trainer = cls.__new__(cls)
        trainer._dist = context
        trainer._teacher_source = resolve_teacher_source(cfg) if cfg.teacher.checkpoint else None
        trainer._report = None  # the dataset is checked in _prepare (the run folder exists already)
        trainer.cfg = cfg
        trainer.callbacks = list(callbacks)
        trainer.run_dir = path
        trainer._resume = resume_from
        trainer._init_state()
        trainer._previous_summary = previous_summary
        return trainer

    def _init_state(self) -> None:
        self._stop = threading.Event()
        self._teacher_cache: TeacherOutputCache | None = None
        self._fitted = False
        self._stopped = False
        self._stage: str | None = None
        self._step = 0
        self._position: tuple[int, int | None] = (0, None)  # epoch, batch (None: validating) for error messages
        self._previous_summary: dict[str, Any] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._retrieval: dict[str, Any] | None = None
        self.task = get_task(self.cfg.data.task)
        self._timings: dict[str, float] = {}
        self._summary_base: dict[str, Any] = {"run_dir": str(self.run_dir), "name": self.run_dir.name,
                                              "objective": describe_objective(self.cfg.loss)}

    def _out_of_memory(self, error: BaseException) -> OutOfMemory:
        """The allocator's error as one message: where it happened and what to change."""
        if getattr(self, "device", None) is not None and self.device.type == "cuda":
            torch.cuda.empty_cache()  # what the failed batch held goes back, for the app and the next run
        epoch, batch = self._position
        where = f"{self._stage} stage" if self._stage else "the start (building the networks)"
        if self._stage and epoch:
            where += f", epoch {epoch}, " + (f"batch {batch}" if batch else "validation")
        return OutOfMemory(f"Out of memory at the {where}, batch size {self.cfg.train.batch_size}: try a smaller "
                           "batch (train.batch_size) or network. The run resumes from its last checkpoint "
                           f"(workbench train --resume {self.run_dir}). ({first_line(error)})")

    def request_stop(self) -> None:
        """End the run after the current batch, leaving a resumable checkpoint (thread-safe)."""
        self._stop.set()

    # ------------------------------------------------------------------ fit

    def fit(self) -> dict[str, Any]:
        """Train every stage; returns the summary (as in summary.json). Errors are recorded, then raised."""
        if self._fitted:
            raise RuntimeError("a Trainer fits once; build a new one or use Trainer.resume")
        self._fitted = True
        with cpu_threads(resolve_cpu_threads(self.cfg.train.cpu_threads, self._dist.world_size)):
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        self._fit_started = started = time.perf_counter()
        if self._resume is not None:
            self._timings = dict(self._resume.get("timings", {}))
        self._writer: RunWriter | None = None
        self._hooks = CallbackList([])  # the other ranks only train: rank 0 writes the run folder and reports
        if self._dist.is_main:
            self._writer = RunWriter(self.run_dir, self._resume["events_offset"] if self._resume else None)
            self._hooks = CallbackList([self._writer, *experiment_loggers(self.cfg.log, self.run_dir),
                                        *self.callbacks])
        try:
            self._prepare()
            self._hooks.call("on_fit_start", self._fit_start_payload())
            for stage in self._stages:
                if not self._run_stage(stage):
                    break
            self._add_time("total", time.perf_counter() - started)
            status = "stopped" if self._stopped else "finished"
            summary = self._summary(status)
            self._hooks.call("on_fit_end", {"status": status, "summary": summary})
            # Only rank 0 validated: every rank returns its summary. The others wait for it here, so none
            # exits before rank 0 has written the run folder (torchrun ends every rank when one exits non-zero).
            return distributed.from_main(summary, self._dist)
        except Exception as caught:
            self._add_time("total", time.perf_counter() - started)
            error = self._out_of_memory(caught) if _is_out_of_memory(caught) else caught
            message = str(error) if isinstance(error, WorkbenchError) else f"{type(error).__name__}: {error}"
            self._hooks.call("on_exception", {"message": message, "traceback": traceback.format_exc(),
                                              "stage": self._stage, "step": self._step,
                                              "summary": self._summary("failed", error=message)})
            if isinstance(error, TrainingDiverged):  # all ranks raise it at the same batch: wait for rank 0's record
                distributed.barrier(self._dist)
            if error is caught:
                raise
            raise error from caught
        finally:
            if self._writer is not None:
                self._writer.close()

    def _prepare(self) -> None:
        cfg = self.cfg
        seed = cfg.train.seed
        self.device = distributed.rank_device(cfg.train.device, self._dist)
        report = self._report or check_dataset(cfg.data.root, cfg.data, seed)
        if report.trainable:  # an untrainable dataset is reported by prepare_data, with the reason
            _check_fields(cfg, report.index.fields)
        # Only the fields a network reads are fitted and decoded.
        used_fields = {*cfg.teacher.fields, *cfg.student.fields}
        self.data = data = prepare_data(cfg.data, seed, report, fields=used_fields, tokenizers=field_tokenizers(cfg))
        previous = self._previous_summary.get("dataset_fingerprint")
        if previous and previous != data.fingerprint:
            raise WorkbenchError(f"The dataset in {cfg.data.root} changed since this run started (its fingerprint "
                                 "differs); a resumed run must see the same data. Start a new run instead.")
        self.class_names = list(data.class_names)
        samples = data.report.index.samples
        question_types = [samples[i].meta.get("question_type") for i in data.val.sample_indices]
        self._metric_context = {"class_names": self.class_names,
                                "question_types": question_types if all(question_types) else None}
        specs = data.preprocessing.input_specs()
        num_classes = len(self.class_names)
        check_fits_memory(cfg, specs, num_classes, self.device, len(data.train), self.task.spatial)

        torch.manual_seed(derived_seed(seed, "init", "teacher"))
        self.teacher = build_network(cfg.teacher, specs, num_classes, "teacher", self.task.spatial).to(self.device)
        torch.manual_seed(derived_seed(seed, "init", "student"))
        self.student = build_network(cfg.student, specs, num_classes, "student", self.task.spatial).to(self.device)
        # The baseline starts from the student's very weights: the two differ only in their objective.
        self.baseline = copy.deepcopy(self.student) if cfg.train.baseline else None
        torch.manual_seed(derived_seed(seed, "init", "objective"))
        self.objective = Objective(cfg.loss, objective_context(cfg.loss, specs, num_classes, self.student,
                                                                self.teacher)).to(self.device)
        self._stages = ["student"] if self._teacher_source else ["teacher", "student"]
        if self._teacher_source:
            self._load_reused_teacher(data.fingerprint)

        if self._dist.is_main:
            atomic_write_json(self.run_dir / "samples.json", [
                {"index": i, "id": samples[i].id, "label": samples[i].label, "values": samples[i].values,
                 **({"meta": samples[i].meta} if samples[i].meta else {})}
                for i in data.val.sample_indices])
            data.preprocessing.save(self.run_dir / "preprocessing.json")
            save_architectures(self.run_dir, {"teacher": self.teacher, "student": self.student})
        self._val_loader = make_loader(data.val, cfg.train.batch_size, False, seed, cfg.data.num_workers)
        self._summary_base.update({
            "device": str(self.device), "device_name": device_name(self.device), "precision": cfg.train.precision,
            "cpu_threads": torch.get_num_threads(),
            "world_size": self._dist.world_size,
            "versions": _versions(), "dataset_fingerprint": data.fingerprint, "class_names": self.class_names,
            "params": self._params(), "stages": self._stages,
            "teacher_source": str(self._teacher_source["run_dir"]) if self._teacher_source else None,
        })
        if self._resume is not None:
            self._results = copy.deepcopy(self._resume["results"])

    def _load_reused_teacher(self, fingerprint: str) -> None:
        source = self._teacher_source
        if source["fingerprint"] != fingerprint:
            raise WorkbenchError(
                f"The teacher in {source['run_dir']} was trained on other data (the dataset fingerprint differs); "
                "its validation split would not match this run's, so validation samples may have been in its "
                "training set. Train a new teacher on this dataset (empty teacher.checkpoint).")
        if source["class_names"] != self.class_names:
            raise WorkbenchError(f"The teacher in {source['run_dir']} knows other classes than this dataset.")
        self.teacher.load_state_dict(source["checkpoint"]["model"])
        if not self._dist.is_main:
            return
        save_checkpoint(checkpoint_file(self.run_dir, "teacher", "best"), {
            "net": "teacher", "which": "best", "model": cpu_state(self.teacher),
            "epoch": source["checkpoint"].get("epoch"), "metrics": source["checkpoint"].get("metrics", {}),
            "source": str(source["path"])})

    def _params(self) -> dict[str, int]:
        params = {"teacher": count_parameters(self.teacher), "student": count_parameters(self.student)}
        if self.baseline is not None:
            params["baseline"] = count_parameters(self.baseline)
        params["objective"] = count_parameters(self.objective)
        return params

    def _stage_epochs(self, stage: str) -> int:
        train = self.cfg.train
        return (train.teacher_epochs or train.epochs) if stage == "teacher" else train.epochs

    def _train_batches(self, stage: str, epoch: int) -> list[list[int]]:
        """This epoch's batches of dataset positions: a shuffle that depends only on (seed, stage, epoch).

        A last batch of one sample is dropped: batch norm cannot train on it, nor can the
        relational and contrastive terms, which compare samples within a batch. Under torchrun each
        rank takes its equal share of the order, so every rank has as many batches, of the same sizes,
        and ``batch_size`` is per rank.
        """
        generator = torch.Generator().manual_seed(derived_seed(self.cfg.train.seed, "shuffle", stage, epoch))
        order = distributed.shard(torch.randperm(len(self.data.train), generator=generator).tolist(), self._dist)
        size = self.cfg.train.batch_size
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if len(batches) > 1 and len(batches[-1]) < 2:
            batches.pop()
        return batches

    def _fit_start_payload(self) -> dict[str, Any]:
        steps = {stage: len(self._train_batches(stage, 1)) for stage in self._stages}
        return {"run_dir": str(self.run_dir), "config": config_to_dict(self.cfg), "device": str(self.device),
                "device_name": self._summary_base["device_name"], "class_names": self.class_names,
                "fields": {name: info.kind for name, info in self.data.fields.items()},
                "params": self._summary_base["params"], "stages": list(self._stages),
                "epochs": {stage: self._stage_epochs(stage) for stage in self._stages},
                "steps_per_epoch": steps, "resumed": self._resume is not None,
                "summary": self._summary("running")}

    # ------------------------------------------------------------------ one stage

    def _learner(self, name: str, network: nn.Module, modules: list[nn.Module], steps_per_epoch: int,
                 epochs: int) -> _Learner:
        train = self.cfg.train
        # Each group's lr is the peak lr times its multiplier; LambdaLR scales every group alike.
        params = [{"params": group["params"], "lr": train.lr * group["lr_scale"]}
                  for group in parameter_groups(modules)]
        # On CUDA the fused kernels update every parameter in a few launches instead of several per
        # tensor: small networks there are bound by kernel launches, not by arithmetic.
        fused = {"fused": True} if self.device.type == "cuda" else {}
        if train.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay,
                                        **fused)
        elif train.optimizer == "adamw":
            optimizer = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay, **fused)
        else:
            optimizer = torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay, **fused)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, steps_per_epoch, epochs, train))
        return _Learner(name, network, modules, optimizer, scheduler, grad_scaler(self.device, train.precision))

    def _run_stage(self, stage: str) -> bool:
        """Train one stage; False when the run was stopped in it."""
        self._stage = stage
        stage_started = time.perf_counter()
        epochs = self._stage_epochs(stage)
        steps_per_epoch = len(self._train_batches(stage, 1))
        resume = self._resume if self._resume is not None and self._resume["stage"] == stage else None
        if self._resume is not None and self._resume["stage"] == "student" and stage == "teacher":
            # The teacher stage ended before the checkpoint this run resumes from.
            self._load_best_teacher()
            return True

        if stage == "teacher":
            learners = [self._learner("teacher", self.teacher, [self.teacher], steps_per_epoch, epochs)]
        else:
            self.teacher.eval().requires_grad_(False)
            self._teacher_cache = teacher_cache_for(
                self.cfg, [self.data.fields[name].kind for name in self.cfg.teacher.fields],
                self.objective.requires_teacher, len(self.data.report.index.samples), self.run_dir)
            learners = [self._learner("student", self.student, [self.student, self.objective], steps_per_epoch,
                                      epochs)]
            if self.baseline is not None:
                learners.append(self._learner("baseline", self.baseline, [self.baseline], steps_per_epoch, epochs))
        main = learners[0]
        metric = self.cfg.train.early_stopping_metric
        best = {learner.name: _Best() for learner in learners}
        bad_epochs = 0
        epochs_done = batches_done = 0
        stage_done = False
        if resume is not None:
            state = resume["checkpoint"]["training"]
            main.network.load_state_dict(resume["checkpoint"]["model"])
            if stage == "student":
                self.objective.load_state_dict(state["objective"])
                if self.baseline is not None:
                    self.baseline.load_state_dict(state["baseline_model"])
            for learner in learners:
                learner.load_state(state["learners"][learner.name])
            best = {name: _Best(**values) for name, values in state["best"].items()}
            bad_epochs, epochs_done, batches_done = state["bad_epochs"], state["epochs_done"], state["batches_done"]
            stage_done, self._step = state["stage_done"], state["step"]
            if self._dist.enabled:
                distributed.set_rng_state(state["rng_by_rank"][self._dist.rank], self.device)
            else:
                set_rng_state(state["rng"])
        else:
            self._step = 0
            # Each rank its own stream (dropout, augmentation), the single process the one it always had.
            rank = ("rank", self._dist.rank) if self._dist.enabled else ()
            torch.manual_seed(derived_seed(self.cfg.train.seed, "train", stage, *rank))
        # What the training step calls: the trained modules, in DistributedDataParallel under torchrun.
        if stage == "teacher":
            self._train_modules = {"teacher": distributed.wrap(self.teacher, self.device, self._dist)}
        else:
            self._train_modules = {"student": distributed.wrap(
                _StudentWithObjective(self.student, self.objective, self.task), self.device, self._dist)}
            if self.baseline is not None:
                self._train_modules["baseline"] = distributed.wrap(self.baseline, self.device, self._dist)

        self._hooks.call("on_stage_start", {"stage": stage, "epochs": epochs, "start_epoch": epochs_done,
                                            "steps_per_epoch": steps_per_epoch})
        self._teacher_val = (self._validate({"teacher": self.teacher})
                             if stage == "student" and self._dist.is_main else None)
        sampler = _EpochBatches()
        loader = self._train_loader(sampler)

        def checkpoint(epochs_complete: int, batches_complete: int, done: bool) -> None:
            self._save_last(stage, learners, epochs_complete, batches_complete, done, best, bad_epochs,
                            elapsed=time.perf_counter() - stage_started)

        early_stopped = False
        epoch = epochs_done
        while not stage_done and epoch < epochs:
            epoch += 1
            if self._stop_agreed():
                checkpoint(epoch - 1, batches_done, False)
                break
            batches = self._train_batches(stage, epoch)
            sampler.batches = batches[batches_done:]
            for module in (learner.network for learner in learners):
                set_train_mode(module)
            self.objective.train(stage == "student")
            batch_number = batches_done
            batches_done = 0
            tick = time.perf_counter()
            for batch in loader:
                batch_number += 1
                self._step += 1
                self._position = (epoch, batch_number)
                payload = self._train_step(stage, learners, batch, epoch, batch_number, len(batches))
                now = time.perf_counter()
                payload["seconds"] = now - tick
                tick = now
                self._hooks.call("on_train_batch_end", payload)
                if self._stop_agreed():
                    break
            if self._stop_agreed():
                checkpoint(epoch - 1, batch_number, False)  # validation too waits for the resume
                break
            self._position = (epoch, None)  # validating
            improved = self._validation_epoch(stage, learners, epoch, best, metric) if self._dist.is_main else False
            # The other ranks wait here while rank 0 validates; its verdict drives everyone's early stopping.
            improved = distributed.from_main(improved, self._dist)
            bad_epochs = 0 if improved else bad_epochs + 1
            patience = self.cfg.train.early_stopping_patience
            early_stopped = patience > 0 and bad_epochs >= patience
            stage_done = early_stopped or epoch == epochs
            checkpoint(epoch, 0, stage_done)
        self._stopped = not stage_done
        if self._teacher_cache is not None:
            self._teacher_cache.close()
            self._teacher_cache = None
        self._add_time(stage, time.perf_counter() - stage_started)
        if stage_done and stage == "teacher":
            # The student learns from the best teacher, which the summary then reports.
            self._load_best_teacher()
        main_best = best[main.name]
        self._hooks.call("on_stage_end", {
            "stage": stage, "epochs_run": epoch if stage_done else epoch - 1,
            "best": {"metric": metric, "value": main_best.value, "epoch": main_best.epoch},
            "stopped": self._stopped, "early_stopped": early_stopped, "summary": self._summary("running")})
        return stage_done

    def _stop_agreed(self) -> bool:
        """Whether to stop, the same on every rank: a stop requested on any rank (Ctrl-C) ends them all
        at the same batch. One tiny all-reduce per batch under torchrun; the flag itself on one process."""
        return distributed.any_rank(self._stop.is_set(), self.device, self._dist)

    def _load_best_teacher(self) -> None:
        """This run's best teacher: rank 0 reads the file (other machines may not see the run folder)
        and sends its weights to the other ranks."""
        if self._dist.is_main:
            self.teacher.load_state_dict(load_checkpoint(checkpoint_file(self.run_dir, "teacher", "best"))["model"])
        distributed.broadcast_module(self.teacher, self._dist)

    def _train_loader(self, sampler: _EpochBatches) -> Iterable[dict[str, torch.Tensor]]:
        """The stage's training batches, in the order ``sampler`` gives each epoch."""
        workers = self.cfg.data.num_workers
        return DataLoader(self.data.train, batch_sampler=sampler, collate_fn=collate_batch, num_workers=workers,
                          persistent_workers=workers > 0, pin_memory=self.device.type == "cuda",
                          # Its own generator: creating an iterator must not draw from the global RNG.
                          generator=torch.Generator().manual_seed(derived_seed(self.cfg.train.seed, "loader")))

    def _train_step(self, stage: str, learners: list[_Learner], batch: dict[str, torch.Tensor], epoch: int,
                    batch_number: int, batches: int) -> dict[str, Any]:
        device, precision = self.device, self.cfg.train.precision
        batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
        labels = batch["label"]
        smoothing = self.cfg.loss.ce.label_smoothing
        lr = learners[0].optimizer.param_groups[0]["lr"]
        if stage == "teacher":
            with autocast(device, precision):
                output = self._train_modules["teacher"](batch)
            loss = self.task.supervised_loss(output.logits, labels, smoothing)
            terms = {"ce": {"raw": loss, "weighted": loss}}
            losses = [("teacher", loss)]
            outputs = {"teacher": output}
        else:
            teacher_out = None
            if self.objective.requires_teacher:
                teacher_out = self._teacher_cache.lookup(batch["index"], device) if self._teacher_cache else None
                if teacher_out is None:
                    with torch.no_grad(), autocast(device, precision):
                        teacher_out = self.teacher(batch)
                    if self._teacher_cache is not None:
                        self._teacher_cache.store(batch["index"], teacher_out)
            before_student = generator_states(device)
            output, loss, terms = self._train_modules["student"](batch, teacher_out, device, precision)
            losses = [("student", loss)]
            outputs = {"student": output}
            if self.baseline is not None:
                after_student = generator_states(device)
                set_generator_states(device, before_student)  # the student's dropout masks, drawn again
                with autocast(device, precision):
                    baseline_out = self._train_modules["baseline"](batch)
                set_generator_states(device, after_student)
                # The student's CE term computed the same way (its weight too), so that a CE-only student and the
                # baseline get bit-identical gradients. A pure-KD student (CE weight 0) still has a CE baseline.
                ce_weight = self.cfg.loss.ce.weight or 1.0
                baseline_ce = self.task.supervised_loss(baseline_out.logits, labels, smoothing)
                losses.append(("baseline", torch.stack([baseline_ce * float(ce_weight)]).sum()))
                outputs["baseline"] = baseline_out

        # One device-to-host copy per batch for every number the hooks report. Under torchrun they are
        # means over the ranks (equal batch sizes: over the global batch), so a NaN on any rank is seen
        # by all, which raise together here, before a gradient all-reduce that would wait for the others.
        with torch.no_grad():
            values = distributed.mean_over_ranks(torch.stack(
                [part.detach().float() for term in terms.values() for part in (term["raw"], term["weighted"])]
                + [value.detach().float() for _, value in losses]
                + [self.task.batch_accuracy(out.logits, labels) for out in outputs.values()]), self._dist).tolist()
        term_values = {name: {"raw": values[2 * i], "weighted": values[2 * i + 1]} for i, name in enumerate(terms)}
        loss_values = dict(zip((name for name, _ in losses), values[2 * len(terms):2 * len(terms) + len(losses)]))
        self._check_finite(stage, term_values, loss_values, epoch, batch_number)

        for learner, (_, value) in zip(learners, losses):
            _optimizer_step(learner, value, self.cfg.train.grad_clip)
        accuracies = values[2 * len(terms) + len(losses):]
        payload = {"stage": stage, "epoch": epoch, "batch": batch_number, "batches": batches, "step": self._step,
                   "samples": int(labels.shape[0]) * self._dist.world_size, "lr": lr,
                   "losses": {**term_values, "total": loss_values[learners[0].name]},
                   "train_accuracy": dict(zip(outputs, accuracies))}
        if "baseline" in loss_values:
            payload["baseline_loss"] = loss_values["baseline"]
        return payload

    def _check_finite(self, stage: str, terms: dict[str, dict[str, float]], losses: dict[str, float], epoch: int,
                      batch_number: int) -> None:
        bad = [(_main_net(stage), name, values["raw"]) for name, values in terms.items()
               if not math.isfinite(values["raw"]) or not math.isfinite(values["weighted"])]
        if "baseline" in losses and not math.isfinite(losses["baseline"]):
            bad.append(("baseline", "ce", losses["baseline"]))
        if not bad:
            return
        net, term, value = bad[0]
        last = checkpoint_file(self.run_dir, stage, "last")
        kept = (f"The last good checkpoint, {last.relative_to(self.run_dir)}, is kept." if last.exists()
                else "No checkpoint was written before it.")
        raise TrainingDiverged(
            f"The {net}'s loss term '{term}' became {value} at step {self._step} ({stage} stage, epoch {epoch}, "
            f"batch {batch_number}); training stopped. {kept} Try a lower train.lr, gradient clipping "
            "(train.grad_clip) or fp32 precision.")

    # ------------------------------------------------------------------ validation

    @torch.no_grad()
    def _validate(self, networks: dict[str, nn.Module]) -> dict[str, dict[str, Any]]:
        """What the task keeps of each network's outputs (probabilities or masks), its embeddings and its
        metrics over the validation set, in sample order."""
        device, precision = self.device, self.cfg.train.precision
        for network in networks.values():
            network.eval()
        collectors = {name: self.task.collector(self._metric_context) for name in networks}
        labels, indices = [], []
        for batch in self._val_loader:
            batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
            labels.append(batch["label"].cpu())
            indices.append(batch["index"].cpu())
            for name, network in networks.items():
                with autocast(device, precision):
                    output = network(batch)
                collectors[name].add(output.logits.float(), batch["label"], output.embedding)
        label_array = torch.cat(labels).numpy()
        results: dict[str, Any] = {name: collector.result(label_array) for name, collector in collectors.items()}
        results["_labels"] = label_array
        results["_index"] = torch.cat(indices).numpy()
        return results

    def _validation_epoch(self, stage: str, learners: list[_Learner], epoch: int, best: dict[str, _Best],
                          metric: str) -> bool:
        """Validate, log, save the best checkpoints; True when the stage's main network improved."""
        validated = self._validate({learner.name: learner.network for learner in learners})
        if stage == "student":
            validated["teacher"] = self._teacher_val["teacher"]
        teacher_preds = self.task.predictions(validated["teacher"])
        metrics = {}
        for net in NETS:
            if net in validated:
                metrics[net] = dict(validated[net]["metrics"])
                if net != "teacher":
                    metrics[net]["agreement"] = agreement(self.task.predictions(validated[net]), teacher_preds)
        # Each sample's predicted class, for the paired test of the gain (None: the task has no class per sample).
        predicted = {net: self.task.sample_classes(validated[net]) for net in metrics}
        improved = {}
        for learner in learners:
            value = metrics[learner.name][metric]
            improved[learner.name] = best[learner.name].improves(value, metric)
            if improved[learner.name]:
                best[learner.name] = _Best(value, epoch, metrics[learner.name], predicted[learner.name])
                save_checkpoint(checkpoint_file(self.run_dir, learner.name, "best"), {
                    "net": learner.name, "which": "best", "model": cpu_state(learner.network), "epoch": epoch,
                    "metrics": metrics[learner.name]})
        for net, values in metrics.items():
            result = self._results.setdefault(net, {})
            if net in best:
                result.update(final=values, final_epoch=epoch, best=dataclasses.asdict(best[net]))
            elif "best" not in result:  # a reused teacher: its evaluation is its best and its last
                result.update(final=values, final_epoch=None,
                              best={"value": values[metric], "epoch": None, "metrics": values})
        for net in metrics:
            self._results[net]["final_predicted"] = predicted[net]
        predictions = {"index": validated["_index"], "label": validated["_labels"]}
        for net in metrics:
            predictions.update({f"{net}_{key}": value for key, value in validated[net].items() if key != "metrics"})
        # The frozen teacher's metrics do not change in the student stage: they are logged in its own
        # stage (and kept in the summary); its predictions stay in every epoch's arrays, for comparison.
        logged = {net: values for net, values in metrics.items() if net != "teacher" or stage == "teacher"}
        payload = {"stage": stage, "epoch": epoch, "step": self._step, "metrics": logged, "predictions": predictions}
        if "baseline" in metrics and stage == "student":
            gain_metric = self.task.main_metric
            payload["distillation_gain"] = metrics["student"][gain_metric] - metrics["baseline"][gain_metric]
            if predicted["student"] is not None:
                payload["paired_test"] = paired_test(validated["_labels"], predicted["student"],
                                                     predicted["baseline"], self.class_names)
        if stage == "student" and "contrastive" in self.objective.terms:
            shared = self._shared_embeddings(validated)
            predictions.update({f"{net}_shared": values for net, values in shared.items()})
            self._retrieval = payload["retrieval"] = self._retrieval_metrics(shared)
        for learner in learners:
            set_train_mode(learner.network)
        self._hooks.call("on_validation_end", payload)
        return improved[learners[0].name]

    @torch.no_grad()
    def _shared_embeddings(self, validated: dict[str, Any]) -> dict[str, np.ndarray]:
        """The student's and the teacher's validation embeddings in the contrastive term's shared space."""
        term = self.objective.terms["contrastive"]
        device = next(term.parameters()).device
        return {net: head(torch.from_numpy(validated[net]["embedding"]).to(device)).float().cpu().numpy()
                for net, head in (("student", term.student_head), ("teacher", term.teacher_head))}

    def _retrieval_metrics(self, shared: dict[str, np.ndarray]) -> dict[str, Any]:
        """Cross-modal retrieval on the validation split in the contrastive term's shared space: each
        student embedding (the student's modalities) queries the teacher embeddings (the teacher's
        modalities) for its own sample, and the other way round; Recall@1/5/10."""
        student, teacher = shared["student"], shared["teacher"]
        kinds = {name: info.kind for name, info in self.data.fields.items()}
        student_side = "+".join(dict.fromkeys(kinds[name] for name in self.cfg.student.fields))
        teacher_side = "+".join(dict.fromkeys(kinds[name] for name in self.cfg.teacher.fields))
        return {"samples": int(student.shape[0]), "student_modalities": student_side,
                "teacher_modalities": teacher_side,
                f"{student_side}->{teacher_side}": recall_at_k(student, teacher),
                f"{teacher_side}->{student_side}": recall_at_k(teacher, student)}

    # ------------------------------------------------------------------ checkpoints and summary

    def _save_last(self, stage: str, learners: list[_Learner], epochs_done: int, batches_done: int, stage_done: bool,
                   best: dict[str, _Best], bad_epochs: int, elapsed: float) -> None:
        """The resume point: ``<stage>-last.pt`` holds the whole training state of the stage.

        Called on every rank: under torchrun each rank's RNG state is gathered, so that a resume gives
        each rank its own stream back; then rank 0 writes the file."""
        if self._dist.enabled:
            rng = {"rng_by_rank": distributed.all_ranks(distributed.rng_state(self.device), self._dist)}
        else:
            rng = {"rng": rng_state()}
        if not self._dist.is_main:
            return
        main = learners[0]
        metrics = self._results.get(main.name, {}).get("final", {})
        training = {
            "stage": stage, "epochs_done": epochs_done, "batches_done": batches_done, "stage_done": stage_done,
            "step": self._step, "learners": {learner.name: learner.state() for learner in learners},
            "best": {name: dataclasses.asdict(value) for name, value in best.items()}, "bad_epochs": bad_epochs,
            **rng, "world_size": self._dist.world_size, "results": copy.deepcopy(self._results),
            "timings": {**self._timings, stage: self._timings.get(stage, 0.0) + elapsed,
                        "total": self._timings.get("total", 0.0) + time.perf_counter() - self._fit_started},
            "events_offset": self._writer.events_offset(),
        }
        if stage == "student":
            training["objective"] = self.objective.state_dict()
            if self.baseline is not None:
                training["baseline_model"] = cpu_state(self.baseline)
                # The baseline's own file, for loading it as a network (the resume state is in student-last).
                save_checkpoint(checkpoint_file(self.run_dir, "baseline", "last"), {
                    "net": "baseline", "which": "last", "model": training["baseline_model"], "epoch": epochs_done,
                    "metrics": self._results.get("baseline", {}).get("final", {})})
        save_checkpoint(checkpoint_file(self.run_dir, stage, "last"), {
            "net": main.name, "which": "last", "model": cpu_state(main.network), "epoch": epochs_done,
            "metrics": metrics, "training": training})

    def _paired_tests(self) -> dict[str, dict[str, Any] | None]:
        """Student against baseline on the same validation samples (engine/stats.py), at the last epoch and
        between the best checkpoints (each chosen by the same rule on its own validation figures)."""
        student, baseline = self._results.get("student", {}), self._results.get("baseline", {})
        tests: dict[str, dict[str, Any] | None] = {"last": None, "best": None}
        if student.get("final_predicted") is None or baseline.get("final_predicted") is None:
            return tests
        labels = self.data.val.labels
        tests["last"] = paired_test(labels, student["final_predicted"], baseline["final_predicted"], self.class_names)
        best_student, best_baseline = student["best"], baseline["best"]
        if best_student.get("predicted") is not None and best_baseline.get("predicted") is not None:
            tests["best"] = {**paired_test(labels, best_student["predicted"], best_baseline["predicted"],
                                           self.class_names),
                             "student_epoch": best_student["epoch"], "baseline_epoch": best_baseline["epoch"]}
        return tests

    def _add_time(self, key: str, seconds: float) -> None:
        self._timings[key] = self._timings.get(key, 0.0) + seconds

    def _summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        summary: dict[str, Any] = {"status": status, **self._summary_base}
        metric = self.cfg.train.early_stopping_metric
        for net, result in self._results.items():
            best = result.get("best") or {}
            entry = dict(result.get("final", {}))
            for key in dict.fromkeys(("val_accuracy", "val_macro_f1", "val_loss", self.task.main_metric)):
                if key in best.get("metrics", {}):
                    entry[f"best_{key}"] = best["metrics"][key]
            entry["best_epoch"] = best.get("epoch")
            entry["best_metric"] = metric
            entry["last_epoch"] = result.get("final_epoch")
            summary[net] = entry
        summary["task"] = self.cfg.data.task
        summary["gain_metric"] = self.task.main_metric
        if self._retrieval is not None:
            summary["retrieval"] = self._retrieval
        # The one definition of the run's result (engine/result.py), best and last, gain under each.
        summary["result"] = run_result(summary, self._paired_tests()).to_dict()
        summary["timings"] = {key: round(value, 3) for key, value in self._timings.items()}
        summary["error"] = error
        return summary


def _main_net(stage: str) -> str:
    return "teacher" if stage == "teacher" else "student"


def _optimizer_step(learner: _Learner, loss: torch.Tensor, grad_clip: float) -> None:
    optimizer, scaler = learner.optimizer, learner.scaler
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(learner.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(learner.parameters(), grad_clip)
        optimizer.step()
    learner.scheduler.step()


def _default_name(cfg: ExperimentConfig) -> str:
    return "-".join(name for name, term in cfg.loss.terms().items() if term.weight > 0)


def _versions() -> dict[str, str]:
    try:
        workbench_version = importlib.metadata.version("workbench")
    except importlib.metadata.PackageNotFoundError:
        workbench_version = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "workbench": workbench_version}


def _check_fields(cfg: ExperimentConfig, fields: dict[str, Any]) -> None:
    """An unknown field in a network's list is a user error, named before any preprocessing is fitted."""
    for net in CONFIGURED_NETS:
        for name in getattr(cfg, net).fields:
            if name not in fields:
                raise ConfigError(f"{net}.fields: the dataset has no field '{name}'. Its fields: "
                                  f"{', '.join(fields) or 'none'}.", f"{net}.fields")
