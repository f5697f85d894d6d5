"""How responsive the results view's gallery stays with 10,000 validation samples.

Writes a synthetic run (10,000 samples with 32x32 PNG images and captions, known
predictions; no training), opens it in a ResultsView offscreen, and measures:

- opening the run: wall time until the last epoch is shown, and the part of it spent
  on the GUI thread (the rest runs in the loader thread);
- each gallery filter and sort: time from the change to the repainted gallery;
- scrolling from the top to the bottom in screen-sized steps, thumbnails loading lazily;
- the longest GUI-thread block over the whole session, from a 5 ms heartbeat timer
  (a gap between heartbeats is time the event loop could not react to the user).

Run: QT_QPA_PLATFORM=offscreen python benchmarks/gallery_responsiveness.py [--samples 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the synthetic run writer, a test fixture

from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from synthetic_runs import write_synthetic_run  # noqa: E402

from workbench.gui.app import create_application  # noqa: E402
from workbench.gui.results import ResultsView  # noqa: E402
from workbench.gui.results.selection import FILTERS, SORTS  # noqa: E402


class Heartbeat:
    """A 5 ms timer; the largest gap between its ticks is the longest GUI-thread block."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.phase = "start"
        self.longest: dict[str, float] = {}
        self.timer.timeout.connect(self._on_timer_timeout)
        self.last = time.perf_counter()
        self.gaps: list[float] = []

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        gap = now - self.last
        self.gaps.append(gap)
        self.longest[self.phase] = max(gap, self.longest.get(self.phase, 0.0))
        self.last = now


def run_loop(ms: int) -> None:
    """Let the event loop run for ``ms`` (timers, queued signals, paints)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(signal, timeout_s: float = 120) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def timed_change(view: ResultsView, change) -> float:
    """Seconds for a gallery change plus the repaint of what is on screen."""
    start = time.perf_counter()
    change()
    view.gallery.viewport().repaint()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    create_application()  # the app's QApplication: its garbage collector and the PySide6 fix, as in the app

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_dir = write_synthetic_run(Path(folder), "bench", count=args.samples, classes=args.classes, epochs=2,
                                      image_size=32)
        print(f"wrote a synthetic run of {args.samples:,} samples in {time.perf_counter() - start:.1f} s")

        view = ResultsView()
        view.resize(1600, 1000)
        view.show()
        heartbeat = Heartbeat()
        heartbeat.start()
        run_loop(100)

        gui_time = 0.0
        original_show = view._show_predictions

        def timed_show(predictions):
            nonlocal gui_time
            begin = time.perf_counter()
            original_show(predictions)
            gui_time += time.perf_counter() - begin

        view._show_predictions = timed_show
        heartbeat.phase = "open"
        start = time.perf_counter()
        view.show_run(str(run_dir))
        wait_for(view.epoch_shown)
        open_wall = time.perf_counter() - start
        view._show_predictions = original_show
        print(f"open the run ({view.gallery_model.rowCount():,} tiles): {open_wall * 1e3:.0f} ms wall, "
              f"{gui_time * 1e3:.0f} ms of it on the GUI thread")
        run_loop(300)

        heartbeat.phase = "filter, sort, search"
        for key in FILTERS:
            index = view.filter_box.findData(key)
            seconds = timed_change(view, lambda index=index: view.filter_box.setCurrentIndex(index))
            print(f"filter {key:<30} {view.gallery_model.rowCount():>6,} tiles  {seconds * 1e3:6.1f} ms")
            run_loop(50)
        view.filter_box.setCurrentIndex(0)
        for key in SORTS:
            index = view.sort_box.findData(key)
            seconds = timed_change(view, lambda index=index: view.sort_box.setCurrentIndex(index))
            print(f"sort   {key:<30} {view.gallery_model.rowCount():>6,} tiles  {seconds * 1e3:6.1f} ms")
            run_loop(50)
        view.sort_box.setCurrentIndex(0)
        seconds = timed_change(view, lambda: (view.search.setText("sample_001"), view._search_timer.stop(),
                                              view._on_search_timer_timeout()))
        print(f"search 'sample_001'                   {view.gallery_model.rowCount():>6,} tiles  "
              f"{seconds * 1e3:6.1f} ms")
        view.search.clear()
        view._search_timer.stop()
        view._on_search_timer_timeout()
        seconds = timed_change(view, lambda: view.confusion.cell_clicked.emit(2, 3))
        print(f"confusion cell click                  {view.gallery_model.rowCount():>6,} tiles  "
              f"{seconds * 1e3:6.1f} ms")
        view._on_cell_clear_clicked()
        run_loop(100)

        heartbeat.phase = "scroll"
        bar = view.gallery.verticalScrollBar()
        step = max(1, view.gallery.viewport().height())
        steps = []
        start = time.perf_counter()
        for value in range(0, bar.maximum() + step, step):
            steps.append(timed_change(view, lambda value=value: bar.setValue(min(value, bar.maximum()))))
            run_loop(16)  # a 60 Hz scroll: the event loop runs between steps, thumbnails arrive
        scroll_wall = time.perf_counter() - start
        print(f"scroll through {len(steps)} screens: {scroll_wall:.1f} s wall; per step median "
              f"{statistics.median(steps) * 1e3:.1f} ms, max {max(steps) * 1e3:.1f} ms")
        run_loop(500)
        loaded = len(view.gallery_model._thumbnails)
        print(f"thumbnails decoded (lazily, what was on screen): {loaded:,}")

        heartbeat.timer.stop()
        gaps = sorted(heartbeat.gaps)
        print(f"longest GUI-thread block: {gaps[-1] * 1e3:.0f} ms (99th percentile gap "
              f"{gaps[int(len(gaps) * 0.99)] * 1e3:.1f} ms, {len(gaps):,} heartbeats of 5 ms)")
        for phase, longest in heartbeat.longest.items():
            print(f"  longest block while {phase}: {longest * 1e3:.0f} ms")
        view.close()
        view.deleteLater()  # while the QApplication exists: deleted after it at exit, it would crash
        run_loop(100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
