"""timm and torchvision for the tests that use them: imported, or the test module skips, saying where it runs.

Both need a torchvision that imports beside this torch; the CPU build of torch in CI has none, so there
``tests/engine/test_vision_backbones_interpreter.py`` runs those test files under ``$WORKBENCH_TIMM_PYTHON``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

# The smallest models with BatchNorm (whose statistics a frozen encoder must keep) of each library.
TIMM_MODEL = "test_efficientnet"            # 99 k parameters, 160 px
TORCHVISION_MODEL = "shufflenet_v2_x0_5"    # 342 k parameters, 224 px


def import_or_skip(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - PyPI's CUDA torchvision beside a CPU torch fails with RuntimeError
        pytest.skip(f"{module} does not import here ({type(error).__name__}); "
                    "test_vision_backbones_interpreter.py runs this file under $WORKBENCH_TIMM_PYTHON",
                    allow_module_level=True)
