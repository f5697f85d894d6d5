"""Per-encoder training: a frozen encoder keeps its weights and BatchNorm statistics while the head trains;
``lr_scale`` gives an encoder its own learning-rate multiplier."""

from __future__ import annotations

import tomllib

import pytest
import torch

from workbench.config import EncoderConfig, config_from_dict, config_to_toml
from workbench.engine.hooks import Callback
from workbench.engine.learner import build_learner
from workbench.engine.models import parameter_groups
from workbench.engine.trainer import Trainer
from workbench.engine.config_validation import validate_config

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def test_a_frozen_teacher_encoder_keeps_its_weights_while_its_head_trains(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["image"].train = "frozen"
    cfg.teacher.encoders["image"].params.update(depth=2)  # BatchNorm layers whose statistics must not move
    before = {}

    class Snapshot(Callback):
        def on_fit_start(self, payload):
            teacher = trainer.teacher
            before.update(image=_state(teacher.encoders["image"]), text=_state(teacher.encoders["text"]),
                          classifier=_state(teacher.classifier))

    trainer = Trainer(cfg, callbacks=[Snapshot()])
    summary = trainer.fit()
    assert summary["status"] == "finished" and summary["teacher"]["val_accuracy"] is not None
    frozen_after = trainer.teacher.encoders["image"].state_dict()
    assert before["image"].keys() == frozen_after.keys() and any("running_mean" in k for k in frozen_after)
    for key, value in before["image"].items():
        assert torch.equal(value, frozen_after[key]), key  # weights and BatchNorm running statistics
    for part in ("text", "classifier"):  # the rest of the teacher did train
        after = getattr(trainer.teacher, "classifier") if part == "classifier" else trainer.teacher.encoders[part]
        assert any(not torch.equal(value, after.state_dict()[key]) for key, value in before[part].items()), part


def test_lr_scale_gives_an_encoder_its_own_learning_rate(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)
    cfg.teacher.encoders["text"].lr_scale = 0.1
    trainer = Trainer(cfg)
    trainer._prepare()  # builds the networks, as fit() does first
    groups = parameter_groups([trainer.teacher])
    assert [group["lr_scale"] for group in groups] == [1.0, 0.1]
    text_params = {id(p) for p in trainer.teacher.encoders["text"].parameters()}
    assert {id(p) for p in groups[1]["params"]} == text_params
    learner = build_learner("teacher", trainer.teacher, [trainer.teacher], cfg.train, trainer.device,
                            steps_per_epoch=4, epochs=1)
    assert [group["lr"] for group in learner.optimizer.param_groups] == pytest.approx([1e-3, 1e-4])
    assert len(parameter_groups([trainer.student])) == 1  # nothing scaled: one group, as before


def test_training_settings_round_trip_and_are_checked():
    cfg = config_from_dict({"teacher": {"fields": ["image"], "encoders": {
        "image": {"type": "cnn", "width": 4, "train": "frozen", "lr_scale": 0.5}}}})
    encoder = cfg.teacher.encoders["image"]
    assert (encoder.train, encoder.lr_scale, encoder.params) == ("frozen", 0.5, {"width": 4})
    table = tomllib.loads(config_to_toml(cfg))["teacher"]["encoders"]["image"]
    assert table == {"type": "cnn", "width": 4, "train": "frozen", "lr_scale": 0.5}
    cfg.teacher.encoders["image"] = EncoderConfig("cnn", {}, train="thawed", lr_scale=0.0)
    issues = {issue.key: issue.message for issue in validate_config(cfg)}
    assert issues["teacher.encoders.image.train"] == "'thawed' is not one of: full, frozen."
    assert issues["teacher.encoders.image.lr_scale"] == "must be greater than 0, got 0."
