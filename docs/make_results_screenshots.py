"""Render the result views to docs/screenshots/results_*.png from real runs.

Writes the built-in sample dataset, trains two small runs on it (CPU, a few minutes
in all on two cores; the second with a different distillation temperature, so that the runs table
has a config difference to show), then renders offscreen: the whole results view, its
confusion matrix, per-class bars, gallery, sample detail and embedding, the runs table
with two runs overlaid, and try-it on one validation image.

Run: QT_QPA_PLATFORM=offscreen python docs/make_results_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from workbench.gui.app import create_application  # noqa: E402

from workbench.config import default_config  # noqa: E402
from workbench.data import check_dataset, write_sample_dataset  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.results import ResultsView, RunsView, TryItView  # noqa: E402


def keep_none_alive() -> None:
    """PySide6 6.12 on CPython 3.11 drops a reference to ``None`` on every void C++ call; rendering
    many tiles would free ``None`` and abort. Give it references to spare (3.12+ makes it immortal)."""
    if sys.version_info < (3, 12):
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40


def wait_for(signal, timeout_s: float = 60) -> list:
    """Run the event loop until ``signal`` fires; returns its arguments."""
    received: list = []
    loop = QEventLoop()

    def on_signal(*args):
        received.extend(args)
        loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(on_signal)
    return received


def settle(ms: int = 400) -> None:
    """Let queued work (thumbnails, plots) arrive and paint."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def train(dataset: Path, runs_dir: Path, name: str, temperature: float, epochs: int) -> Path:
    config = default_config(check_dataset(dataset, default_config().data, seed=0))
    config.data.image_size = 32
    config.train.epochs = epochs
    config.train.batch_size = 16
    config.train.device = "cpu"
    config.train.runs_dir = str(runs_dir)
    config.train.name = name
    config.loss.kd.temperature = temperature
    for network in (config.teacher, config.student):
        network.embed_dim = 32
        network.fusion_hidden = 64
        for encoder in network.encoders.values():
            if encoder.type == "cnn":
                encoder.params.update(width=16 if network is config.teacher else 8, depth=2)
    Trainer(config).fit()
    return max(runs_dir.glob(f"*-{name}"))


def save(widget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "screenshots"))
    parser.add_argument("--epochs", type=int, default=8, help="epochs per stage (fewer: faster, worse networks)")
    parser.add_argument("--per-class", type=int, default=50, help="samples per class of the sample dataset")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep_none_alive()
    create_application()

    with tempfile.TemporaryDirectory() as folder:
        dataset = write_sample_dataset(Path(folder) / "sample", classes=6, per_class=args.per_class, image_size=32, seed=0)
        runs_dir = Path(folder) / "runs"
        first = train(dataset, runs_dir, "kd-t4", temperature=4.0, epochs=args.epochs)
        second = train(dataset, runs_dir, "kd-t2", temperature=2.0, epochs=args.epochs)

        view = ResultsView()
        view.resize(1500, 920)
        view.show()
        view.show_run(str(first))
        wait_for(view.epoch_shown)
        wait_for(view.latency_measured)
        settle()
        first_mistake = view.predictions.correct["student"].argmin()
        view.show_sample(int(first_mistake))
        settle(600)
        save(view, out / "results_overview.png")
        save(view.left_tabs, out / "results_confusion.png")
        view.confusion_normalized.setChecked(True)
        settle()
        save(view.left_tabs, out / "results_confusion_normalized.png")
        view.left_tabs.setCurrentIndex(1)
        settle()
        save(view.left_tabs, out / "results_per_class.png")
        save(view.metrics_table, out / "results_metrics.png")
        view.filter_box.setCurrentIndex(view.filter_box.findData("student_wrong"))
        view.sort_box.setCurrentIndex(view.sort_box.findData("student_loss"))
        settle(800)
        save(view.right_tabs, out / "results_gallery.png")
        save(view.detail, out / "results_detail.png")
        view.right_tabs.setCurrentIndex(1)
        if view.embedding.plots["student"].point_count() == 0:
            wait_for(view.embedding_shown, timeout_s=5)
        settle()
        save(view.right_tabs, out / "results_embedding.png")
        view.epoch_slider.setValue(0)
        wait_for(view.epoch_shown)
        view.right_tabs.setCurrentIndex(0)
        settle(800)
        save(view, out / "results_first_epoch.png")
        view.close()

        runs = RunsView()
        runs.resize(1400, 820)
        runs.show()
        runs.set_runs_dir(str(runs_dir))
        wait_for(runs.runs_listed)
        runs.select_runs([str(first), str(second)])
        wait_for(runs.curves_drawn)
        settle()
        save(runs, out / "results_runs.png")
        runs.close()

        try_it = TryItView()
        try_it.resize(1100, 600)
        try_it.show()
        try_it.set_run(str(first))
        wait_for(try_it.run_ready)
        sample = json.loads((first / "samples.json").read_text(encoding="utf-8"))[0]
        fields = try_it.predictor.preprocessing.fields
        for field in try_it.input_fields():
            value = sample["values"][field]
            from_file = fields[field].kind == "text" and fields[field].source == "file"
            try_it.set_input(field, Path(value).read_text(encoding="utf-8") if from_file else value)
        try_it.predict()
        wait_for(try_it.predicted)
        settle()
        save(try_it, out / "results_tryit.png")
        try_it.close()
        # Delete the widgets while the application still exists: left to Python's exit, they could be
        # destroyed after the QApplication, which crashes.
        for widget in (view, runs, try_it):
            widget.deleteLater()
        settle(100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
