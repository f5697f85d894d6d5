"""Cross-modal retrieval: Recall@K by hand, and in the summary of a run with the contrastive term."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_runs import tiny_config, write_tiny_dataset

from workbench.engine.metrics import recall_at_k
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.gui.results.selection import PredictionSet, epoch_metrics


def test_recall_at_k_against_a_hand_ranking():
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    # Queries 0 and 1 find their own row first (cosine 1). Query 2 = (1, 1) has cosine 0.707 with
    # rows 0 and 1 and 0 with its match, row 2: its match ranks third.
    recalls = recall_at_k(queries, gallery, ks=(1, 2, 3))
    assert recalls == pytest.approx({"R@1": 2 / 3, "R@2": 2 / 3, "R@3": 1.0})


def test_recall_counts_ties_against_the_query():
    same = np.ones((3, 2))
    assert recall_at_k(same, same, ks=(1, 3)) == {"R@1": 0.0, "R@3": 1.0}


def test_a_run_with_the_contrastive_term_reports_retrieval(tmp_path):
    config = tiny_config(write_tiny_dataset(tmp_path / "data"), tmp_path / "runs", epochs=1)
    config.loss.contrastive.weight = 0.5
    trainer = Trainer(config)
    summary = trainer.fit()
    retrieval = summary["retrieval"]
    assert retrieval["samples"] == len(json.loads((trainer.run_dir / "samples.json").read_text()))
    assert set(retrieval) == {"samples", "student_modalities", "teacher_modalities", "image->image+text",
                              "image+text->image"}
    for direction in ("image->image+text", "image+text->image"):
        values = retrieval[direction]
        assert 0.0 <= values["R@1"] <= values["R@5"] <= values["R@10"] <= 1.0
    # The Results view computes the same figures from the epoch's saved arrays.
    record = RunRecord.open(trainer.run_dir)
    last = PredictionSet.from_arrays("student", 1, record.predictions("student", 1))
    shown = epoch_metrics(last)
    assert shown["student"]["retrieval_r5"] == retrieval["image->image+text"]["R@5"]
    assert shown["teacher"]["retrieval_r1"] == retrieval["image+text->image"]["R@1"]


def test_no_retrieval_without_a_shared_space(tmp_path):
    config = tiny_config(write_tiny_dataset(tmp_path / "data"), tmp_path / "runs", epochs=1)
    assert "retrieval" not in Trainer(config).fit()
