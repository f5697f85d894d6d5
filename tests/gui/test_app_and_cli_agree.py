"""The app's training worker and ``workbench train`` give the same numbers for the same config and seed.

They once did not: the app trained on 1 CPU thread and the CLI on every core, and the thread
count changes the order of floating-point sums. Both now use ``train.cpu_threads``, resolved
once and recorded in the run.
"""

from __future__ import annotations

import torch

from workbench.cli import main as cli_main
from workbench.config import save_config
from workbench.engine.runs import list_runs
from workbench.gui.run_session import RunSession
from workbench.gui.worker import _EmittingCallback


def test_the_app_worker_and_the_cli_give_identical_metrics(make_tiny_config, qtbot, tmp_path, monkeypatch):
    config = make_tiny_config(epochs=2)
    config.train.cpu_threads = 2
    config.train.runs_dir = str(tmp_path / "app-runs")

    seen: list[int] = []  # torch's thread count in the thread that trains, at each batch
    forward = _EmittingCallback.on_event

    def counting(self, record: dict) -> None:
        if record["event"] == "train_batch":
            seen.append(torch.get_num_threads())
        forward(self, record)

    monkeypatch.setattr(_EmittingCallback, "on_event", counting)
    session = RunSession()
    with qtbot.waitSignal(session.run_finished, timeout=60_000) as finished:
        session.start(config)
    qtbot.waitUntil(lambda: not session.is_running(), timeout=10_000)
    session.shutdown()
    app_summary = finished.args[0]
    assert set(seen) == {2}  # set in the worker thread itself, where torch's thread count applies

    path = tmp_path / "exp.toml"
    save_config(config, path)
    assert cli_main(["train", str(path), "--quiet", "--out", str(tmp_path / "cli-runs")]) == 0
    (cli_run,) = list_runs(tmp_path / "cli-runs")
    cli_summary = cli_run.summary

    assert app_summary["cpu_threads"] == cli_summary["cpu_threads"] == 2
    assert cli_run.config.train.cpu_threads == 2
    assert app_summary["result"] == cli_summary["result"]
    for net in ("teacher", "student", "baseline"):
        assert app_summary[net] == cli_summary[net]


def test_the_default_thread_count_is_resolved_and_recorded(make_tiny_config, tmp_path):
    from workbench.engine.trainer import Trainer

    trainer = Trainer(make_tiny_config(epochs=1))
    (record,) = list_runs(trainer.run_dir.parent)
    assert record.config.train.cpu_threads >= 1  # 0 ("cores less one") is written as the number used
