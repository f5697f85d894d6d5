"""The desktop app (PySide6 + pyqtgraph), and beside it Qt-free helpers (``history``, ``overview``,
``results.selection``, ``results.run_data``, ``results.masks``) that import no Qt, checked by the
import-linter contracts in pyproject.toml. Importing this package imports no Qt either:
``app.create_application`` installs the PySide6 reference-count fix (``qt_fixes``) before any window exists.
"""
