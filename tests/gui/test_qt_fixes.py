"""PySide6 6.12 on CPython 3.11 drops references to None/True on void calls and emits; the app must survive."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from workbench.gui import qt_fixes
from workbench.gui.app import create_application


class Emitter(QObject):
    fired = Signal(object)


def test_many_void_calls_and_emits_do_not_abort():
    create_application()  # installs the fix
    emitter = Emitter()
    for i in range(200_000):  # unfixed, this frees None and True and aborts the interpreter
        emitter.setObjectName("emitter")
        emitter.fired.emit(i)
    assert emitter.objectName() == "emitter"


def test_install_is_idempotent():
    assert qt_fixes.install() == qt_fixes.install()


def test_cyclic_garbage_is_collected_on_the_gui_thread(qtbot):
    import gc
    import threading
    import weakref

    from workbench.gui.app import create_application

    create_application()
    assert not gc.isenabled()  # no collection can start in a worker thread
    finalized_in = []
    holder = Emitter()
    holder.cycle = holder  # only the cyclic collector can free this
    weakref.finalize(holder, lambda: finalized_in.append(threading.current_thread()))
    del holder
    allocations = []

    def collected() -> bool:
        # Keep allocating, as a running app does: objects of earlier tests freed meanwhile lower the young
        # generation's count, and one allocation burst could fall back under the collector's threshold.
        allocations.extend({} for _ in range(gc.get_threshold()[0] // 4))
        return bool(finalized_in)

    qtbot.waitUntil(collected, timeout=5000)  # the GUI-thread timer collects it
    assert finalized_in == [threading.main_thread()]
    assert allocations
