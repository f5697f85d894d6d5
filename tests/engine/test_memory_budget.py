"""A run too big for the machine is refused before it starts, with the estimate and the limit."""

from __future__ import annotations

import pytest
import torch

from workbench.data import prepare_data
from workbench.engine import budget
from workbench.engine.models import build_network, count_parameters
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.errors import ConfigError

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config


def test_the_estimate_counts_the_parameters_a_real_build_has(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs")
    data = prepare_data(cfg.data, 0)
    specs, classes = data.preprocessing.input_specs(), len(data.class_names)
    teacher_stage, student_stage = budget.estimate_run(cfg, specs, classes, batch_size=8)
    assert teacher_stage[0].parameters == count_parameters(build_network(cfg.teacher, specs, classes, "teacher"))
    assert [net.name for net in student_stage] == ["teacher", "student", "baseline"]
    # Adam: weights, gradients and two moments, 4 bytes each; activations grow with the batch.
    assert teacher_stage[0].parameter_bytes == teacher_stage[0].parameters * 16
    bigger = budget.estimate_run(cfg, specs, classes, batch_size=16)[0][0]
    assert bigger.activation_bytes == 2 * teacher_stage[0].activation_bytes > 0


@pytest.mark.parametrize("override, key", [("batch_size", "train.batch_size"), ("width", "student")])
def test_a_run_over_the_memory_limit_is_refused_naming_what_to_shrink(tiny_dataset, tmp_path, monkeypatch,
                                                                      override, key):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs")
    if override == "width":  # a 16384 x 16384 projection: 268 M parameters
        cfg.student.fusion_hidden = cfg.student.embed_dim = 16384
    else:
        cfg.train.batch_size = 36
    limit = 1 << 19 if override == "batch_size" else 1 << 30
    monkeypatch.setattr(budget, "memory_limit", lambda device: (limit, "the test's limit"))
    trainer = Trainer(cfg)
    with pytest.raises(ConfigError) as caught:
        trainer.fit()
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: this run needs about ")
    assert f"more than the {budget._size(limit)} of the test's limit" in str(caught.value)
    assert RunRecord.open(trainer.run_dir).status == "failed"


def test_sizes_beyond_any_tensor_are_a_config_error_not_a_torch_error(tiny_dataset, tmp_path):
    cfg = tiny_config(tiny_dataset, tmp_path / "runs")
    cfg.student.encoders["image"].params.update(width=65536, depth=40)
    data = prepare_data(cfg.data, 0)
    with pytest.raises(ConfigError) as caught:
        budget.check_fits_memory(cfg, data.preprocessing.input_specs(), 3, torch.device("cpu"), 8)
    assert caught.value.key == "student" and "cannot be built with these sizes" in str(caught.value)
