"""The headless front door: the same config and the same engine as the app, no window.

``workbench`` alone opens the desktop app; the subcommands run without a display.
Every user error ends as one ``error: ...`` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from workbench.config import SAMPLE_QUICK_START, TASKS
from workbench.errors import WorkbenchError

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Cross-Modal Distillation Workbench. Without a subcommand, opens the desktop app.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    app = commands.add_parser("app", help="open the desktop app (the default)")
    app.add_argument("config", nargs="?", help="a config file to open")

    sample = commands.add_parser("sample", help="write the built-in sample dataset")
    sample.add_argument("dir", help="folder to create")
    sample.add_argument("--task", choices=TASKS, default="classification",
                        help="classification (class folders, default), vqa or segmentation (manifests)")
    quick_start = SAMPLE_QUICK_START
    sample.add_argument("--classes", type=int, default=quick_start["classes"], help="number of classes (default %(default)s)")
    sample.add_argument("--per-class", type=int, default=quick_start["per_class"],
                        help="training samples per class (default %(default)s; all samples when --val-per-class is 0)")
    sample.add_argument("--val-per-class", type=int, default=quick_start["val_per_class"],
                        help="validation samples per class, in a val/ folder beside train/ (default %(default)s; 0 = no "
                             "given split)")
    sample.add_argument("--label-noise", type=float, default=quick_start["label_noise"],
                        help="share of training samples filed under a wrong class (default %(default)s; validation stays "
                             "clean)")
    sample.add_argument("--image-size", type=int, default=quick_start["image_size"],
                        help="image side in pixels (default %(default)s)")
    sample.add_argument("--seed", type=int, default=quick_start["seed"], help="random seed (default %(default)s)")
    sample.add_argument("--audio", action="store_true", help="also write a short synthesized sound per sample")
    sample.add_argument("--image-noise", type=float, default=None,
                        help="share of images made hard by heavy noise or occlusion (0-1)")
    sample.add_argument("--caption-noise", type=float, default=None,
                        help="share of captions that are vague or misleading (0-1)")

    check = commands.add_parser("check", help="check a dataset folder and report every problem")
    check.add_argument("dir", help="dataset folder")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--config", help="a config file whose [data] settings to use")
    check.add_argument("--seed", type=int, default=0, help="seed of the validation split (default 0)")
    check.add_argument("--task", choices=TASKS, help="the task (default: from --config, else read from the manifest's "
                                                    "columns: answer = vqa, mask = segmentation)")

    config = commands.add_parser("config", help="print a complete, commented default config for a dataset")
    config.add_argument("--data", required=True, help="dataset folder")
    config.add_argument("--teacher", help="comma-separated teacher fields (default: all, fused)")
    config.add_argument("--student", help="comma-separated student fields (default: the image field)")
    config.add_argument("--out", help="write to this file instead of printing")
    config.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="FILE.py",
                        help="a plug-in file whose loss terms and encoders the config lists (repeatable)")
    config.add_argument("--task", choices=TASKS, help="the task (default: read from the manifest's columns)")

    train = commands.add_parser("train", help="train headless: teacher, then the student and its baseline")
    train.add_argument("config", nargs="?", help="config file (TOML); not needed with --resume")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value (repeatable), e.g. --set loss.kd.temperature=2")
    train.add_argument("--out", help="runs folder (overrides train.runs_dir)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--seeds", type=int, metavar="N",
                       help="run the config with seeds 0..N-1 into one study folder, with mean, std and 95%% "
                            "interval of every accuracy and of the gain (study.json)")

    study = commands.add_parser("study", help="sweep config keys (grid, random or TPE) over several seeds, with "
                                              "Optuna (the [study] extra); join or resume a sweep")
    study.add_argument("spec", nargs="?", help="study spec (TOML): base config, seeds, [grid] and/or [random]")
    study.add_argument("--join", metavar="STORAGE",
                       help="run pending trials of a running study: its storage URL or study folder")
    study.add_argument("--resume", metavar="STUDY",
                       help="continue an interrupted study (folder or storage URL): finished trials are kept, "
                            "interrupted ones continue their run folders")
    study.add_argument("--name", help="which study, when the storage holds several")
    study.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a value of the base config (repeatable)")
    study.add_argument("--out", help="runs folder of a new study; with --join, this process's run folders")
    study.add_argument("--quiet", action="store_true", help="no progress bar")

    export = commands.add_parser("export", help="export a run's student (or teacher) to ONNX or TorchScript")
    export.add_argument("run_dir", help="run folder")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="torchscript")
    export.add_argument("--net", choices=("student", "teacher", "baseline"), default="student")
    export.add_argument("--out", help="output file (default: inside the run folder, under export/)")

    report = commands.add_parser("report", help="write one self-contained HTML report of one or several runs")
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folder(s); several are compared")
    report.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in (None, "app"):
            return _open_app(getattr(args, "config", None))
        handler = {"sample": _cmd_sample, "check": _cmd_check, "config": _cmd_config, "train": _cmd_train,
                   "study": _cmd_study, "export": _cmd_export, "report": _cmd_report}[args.command]
        return handler(args)
    except WorkbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _open_app(config_path: str | None) -> int:
    if _no_display():
        # Without this check Qt aborts the process ("could not connect to display", a core dump).
        raise WorkbenchError("No display found (neither DISPLAY nor WAYLAND_DISPLAY is set): the desktop app needs "
                             "a graphical session. Without one, use the headless commands: workbench sample, check, "
                             "config, train (see workbench --help).")
    try:
        from workbench.gui.app import run_app
    except ImportError as error:
        raise WorkbenchError(f"The desktop app cannot start: {error}. On Linux, Qt's xcb plugin needs "
                             "libxcb-cursor0 (see the README); headless commands still work.") from None
    return run_app(config_path)


def _no_display() -> bool:
    """On Linux and other X11/Wayland systems, whether Qt has no screen to open a window on."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _cmd_sample(args: argparse.Namespace) -> int:
    from workbench.data import write_sample_dataset
    from workbench.data.sample_tasks import write_segmentation_sample, write_vqa_sample

    if args.task != "classification":
        writer = write_vqa_sample if args.task == "vqa" else write_segmentation_sample
        options = {"image_size": args.image_size, "seed": args.seed}
        if args.image_noise is not None:
            options["image_noise"] = args.image_noise
        root = writer(Path(args.dir), **options)
        print(f"Wrote the {args.task} sample dataset to {root}")
        print(f"Next: workbench check {root}")
        return 0
    options = {}
    if args.image_noise is not None:
        options["image_noise"] = args.image_noise
    if args.caption_noise is not None:
        options["caption_noise"] = args.caption_noise
    root = write_sample_dataset(Path(args.dir), classes=args.classes, per_class=args.per_class,
                                image_size=args.image_size, seed=args.seed, audio=args.audio,
                                val_per_class=args.val_per_class, label_noise=args.label_noise, **options)
    split = (f"{args.per_class} training ({args.label_noise:.0%} mislabelled) and {args.val_per_class} validation "
             "samples" if args.val_per_class else f"{args.per_class} samples")
    print(f"Wrote the sample dataset ({args.classes} classes x {split}) to {root}")
    print(f"Next: workbench check {root}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from workbench.config import DataConfig, load_config
    from workbench.data import check_dataset, detect_task

    data_cfg = load_config(args.config).data if args.config else DataConfig(task=detect_task(args.dir))
    data_cfg.root = args.dir
    data_cfg.task = args.task or data_cfg.task
    report = check_dataset(Path(args.dir), data_cfg, seed=args.seed)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.format_text())
    return 0 if report.trainable else 1


def _split_fields(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def _cmd_config(args: argparse.Namespace) -> int:
    from workbench.atomic import atomic_write_text
    from workbench.config import DataConfig, config_to_toml, default_config
    from workbench.data import check_dataset, detect_task
    from workbench.plugins import load_plugins

    data_cfg = DataConfig(root=str(Path(args.data).resolve()), task=args.task or detect_task(args.data))
    report = check_dataset(Path(args.data), data_cfg, seed=0)
    if not report.trainable:
        raise WorkbenchError(f"{args.data} has nothing trainable; run `workbench check {args.data}` to see why.")
    load_plugins([str(Path(path).resolve()) for path in args.plugins])  # their terms join the config
    cfg = default_config(report, _split_fields(args.teacher), _split_fields(args.student))
    # In the file, plug-in paths are relative to the file itself (load_config reads them so).
    config_dir = Path(args.out).resolve().parent if args.out else Path.cwd()
    cfg.plugins = [os.path.relpath(Path(path).resolve(), config_dir) for path in args.plugins]
    text = config_to_toml(cfg)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"Wrote {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from workbench.engine.cli_train import train_from_cli

    return train_from_cli(config_path=args.config, overrides=args.overrides, runs_dir=args.out,
                          resume=args.resume, quiet=args.quiet, seeds=args.seeds)


def _cmd_study(args: argparse.Namespace) -> int:
    from workbench.engine.cli_study import study_from_cli

    return study_from_cli(args.spec, args.join, args.resume, args.name, args.overrides, args.out, args.quiet)


def _cmd_export(args: argparse.Namespace) -> int:
    from workbench.engine.export import describe_export, export_run

    out = export_run(Path(args.run_dir), fmt=args.format, net=args.net, out=Path(args.out) if args.out else None)
    print(describe_export(out))
    print(f"Its labels, fields and preprocessing: {out.with_suffix('.json')}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    # The report's pictures are drawn by the app's plot classes, offscreen: no display needed.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from workbench.gui.app import create_application
    except ImportError as error:
        raise WorkbenchError(f"The report draws with Qt, which cannot load here: {error}.") from None
    create_application()
    from workbench.gui.report import write_report

    out = write_report(args.run_dirs, args.out)
    print(f"Wrote {out} ({out.stat().st_size / 1024:.0f} KiB, self-contained: open it in any browser)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
