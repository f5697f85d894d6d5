"""Try-it, export and the results view on a real (tiny) trained run."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from workbench.engine.hooks import Callback
from workbench.engine.runs import RunRecord
from workbench.engine.trainer import Trainer
from workbench.gui.results import ExportButton, ResultsView, TryItView


@pytest.fixture
def run_dir(make_tiny_config, tmp_path):
    Trainer(make_tiny_config(epochs=1)).fit()
    return next((tmp_path / "runs").iterdir())


class LiveViewDriver(Callback):
    """Hands the trainer's payloads to a ResultsView while the run trains, as the app's worker does,
    and checks after each validation that the view shows that epoch."""

    def __init__(self, qtbot, view: ResultsView):
        self.qtbot, self.view = qtbot, view
        self.shown: list[tuple[str, int]] = []

    def on_fit_start(self, payload: dict) -> None:
        self.view.on_run_started(payload["run_dir"])

    def on_validation_end(self, payload: dict) -> None:
        with self.qtbot.waitSignal(self.view.epoch_shown, timeout=10_000) as shown:
            self.view.on_validation_finished(payload)
        self.shown.append(tuple(shown.args))
        table = self.view.metrics_table
        columns = [table.horizontalHeaderItem(column).text() for column in range(table.columnCount())]
        accuracy = payload["metrics"][payload["stage"]]["val_accuracy"]
        assert table.item(0, columns.index(payload["stage"].capitalize())).text() == f"{accuracy:.1%}"


def test_results_view_follows_a_live_run(qtbot, make_results_view, make_tiny_config, tmp_path):
    view = make_results_view()
    driver = LiveViewDriver(qtbot, view)
    Trainer(make_tiny_config(epochs=2), callbacks=[driver]).fit()
    assert driver.shown == [("teacher", 1), ("teacher", 2), ("student", 1), ("student", 2)]
    assert view.epoch_state.epochs == driver.shown
    run_dir = next((tmp_path / "runs").iterdir())
    assert view.gallery_model.rowCount() == len(RunRecord.open(run_dir).samples())
    with qtbot.waitSignal(view.latency_measured, timeout=20_000):
        view.on_run_finished({"status": "finished"})


def test_try_it_gives_the_checkpoints_prediction(qtbot, run_dir):
    view = TryItView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.run_ready, timeout=20_000):
        view.set_run(str(run_dir))
    record = RunRecord.open(run_dir)
    fields = view.predictor.preprocessing.fields
    predictor = view.predictor
    assert set(view.input_fields()) == {field for net in predictor.networks for field in predictor.fields(net)}
    row = 2
    sample = record.samples()[row]
    for field in view.input_fields():
        value = sample["values"][field]
        from_file = fields[field].kind == "text" and fields[field].source == "file"
        view.set_input(field, Path(value).read_text(encoding="utf-8") if from_file else value)
    with qtbot.waitSignal(view.predicted, timeout=20_000) as predicted:
        qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
    saved = record.predictions("student", record.prediction_epochs("student")[-1])
    probabilities = predicted.args[0]
    for net in ("teacher", "student", "baseline"):
        assert np.allclose(probabilities[net], saved[f"{net}_probs"][row], atol=1e-5), net
    best = record.summary["class_names"][int(saved["student_probs"][row].argmax())]
    assert f"student</b>: {best}" in view.result.text()
    assert set(view.bars.bars) == {"teacher", "student", "baseline"}

    # A failed prediction leaves no bars of the earlier one behind.
    image_field = next(field for field in view.input_fields() if fields[field].kind == "image")
    broken = Path(view.run_dir) / "not-an-image.png"
    broken.write_bytes(b"not a png")
    view.set_input(image_field, str(broken))
    with qtbot.waitSignal(view.failed, timeout=20_000):
        qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
    assert view.bars.bars == {} and "best checkpoints" in view.title.text()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_results_view_on_a_real_run_with_export(qtbot, make_results_view, run_dir, tmp_path):
    view = make_results_view()
    with qtbot.waitSignals([view.epoch_shown, view.latency_measured], timeout=30_000):
        view.show_run(str(run_dir))
    record = RunRecord.open(run_dir)
    count = len(record.samples())
    assert view.gallery_model.rowCount() == count
    assert view.confusion.matrix.sum() == count
    headers = [view.metrics_table.verticalHeaderItem(row).text() for row in range(view.metrics_table.rowCount())]
    latency_row, size_row = headers.index("Latency per sample, ms (1 CPU thread)"), headers.index("Checkpoint size")
    for column in range(view.metrics_table.columnCount()):
        median, spread = view.metrics_table.item(latency_row, column).text().split("±")  # ± half the IQR
        assert float(median) > 0 and float(spread) >= 0
        assert view.metrics_table.item(size_row, column).text().endswith(("KiB", "MiB"))

    out = tmp_path / "exported" / "student.pt"
    with qtbot.waitSignal(view.export_button.export_finished, timeout=30_000) as exported:
        view.export_button.export("student", "torchscript", str(out))
    path, line = exported.args
    assert path == str(out)
    # The result line says which checkpoint, where, and the check against it; the view shows it.
    epoch = record.summary["student"]["best_epoch"]
    assert line.startswith(f"Exported the student from checkpoints/student-best.pt, the best checkpoint (epoch {epoch}) "
                           f"as torchscript to {out}; checked against the checkpoint on {count} validation samples: "
                           "largest logit difference ")
    assert view.export_result.isVisibleTo(view) and view.export_result.text() == line
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert torch.jit.load(str(out)) is not None


def test_the_export_dialog_opens_in_the_runs_export_folder(qtbot, run_dir, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    button = ExportButton()
    qtbot.addWidget(button)
    button.set_run(str(run_dir))
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, title, start, filters: (asked.append(start), ("", ""))[1]))
    student_torchscript = next(action for action in button.menu().actions() if action.data() == ("student", "torchscript"))
    assert "best checkpoint" in student_torchscript.text()
    student_torchscript.trigger()
    (start,) = asked
    assert Path(start) == Path(run_dir) / "export" / "student.pt" and Path(start).parent.is_dir()
