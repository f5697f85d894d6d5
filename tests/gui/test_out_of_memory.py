"""An out-of-memory error in a run started from the window: one message, the window stays usable."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from workbench.engine.learner import Learner
from workbench.engine.runs import RunRecord

# What torch's CPU allocator raises (tests/engine/test_hostile_runs.py injects the same).
CPU_ALLOCATOR_ERROR = ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
                       "tried to allocate 88167950336 bytes. Error code 12 (Cannot allocate memory)")


def test_out_of_memory_shows_where_and_what_to_do_and_the_window_stays_responsive(make_window, make_tiny_config,
                                                                                   qtbot, monkeypatch):
    def allocator_fails(*_args, **_kwargs):
        raise RuntimeError(CPU_ALLOCATOR_ERROR)

    window = make_window(make_tiny_config())
    with monkeypatch.context() as patch:
        patch.setattr(Learner, "step", allocator_fails)
        with qtbot.waitSignal(window.session.run_failed, timeout=60_000):
            window.start_run()

    dialog = window.error_dialog
    assert isinstance(dialog, QMessageBox) and dialog.isVisible()
    assert dialog.text().startswith("Out of memory at the teacher stage, epoch 1, batch 1, batch size 8: try a "
                                    "smaller batch (train.batch_size) or network.")
    assert RunRecord.open(Path(window.run_dir)).status == "failed"
    # The window is usable at once: Start is enabled again and the next run trains.
    assert window.start_action.isEnabled() and not window.is_running()
    dialog.accept()
    with qtbot.waitSignal(window.session.run_finished, timeout=60_000) as finished:
        assert window.start_run()
    assert finished.args[0]["status"] == "finished"


def test_the_parameter_count_of_a_huge_network_allocates_nothing(make_tiny_config):
    from workbench.data import prepare_data
    from workbench.gui.panels.model_panel import count_network_parameters

    config = make_tiny_config()
    config.student.fusion_hidden = config.student.embed_dim = 65536  # a 4.3-billion-parameter projection
    data = prepare_data(config.data, 0)
    counts = count_network_parameters(config, data.preprocessing.input_specs(), len(data.class_names))
    assert counts["student"] > 65536 * 65536  # 16 GiB of weights, were it built for real
