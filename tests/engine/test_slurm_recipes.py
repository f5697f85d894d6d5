"""The SLURM recipes of docs/distributed.md, run as far as one machine allows (docs/slurm/try_locally.py).

The train recipe's torchrun line runs for real with two CPU processes (Gloo) on this node. The
study recipe's two-task run takes about a minute here and is a documented, measured run in
docs/distributed.md instead of a test; its refusal of a spec without a shared storage is tested.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from workbench.config import config_to_toml
from workbench.engine.runs import list_runs

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config

_SPEC = importlib.util.spec_from_file_location(
    "try_locally", Path(__file__).resolve().parents[2] / "docs" / "slurm" / "try_locally.py")
try_locally = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(try_locally)


def test_train_recipe_runs_its_torchrun_line_with_two_processes(tiny_dataset, tmp_path):
    config = tiny_config(tiny_dataset, tmp_path / "runs", epochs=1, teacher_epochs=1)
    (tmp_path / "exp.toml").write_text(config_to_toml(config), encoding="utf-8")
    env = try_locally.standin_env(tmp_path / "bin", tasks=1, gpus=2)  # one node, two processes on it
    done = try_locally.run_recipe("train.sbatch", ["exp.toml", "--quiet"], env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = list_runs(tmp_path / "runs")
    assert run.status == "finished" and run.summary["world_size"] == 2


@pytest.mark.parametrize("spec", ['base = "exp.toml"\nseeds = 2\n',
                                  'name = "kd"\nbase = "exp.toml"\nseeds = 2\n'])
def test_study_recipe_refuses_a_spec_without_a_name_and_a_shared_storage(tmp_path, spec):
    (tmp_path / "sweep.toml").write_text(spec, encoding="utf-8")
    env = try_locally.standin_env(tmp_path / "bin", tasks=2)
    done = try_locally.run_recipe("study.sbatch", ["sweep.toml"], env, cwd=tmp_path, timeout=60)
    assert done.returncode != 0
    assert "give the study a name and a storage every node reaches" in done.stderr
    assert not (tmp_path / "runs").exists()  # no task started
