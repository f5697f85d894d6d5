"""Render the Studies tab to docs/screenshots/studies_*.png from real studies.

Without arguments it writes a small sample (6 shapes, 30 training and 30 validation samples
each, 30% of training labels wrong), then runs two small real studies on it (CPU, 4 epochs per
stage): the default config over 3 seeds (`workbench train --seeds 3`), and a 2 x 2 grid over
the KD temperature and weight with 2 seeds (`workbench study`, Optuna). ``--seeds-study`` and
``--sweep-study`` render existing study folders instead (the README's shows its measured
quick-start study: ``--seeds-study runs/<time>-study-ce-kd``).

Each view is saved at 1280x720 and at a larger size (1600x1000).

Run: QT_QPA_PLATFORM=offscreen python docs/make_study_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from workbench.gui.app import create_application  # noqa: E402

from workbench.config import default_config, save_config  # noqa: E402
from workbench.data import check_dataset, write_sample_dataset  # noqa: E402
from workbench.gui.studies_view import StudiesView  # noqa: E402

SIZES = {"": (1280, 720), "_large": (1600, 1000)}


def settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def make_studies(folder: Path, seeds: bool = True, sweep: bool = True) -> tuple[Path | None, Path | None]:
    """A 3-seed study and a 2 x 2 x 2-seed sweep (those asked for), trained for real on a small sample."""
    from workbench.engine import sweep as sweeps
    from workbench.engine.study import load_spec, run_seeds

    dataset = write_sample_dataset(folder / "sample", classes=6, per_class=30, val_per_class=30, label_noise=0.3,
                                   image_size=32, seed=0)
    config = default_config(check_dataset(dataset, default_config().data, seed=0))
    config.train.epochs = 4
    config.train.runs_dir = str(folder / "runs")
    seeds_dir = run_seeds(config, 3)[0] if seeds else None
    sweep_dir = None
    if sweep:
        save_config(config, folder / "exp.toml")
        spec_file = folder / "sweep.toml"
        spec_file.write_text('name = "kd-sweep"\nbase = "exp.toml"\nseeds = 2\n[grid]\n'
                             '"loss.kd.temperature" = [1, 4]\n"loss.kd.weight" = [0.5, 2.0]\n', encoding="utf-8")
        spec = load_spec(spec_file)
        study, sweep_dir = sweeps.start_study(spec)
        sweeps.run_worker(study, spec, sweep_dir, sweeps.default_trainer())
    return seeds_dir, sweep_dir


def render(view: StudiesView, study_dir: Path, name: str, out: Path) -> None:
    view.show_study(study_dir)
    for suffix, (width, height) in SIZES.items():
        view.resize(width, height)
        view.show()
        settle()
        view.grab().save(str(out / f"studies_{name}{suffix}.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "screenshots"))
    parser.add_argument("--seeds-study", help="an existing study over seeds to render")
    parser.add_argument("--sweep-study", help="an existing sweep to render")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = create_application()
    with tempfile.TemporaryDirectory() as tmp:
        made = make_studies(Path(tmp), seeds=not args.seeds_study, sweep=not args.sweep_study)
        seeds_dir = Path(args.seeds_study) if args.seeds_study else made[0]
        sweep_dir = Path(args.sweep_study) if args.sweep_study else made[1]
        view = StudiesView()
        render(view, seeds_dir, "seeds", out)
        view.x_box.setCurrentText("loss.kd.temperature")
        render(view, sweep_dir, "sweep", out)
        view.close()
    app.processEvents()
    print(f"Wrote studies_seeds*.png and studies_sweep*.png to {out}")


if __name__ == "__main__":
    main()
