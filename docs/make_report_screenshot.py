"""Render docs/screenshots/report.png and report_comparison.png: `workbench report` pages as a browser shows them.

Writes the built-in sample dataset, trains the README's quick-start run on it and a second run
with decoupled KD that reuses its teacher (CPU, about a minute or two on two cores), writes the
report of the first run and the comparison of both, and takes a screenshot of each page in
headless Chromium (Debian's package `chromium`).

Run: python docs/make_report_screenshot.py [--out docs/screenshots] [--keep DIR] [--runs RUN_A RUN_B]
(--runs: two runs made by an earlier --keep, so that only the pages and screenshots are made again)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from workbench.config import default_config  # noqa: E402
from workbench.data import check_dataset, write_sample_dataset  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.app import create_application  # noqa: E402
from workbench.gui.report import write_report  # noqa: E402

# What the probe found Chromium needs here: no sandbox as root, and no background network traffic.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def screenshot(page: Path, png: Path, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        sys.exit("No Chromium found: install it (Debian: apt-get install chromium) and run again.")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}",
                        f"--screenshot={png}", page.resolve().as_uri()], check=True, capture_output=True,
                       timeout=120)
    print(f"wrote {png}")


def train_two_runs(work: Path) -> list[Path]:
    """The quick start's run (sample dataset, seed 0), then decoupled KD reusing its teacher."""
    data = write_sample_dataset(work / "shapes")
    config = default_config(check_dataset(data, default_config().data, seed=0))
    config.train.runs_dir = str(work / "runs")
    config.train.device = "cpu"
    first = Trainer(config)
    first.fit()
    second_config = config.copy()
    second_config.loss.kd.weight, second_config.loss.dkd.weight = 0.0, 1.0
    second_config.teacher.checkpoint = str(first.run_dir)
    second = Trainer(second_config)
    second.fit()
    return [first.run_dir, second.run_dir]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "screenshots"))
    parser.add_argument("--keep", help="keep the dataset, runs and HTML pages in this folder")
    parser.add_argument("--runs", nargs=2, help="report on these two runs instead of training them")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="report-shot-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)

    runs = [Path(run) for run in args.runs] if args.runs else train_two_runs(work)
    create_application()
    one = write_report(runs[:1], work / "report.html")
    both = write_report(runs, work / "report_comparison.html")
    screenshot(one, out / "report.png", 2400)
    screenshot(both, out / "report_comparison.png", 1100)
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
