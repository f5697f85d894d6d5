"""The engine, config and data layers never import Qt (they run headless and in worker threads)."""

import subprocess
import sys


def test_engine_imports_no_qt():
    code = ("import sys, workbench.engine.trainer, workbench.engine.runs, workbench.engine.cli_train, "
            "workbench.config, workbench.data; "
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')); "
            "print(loaded); sys.exit(1 if loaded else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
