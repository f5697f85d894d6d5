"""Kill -9 a tiny run at chosen moments, resume it, and check it ends exactly as an uninterrupted run.

    python tests/fault_kill_matrix.py            # the whole matrix (about 20 kills)
    python tests/fault_kill_matrix.py --only summary.json#1 stage-switch

Each kill point is a moment inside ``workbench train``: during an atomic write (the temporary
file is written and synced, the rename not done yet) of a given file for the n-th time, at the
switch from the teacher to the student stage, or in the middle of an epoch. The run is killed
there with SIGKILL, then ``workbench train --resume`` continues it (again, until it finishes).
Checked against an uninterrupted run of the same config: every checkpoint's tensors, every
validation prediction array and the summary's metrics are bit-identical, the run reads
``finished``, and no temporary file is left in the run folder. A run killed while writing its
very first file (config.toml) never started: its resume must say so in one ``error:`` line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

# file name (as the atomic writer sees it) # n-th write of it; or a named moment of the training loop.
KILL_POINTS = [
    "config.toml#1", "samples.json#1", "preprocessing.json#1", "summary.json#1", "summary.json#2",
    "summary.json#3", "teacher-epoch001.npz#1", "teacher-best.pt#1", "teacher-last.pt#1", "teacher-last.pt#2",
    "stage-switch", "student-epoch001.npz#1", "student-best.pt#1", "baseline-best.pt#1", "baseline-last.pt#1",
    "student-last.pt#1", "student-epoch002.npz#1", "student-last.pt#2", "summary.json#4", "batch-3",
    "student-batch-2",
]


def child(kill_at: str, argv: list[str]) -> int:
    """Run the CLI with ``kill_at`` armed ("none": unarmed): the process SIGKILLs itself at that moment."""
    from workbench import atomic, cli
    from workbench.engine.runs import RunWriter

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if "#" in kill_at:
        name, nth = kill_at.split("#")
        seen = {"count": 0}
        replace = atomic.os.replace

        def replace_or_die(source, target, *args, **kwargs):
            if Path(target).name == name:
                seen["count"] += 1
                if seen["count"] == int(nth):
                    die()  # the temporary file is complete and synced; its rename never happens
            return replace(source, target, *args, **kwargs)

        atomic.os.replace = replace_or_die
    elif kill_at == "stage-switch":
        original = RunWriter.on_stage_start

        def stage_start(self, payload):
            if payload["stage"] == "student":
                die()
            original(self, payload)

        RunWriter.on_stage_start = stage_start
    elif "batch-" in kill_at:
        stage = "student" if kill_at.startswith("student") else "teacher"
        batch = int(kill_at.rsplit("-", 1)[1])
        original_batch = RunWriter.on_train_batch_end

        def batch_end(self, payload):
            original_batch(self, payload)
            if payload["stage"] == stage and payload["epoch"] == 2 and payload["batch"] == batch:
                die()

        RunWriter.on_train_batch_end = batch_end
    return cli.main(argv)


def run_cli(args: list[str], kill_at: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, str(Path(__file__).resolve())]
    command += ["--child", kill_at or "none", "--", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def the_run(runs_dir: Path) -> Path:
    (run,) = [path for path in runs_dir.iterdir() if path.is_dir()]
    return run


def compare(reference: Path, run: Path) -> list[str]:
    """What differs between two finished run folders (empty: bit-identical results)."""
    import numpy as np
    import torch

    problems = []
    names = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.suffix in (".pt", ".npz"))
    theirs = sorted(p.relative_to(run) for p in run.rglob("*") if p.suffix in (".pt", ".npz"))
    if names != theirs:
        problems.append(f"files differ: {sorted(set(map(str, names)) ^ set(map(str, theirs)))}")
    for name in names:
        if not (run / name).is_file():
            continue
        if name.suffix == ".pt":
            mine = torch.load(reference / name, weights_only=True)["model"]
            other = torch.load(run / name, weights_only=True)["model"]
            if mine.keys() != other.keys() or not all(torch.equal(mine[k], other[k]) for k in mine):
                problems.append(f"{name}: tensors differ")
        else:
            with np.load(reference / name) as mine, np.load(run / name) as other:
                if mine.files != other.files or not all(np.array_equal(mine[k], other[k]) for k in mine.files):
                    problems.append(f"{name}: arrays differ")
    ours = json.loads((reference / "summary.json").read_text(encoding="utf-8"))
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    if summary.get("status") != "finished":
        problems.append(f"status {summary.get('status')}")
    for net in ("teacher", "student", "baseline"):
        if ours.get(net) != summary.get(net):
            problems.append(f"summary.json {net} metrics differ")
    leftovers = [str(p.relative_to(run)) for p in run.rglob("*.tmp")]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kill_at, args = argv[1], argv[3:]
        return child(kill_at, args)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="kill points to run (default: all)")
    options = parser.parse_args(argv)
    points = options.only or KILL_POINTS
    from tiny_runs import tiny_config, write_tiny_dataset
    from workbench.config import save_config

    with tempfile.TemporaryDirectory(prefix="kill-matrix-") as tmp:
        workdir = Path(tmp)
        cfg = tiny_config(write_tiny_dataset(workdir / "data"), workdir / "unused", epochs=2, teacher_epochs=2)
        cfg.train.cpu_threads = 1
        config = workdir / "exp.toml"
        save_config(cfg, config)
        started = time.monotonic()
        done = run_cli(["train", str(config), "--quiet", "--out", str(workdir / "reference")])
        assert done.returncode == 0, done.stderr
        reference = the_run(workdir / "reference")
        failures = 0
        for point in points:
            runs_dir = workdir / f"killed-{point}"
            killed = run_cli(["train", str(config), "--quiet", "--out", str(runs_dir)], kill_at=point)
            if killed.returncode != -signal.SIGKILL:
                print(f"{point:24} NOT KILLED (exit {killed.returncode}): the moment never came")
                failures += 1
                continue
            run = the_run(runs_dir)
            temp_files = len(list(run.rglob("*.tmp")))
            resumes = 0
            while resumes < 3:
                resumes += 1
                resumed = run_cli(["train", "--resume", str(run), "--quiet"])
                if resumed.returncode in (0, 2):
                    break
            errors = resumed.stderr.strip().splitlines()
            if not (run / "config.toml").exists():
                # Killed before the run folder had its config: the run never started, and resuming it must
                # say so in one line (a new run is the way on).
                problems = [] if resumed.returncode == 2 and len(errors) == 1 and "is not a run folder" in errors[0] \
                    else [f"resume of a run without config: exit {resumed.returncode}: {errors[-1:]}"]
                verdict = "nothing to resume, said in one line" if not problems else "WRONG: " + problems[0]
            else:
                problems = compare(reference, run) if resumed.returncode == 0 else errors[-3:]
                verdict = "identical" if not problems else "DIFFERENT: " + "; ".join(problems)
            failures += bool(problems)
            print(f"{point:24} killed with {temp_files} temp file(s) left, {resumes} resume(s): {verdict}", flush=True)
        print(f"{len(points)} kill points, {len(points) - failures} resumed to a bit-identical run, "
              f"{failures} not; {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
