"""Record a new user's path through the app as a screenshot sequence, at 1280x720 and 1920x1080.

First start (no dataset yet) -> the sample dataset -> Start -> the finished run on Live ->
Results -> a second run and the Runs overlay of the two -> Export, with its result line.
Each step is grabbed at both window sizes (the window is resized between the grabs), into
docs/user_path/<width>x<height>/NN-<step>.png. The app's own settings and data folders are
temporary, so this is the first start of a new user. The two runs are short (3 epochs per
stage) so that the script takes a few minutes on two cores.

Regenerate; never edit the pictures by hand:
    python docs/make_user_path_screenshots.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"

OUT = Path(__file__).resolve().parent / "user_path"
SIZES = ((1280, 720), (1920, 1080))
EPOCHS = 3


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg-data")  # the user's own folders stay untouched
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "xdg-config")
        from PySide6.QtCore import QEventLoop, QSettings

        from workbench.gui.app import create_application

        app = create_application()
        from workbench.gui.main_window import MainWindow

        def settle(seconds: float = 0.5, until=None, timeout: float = 600.0) -> None:
            """Run the event loop for ``seconds``, or until ``until()`` holds (then a little more to paint)."""
            deadline = time.monotonic() + (timeout if until else seconds)
            while time.monotonic() < deadline and not (until and until()):
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
                time.sleep(0.02)
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
                time.sleep(0.02)

        def grab(number: int, name: str) -> None:
            for width, height in SIZES:
                window.resize(width, height)
                settle(0.6)
                window.live_plots.redraw()
                folder = OUT / f"{width}x{height}"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{number:02d}-{name}.png"
                window.grab().save(str(path))
                print(f"wrote {path}")

        def train() -> str:
            finished: list[str] = []
            window.session.run_finished.connect(lambda summary: finished.append(summary.get("status", "")))
            window.session.run_failed.connect(lambda message, _details: finished.append(f"failed: {message}"))
            if not window.start_run():
                raise SystemExit(f"cannot start: {window.issues}")
            settle(until=lambda: bool(finished))
            if finished[0] != "finished":
                raise SystemExit(f"the run ended {finished[0]}")
            return window.run_dir

        window = MainWindow(None, QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat))
        window.show()
        settle(1.0)
        grab(1, "first-start")

        # 2. The sample dataset, from the first-start banner's button.
        window.data_panel.create_sample_button.click()
        settle(until=lambda: window.overview is not None and not window.data_panel.is_checking()
               and not window.model_panel.is_counting())
        window.config.train.epochs = EPOCHS  # short runs: the path, not the accuracy, is what is shown
        window.config.train.teacher_epochs = EPOCHS
        window.training_panel.set_config(window.config)
        window.tabs.setCurrentWidget(window.data_panel)
        grab(2, "sample-dataset")

        # 3. Start, and the run on the Live tab.
        first = train()
        window.tabs.setCurrentWidget(window.run_view)
        grab(3, "live-finished")

        # 4. Results of the run.
        results = window.results_view
        window.show_results(first)
        settle(until=lambda: results.predictions is not None and bool(results.latency), timeout=120)
        results.show_sample(0)
        grab(4, "results")

        # 5. A second run (decoupled KD instead of KD) and the Runs overlay of the two.
        window.config.loss.dkd.weight = 1.0
        window.config.loss.kd.weight = 0.0
        window.loss_panel.set_config(window.config)
        second = train()
        runs = window.runs_view
        window.tabs.setCurrentWidget(runs)
        runs.refresh()
        settle(until=lambda: {first, second} <= set(runs.rows), timeout=60)
        runs.select_runs([first])
        settle(1.0)
        runs.select_runs([first, second])
        settle(until=lambda: len(runs.overlay_curves) == 2, timeout=60)
        grab(5, "runs-overlay")

        # 6. Export the second run's student; Results shows the result line with its check.
        window.show_results(second)
        settle(until=lambda: results.predictions is not None, timeout=120)
        exported: list[str] = []
        results.export_button.export_finished.connect(lambda path, line: exported.append(line))
        results.export_button.export("student", "torchscript", str(Path(second) / "export" / "student.pt"))
        settle(until=lambda: bool(exported), timeout=120)
        print(exported[0])
        grab(6, "export")
        window.close()
        settle(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
