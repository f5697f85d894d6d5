"""The desktop app (PySide6 + pyqtgraph). Importing it first repairs a PySide6 signal bug, see qt_fixes."""

from workbench.gui import qt_fixes

qt_fixes.install()
