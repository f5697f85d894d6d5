"""Studies: `workbench train --seeds`, `workbench study` with a grid over two processes, a killed study resumed,
failed trials, spec errors. The statistics in study.json are checked against the runs' own summaries."""

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

from workbench.cli import main
from workbench.config import config_to_toml
from workbench.engine import losses
from workbench.engine.runs import RunRecord
from workbench.engine.study import STUDY_FILE, list_studies, load_spec
from workbench.errors import ConfigError

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tiny_dataset, tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(config_to_toml(tiny_config(tiny_dataset, tmp_path / "runs", epochs=1)), encoding="utf-8")
    return path


def test_train_with_seeds_writes_one_study_folder_with_the_statistics_over_seeds(config_file, tmp_path, capsys):
    assert main(["train", str(config_file), "--seeds", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    (study_dir,) = list_studies(tmp_path / "runs")
    study = json.loads((study_dir / STUDY_FILE).read_text())
    runs = sorted(path for path in study_dir.iterdir() if (path / "summary.json").is_file())
    assert len(runs) == 3 and (study_dir / "study.toml").is_file() and (study_dir / "base.toml").is_file()
    summaries = [RunRecord.open(path).summary for path in runs]
    assert sorted(summary["result"]["best"]["student"]["epoch"] is not None for summary in summaries) == [True] * 3
    assert [RunRecord.open(path).config.train.seed for path in runs] == [0, 1, 2]
    (point,) = study["points"]
    gains = [summary["result"]["best"]["distillation_gain"] for summary in summaries]
    mean, std = sum(gains) / 3, math.sqrt(sum((g - sum(gains) / 3) ** 2 for g in gains) / 2)
    half = 4.302653 * std / math.sqrt(3)  # t(0.975, 2)
    assert point["gain"]["mean"] == pytest.approx(mean) and point["gain"]["std"] == pytest.approx(std)
    assert point["gain"]["interval"] == pytest.approx([mean - half, mean + half])
    teacher = [summary["result"]["best"]["teacher"]["val_accuracy"] for summary in summaries]
    assert point["teacher"]["mean"] == pytest.approx(np.mean(teacher))
    tests = [summary["result"]["best"]["paired_test"] for summary in summaries]
    pooled = point["pooled_test"]
    assert pooled["student_only"] == sum(test["student_only"] for test in tests)
    assert pooled["samples"] == sum(test["samples"] for test in tests)
    assert "gain " in out and "pooled paired test (3 runs" in out


def test_a_study_spec_is_checked_key_by_key(config_file, tmp_path):
    spec = tmp_path / "spec.toml"
    cases = {
        '[grid]\n"loss.kd.temprature" = [1, 2]': "loss.kd.temprature",
        '[grid]\n"loss.kd.temperature" = []': "grid.loss.kd.temperature must be a non-empty list",
        'sampler = "tpe"\n[random]\n"train.lr" = {low = 0.1, high = 0.01}': "needs numbers low < high",
        'sampler = "random"\n[random]\n"train.lr" = {low = 0.001, high = 0.01}': "needs trials = N",
        'seeds = 0': "seeds must be a count",
        'colour = 1': "unknown key 'colour'",
        '[grid]\n"train.seed" = [1, 2]': "vary the seed with 'seeds'",
    }
    for body, message in cases.items():
        spec.write_text(f'base = "{config_file.name}"\n{body}\n')
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
            load_spec(spec)
    spec.write_text(f'base = "{config_file.name}"\nseeds = 2\n[grid.loss.kd]\ntemperature = [1, 4]\n')
    assert load_spec(spec).grid == {"loss.kd.temperature": [1, 4]}  # nested tables are dotted keys too


def test_a_trial_that_fails_is_marked_failed_with_its_error(config_file, tmp_path, capsys, monkeypatch):
    pytest.importorskip("optuna")
    original = losses.SoftTargetTerm.forward

    def diverging_at_temperature_3(self, student, teacher, batch):
        value = original(self, student, teacher, batch)
        return value * float("nan") if self.options.temperature == 3 else value

    monkeypatch.setattr(losses.SoftTargetTerm, "forward", diverging_at_temperature_3)
    spec = tmp_path / "spec.toml"
    spec.write_text(f'base = "{config_file.name}"\n[grid]\n"loss.kd.temperature" = [1, 3]\n')
    assert main(["study", str(spec), "--quiet"]) == 0
    (study_dir,) = list_studies(tmp_path / "runs")
    trials = {trial["params"]["loss.kd.temperature"]: trial
              for trial in json.loads((study_dir / STUDY_FILE).read_text())["trials"]}
    assert trials[1]["state"] == "complete" and trials[1]["error"] is None
    assert trials[3]["state"] == "failed" and "loss term 'kd' became nan" in trials[3]["error"]
    assert "trial 1 failed: The student's loss term 'kd' became nan" in capsys.readouterr().out


def _trials(db: Path) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    (summary,) = optuna.get_all_study_summaries(f"sqlite:///{db}")
    return optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{db}").get_trials(deepcopy=False)


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_grid_study_spreads_over_two_processes_and_a_killed_one_resumes(config_file, tmp_path, capsys):
    """2 x 2 grid x 2 seeds = 8 trials. A second process joins through the SQLite storage and takes part of
    them; the first is killed in the middle of a trial; --resume runs that trial only, in its own run folder."""
    pytest.importorskip("optuna")
    spec = tmp_path / "spec.toml"
    spec.write_text(f'base = "{config_file.name}"\nseeds = 2\n'
                    '[grid]\n"loss.kd.temperature" = [1, 4]\n"loss.kd.weight" = [0.5, 1.0]\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "workbench", "study"]
    first = subprocess.Popen([*command, str(spec), "--quiet"], env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # study.json is written once the study and its queue are in the storage.
        db = _wait(lambda: next((tmp_path / "runs").glob("*/study.json"), None), 60, "the study").parent / "study.db"
        second = subprocess.Popen([*command, "--join", f"sqlite:///{db}", "--quiet"], env=env, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def first_mid_trial():
            trials = _trials(db)
            done = sum(trial.state.name == "COMPLETE" for trial in trials)
            return done >= 2 and any(trial.state.name == "RUNNING" and trial.user_attrs.get("run_dir")
                                     and trial.user_attrs.get("worker", "").endswith(f":{first.pid}")
                                     for trial in trials)

        _wait(first_mid_trial, 120, "the first process to be in a trial after two completed")
        first.send_signal(signal.SIGKILL)
        first.wait()
        _, errors = second.communicate(timeout=120)
        assert second.returncode == 0, errors.decode()
    finally:
        for process in (first, locals().get("second")):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    study_dir = db.parent
    trials = _trials(db)
    interrupted = [trial for trial in trials if trial.state.name == "RUNNING"]
    assert len(interrupted) == 1
    complete_before = {trial.number: trial.user_attrs["run_dir"] for trial in trials if trial.state.name == "COMPLETE"}
    stamps = {number: os.stat(Path(run) / "summary.json").st_mtime_ns for number, run in complete_before.items()}
    workers = {trial.user_attrs["worker"] for trial in trials if trial.state.name == "COMPLETE"}
    assert len(workers) == 2  # both processes ran trials

    assert main(["study", "--resume", str(study_dir), "--quiet"]) == 0
    study = json.loads((study_dir / STUDY_FILE).read_text())
    complete = [trial for trial in study["trials"] if trial["state"] == "complete"]
    assert len(complete) == 8
    assert len({(json.dumps(trial["params"], sort_keys=True), trial["seed"]) for trial in complete}) == 8
    for number, run in complete_before.items():  # finished trials were not run again
        assert os.stat(Path(run) / "summary.json").st_mtime_ns == stamps[number]
    (killed,) = [trial for trial in study["trials"] if trial["number"] == interrupted[0].number]
    assert killed["state"] == "failed" and "continued as trial" in killed["error"]
    resumed = next(trial for trial in complete if trial["number"] not in complete_before)
    assert resumed["run_dir"] == interrupted[0].user_attrs["run_dir"]  # its own run folder, continued
    runs = [path for path in study_dir.iterdir() if (path / "config.toml").is_file() and path.name != "base.toml"]
    assert len(runs) == 8
    assert all(point["runs"] == 2 for point in study["points"]) and len(study["points"]) == 4
