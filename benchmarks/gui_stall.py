"""How long the GUI thread stalls while a real run trains at full speed through the app's worker.

A 10 ms precise QTimer on the GUI thread records how late each tick fires; anything the
GUI thread does (slots for ~hundreds of batch signals a second, plot redraws, status
updates) shows up as lateness. The run uses small batches on a small sample so that
batches, and their signals, arrive as fast as the CPU allows; the Live tab is shown so
that the plots really redraw.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_stall.py [--epochs 3] [--batch-size 4]

Prints max and p99 lateness (ms), the GUI thread's CPU time between ticks (its own work: on
a loaded machine lateness also counts the waits for a core), the time the live plots'
redraws took on the GUI thread (their own share of it), and the batch rate; then the worst stalls, each with the CPU time
the GUI thread itself used in it (near the stall's length: the GUI thread's own work; far
below it: waiting for the GIL or a core), and the garbage collections and their length. ``--tab data`` keeps the plots hidden, which
separates the plots' cost from the contention with the training thread (GIL, 2 cores).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QObject, QSettings, Qt, QTimer, Slot  # noqa: E402

TICK_MS = 10


class LatenessProbe(QObject):
    """Records, for each tick of a 10 ms timer, how much later than 10 ms after the previous one it fired."""

    def __init__(self):
        super().__init__()
        self.clock = QElapsedTimer()
        self.lateness_ms: list[float] = []
        self.tick_ms: list[float] = []  # when each tick fired, since start
        self.cpu_ms: list[float] = []  # CPU time the GUI thread used since the previous tick
        self._last_cpu = 0.0
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self._last = 0.0

    def start(self) -> None:
        self.clock.start()
        self._last = 0.0
        self._last_cpu = time.thread_time() * 1000
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @Slot()
    def _on_timer_timeout(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        self.lateness_ms.append(max(0.0, now - self._last - TICK_MS))
        self.tick_ms.append(now)
        self._last = now
        cpu = time.thread_time() * 1000
        self.cpu_ms.append(cpu - self._last_cpu)
        self._last_cpu = cpu


class CollectionLog:
    """Times every garbage collection while installed: (seconds since start, ms, generation, thread)."""

    def __init__(self):
        self.collections: list[tuple[float, float, int, str]] = []
        self._start = 0.0
        self._began = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._began = now
        else:
            self.collections.append((self._began - self._start, (now - self._began) * 1000, info["generation"],
                                     threading.current_thread().name))

    def install(self) -> None:
        self._start = time.perf_counter()
        gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--tab", choices=("live", "data"), default="live", help="tab shown while training")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "xdg")  # keep the user's own folders untouched
        from workbench.config import ExperimentConfig, default_config
        from workbench.data import check_dataset, write_sample_dataset
        from workbench.gui.app import create_application

        app = create_application()
        from workbench.gui.main_window import MainWindow

        dataset = write_sample_dataset(Path(tmp) / "sample", classes=6, per_class=args.per_class, image_size=32)
        config = default_config(check_dataset(dataset, ExperimentConfig().data, seed=0))
        config.train.epochs = args.epochs
        config.train.batch_size = args.batch_size
        config.train.device = "cpu"
        config.train.runs_dir = str(Path(tmp) / "runs")
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(config, settings)
        window.resize(1280, 860)
        window.show()
        deadline = time.monotonic() + 60
        while (window.overview is None or window.model_panel.is_counting()) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        plots = window.live_plots
        redraw_ms: list[float] = []
        draw = plots.redraw

        def timed_redraw(*args, **kwargs) -> None:  # the plots' own cost on the GUI thread
            clock = time.perf_counter()
            draw(*args, **kwargs)
            redraw_ms.append((time.perf_counter() - clock) * 1000)

        plots.redraw = timed_redraw

        loop = QEventLoop()  # the real event loop, as in the app, until the run has ended
        window.session.run_finished.connect(loop.quit)
        window.session.run_failed.connect(loop.quit)
        probe = LatenessProbe()
        if not window.start_run():
            print(f"cannot start: {window.issues}", file=sys.stderr)
            return 1
        window.tabs.setCurrentWidget(window.run_view if args.tab == "live" else window.data_panel)
        collections = CollectionLog()
        probe.start()
        collections.install()
        started = time.monotonic()
        loop.exec()
        elapsed = time.monotonic() - started
        collections.remove()
        probe.stop()
        batches = window.live_plots.history.counts.get("train_batch", 0)
        window.close()
        app.processEvents()

    lateness = np.array(probe.lateness_ms[1:])
    worst = int(np.argmax(lateness))
    print(f"run: {batches} batches in {elapsed:.1f} s ({batches / elapsed:.0f} batches/s through the GUI), "
          f"{lateness.size} timer ticks")
    print(f"GUI-thread lateness of a {TICK_MS} ms timer: max {lateness.max():.1f} ms "
          f"(at {probe.tick_ms[worst + 1] / 1000:.1f} s after Start), "
          f"p99 {np.percentile(lateness, 99):.1f} ms, median {np.median(lateness):.1f} ms")
    cpu = np.array(probe.cpu_ms[1:])
    # What the GUI thread itself computed between two ticks: its own work, which load on the machine
    # does not lengthen much (lateness adds the waits for a core and for the GIL).
    print(f"GUI-thread CPU time between ticks: max {cpu.max():.1f} ms, p99 {np.percentile(cpu, 99):.1f} ms, "
          f"median {np.median(cpu):.1f} ms; machine load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print("worst stalls: " + "; ".join(
        f"{lateness[i]:.0f} ms at {probe.tick_ms[i + 1] / 1000:.2f} s (GUI CPU {cpu[i]:.0f} ms)"
        for i in np.argsort(lateness)[::-1][:5]))
    if collections.collections:
        gc_ms = np.array([c[1] for c in collections.collections])
        longest = max(collections.collections, key=lambda c: c[1])
        print(f"garbage collections: {gc_ms.size}, {gc_ms.sum():.0f} ms in all, longest {longest[1]:.1f} ms "
              f"(generation {longest[2]}, at {longest[0]:.2f} s, {longest[3]} thread)")
    if redraw_ms:
        redraws = np.array(redraw_ms)
        print(f"plot redraws ({redraws.size}, Live tab shown): max {redraws.max():.1f} ms, "
              f"p99 {np.percentile(redraws, 99):.1f} ms, median {np.median(redraws):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
