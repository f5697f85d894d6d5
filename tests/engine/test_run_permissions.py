"""A run folder's files are readable by colleagues under the usual umask 022 (not 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from workbench.engine.trainer import Trainer

from test_trainer import tiny_dataset  # noqa: F401  (fixture)
from tiny_runs import tiny_config


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_every_run_file_is_written_with_the_users_umask(tiny_dataset, tmp_path):
    previous = os.umask(0o022)
    try:
        trainer = Trainer(tiny_config(tiny_dataset, tmp_path, epochs=1))
        trainer.fit()
    finally:
        os.umask(previous)
    files = [path for path in trainer.run_dir.rglob("*") if path.is_file()]
    assert {"config.toml", "summary.json", "teacher-best.pt", "student-last.pt", "samples.json"} <= {
        path.name for path in files}
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in files} == {
        path.name: oct(0o644) for path in files}
