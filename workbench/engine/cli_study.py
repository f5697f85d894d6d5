"""``workbench study``: a sweep started, joined or resumed from the command line (engine/sweep.py).

The first Ctrl-C stops the running trial after its current batch and ends this process's part:
the trial is queued again, and ``--resume`` (or any joined process) continues its run folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from workbench.engine.cli_train import EXIT_STOPPED, ProgressPrinter, _CurrentTrainer, _StopOnInterrupt
from workbench.errors import WorkbenchError


def study_from_cli(spec_path: str | None, join: str | None, resume: str | None, name: str | None,
                   overrides: list[str], out: str | None, quiet: bool) -> int:
    from workbench.engine import sweep
    from workbench.engine.study import load_spec, study_table

    if sum(bool(given) for given in (spec_path, join, resume)) != 1:
        raise WorkbenchError("Give one of: a study spec (workbench study SPEC.toml), --join STORAGE or "
                             "--resume STUDY (a study folder or its storage URL).")
    if (join or resume) and overrides:
        raise WorkbenchError("--set changes a new study's base config; a joined or resumed study keeps its own.")
    if spec_path:
        spec = load_spec(spec_path, overrides)
        study, study_dir = sweep.start_study(spec, out)
        print(f"Study '{spec.name}' in {study_dir}\n  other processes or machines can join with: workbench study "
              f"--join {study.user_attrs['storage']}", file=sys.stderr, flush=True)
    else:
        study, spec = sweep.load_study(join or resume, name)
        study_dir = sweep.study_folder(study, out)
        if resume:
            requeued = sweep.requeue_interrupted(study)
            if requeued:
                print(f"Trials {', '.join(map(str, requeued))} were interrupted: queued again, continuing their run "
                      "folders.", file=sys.stderr, flush=True)
    current = _CurrentTrainer()
    progress = ProgressPrinter(sys.stderr, quiet)

    def callbacks() -> list[Any]:
        return [progress]

    build = sweep.default_trainer(callbacks)

    def make_trainer(cfg: Any, folder: Path, resume_dir: Path | None) -> Any:
        current.trainer = build(cfg, folder, resume_dir)
        return current.trainer

    def on_update(summary: dict[str, Any]) -> None:
        trial = max((trial for trial in summary["trials"] if trial["state"] in ("complete", "failed")),
                    key=lambda trial: trial["number"], default=None)
        if trial is not None and not quiet:
            done = sum(1 for trial in summary["trials"] if trial["state"] == "complete")
            print(f"trial {trial['number']} {trial['state']}; {done} of {len(summary['trials'])} trials complete",
                  file=sys.stderr, flush=True)

    with _StopOnInterrupt(current, sys.stderr) as interrupt:
        try:
            summary = sweep.run_worker(study, spec, study_dir, make_trainer, lambda: interrupt.interrupted, on_update)
        finally:
            progress.close()
    print(study_table(summary))
    print(f"study folder: {study_dir}\nstorage: {study.user_attrs['storage']}")
    if interrupt.interrupted:
        print(f"Stopped. Continue with: workbench study --resume {study_dir}", file=sys.stderr)
        return EXIT_STOPPED
    return 0
