"""A few cases of the config fuzz (tests/fuzz_config.py) in the suite; the script runs hundreds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_sample_of_hostile_configs_trains_or_is_refused_in_one_line(tmp_path):
    script = Path(__file__).with_name("fuzz_config.py")
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(script), "--files", "3", "--sets", "2", "--seed", "7",
                           "--timeout", "60", "--report", str(report)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("config-file mutations: 3; ") and lines[1].startswith("--set mutations: 2; ")
    for line in lines:
        assert "traceback 0, hang 0, other 0" in line
