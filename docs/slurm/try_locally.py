"""Run a SLURM recipe of this folder on one machine, before submitting it to a cluster.

``srun`` and ``scontrol`` are replaced by stand-ins that do what SLURM does on a one-node
allocation: ``srun`` starts ``--tasks`` copies of its command, each with its ``SLURM_PROCID``;
``scontrol show hostnames`` answers ``localhost``. The script itself runs unchanged under bash,
so its torchrun and ``workbench study`` lines really run (on the CPU when the config says so).

    python docs/slurm/try_locally.py train.sbatch --gpus 2 -- exp.toml --quiet
    python docs/slurm/try_locally.py study.sbatch --tasks 2 -- sweep.toml

tests/engine/test_slurm_recipes.py runs the recipes through :func:`standin_env`.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SRUN = """#!/bin/bash
# srun on one node: drop srun's own options, start SLURM_NTASKS copies of the command, wait for all.
while [[ "$1" == --* ]]; do shift; done
status=0; pids=()
for ((task = 0; task < ${SLURM_NTASKS:-1}; task++)); do
    SLURM_PROCID=$task SLURM_LOCALID=$task "$@" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
"""


def standin_env(bin_dir: Path, tasks: int = 1, gpus: int = 1) -> dict[str, str]:
    """The environment of a one-node job with ``tasks`` tasks and ``gpus`` GPUs (processes per torchrun):
    PATH starts with the stand-ins, and with this interpreter as python, torchrun and workbench."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    tools = {"srun": SRUN, "scontrol": "#!/bin/bash\necho localhost\n",
             "python": f'#!/bin/bash\nexec "{sys.executable}" "$@"\n',
             "torchrun": f'#!/bin/bash\nexec "{sys.executable}" -m torch.distributed.run "$@"\n',
             "workbench": f'#!/bin/bash\nexec "{sys.executable}" -m workbench "$@"\n'}
    for name, text in tools.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    with socket.socket() as probe:  # a free port for torchrun's rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "SLURM_JOB_NODELIST": "localhost", "SLURM_NNODES": "1", "SLURM_JOB_ID": "4242",
            "SLURM_NTASKS": str(tasks), "SLURM_GPUS_ON_NODE": str(gpus), "SLURM_CPUS_PER_TASK": "2",
            "WORKBENCH_RDZV_PORT": str(port)}


def run_recipe(script: str, args: list[str], env: dict[str, str], cwd: Path | str = ".",
               timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(HERE / script), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], usage="%(prog)s SCRIPT [options] -- ARGS")
    parser.add_argument("script", choices=sorted(path.name for path in HERE.glob("*.sbatch")))
    parser.add_argument("--tasks", type=int, default=1, help="tasks srun starts (study.sbatch: workers)")
    parser.add_argument("--gpus", type=int, default=1, help="processes per torchrun (train.sbatch)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)  # after "--": the script's own arguments
    options, args = parser.parse_args(argv[:cut]), argv[cut + 1:]
    with tempfile.TemporaryDirectory() as bin_dir:
        started = time.perf_counter()
        done = run_recipe(options.script, args, standin_env(Path(bin_dir), options.tasks, options.gpus))
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    print(f"{options.script}: exit status {done.returncode} after {time.perf_counter() - started:.0f} s")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
