"""Student and baseline are paired: with every distillation weight at 0 they are the same network trained the same way."""

from __future__ import annotations

import numpy as np

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
    assert summary["distillation_gain"] == 0.0


def test_with_distillation_on_the_student_and_baseline_differ(tiny_dataset, tmp_path):
    """The test above is not trivially true: the paired networks part as soon as the KD term is on."""
    config = _ce_only(tiny_dataset, tmp_path)
    config.loss.kd.weight = 1.0
    recorder = Recorder()
    Trainer(config, callbacks=[recorder]).fit()
    last = _validations(recorder)[-1]["predictions"]
    assert not np.array_equal(last["student_probs"], last["baseline_probs"])
