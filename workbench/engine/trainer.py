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
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from workbench.config import ExperimentConfig, config_to_dict, save_config
from workbench.data import check_dataset, make_loader
from workbench.engine import distributed
from workbench.engine.batches import EpochBatches, derived_seed, epoch_batches, train_loader
from workbench.engine.budget import check_fits_memory
from workbench.engine.checkpoint import checkpoint_file, cpu_state, load_checkpoint, rng_state, save_network
from workbench.engine.config_validation import check_config
from workbench.engine.device import autocast, cpu_threads, device_name, resolve_cpu_threads
from workbench.engine.failures import TrainingDiverged, check_finite, is_out_of_memory, out_of_memory
from workbench.engine.hooks import Callback, CallbackList
from workbench.engine.learner import Learner, StudentWithObjective, build_learner
from workbench.engine.loggers import experiment_loggers
from workbench.engine.losses import describe_objective
from workbench.engine.models import set_train_mode
from workbench.engine.run_setup import build_networks, metric_context, prepare_run_data, write_run_inputs
from workbench.engine.run_summary import environment_versions, paired_tests, record_validation, run_summary
from workbench.engine.runs import RunWriter, create_run_dir
from workbench.engine.resume_state import (generator_states, open_for_resume, restore_stage, resumed_networks_config,
                                           set_generator_states)
from workbench.engine.teacher_cache import TeacherOutputCache, teacher_cache_for
from workbench.engine.tasks import get_task
from workbench.engine.teacher_reuse import check_teacher_reuse, load_reused_teacher, resolve_teacher_source
from workbench.engine.validation import (Best, epoch_metrics, evaluate, retrieval_metrics, shared_embeddings,
                                         validation_payload)
from workbench.errors import WorkbenchError

TEACHER_TERMS = ("ce",)  # the teacher stage's loss: supervised only


class Trainer:
    """Trains one run. ``fit()`` returns the summary; ``request_stop()`` may be called from any thread.

    The run folder (``run_dir``) exists right after construction. Callbacks receive the
    hooks of docs/architecture.md; the run folder's own writer is called first.
    """

    def __init__(self, cfg: ExperimentConfig, callbacks: Iterable[Callback] = (), runs_dir: str | Path | None = None):
        self._dist = distributed.current()
        cfg = check_config(cfg.copy())
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
        path, cfg, resume_from, previous_summary = open_for_resume(run_dir, context)
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
        self._results: dict[str, dict[str, Any]] = {}  # per network, as run_summary.record_validation keeps them
        self.data = None  # prepared by fit()
        self.class_names: list[str] = []
        self._retrieval: dict[str, Any] | None = None
        self.task = get_task(self.cfg.data.task)
        self._timings: dict[str, float] = {}
        self._summary_base: dict[str, Any] = {"run_dir": str(self.run_dir), "name": self.run_dir.name,
                                              "objective": describe_objective(self.cfg.loss)}

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
            error = caught
            if is_out_of_memory(caught):
                error = out_of_memory(caught, getattr(self, "device", None), self._stage, self._position,
                                      self.cfg.train.batch_size, self.run_dir)
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
        self.device = distributed.rank_device(cfg.train.device, self._dist)
        report = self._report or check_dataset(cfg.data.root, cfg.data, cfg.train.seed)
        resumed_dir = self.run_dir if self._resume is not None else None
        self.data = data = prepare_run_data(cfg, report, self._previous_summary.get("dataset_fingerprint"), resumed_dir)
        self.class_names = list(data.class_names)
        self._metric_context = metric_context(data, self.class_names)
        specs = data.preprocessing.input_specs()
        num_classes = len(self.class_names)
        # A resumed run builds its library models from its own copies (the checkpoints hold the weights).
        net_cfg = cfg if self._resume is None else resumed_networks_config(cfg, self.run_dir, self._resume["stage"])
        check_fits_memory(net_cfg, specs, num_classes, self.device, len(data.train), self.task.spatial)
        networks = build_networks(net_cfg, specs, num_classes, self.task.spatial, self.device)
        self.teacher, self.student, self.baseline, self.objective = networks
        self._stages = ["student"] if self._teacher_source else ["teacher", "student"]
        if self._teacher_source:
            load_reused_teacher(self._teacher_source, self.teacher, data.fingerprint, self.class_names)
            if self._dist.is_main:  # this run's teacher-best.pt, which the results and inference read
                source = self._teacher_source
                save_network(self.run_dir, "teacher", "best", cpu_state(self.teacher),
                             source["checkpoint"].get("epoch"), source["checkpoint"].get("metrics", {}),
                             source=str(source["path"]))
        if self._dist.is_main:
            write_run_inputs(self.run_dir, data, networks)
        self._val_loader = make_loader(data.val, cfg.train.batch_size, False, cfg.train.seed, cfg.data.num_workers)
        self._summary_base.update({
            "device": str(self.device), "device_name": device_name(self.device), "precision": cfg.train.precision,
            "cpu_threads": torch.get_num_threads(), "world_size": self._dist.world_size,
            "versions": environment_versions(), "dataset_fingerprint": data.fingerprint,
            "class_names": self.class_names, "params": networks.parameter_counts(), "stages": self._stages,
            "teacher_source": str(self._teacher_source["run_dir"]) if self._teacher_source else None,
        })
        if self._resume is not None:
            self._results = copy.deepcopy(self._resume["results"])

    def _stage_epochs(self, stage: str) -> int:
        train = self.cfg.train
        return (train.teacher_epochs or train.epochs) if stage == "teacher" else train.epochs

    def _train_batches(self, stage: str, epoch: int) -> list[list[int]]:
        """This epoch's batches of dataset positions (batches.epoch_batches)."""
        return epoch_batches(self.cfg.train.seed, stage, epoch, len(self.data.train), self.cfg.train.batch_size,
                             self._dist)

    def _fit_start_payload(self) -> dict[str, Any]:
        steps = {stage: len(self._train_batches(stage, 1)) for stage in self._stages}
        return {"run_dir": str(self.run_dir), "config": config_to_dict(self.cfg), "device": str(self.device),
                "device_name": self._summary_base["device_name"], "class_names": self.class_names,
                "fields": {name: info.kind for name, info in self.data.fields.items()},
                "params": self._summary_base["params"], "stages": list(self._stages),
                "epochs": {stage: self._stage_epochs(stage) for stage in self._stages},
                "steps_per_epoch": steps, "resumed": self._resume is not None,
                "loss_terms": {stage: self._loss_terms(stage) for stage in self._stages},
                "trained_nets": {stage: self._trained_nets(stage) for stage in self._stages},
                "summary": self._summary("running")}

    def _loss_terms(self, stage: str) -> list[str]:
        """The terms of a stage's train_batch ``losses``, "total" last (the live plots draw them from the start)."""
        return [*(TEACHER_TERMS if stage == "teacher" else self.objective.terms), "total"]

    def _trained_nets(self, stage: str) -> list[str]:
        """The nets a stage trains: its train_batch ``train_accuracy`` and its validation ``metrics`` keys."""
        return ["teacher"] if stage == "teacher" else ["student"] + (["baseline"] if self.baseline is not None else [])

    # ------------------------------------------------------------------ one stage

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

        def learner(name: str, network: nn.Module, modules: list[nn.Module]) -> Learner:
            return build_learner(name, network, modules, self.cfg.train, self.device, steps_per_epoch, epochs)

        if stage == "teacher":
            learners = [learner("teacher", self.teacher, [self.teacher])]
        else:
            self.teacher.eval().requires_grad_(False)
            self._teacher_cache = teacher_cache_for(
                self.cfg, [self.data.fields[name].kind for name in self.cfg.teacher.fields],
                self.objective.requires_teacher, len(self.data.report.index.samples), self.run_dir)
            learners = [learner("student", self.student, [self.student, self.objective])]
            if self.baseline is not None:
                learners.append(learner("baseline", self.baseline, [self.baseline]))
        main = learners[0]
        metric = self.cfg.train.early_stopping_metric
        best = {learner.name: Best() for learner in learners}
        bad_epochs = 0
        epochs_done = batches_done = 0
        stage_done = False
        if resume is not None:
            state = restore_stage(resume["checkpoint"], learners, self.objective, self.baseline, self._dist,
                                  self.device)
            best = {name: Best(**values) for name, values in state["best"].items()}
            bad_epochs, epochs_done, batches_done = state["bad_epochs"], state["epochs_done"], state["batches_done"]
            stage_done, self._step = state["stage_done"], state["step"]
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
                StudentWithObjective(self.student, self.objective, self.task), self.device, self._dist)}
            if self.baseline is not None:
                self._train_modules["baseline"] = distributed.wrap(self.baseline, self.device, self._dist)

        self._hooks.call("on_stage_start", {"stage": stage, "epochs": epochs, "start_epoch": epochs_done,
                                            "steps_per_epoch": steps_per_epoch})
        self._teacher_val = (self._evaluate({"teacher": self.teacher})
                             if stage == "student" and self._dist.is_main else None)
        sampler = EpochBatches()
        loader = train_loader(self.data.train, sampler, self.cfg.data.num_workers, self.device, self.cfg.train.seed)

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

    def _train_step(self, stage: str, learners: list[Learner], batch: dict[str, torch.Tensor], epoch: int,
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
            terms = {name: {"raw": loss, "weighted": loss} for name in TEACHER_TERMS}
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
        check_finite(term_values, loss_values, self.run_dir, stage, self._step, epoch, batch_number)

        for learner, (_, value) in zip(learners, losses):
            learner.step(value, self.cfg.train.grad_clip)
        accuracies = values[2 * len(terms) + len(losses):]
        payload = {"stage": stage, "epoch": epoch, "batch": batch_number, "batches": batches, "step": self._step,
                   "samples": int(labels.shape[0]) * self._dist.world_size, "lr": lr,
                   "losses": {**term_values, "total": loss_values[learners[0].name]},
                   "train_accuracy": dict(zip(outputs, accuracies))}
        if "baseline" in loss_values:
            payload["baseline_loss"] = loss_values["baseline"]
        return payload

    # ------------------------------------------------------------------ validation

    def _evaluate(self, networks: dict[str, nn.Module]) -> dict[str, Any]:
        return evaluate(networks, self._val_loader, self.task, self._metric_context, self.device,
                        self.cfg.train.precision)

    def _validation_epoch(self, stage: str, learners: list[Learner], epoch: int, best: dict[str, Best],
                          metric: str) -> bool:
        """Validate, log, save the best checkpoints; True when the stage's main network improved."""
        validated = self._evaluate({learner.name: learner.network for learner in learners})
        if stage == "student":
            validated["teacher"] = self._teacher_val["teacher"]
        metrics, predicted = epoch_metrics(validated, self.task)
        improved = {}
        for learner in learners:
            value = metrics[learner.name][metric]
            improved[learner.name] = best[learner.name].improves(value, metric)
            if improved[learner.name]:
                best[learner.name] = Best(value, epoch, metrics[learner.name], predicted[learner.name])
                save_network(self.run_dir, learner.name, "best", cpu_state(learner.network), epoch,
                             metrics[learner.name])
        record_validation(self._results, metrics, predicted, best, epoch, metric)
        payload = validation_payload(stage, epoch, self._step, validated, metrics, predicted, self.task,
                                     self.class_names)
        if stage == "student" and "contrastive" in self.objective.terms:
            shared = shared_embeddings(self.objective.terms["contrastive"], validated)
            payload["predictions"].update({f"{net}_shared": values for net, values in shared.items()})
            kinds = {name: info.kind for name, info in self.data.fields.items()}
            self._retrieval = payload["retrieval"] = retrieval_metrics(shared, kinds, self.cfg.student.fields,
                                                                       self.cfg.teacher.fields)
        for learner in learners:
            set_train_mode(learner.network)
        self._hooks.call("on_validation_end", payload)
        return improved[learners[0].name]

    # ------------------------------------------------------------------ checkpoints and summary

    def _save_last(self, stage: str, learners: list[Learner], epochs_done: int, batches_done: int, stage_done: bool,
                   best: dict[str, Best], bad_epochs: int, elapsed: float) -> None:
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
                save_network(self.run_dir, "baseline", "last", training["baseline_model"], epochs_done,
                             self._results.get("baseline", {}).get("final", {}))
        save_network(self.run_dir, main.name, "last", cpu_state(main.network), epochs_done, metrics, training=training)

    def _add_time(self, key: str, seconds: float) -> None:
        self._timings[key] = self._timings.get(key, 0.0) + seconds

    def _summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        labels = self.data.val.labels if self.data is not None else None
        return run_summary(status, self._summary_base, self._results, self.task, self.cfg.train.early_stopping_metric,
                           self._retrieval, paired_tests(self._results, labels, self.class_names), self._timings, error)


def _default_name(cfg: ExperimentConfig) -> str:
    return "-".join(name for name, term in cfg.loss.terms().items() if term.weight > 0)
