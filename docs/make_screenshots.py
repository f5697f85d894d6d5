"""Render each panel of the app offscreen to docs/screenshots/*.png (the README shows them).

Creates the sample dataset in a temporary folder (with two planted problems, so that the
problems table has something to show), trains a short run through the app's real worker,
and grabs the Data, Model, Loss, Training and Live tabs and the whole window on the Results
tab (the run's metrics, confusion matrix, gallery and one sample's detail); then starts a run that fails
(an encoder width of 0) and grabs the error dialog. Regenerate; never edit by hand:

    python docs/make_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

OUT = Path(__file__).resolve().parent / "screenshots"
SIZE = (1280, 860)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")  # the user's own folders stay untouched
        from PySide6.QtCore import QEventLoop, QSettings

        from workbench.config import ExperimentConfig, default_config
        from workbench.data import check_dataset, write_sample_dataset
        from workbench.gui.app import create_application

        app = create_application()
        from workbench.gui.main_window import MainWindow

        dataset = write_sample_dataset(Path(tmp) / "sample", classes=6, per_class=60, image_size=32)
        next(dataset.glob("*/*.png")).write_bytes(b"not an image")  # planted problems for the table
        (dataset / "notes.txt").write_text("a loose file", encoding="utf-8")
        config = default_config(check_dataset(dataset, ExperimentConfig().data, seed=0))
        config.train.epochs = 4
        config.train.batch_size = 16
        config.train.schedule = "cosine"
        config.train.warmup_epochs = 1
        config.train.device = "cpu"
        config.train.runs_dir = str(Path(tmp) / "runs")
        config.loss.kd.weight = 0.7
        config.loss.feature.weight = 0.1

        window = MainWindow(config, QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(*SIZE)
        window.show()
        wait = QEventLoop()
        window.model_panel.counts_updated.connect(wait.quit)
        wait.exec()

        run = QEventLoop()
        window.session.run_finished.connect(run.quit)
        window.session.run_failed.connect(run.quit)
        if not window.start_run():
            print(f"cannot start: {window.issues}", file=sys.stderr)
            return 1
        run.exec()
        window.live_plots.redraw()

        OUT.mkdir(parents=True, exist_ok=True)
        for index, name in enumerate(("data", "model", "loss", "training", "live")):
            window.tabs.setCurrentIndex(index)
            app.processEvents()
            path = OUT / f"{name}.png"
            window.grab().save(str(path))
            print(f"wrote {path}")

        # The Results tab once the finished run's epochs, checkpoint sizes and latency are in.
        results = window.results_view
        deadline = time.monotonic() + 60
        while (results.predictions is None or not results.latency or window.try_it.predictor is None) \
                and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)
        window.tabs.setCurrentWidget(results)
        results.show_sample(0)
        settle_until = time.monotonic() + 1.5  # thumbnails decode in the gallery's thread
        while time.monotonic() < settle_until:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)
        path = OUT / "window_results.png"
        window.grab().save(str(path))
        print(f"wrote {path}")

        # A run that fails inside the worker: the form accepts the integer, the network cannot be built.
        window.config.student.encoders["image"].params["width"] = 0
        failed = QEventLoop()
        window.session.run_failed.connect(failed.quit)
        window.start_run()
        failed.exec()
        app.processEvents()
        window.error_dialog.grab().save(str(OUT / "error.png"))
        print(f"wrote {OUT / 'error.png'}")
        window.error_dialog.accept()
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
