"""The Training panel's Logging group switches the experiment loggers on; their warnings reach the run log."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from test_run_control import click_start


def test_logging_group_switches_loggers_on_and_their_warning_reaches_the_run_log(make_window, make_tiny_config,
                                                                                  qtbot, monkeypatch):
    pytest.importorskip("tensorboard")
    for name in [name for name in sys.modules if name == "mlflow" or name.startswith("mlflow.")] + ["mlflow"]:
        monkeypatch.setitem(sys.modules, name, None)  # MLflow not installed: its logger warns, the run goes on
    window = make_window(make_tiny_config(epochs=1))
    editors = window.training_panel.editors
    editors["log.tensorboard"].widget.setChecked(True)
    editors["log.mlflow_uri"].widget.setText("http://127.0.0.1:9")
    editors["log.mlflow_uri"].widget.editingFinished.emit()
    assert window.config.log.tensorboard and window.config.log.mlflow_uri == "http://127.0.0.1:9"

    with qtbot.waitSignal(window.session.run_finished, timeout=60_000) as finished:
        click_start(qtbot, window)
    assert finished.args[0]["status"] == "finished"
    run_dir = Path(window.run_dir)
    assert any((run_dir / "tb" / "student").glob("events.out.tfevents.*"))
    qtbot.waitUntil(lambda: "pip install 'workbench[mlflow]'" in window.log_view.toPlainText(), timeout=5_000)
    assert "Warning: MLflow logging stopped" in window.log_view.toPlainText()
    assert (run_dir / "warnings.txt").read_text().count("MLflow") == 1
