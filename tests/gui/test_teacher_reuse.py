"""Reusing a teacher from the window: checked when chosen, shown read-only, and only the student stage planned."""

from __future__ import annotations

from pathlib import Path

from workbench.data import write_sample_dataset


def test_a_reused_teacher_is_checked_when_chosen_and_shown_read_only(make_window, make_tiny_config, qtbot,
                                                                     tmp_path):
    window = make_window(make_tiny_config(epochs=1))
    with qtbot.waitSignal(window.session.run_finished, timeout=60_000):
        window.start_run()
    source = window.run_dir
    model = window.model_panel
    qtbot.waitUntil(lambda: model.run_combo.findData(str(Path(source).resolve())) >= 0, timeout=10_000)
    model.reuse_radio.setChecked(True)
    assert window.config.teacher.checkpoint == str(Path(source).resolve())
    qtbot.waitUntil(lambda: not model.is_checking_teacher(), timeout=20_000)
    assert model.teacher_issues == [] and "fits" in model.teacher_status.text()
    assert not model.teacher_editor.isEnabled() and "read-only" in model.teacher_editor.title()
    assert window.start_action.isEnabled()

    # The Live axis is planned for the stage that will run: the student's steps only.
    with qtbot.waitSignal(window.session.run_finished, timeout=60_000) as finished:
        window.start_run()
    assert finished.args[0]["stages"] == ["student"]
    assert window.live_plots.planned_x["epoch"] == window.config.train.epochs  # no teacher epochs reserved
    assert not any(name.startswith("loss:teacher") for name in window.live_plots.history.series)

    # A teacher trained on other data is refused at once, with the reason, and Start stays off.
    other = write_sample_dataset(tmp_path / "other-data", classes=3, per_class=12, image_size=16, seed=5)
    window.data_panel.check_folder(str(other))
    qtbot.waitUntil(lambda: not window.data_panel.is_checking() and not model.is_checking_teacher()
                    and model.teacher_issues != [], timeout=30_000)
    assert "trained on other data" in model.teacher_issues[0].message
    assert not window.start_action.isEnabled() and "Cannot start" in window.start_reason.text()
    model.train_new_radio.setChecked(True)
    qtbot.waitUntil(lambda: model.teacher_issues == [] and model.teacher_editor.isEnabled(), timeout=5_000)
