"""TensorBoard and MLflow loggers on a tiny real run, offline; a failing logger never stops training."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from workbench.engine.loggers import BackgroundLogger, experiment_loggers
from workbench.engine.loggers.mlflow_logger import flatten
from workbench.engine.loggers.scalars import event_scalars
from workbench.engine.loggers.tensorboard_logger import TensorBoardBackend
from workbench.engine.result import run_result
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.config import LogConfig

from tiny_runs import tiny_config, write_tiny_dataset

# The MLflow logger exports the student with TorchScript, which torch announces as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

EPOCHS, TEACHER_EPOCHS = 2, 1


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory) -> tuple[Path, Path]:
    """One tiny run with TensorBoard and MLflow (a local file store) on: (run folder, MLflow store)."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("logged")
    config = tiny_config(write_tiny_dataset(root / "data"), root / "runs", epochs=EPOCHS, teacher_epochs=TEACHER_EPOCHS)
    config.log.tensorboard = True
    store = root / "mlruns"
    config.log.mlflow_uri = store.as_uri()
    config.log.mlflow_experiment = "tiny"
    trainer = Trainer(config)
    assert trainer.fit()["status"] == "finished"
    return trainer.run_dir, store


def _steps(run_dir: Path, stage: str) -> tuple[int, int]:
    """(train batches, validations) of a stage, from the run's own metrics.jsonl."""
    events = RunRecord.open(run_dir).events()
    return (sum(e["event"] == "train_batch" and e["stage"] == stage for e in events),
            sum(e["event"] == "validation" and e["stage"] == stage for e in events))


def test_tensorboard_event_files_have_the_expected_tags_and_steps(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = logged_run
    for stage, nets in (("teacher", ["teacher"]), ("student", ["student", "baseline"])):
        events = EventAccumulator(str(run_dir / "tb" / stage), size_guidance={"scalars": 0, "images": 0})
        events.Reload()
        tags = events.Tags()
        batches, validations = _steps(run_dir, stage)
        assert batches > 0 and validations == (TEACHER_EPOCHS if stage == "teacher" else EPOCHS)
        assert [s.step for s in events.Scalars("loss/total")] == list(range(1, batches + 1))
        assert len(events.Scalars("lr")) == batches
        assert len(events.Scalars("loss/ce")) == batches
        for net in nets:
            assert len(events.Scalars(f"val_accuracy/{net}")) == validations
            assert len(events.Scalars(f"train_accuracy/{net}")) == batches
            assert len(events.Images(f"confusion/{net}")) == validations
        assert len(events.Images("gallery")) == validations
        assert "config/text_summary" in tags["tensors"]
        projector = (run_dir / "tb" / stage / "projector_config.pbtxt").read_text()
        for net in ("teacher", *nets):
            if stage == "student" or net == "teacher":
                assert f'tensor_name: "{net}_embedding' in projector
    student = EventAccumulator(str(run_dir / "tb" / "student"), size_guidance={"scalars": 0})
    student.Reload()
    assert {"loss/kd", "loss_weighted/kd", "loss/baseline", "distillation_gain"} <= set(student.Tags()["scalars"])
    last = run_result(RunRecord.open(run_dir).summary)
    assert student.Scalars("distillation_gain")[-1].value == pytest.approx(last.gain["last"], abs=1e-6)
    assert student.Scalars("distillation_gain_interval/low")[-1].value == pytest.approx(
        last.paired_test["last"]["interval"][0], abs=1e-6)
    assert not (run_dir / "warnings.txt").exists()


def test_mlflow_file_store_has_params_metrics_tags_and_artifacts(logged_run):
    from mlflow.tracking import MlflowClient

    run_dir, store = logged_run
    client = MlflowClient(tracking_uri=store.as_uri())
    experiment = client.get_experiment_by_name("tiny")
    (run,) = client.search_runs([experiment.experiment_id])
    summary = RunRecord.open(run_dir).summary
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.params["train.batch_size"] == "8"
    assert run.data.params["loss.kd.temperature"] == "4.0"
    assert run.data.params["student.fields"] == '["image"]'
    assert run.data.tags["workbench.objective"] == summary["objective"]
    assert run.data.tags["workbench.dataset_fingerprint"] == summary["dataset_fingerprint"]
    batches, validations = _steps(run_dir, "student")
    history = client.get_metric_history(run.info.run_id, "student/loss/total")
    assert sorted(m.step for m in history) == list(range(1, batches + 1))
    assert len(client.get_metric_history(run.info.run_id, "student/val_accuracy/baseline")) == validations
    result = run_result(summary)
    for selection in ("best", "last"):
        assert run.data.metrics[f"summary/{selection}/distillation_gain"] == pytest.approx(result.gain[selection])
        assert run.data.metrics[f"summary/{selection}/student/val_accuracy"] == pytest.approx(
            result.net(selection, "student").accuracy)
        assert run.data.metrics[f"summary/{selection}/distillation_gain_mcnemar_p"] == pytest.approx(
            result.paired_test[selection]["mcnemar_p"])
    artifacts = {a.path for folder in ("", "checkpoints", "export")
                 for a in client.list_artifacts(run.info.run_id, folder or None)}
    assert {"config.toml", "summary.json", "checkpoints/student-best.pt", "export/student.pt",
            "export/student.json"} <= artifacts


def test_failing_loggers_leave_training_alone_with_one_warning_each(tmp_path, monkeypatch, caplog):
    """TensorBoard's writes raise at the first validation; MLflow's server does not answer."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    calls = []

    def broken_validation(self, payload, wall_time):
        calls.append(payload["epoch"])
        raise OSError("No space left on device")

    monkeypatch.setattr(TensorBoardBackend, "_validation", broken_validation)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    config = tiny_config(write_tiny_dataset(tmp_path / "data"), tmp_path / "runs")
    config.log.tensorboard = True
    config.log.mlflow_uri = "http://127.0.0.1:9"  # the discard port: nothing listens there
    with caplog.at_level(logging.WARNING, logger="workbench"):
        trainer = Trainer(config)
        summary = trainer.fit()
    assert summary["status"] == "finished"
    assert calls == [1]  # after its first failure a logger is called no more
    warnings = (trainer.run_dir / "warnings.txt").read_text().splitlines()
    assert len(warnings) == 2
    assert any("TensorBoard logging stopped" in line and "No space left on device" in line for line in warnings)
    assert any("MLflow logging stopped" in line for line in warnings)
    assert len([r for r in caplog.records if "logging stopped" in r.getMessage()]) == 2


def test_a_missing_package_is_one_warning_naming_the_extra(tmp_path, monkeypatch, caplog):
    for name in [name for name in sys.modules if name == "mlflow" or name.startswith("mlflow.")] + ["mlflow"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: importing it raises ImportError
    (logger,) = experiment_loggers(LogConfig(mlflow_uri="http://127.0.0.1:9"), tmp_path)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        logger.on_fit_start({})
        logger.on_fit_end({"status": "finished", "summary": {}})
    assert isinstance(logger, BackgroundLogger) and logger.failed
    (line,) = (tmp_path / "warnings.txt").read_text().splitlines()
    assert "pip install 'workbench[mlflow]'" in line
    assert [r.getMessage() for r in caplog.records] == [line.split("  ", 1)[1]]


def test_scalar_names_and_flattened_params():
    batch = {"losses": {"ce": {"raw": 1.0, "weighted": 1.0}, "kd": {"raw": 0.5, "weighted": 0.25}, "total": 1.25},
             "baseline_loss": 1.1, "train_accuracy": {"student": 0.5, "baseline": 0.4}, "lr": 0.001}
    assert dict(event_scalars("train_batch", batch)) == {
        "loss/ce": 1.0, "loss_weighted/ce": 1.0, "loss/kd": 0.5, "loss_weighted/kd": 0.25, "loss/total": 1.25,
        "loss/baseline": 1.1, "train_accuracy/student": 0.5, "train_accuracy/baseline": 0.4, "lr": 0.001}
    assert flatten({"train": {"lr": 0.001, "name": ""}, "data": {"grayscale": [], "field_types": {}},
                    "teacher": {"encoders": {"image": {"type": "cnn", "width": 4}}}}) == {
        "train.lr": "0.001", "train.name": "", "data.grayscale": "[]", "data.field_types": "{}",
        "teacher.encoders.image.type": "cnn", "teacher.encoders.image.width": "4"}


def test_a_resumed_run_continues_its_tensorboard_steps_and_its_mlflow_run(tmp_path):
    """Stopped in the student stage and resumed: every step once in TensorBoard, one MLflow run, finished."""
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from test_trainer import Recorder

    config = tiny_config(write_tiny_dataset(tmp_path / "data"), tmp_path / "runs", epochs=2, teacher_epochs=1)
    config.log.tensorboard = True
    config.log.mlflow_uri = (tmp_path / "mlruns").as_uri()
    recorder = Recorder(stop_at=("student", 2, 1))
    trainer = recorder.trainer = Trainer(config, callbacks=[recorder])
    assert trainer.fit()["status"] == "stopped"
    assert Trainer.resume(trainer.run_dir).fit()["status"] == "finished"

    batches, _ = _steps(trainer.run_dir, "student")
    events = EventAccumulator(str(trainer.run_dir / "tb" / "student"), size_guidance={"scalars": 0})
    events.Reload()
    assert sorted(s.step for s in events.Scalars("loss/total")) == list(range(1, batches + 1))
    client = MlflowClient(tracking_uri=config.log.mlflow_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("workbench").experiment_id])
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "student/loss/total")
    assert sorted(m.step for m in history) == list(range(1, batches + 1))
