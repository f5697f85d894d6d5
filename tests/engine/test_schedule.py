"""The Training tab's learning-rate preview is the trainer's schedule: compared with the LR a real run applied.

The preview once re-implemented the schedule and drifted (step decayed one step early, cosine
was off by up to 2 % with warm-up); it now calls engine.schedule, which the trainer's scheduler uses.
"""

from __future__ import annotations

import pytest

from workbench.engine.hooks import Callback
from workbench.engine.schedule import learning_rate_curve
from workbench.engine.trainer import Trainer

from tiny_runs import tiny_config, write_tiny_dataset


class StudentRates(Callback):
    def __init__(self):
        self.rates: list[float] = []
        self.steps_per_epoch = 0

    def on_stage_start(self, payload) -> None:
        if payload["stage"] == "student":
            self.steps_per_epoch = payload["steps_per_epoch"]

    def on_train_batch_end(self, payload) -> None:
        if payload["stage"] == "student":
            self.rates.append(payload["lr"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("schedule") / "data")


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_the_preview_gives_the_rate_of_every_step_the_trainer_takes(schedule, dataset, tmp_path):
    """With a warm-up epoch: the warm-up, the hand-over and the schedule's own shape are all compared."""
    config = tiny_config(dataset, tmp_path / "runs", epochs=3, teacher_epochs=1)
    config.train.schedule, config.train.warmup_epochs, config.train.step_size, config.train.gamma = \
        schedule, 1, 1, 0.5
    config.train.baseline = False
    recorder = StudentRates()
    Trainer(config, callbacks=[recorder]).fit()

    positions, preview = learning_rate_curve(config.train, recorder.steps_per_epoch)
    assert len(preview) == len(recorder.rates) == 3 * recorder.steps_per_epoch
    assert preview == pytest.approx(recorder.rates, rel=1e-12)
    assert positions[-1] == 3.0
