"""Render docs/screenshots/tensorboard.png: a run logged with `[log] tensorboard = true`, in TensorBoard itself.

Trains the README's quick-start run on the sample dataset with the TensorBoard logger on (CPU,
a minute or two on two cores), starts `tensorboard --logdir RUNS` on a free loopback port and
takes a screenshot of its Custom Scalars page (each validation metric with the networks in one
chart) in headless Chromium (Debian's package `chromium`). Needs the tensorboard extra.

Run: python docs/make_tensorboard_screenshot.py [--out docs/screenshots] [--runs RUNS_DIR]
(--runs: a runs folder that already has a logged run, to skip the training)
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_report_screenshot import CHROMIUM_FLAGS  # noqa: E402

from workbench.config import default_config  # noqa: E402
from workbench.data import check_dataset, write_sample_dataset  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402


def train_logged_run(work: Path) -> Path:
    data = write_sample_dataset(work / "shapes")
    config = default_config(check_dataset(data, default_config().data, seed=0))
    config.train.runs_dir = str(work / "runs")
    config.train.device = "cpu"
    config.log.tensorboard = True
    Trainer(config).fit()
    return work / "runs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "screenshots"))
    parser.add_argument("--runs", help="a runs folder with a run logged to TensorBoard")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("No Chromium found: install it (Debian: apt-get install chromium) and run again.")
    with tempfile.TemporaryDirectory() as work:
        runs = Path(args.runs) if args.runs else train_logged_run(Path(work))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        board = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs), "--host",
                                  "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:  # until TensorBoard answers
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        sys.exit("TensorBoard did not start within 60 s.")
                    time.sleep(1)
            png = Path(args.out) / "tensorboard.png"
            with tempfile.TemporaryDirectory() as profile:
                # The virtual time budget lets the page's scripts load the runs and draw the charts.
                subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900",
                                "--virtual-time-budget=15000", f"--screenshot={png}",
                                f"http://127.0.0.1:{port}/#custom_scalars"], check=True, capture_output=True,
                               timeout=120)
            print(f"wrote {png}")
        finally:
            board.terminate()
            board.wait(timeout=30)


if __name__ == "__main__":
    main()
