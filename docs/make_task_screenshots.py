"""Render the VQA detail view and the segmentation overlay to docs/screenshots/ from real runs.

Writes the VQA and segmentation sample datasets, trains one small run on each (CPU, the default
config of ``workbench config --data`` with fewer epochs), then renders the Results tab offscreen
at 1280x720: a VQA sample's detail (question, true answer, each network's top answers) and a
segmentation image's true and predicted masks over the image (the gallery's first tile: the image
the teacher segments best compared with the student).

Run: QT_QPA_PLATFORM=offscreen python docs/make_task_screenshots.py [--out docs/screenshots] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QLabel  # noqa: E402

from make_results_screenshots import keep_none_alive, settle, wait_for  # noqa: E402
from workbench.config import DataConfig, default_config  # noqa: E402
from workbench.data import check_dataset  # noqa: E402
from workbench.data.sample_tasks import write_segmentation_sample, write_vqa_sample  # noqa: E402
from workbench.engine.trainer import Trainer  # noqa: E402
from workbench.gui.results import ResultsView  # noqa: E402


def train(dataset: Path, task: str, runs: Path, epochs: int) -> Path:
    config = default_config(check_dataset(dataset, DataConfig(task=task), seed=0))
    config.train.epochs = config.train.teacher_epochs = epochs
    config.train.device = "cpu"
    config.train.runs_dir = str(runs)
    trainer = Trainer(config)
    trainer.fit()
    return trainer.run_dir


def open_run(run_dir: Path) -> ResultsView:
    view = ResultsView()
    view.resize(1280, 720)
    view.show()
    view.show_run(str(run_dir))
    wait_for(view.epoch_shown, 120)
    settle(1500)
    return view


def settle_until(done, timeout_s: float = 30) -> None:
    """Let queued work arrive until ``done()`` (images decoded in the background), at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        settle(200)
    settle(400)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(Path(__file__).parent / "screenshots"))
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep_none_alive()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        vqa_run = train(write_vqa_sample(root / "vqa"), "vqa", root / "runs", args.epochs)
        seg_run = train(write_segmentation_sample(root / "seg"), "segmentation", root / "runs", args.epochs)

        view = open_run(vqa_run)
        predictions = view.predictions
        # A sample the teacher answers right and the student does not: where the caption helped.
        helped = [row for row in range(predictions.num_samples)
                  if predictions.correct["teacher"][row] and not predictions.correct["student"][row]]
        view.show_sample(helped[0] if helped else 0)
        settle_until(lambda: not any(label.text() == "(loading)" for label in view.detail.findChildren(QLabel)))
        view.grab().save(str(out / "vqa_detail.png"))
        view.shutdown()

        view = open_run(seg_run)
        page = view.segmentation
        settle_until(lambda: bool(page.images) and all(image is not None for image in page.images))
        page.gallery.setCurrentRow(0)
        settle(800)
        view.grab().save(str(out / "segmentation_overlay.png"))
        view.shutdown()
    app.processEvents()
    print(f"wrote {out / 'vqa_detail.png'} and {out / 'segmentation_overlay.png'}")


if __name__ == "__main__":
    main()
