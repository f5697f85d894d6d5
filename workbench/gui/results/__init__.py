"""Result inspection: the results view of one run, the runs table, try-it, export.

``ResultsView``, ``RunsView`` and ``TryItView`` are the tabs the main window adds;
``ExportButton`` is also part of ``ResultsView``'s toolbar. They are imported on first use,
so that the Qt-free helpers here (``selection``, ``run_data``, ``masks``) load no Qt.
"""

from __future__ import annotations

import importlib
from typing import Any

_VIEWS = {"ExportButton": "export_button", "ResultsView": "results_view", "RunsView": "runs_view",
          "TryItView": "tryit_view"}
__all__ = list(_VIEWS)


def __getattr__(name: str) -> Any:
    if name in _VIEWS:
        return getattr(importlib.import_module(f"{__name__}.{_VIEWS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
