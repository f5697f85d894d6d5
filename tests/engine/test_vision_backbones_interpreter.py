"""The timm and torchvision tests, run under ``$WORKBENCH_TIMM_PYTHON`` where those libraries do not import.

PyPI's torchvision for Linux x86_64 is a CUDA build that does not import beside the CPU build of torch
that CI installs ("operator torchvision::nms does not exist"), and timm imports torchvision. ``.ci/run``
therefore builds a second environment with matching torch and torchvision (and this project's ``timm``,
``torchvision`` and ``test`` extras) and names its Python in ``WORKBENCH_TIMM_PYTHON``; this test runs
the files that need the libraries there, against this checkout, in one process (torch imports once).
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = ["tests/engine/test_vision_backbones.py", "tests/gui/test_vision_backbone_panel.py"]


def _libraries_import_here() -> bool:
    try:
        for module in ("timm", "torchvision"):
            importlib.import_module(module)
    except Exception:  # noqa: BLE001 - not installed, or PyPI's CUDA torchvision beside a CPU torch
        return False
    return True


def test_timm_and_torchvision_tests_pass_in_the_interpreter_that_has_them():
    if _libraries_import_here():
        pytest.skip("timm and torchvision import here, so their test files ran in this process")
    python = os.environ.get("WORKBENCH_TIMM_PYTHON")
    if not python:
        pytest.skip("timm and torchvision do not import beside this torch, and WORKBENCH_TIMM_PYTHON (a Python "
                    "that has them, as .ci/run builds) is not set")
    # Offline: a pretrained timm model fails at once instead of retrying the hub.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([python, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *FILES], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=900)
    report = f"{python} -m pytest {' '.join(FILES)}:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
    assert result.returncode == 0, report
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=* ?\d+ passed in .*", summary), report  # every test ran there: none skipped
