"""What checking a config costs in a fresh process: the config's own checks against the whole validation.

Each case runs in a new Python process (so imports count), ``--repeats`` times; prints the median
wall time, whether torch was loaded, and the ratio to the config's own checks.

- ``own checks``: read a config file (no ``[loss]`` table) and run ``config.validation.section_issues``:
  the bottom layer only.
- ``whole validation``: the same file through ``engine.config_validation.validate_config``: the loss terms'
  options and the encoders' parameters, declared by registered (torch) classes.

Usage: python benchmarks/config_validation.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
[data]
root = "."
[student]
fields = ["image"]
[student.encoders.image]
type = "cnn"
width = 16
[train]
epochs = 3
"""

SETUP = "import sys; from workbench.config import load_config; cfg = load_config(sys.argv[1]);"
CASES = {
    "own checks": SETUP + "from workbench.config.validation import section_issues; section_issues(cfg);",
    "whole validation": SETUP + "from workbench.engine.config_validation import validate_config; validate_config(cfg);",
}
REPORT = "print('torch' in sys.modules)"


def run(code: str, config: Path) -> tuple[float, bool]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code + REPORT, str(config)], capture_output=True, text=True,
                            check=True)
    return time.perf_counter() - start, result.stdout.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.toml"
        config.write_text(CONFIG, encoding="utf-8")
        baseline = None
        print(f"{'case':<18} {'median s':>9} {'torch':>6} {'ratio':>6}")
        for name, code in CASES.items():
            timings, torch_loaded = zip(*(run(code, config) for _ in range(args.repeats)))
            median = statistics.median(timings)
            baseline = baseline or median
            print(f"{name:<18} {median:>9.3f} {str(any(torch_loaded)):>6} {median / baseline:>5.1f}x")


if __name__ == "__main__":
    main()
