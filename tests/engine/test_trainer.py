"""The trainer on a tiny real dataset: hook order, determinism, stop and exact resume, NaN stop, teacher reuse.

The helpers at the top (the ``tiny_dataset`` fixture, ``Recorder``) are imported by the
other engine test modules.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.config import NETS, ExperimentConfig
from workbench.engine import losses
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.hooks import HOOKS, Callback
from workbench.engine.runs import RunRecord, load_network
from workbench.engine.schedule import lr_factor
from workbench.engine.failures import TrainingDiverged
from workbench.engine.trainer import Trainer
from workbench.errors import ConfigError, WorkbenchError

from tiny_runs import tiny_config, write_tiny_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")


class Recorder(Callback):
    """Records every hook call as (hook, payload); optionally stops the run at a given batch."""

    def __init__(self, stop_at: tuple[str, int, int] | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.stop_at = stop_at
        self.trainer: Trainer | None = None

    def _record(self, hook: str, payload: dict) -> None:
        self.calls.append((hook, payload))
        if hook == "on_train_batch_end" and self.stop_at == (payload["stage"], payload["epoch"], payload["batch"]):
            self.trainer.request_stop()

    def hooks(self) -> list[str]:
        return [hook for hook, _ in self.calls]


def _recording(hook: str):
    def method(self, payload: dict) -> None:
        self._record(hook, payload)
    return method


for _hook in HOOKS:
    setattr(Recorder, _hook, _recording(_hook))


def net_metrics(summary: dict) -> dict:
    return {net: summary[net] for net in NETS} | {"result": summary["result"]}


def assert_plain(value, where="payload"):
    """Hook payloads hold plain data only: no tensors, no objects."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), where
            assert_plain(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            assert_plain(item, where)
    elif isinstance(value, np.ndarray):
        assert value.dtype != object, where
    else:
        assert value is None or isinstance(value, (bool, int, float, str)), f"{where} is {type(value)}"


@pytest.fixture(scope="module")
def finished_run(tiny_dataset, tmp_path_factory):
    """One uninterrupted run, recorded."""
    recorder = Recorder()
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path_factory.mktemp("runs")), callbacks=[recorder])
    summary = trainer.fit()
    return trainer, recorder, summary


def test_hooks_are_called_in_order_with_plain_payloads(finished_run):
    trainer, recorder, summary = finished_run
    hooks = recorder.hooks()
    steps = recorder.calls[0][1]["steps_per_epoch"]
    teacher = ["on_train_batch_end"] * steps["teacher"] + ["on_validation_end"]
    student = ["on_train_batch_end"] * steps["student"] + ["on_validation_end"]
    assert hooks == (["on_fit_start", "on_stage_start", *teacher, "on_stage_end", "on_stage_start", *student,
                      *student, "on_stage_end", "on_fit_end"])
    for _, payload in recorder.calls:
        assert_plain(payload)
    first_batch = next(p for h, p in recorder.calls if h == "on_train_batch_end" and p["stage"] == "student")
    assert set(first_batch["losses"]) == {"ce", "kd", "total"}
    assert set(first_batch["train_accuracy"]) == {"student", "baseline"} and "baseline_loss" in first_batch
    validation = [p for h, p in recorder.calls if h == "on_validation_end"][-1]
    assert set(validation["metrics"]) == {"student", "baseline"}  # the frozen teacher is in its own stage
    assert set(validation["predictions"]) >= {"teacher_probs", "student_probs", "baseline_probs"}
    assert "agreement" in validation["metrics"]["student"]
    fit_start = recorder.calls[0][1]  # it announces, per stage, what every batch and validation then reports
    for hook, payload in recorder.calls:
        if hook == "on_train_batch_end":
            assert list(payload["losses"]) == fit_start["loss_terms"][payload["stage"]]
            assert list(payload["train_accuracy"]) == fit_start["trained_nets"][payload["stage"]]
        elif hook == "on_validation_end":
            assert list(payload["metrics"]) == fit_start["trained_nets"][payload["stage"]]
    assert validation["distillation_gain"] == pytest.approx(
        validation["metrics"]["student"]["val_accuracy"] - validation["metrics"]["baseline"]["val_accuracy"])
    count = len(validation["predictions"]["index"])
    assert validation["predictions"]["student_probs"].shape == (count, 3)
    assert validation["predictions"]["teacher_embedding"].shape == (count, 16)
    assert summary["status"] == "finished" and trainer.run_dir == Path(summary["run_dir"])


def test_the_live_plots_plan_names_the_series_the_events_fill(finished_run):
    from workbench.gui.history import RunHistory  # Qt-free: what the app's live plots create ahead of the data

    events = RunRecord.open(finished_run[0].run_dir).events()
    filled = RunHistory()
    for event in events:
        filled.add_event(event)
    assert RunHistory.planned_series(events[0]) == list(filled.series)


def test_the_run_folder_holds_what_the_hooks_saw(finished_run):
    trainer, recorder, summary = finished_run
    record = RunRecord.open(trainer.run_dir)
    events = record.events()
    assert [e["event"] for e in events] == [
        {"on_fit_start": "fit_start", "on_stage_start": "stage_start", "on_train_batch_end": "train_batch",
         "on_validation_end": "validation", "on_stage_end": "stage_end", "on_fit_end": "fit_end"}[hook]
        for hook in recorder.hooks()]
    assert record.summary == json.loads(json.dumps(summary))
    assert record.status == "finished" and record.config.train.epochs == 2
    assert record.prediction_epochs("teacher") == [1] and record.prediction_epochs("student") == [1, 2]
    validation = [p for h, p in recorder.calls if h == "on_validation_end"][-1]
    saved = record.predictions("student", 2)
    for key, array in validation["predictions"].items():
        np.testing.assert_array_equal(saved[key], array)
    samples = record.samples()
    assert [s["index"] for s in samples] == saved["index"].tolist()
    for net in NETS:
        for which in ("best", "last"):
            assert record.checkpoint_path(net, which).is_file()

    # The best student, rebuilt from the folder, predicts what was logged at its best epoch.
    network, preprocessing, class_names, config = load_network(trainer.run_dir, "student", "best")
    best_epoch = summary["student"]["best_epoch"]
    from workbench.engine.inference import encode_batch, raw_value

    items = [{"image": raw_value(preprocessing, "image", s["values"]["image"])} for s in samples]
    with torch.no_grad():
        probs = torch.softmax(network(encode_batch(preprocessing, ["image"], items)).logits, 1).numpy()
    np.testing.assert_allclose(probs, record.predictions("student", best_epoch)["student_probs"], atol=1e-5)
    assert class_names == summary["class_names"]


def test_same_config_and_seed_give_the_same_metrics(finished_run, tiny_dataset, tmp_path):
    _, _, first = finished_run
    second = Trainer(tiny_config(tiny_dataset, tmp_path)).fit()
    assert net_metrics(second) == net_metrics(first)
    assert second["dataset_fingerprint"] == first["dataset_fingerprint"]


@pytest.mark.parametrize("stop_at", [("teacher", 1, 2), ("student", 2, 3)])
def test_a_stopped_run_resumes_to_the_uninterrupted_result(finished_run, tiny_dataset, tmp_path, stop_at):
    _, uninterrupted, expected = finished_run
    recorder = Recorder(stop_at=stop_at)
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path), callbacks=[recorder])
    recorder.trainer = trainer
    stopped = trainer.fit()
    assert stopped["status"] == "stopped"

    # The stop came within one batch: no batch after the one that asked.
    batches = [p for h, p in recorder.calls if h == "on_train_batch_end"]
    assert (batches[-1]["stage"], batches[-1]["epoch"], batches[-1]["batch"]) == stop_at
    assert recorder.hooks()[-2:] == ["on_stage_end", "on_fit_end"]
    assert recorder.calls[-2][1]["stopped"] is True
    assert RunRecord.open(trainer.run_dir).status == "stopped"

    resumed_recorder = Recorder()
    resumed = Trainer.resume(trainer.run_dir, callbacks=[resumed_recorder]).fit()
    assert resumed["status"] == "finished"
    assert net_metrics(resumed) == net_metrics(expected)
    assert resumed_recorder.calls[0][1]["resumed"] is True
    first_batch = next(p for h, p in resumed_recorder.calls if h == "on_train_batch_end")
    assert (first_batch["stage"], first_batch["epoch"], first_batch["batch"]) == (stop_at[0], stop_at[1],
                                                                                  stop_at[2] + 1)
    # The resumed run's losses are the uninterrupted run's, batch for batch.
    expected_losses = {(p["stage"], p["step"]): p["losses"] for h, p in uninterrupted.calls
                       if h == "on_train_batch_end"}
    for hook, payload in resumed_recorder.calls:
        if hook == "on_train_batch_end":
            assert payload["losses"] == expected_losses[(payload["stage"], payload["step"])]
    # metrics.jsonl reads as one run: every batch once, then the resumed fit_start marker in between.
    events = RunRecord.open(trainer.run_dir).events()
    steps = [(e["stage"], e["step"]) for e in events if e["event"] == "train_batch"]
    assert steps == sorted(set(steps), key=steps.index) and len(steps) == len(expected_losses)
    assert [e["event"] for e in events].count("fit_start") == 2


def test_a_killed_run_resumes_from_its_last_checkpoint(finished_run, tiny_dataset, tmp_path):
    """A run that dies without a word (here: an interrupt no one handles) keeps "running" in its summary;
    resuming drops the events logged after its last checkpoint and ends as the uninterrupted run."""

    class Kill(Callback):
        def on_train_batch_end(self, payload):
            if (payload["stage"], payload["epoch"], payload["batch"]) == ("student", 2, 2):
                raise KeyboardInterrupt

    _, _, expected = finished_run
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path), callbacks=[Kill()])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert json.loads((trainer.run_dir / "summary.json").read_text(encoding="utf-8"))["status"] == "running"
    resumed = Trainer.resume(trainer.run_dir).fit()
    assert net_metrics(resumed) == net_metrics(expected)
    steps = [(e["stage"], e["step"]) for e in RunRecord.open(trainer.run_dir).events() if e["event"] == "train_batch"]
    assert len(steps) == len(set(steps))


def test_request_stop_from_another_thread_ends_the_run_after_the_current_batch(tiny_dataset, tmp_path):
    class StopFromThread(Callback):
        def on_train_batch_end(self, payload):
            batches.append(payload["batch"])
            if payload["batch"] == 1:
                thread = threading.Thread(target=trainer.request_stop)
                thread.start()
                thread.join()

    batches: list[int] = []
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path), callbacks=[StopFromThread()])
    summary = trainer.fit()
    assert summary["status"] == "stopped" and batches == [1]
    state = load_checkpoint(trainer.run_dir / "checkpoints" / "teacher-last.pt")["training"]
    assert (state["epochs_done"], state["batches_done"]) == (0, 1)


def test_a_nan_loss_stops_the_run_naming_the_term_and_step(tiny_dataset, tmp_path, monkeypatch):
    original = losses.Objective.forward
    calls = []
    bad_step = 6  # the 2nd batch of the student's 2nd epoch (4 batches per epoch)

    def forward_with_nan(self, student_out, teacher_out, batch):
        total, terms = original(self, student_out, teacher_out, batch)
        calls.append(1)
        if len(calls) == bad_step:
            nan = terms["kd"]["raw"] * float("nan")
            terms["kd"] = {"raw": nan, "weighted": nan}
            total = total + nan
        return total, terms

    monkeypatch.setattr(losses.Objective, "forward", forward_with_nan)
    recorder = Recorder()
    trainer = Trainer(tiny_config(tiny_dataset, tmp_path), callbacks=[recorder])
    last = trainer.run_dir / "checkpoints" / "student-last.pt"
    with pytest.raises(TrainingDiverged, match=rf"'kd' became nan at step {bad_step} ") as raised:
        trainer.fit()
    assert "student-last.pt" in str(raised.value)
    assert recorder.hooks()[-1] == "on_exception"
    assert recorder.calls[-1][1]["step"] == bad_step and recorder.calls[-1][1]["stage"] == "student"
    # The last good checkpoint (end of epoch 1) is kept and still loads.
    assert load_checkpoint(last)["training"]["epochs_done"] == 1
    record = RunRecord.open(trainer.run_dir)
    assert record.summary["status"] == "failed" and "'kd'" in record.summary["error"]
    assert "TrainingDiverged" in (trainer.run_dir / "error.txt").read_text(encoding="utf-8")
    assert record.events()[-1]["event"] == "exception"


def test_a_reused_teacher_is_loaded_frozen_and_checked(finished_run, tiny_dataset, tmp_path):
    source, _, source_summary = finished_run
    config = tiny_config(tiny_dataset, tmp_path, epochs=1)
    config.teacher.checkpoint = str(source.run_dir)
    config.teacher.embed_dim = 99  # replaced by the source run's architecture
    recorder = Recorder()
    trainer = Trainer(config, callbacks=[recorder])
    summary = trainer.fit()
    assert summary["stages"] == ["student"] and summary["teacher_source"] == str(source.run_dir)
    assert summary["teacher"]["val_accuracy"] == source_summary["teacher"]["val_accuracy"]
    assert RunRecord.open(trainer.run_dir).config.teacher.embed_dim == 16
    assert not any(p.get("stage") == "teacher" for h, p in recorder.calls if h == "on_train_batch_end")
    assert load_network(trainer.run_dir, "teacher")[0] is not None

    other_seed = tiny_config(tiny_dataset, tmp_path)
    other_seed.teacher.checkpoint = str(source.run_dir / "checkpoints" / "teacher-best.pt")
    other_seed.train.seed = 1
    with pytest.raises(ConfigError, match="train.seed was 0 there and is 1 here") as raised:
        Trainer(other_seed)
    assert "validation samples may have been in the teacher's training set" in str(raised.value)
    not_a_teacher = tiny_config(tiny_dataset, tmp_path)
    not_a_teacher.teacher.checkpoint = str(source.run_dir / "checkpoints" / "student-best.pt")
    with pytest.raises(ConfigError, match="not a teacher"):
        Trainer(not_a_teacher)


def test_an_unknown_field_is_a_user_error(tiny_dataset, tmp_path):
    config = tiny_config(tiny_dataset, tmp_path)
    config.student.fields = ["depth"]
    with pytest.raises(WorkbenchError, match="the dataset has no field 'depth'. Its fields: image, text"):
        Trainer(config).fit()


def test_lr_schedules_warm_up_then_follow_their_shape():
    train = ExperimentConfig().train
    train.warmup_epochs, train.schedule, train.step_size, train.gamma = 1, "step", 2, 0.5
    factors = [lr_factor(step, 4, 6, train) for step in range(24)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4:12] == [1.0] * 8 and factors[12:20] == [0.5] * 8 and factors[20:] == [0.25] * 4
    train.schedule = "cosine"
    cosine = [lr_factor(step, 4, 6, train) for step in range(24)]
    assert cosine[4] == 1.0 and all(a > b for a, b in zip(cosine[4:], cosine[5:])) and cosine[-1] < 0.01
    train.schedule, train.warmup_epochs = "constant", 0
    assert {lr_factor(step, 4, 6, train) for step in range(24)} == {1.0}


def test_early_stopping_ends_a_stage_that_stopped_improving(tiny_dataset, tmp_path):
    config = tiny_config(tiny_dataset, tmp_path, epochs=1, teacher_epochs=6)
    config.train.lr = 1e-12  # nothing changes, so nothing improves after the first epoch
    config.train.early_stopping_patience = 2
    recorder = Recorder()
    summary = Trainer(config, callbacks=[recorder]).fit()
    teacher_end = next(p for h, p in recorder.calls if h == "on_stage_end" and p["stage"] == "teacher")
    assert teacher_end["early_stopped"] and not teacher_end["stopped"] and teacher_end["epochs_run"] == 3
    assert teacher_end["best"] == {"metric": "val_accuracy", "value": summary["teacher"]["val_accuracy"], "epoch": 1}
    assert summary["status"] == "finished" and summary["stages"] == ["teacher", "student"]


@pytest.mark.parametrize("precision, optimizer, schedule", [("bf16", "sgd", "cosine"), ("fp16", "adamw", "step")])
def test_reduced_precision_optimizers_and_schedules_train(tiny_dataset, tmp_path, precision, optimizer, schedule):
    config = tiny_config(tiny_dataset, tmp_path, epochs=2)
    config.train.precision, config.train.optimizer, config.train.schedule = precision, optimizer, schedule
    config.train.warmup_epochs, config.train.grad_clip, config.train.step_size = 1, 1.0, 1
    recorder = Recorder()
    trainer = Trainer(config, callbacks=[recorder])
    summary = trainer.fit()
    assert summary["status"] == "finished" and summary["precision"] == precision
    lrs = [p["lr"] for h, p in recorder.calls if h == "on_train_batch_end" and p["stage"] == "student"]
    assert lrs[0] == pytest.approx(config.train.lr / 4) and lrs[3] == pytest.approx(config.train.lr)
    # Epoch 2 is the first after warm-up: cosine decays within it, step only after it (step_size 1).
    assert (lrs[-1] < config.train.lr) if schedule == "cosine" else (lrs[-1] == pytest.approx(config.train.lr))
    state = load_checkpoint(trainer.run_dir / "checkpoints" / "student-last.pt")["training"]["learners"]["student"]
    assert (state["scaler"] is not None) == (precision == "fp16")


def test_devices_resolve_or_explain():
    from workbench.engine.device import resolve_device

    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_a_teacher_trained_on_other_data_is_refused_before_any_run_folder(finished_run, tmp_path):
    from workbench.data import check_dataset, write_sample_dataset
    from workbench.engine.trainer import check_teacher_reuse

    source, _, _ = finished_run
    other_data = write_sample_dataset(tmp_path / "other", classes=3, per_class=12, image_size=16, seed=5)
    config = tiny_config(other_data, tmp_path / "runs", epochs=1)
    config.teacher.checkpoint = str(source.run_dir)
    report = check_dataset(other_data, config.data, 0)
    with pytest.raises(ConfigError, match="trained on other data") as raised:
        check_teacher_reuse(config.copy(), report)  # what the app asks when the teacher is chosen
    assert raised.value.key == "teacher.checkpoint"
    with pytest.raises(ConfigError, match="trained on other data"):
        Trainer(config)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no failed run left
