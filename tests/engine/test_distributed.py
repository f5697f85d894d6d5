"""Training under torchrun: two real CPU processes (Gloo) train one run; rank 0 alone writes it.

Also the pieces the trainer builds it from: each rank's share of an epoch, and the single-process
no-ops that keep training without torchrun exactly what it was.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.config import NETS, ExperimentConfig, config_to_toml
from workbench.data import check_dataset
from workbench.engine import distributed
from workbench.engine.distributed import DistributedContext
from workbench.engine.runs import RunRecord, list_runs

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config


@pytest.fixture
def torchrun():
    """Starts ``torchrun --standalone`` (rendezvous on a free local port) of ``workbench train`` with two
    ranks of one thread each; whatever is still running at the end of the test is terminated."""
    launchers: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        launchers.append(subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "workbench",
             "train", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return launchers[-1]

    yield start
    for launcher in launchers:
        if launcher.poll() is None:
            launcher.terminate()  # torchrun passes SIGTERM on to its ranks
            launcher.communicate(timeout=60)


def finish(launcher: subprocess.Popen) -> tuple[int, str, str]:
    out, err = launcher.communicate(timeout=90)
    return launcher.returncode, out, err


@pytest.fixture
def config_file(tiny_dataset, tmp_path):
    path = tmp_path / "exp.toml"
    config = tiny_config(tiny_dataset, tmp_path / "runs", epochs=2, teacher_epochs=1)
    config.train.batch_size = 4
    path.write_text(config_to_toml(config), encoding="utf-8")
    return path


def test_two_processes_train_one_run_that_rank_0_writes(torchrun, config_file, tmp_path, tiny_dataset):
    train_samples = len(check_dataset(tiny_dataset, ExperimentConfig().data, seed=0).splits["train"])
    per_rank_batches = math.ceil(math.ceil(train_samples / 2) / 4)
    runs = tmp_path / "out"
    code, out, err = finish(torchrun(str(config_file), "--quiet", "--out", str(runs)))
    assert code == 0, err  # torchrun exits 0 only when every rank did

    (record,) = list_runs(runs)  # one folder: the other rank wrote none
    summary = record.summary
    assert summary["status"] == "finished" and summary["world_size"] == 2
    for net in NETS:
        for key in ("val_accuracy", "best_val_accuracy", "val_macro_f1"):
            assert 0.0 <= summary[net][key] <= 1.0
        assert np.isfinite(summary[net]["val_loss"])
    assert out.count("status: finished") == 1  # rank 0 alone prints the summary table

    events = list(record.events())
    assert [e["event"] for e in events].count("fit_start") == 1  # one writer
    batches = [e for e in events if e["event"] == "train_batch"]
    # Each rank trains on half of the training samples, in batches of 4; samples count the global batch.
    rank_batches = range(1, per_rank_batches + 1)
    assert [(e["stage"], e["epoch"], e["batch"]) for e in batches] == [
        ("teacher", 1, b) for b in rank_batches] + [("student", e, b) for e in (1, 2) for b in rank_batches]
    assert all(e["batches"] == per_rank_batches for e in batches)
    assert all(e["samples"] == 8 for e in batches if e["batch"] < per_rank_batches)
    assert all(np.isfinite(e["losses"]["total"]) and 0.0 <= e["train_accuracy"]["student" if e["stage"] ==
               "student" else "teacher"] <= 1.0 for e in batches)
    assert record.prediction_epochs("student") == [1, 2]
    predictions = record.predictions("student", 2)  # rank 0 validated the whole validation set
    assert sorted(predictions["index"].tolist()) == sorted(s["index"] for s in record.samples())
    assert (record.path / "checkpoints" / "student-best.pt").is_file()


def test_a_stop_on_one_rank_stops_every_rank_and_the_run_resumes_with_two_processes(torchrun, config_file,
                                                                                    tmp_path):
    runs = tmp_path / "out"
    config_file.write_text(config_file.read_text(encoding="utf-8").replace("epochs = 2", "epochs = 8"),
                           encoding="utf-8")
    launcher = torchrun(str(config_file), "--quiet", "--out", str(runs))
    deadline = time.monotonic() + 60
    while not any(e["event"] == "train_batch" and e["stage"] == "student" for e in _events(runs)):
        assert launcher.poll() is None and time.monotonic() < deadline, "the run ended or hung before stage 2"
        time.sleep(0.05)
    # A Ctrl-C that reaches rank 1 alone: rank 0 (which writes the run) must learn of it and stop too,
    # rather than wait forever for rank 1 in the next gradient all-reduce.
    os.kill(_rank_pid(launcher, 1), signal.SIGINT)
    code, _, err = finish(launcher)
    assert code != 0  # torchrun reports the ranks' exit status, 130
    assert "exitcode  : 130" in err  # a clean stop: the first rank to exit did not fail, nor hang until killed
    (record,) = list_runs(runs)
    assert record.status == "stopped" and record.summary["world_size"] == 2
    assert "--resume" in err

    code, out, err = finish(torchrun("--resume", str(record.path), "--quiet"))
    assert code == 0, err
    record = RunRecord.open(record.path)
    assert record.summary["status"] == "finished" and record.summary["world_size"] == 2
    assert record.prediction_epochs("student") == list(range(1, 9))
    assert "status: finished" in out


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int:
    """The process id of one rank among torchrun's children (Linux: /proc)."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    for pid in children:
        if f"RANK={rank}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return int(pid)
    raise AssertionError(f"no rank {rank} among torchrun's children {children}")


def _events(runs) -> list[dict]:
    paths = list(runs.glob("*/metrics.jsonl")) if runs.exists() else []
    if not paths:
        return []
    lines = paths[0].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a line being written is skipped


@pytest.mark.parametrize("size, world_size", [(10, 2), (10, 3), (2, 4)])
def test_each_rank_takes_an_equal_share_that_wraps_around(size, world_size):
    order = list(range(size))
    shares = [distributed.shard(order, DistributedContext(rank, rank, world_size)) for rank in range(world_size)]
    assert len({len(share) for share in shares}) == 1  # equal: every rank runs as many batches
    assert sorted(set().union(*shares)) == order  # every sample is trained on
    assert sum(map(len, shares)) - size < world_size  # padded by fewer than one sample a rank


def test_one_process_is_left_as_it_was():
    single = distributed.current()
    assert not single.enabled and single.is_main
    order = [3, 1, 2]
    assert distributed.shard(order, single) is order
    values = torch.tensor([1.0, float("nan")])
    assert distributed.mean_over_ranks(values, single) is values
    module = torch.nn.Linear(2, 2)
    assert distributed.wrap(module, torch.device("cpu"), single) is module
