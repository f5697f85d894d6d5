"""A work-around for reference-count bugs of the installed PySide6 (6.12) on CPython 3.11.

This PySide6 returns ``None`` from every void method, and ``True``/``False`` from
``Signal.emit``, without taking a reference, as is correct only where those objects are
immortal (CPython >= 3.12). On 3.11 each such call drops one reference, and after some
tens of thousands of calls (a few seconds of plotting, or a few minutes of training
signals) CPython frees ``None`` and aborts: "Fatal Python error: none_dealloc".

:func:`install` measures whether this interpreter and binding have the problem and, only
then, gives ``None``, ``True``, ``False``, ``NotImplemented`` and ``Ellipsis`` the huge
reference count that makes them immortal in CPython 3.12. A drop of one reference per
call can then never free them. It runs once, when ``workbench.gui`` is imported.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject

SINGLETONS = (None, True, False, NotImplemented, Ellipsis)
IMMORTAL_BOOST = 1 << 60  # references added; at a million dropped per second this lasts 36 000 years
_PROBE_CALLS = 16
_installed = False


def binding_drops_references() -> bool:
    """True when a void PySide6 call leaves ``None`` with one reference fewer."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        probe.setObjectName("probe")
    return sys.getrefcount(None) <= before - _PROBE_CALLS


def install() -> bool:
    """Make the singletons immortal when this binding needs it; returns whether the fix is active."""
    global _installed
    if _installed:
        return True
    if sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return False  # immortal already; or a debug build, whose object header differs
    if not binding_drops_references():
        return False
    for singleton in SINGLETONS:
        # ob_refcnt is the first field of every object in a release build of CPython 3.11.
        ctypes.c_ssize_t.from_address(id(singleton)).value += IMMORTAL_BOOST
    _installed = True
    return True
