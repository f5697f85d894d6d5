"""Result inspection: the results view of one run, the runs table, try-it, export.

``ResultsView``, ``RunsView`` and ``TryItView`` are the tabs the main window adds;
``ExportButton`` is also part of ``ResultsView``'s toolbar.
"""

from workbench.gui.results.export_button import ExportButton
from workbench.gui.results.results_view import ResultsView
from workbench.gui.results.runs_view import RunsView
from workbench.gui.results.tryit_view import TryItView

__all__ = ["ExportButton", "ResultsView", "RunsView", "TryItView"]
