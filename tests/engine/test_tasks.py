"""The VQA and segmentation tasks: per-pixel KD and mIoU against hand computations, tiny runs end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from tiny_runs import shrink_networks

from workbench.config import DataConfig, LossConfig, default_config
from workbench.data import check_dataset
from workbench.data.sample_tasks import write_segmentation_sample, write_vqa_sample
from workbench.engine.export import export_run
from workbench.engine.inference import Predictor
from workbench.engine.losses import Objective, ObjectiveContext
from workbench.engine.metrics import segmentation_metrics
from workbench.engine.models import NetworkOutput
from workbench.engine.runs import RunRecord
from workbench.engine.tasks import IGNORE_INDEX, get_task, per_image_iou
from workbench.engine.trainer import Trainer


def test_pixel_kd_is_t_squared_kl_per_pixel_averaged_over_the_scored_pixels():
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 3, 2, 2), torch.randn(2, 3, 2, 2)
    labels = torch.tensor([[[0, 1], [2, IGNORE_INDEX]], [[1, 1], [IGNORE_INDEX, 0]]])
    temperature = 2.0
    expected, pixels = 0.0, 0
    for b in range(2):
        for y in range(2):
            for x in range(2):
                if labels[b, y, x] == IGNORE_INDEX:
                    continue
                p = [math.exp(v / temperature) for v in teacher[b, :, y, x].tolist()]
                q = [math.exp(v / temperature) for v in student[b, :, y, x].tolist()]
                p = [v / sum(p) for v in p]
                q = [v / sum(q) for v in q]
                expected += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
                pixels += 1
    expected = temperature**2 * expected / pixels

    loss_cfg = LossConfig()
    loss_cfg.ce.weight, loss_cfg.kd.weight, loss_cfg.kd.temperature = 0.0, 1.0, temperature
    objective = Objective(loss_cfg, ObjectiveContext(num_classes=3, teacher_dim=4, student_dim=4))
    view = get_task("segmentation").loss_view(NetworkOutput(student, torch.zeros(2, 4)),
                                              NetworkOutput(teacher, torch.zeros(2, 4)), {"label": labels})
    _, terms = objective(*view)
    assert terms["kd"]["raw"].item() == pytest.approx(expected, rel=1e-5)


def test_miou_pixel_accuracy_and_per_class_iou_against_a_hand_count():
    labels = np.array([[[0, 0, 1], [1, 2, IGNORE_INDEX]]])
    masks = np.array([[[0, 1, 1], [1, 0, 2]]])
    # Scored pixels (5): truth 0,0,1,1,2 vs prediction 0,1,1,1,0.
    # class 0: intersection 1, union |{0,1,4}| = 3 -> 1/3; class 1: 2 / 3; class 2: 0 / 1.
    metrics = segmentation_metrics(labels, masks, 4, IGNORE_INDEX, ["bg", "a", "b", "c"])
    assert metrics["val_iou/bg"] == pytest.approx(1 / 3)
    assert metrics["val_iou/a"] == pytest.approx(2 / 3)
    assert metrics["val_iou/b"] == 0.0
    assert "val_iou/c" not in metrics  # in neither truth nor prediction: undefined, left out of the mean
    assert metrics["val_miou"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert metrics["val_accuracy"] == pytest.approx(3 / 5)
    assert per_image_iou(labels, masks, 4) == pytest.approx([(1 / 3 + 2 / 3) / 3])


def tiny_task_config(dataset, runs_dir, task):
    config = default_config(check_dataset(dataset, DataConfig(task=task), seed=0))
    shrink_networks(config, runs_dir, epochs=1, teacher_epochs=1)
    return config


def test_a_tiny_vqa_run_reports_answer_accuracy_per_question_type(tmp_path):
    dataset = write_vqa_sample(tmp_path / "vqa", scenes=40, image_size=16)
    config = tiny_task_config(dataset, tmp_path / "runs", "vqa")
    assert config.student.fields == ["image", "question"] and "caption" in config.teacher.fields
    trainer = Trainer(config)
    summary = trainer.fit()
    student = summary["student"]
    assert {"val_accuracy/colour", "val_accuracy/count", "val_accuracy/shape", "val_accuracy/exists"} <= set(student)
    samples = json.loads((trainer.run_dir / "samples.json").read_text())
    assert all(sample["meta"]["question_type"] for sample in samples)
    assert summary["gain_metric"] == "val_accuracy"
    predictor = Predictor.from_run(trainer.run_dir)
    answer = predictor.predict({"image": samples[0]["values"]["image"], "question": "how many shapes are there?"})
    assert set(answer) == {"student", "baseline"} and answer["student"].shape == (len(summary["class_names"]),)
    exported = export_run(trainer.run_dir, "torchscript", "student")  # the answer's logits, one per class
    meta = json.loads(exported.with_suffix(".json").read_text())
    assert meta["task"] == "vqa" and meta["fields"] == ["image", "question"]
    assert meta["output_shape"] == ["batch", len(summary["class_names"])]


def test_a_tiny_segmentation_run_scores_masks(tmp_path):
    dataset = write_segmentation_sample(tmp_path / "seg", scenes=24, image_size=16)
    config = tiny_task_config(dataset, tmp_path / "runs", "segmentation")
    config.loss.feature.weight = 0.5  # the hint between the spatial maps
    trainer = Trainer(config)
    summary = trainer.fit()
    assert summary["gain_metric"] == "val_miou"
    for net in ("teacher", "student", "baseline"):
        assert 0.0 <= summary[net]["val_miou"] <= 1.0 and "val_iou/background" in summary[net]
    gain = summary["result"]["last"]["distillation_gain"]
    assert gain == pytest.approx(summary["student"]["val_miou"] - summary["baseline"]["val_miou"])
    arrays = RunRecord.open(trainer.run_dir).predictions("student", 1)
    assert arrays["student_mask"].dtype == np.uint8 and arrays["student_mask"].shape == arrays["label"].shape
    assert arrays["label"].shape[1:] == (16, 16)
    # Export returns the mask logits; Try it's predictor gives per-pixel probabilities.
    exported = export_run(trainer.run_dir, "torchscript", "student")
    meta = json.loads(exported.with_suffix(".json").read_text())
    assert meta["task"] == "segmentation" and meta["output_shape"] == ["batch", 5, 16, 16]
    sample = json.loads((trainer.run_dir / "samples.json").read_text())[0]
    probabilities = Predictor.from_run(trainer.run_dir).predict({"image": sample["values"]["image"], "text": "the star"})
    assert probabilities["teacher"].shape == (5, 16, 16) and probabilities["student"].shape == (5, 16, 16)
    assert np.allclose(probabilities["student"].sum(0), 1.0, atol=1e-5)
