"""Student and baseline are paired: with every distillation weight at 0 they are the same network trained the
same way; with distillation on, every validation and summary.json carry the paired test of the gain."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer

from test_trainer import Recorder, tiny_dataset  # noqa: F401  (the session fixture)
from tiny_runs import tiny_config


def _validations(recorder: Recorder) -> list[dict]:
    return [payload for hook, payload in recorder.calls if hook == "on_validation_end" and payload["stage"] == "student"]


def _ce_only(tiny_dataset, runs_dir):
    config = tiny_config(tiny_dataset, runs_dir, epochs=3)
    for name, term in config.loss.terms().items():
        term.weight = 0.7 if name == "ce" else 0.0  # a CE weight other than 1: the baseline uses it too
    config.data.augment = True
    assert config.student.dropout > 0  # the default dropout, whose masks must be shared
    return config


def test_with_every_distillation_weight_at_zero_the_gain_is_exactly_zero(tiny_dataset, tmp_path):
    recorder = Recorder()
    summary = Trainer(_ce_only(tiny_dataset, tmp_path), callbacks=[recorder]).fit()
    validations = _validations(recorder)
    assert len(validations) == 3
    for payload in validations:
        assert payload["distillation_gain"] == 0.0
        predictions = payload["predictions"]
        np.testing.assert_array_equal(predictions["student_probs"], predictions["baseline_probs"])
    batches = [payload for hook, payload in recorder.calls if hook == "on_train_batch_end" and payload["stage"] == "student"]
    assert all(payload["losses"]["total"] == payload["baseline_loss"] for payload in batches)
    assert summary["result"]["best"]["distillation_gain"] == summary["result"]["last"]["distillation_gain"] == 0.0
    assert summary["result"]["last"]["paired_test"]["mcnemar_p"] == 1.0


def _by_hand(labels, student_pred, baseline_pred):
    """Discordant counts and the two-sided exact binomial p-value, written out."""
    b = sum(1 for y, s, t in zip(labels, student_pred, baseline_pred) if s == y and t != y)
    c = sum(1 for y, s, t in zip(labels, student_pred, baseline_pred) if t == y and s != y)
    n = b + c
    p = 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n)
    return b, c, p


def test_with_distillation_on_every_validation_and_the_summary_carry_the_paired_test(tiny_dataset, tmp_path):
    """Not trivially the same (the networks part once the KD term is on), and the tests match a hand computation."""
    config = _ce_only(tiny_dataset, tmp_path)
    config.loss.kd.weight = 1.0
    recorder = Recorder()
    trainer = Trainer(config, callbacks=[recorder])
    trainer.fit()
    validations = _validations(recorder)
    last = validations[-1]["predictions"]
    assert not np.array_equal(last["student_probs"], last["baseline_probs"])

    record = RunRecord.open(trainer.run_dir)
    summary = json.loads(Path(trainer.run_dir, "summary.json").read_text())
    logged = [event for event in record.events() if event["event"] == "validation" and event["stage"] == "student"]
    for payload, event in zip(validations, logged, strict=True):
        predictions = payload["predictions"]
        labels = predictions["label"]
        student, baseline = predictions["student_probs"].argmax(1), predictions["baseline_probs"].argmax(1)
        b, c, p = _by_hand(labels, student, baseline)
        test = event["paired_test"]
        assert (test["student_only"], test["baseline_only"], test["samples"]) == (b, c, len(labels))
        assert test["mcnemar_p"] == p
        assert test["gain"] == (b - c) / len(labels) == payload["distillation_gain"]
        low, high = test["interval"]
        assert low <= test["gain"] <= high
        for index, name in enumerate(record.summary["class_names"]):
            members = labels == index
            by_hand = (student[members] == index).mean() - (baseline[members] == index).mean()
            assert test["per_class_gain"][name] == by_hand
    assert summary["result"]["last"]["paired_test"] == logged[-1]["paired_test"]

    best = summary["result"]["best"]["paired_test"]
    files = {net: record.predictions("student", summary[net]["best_epoch"]) for net in ("student", "baseline")}
    student = files["student"]["student_probs"].argmax(1)
    baseline = files["baseline"]["baseline_probs"].argmax(1)
    b, c, p = _by_hand(files["student"]["label"], student, baseline)
    assert (best["student_only"], best["baseline_only"], best["mcnemar_p"]) == (b, c, p)
    assert (best["student_epoch"], best["baseline_epoch"]) == (summary["student"]["best_epoch"],
                                                               summary["baseline"]["best_epoch"])
