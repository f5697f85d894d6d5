"""A real full disk and a real read-only folder (tmpfs mounts; skipped where mounting is not allowed)."""

from __future__ import annotations

import os
import subprocess

import pytest

from workbench.cli import main
from workbench.config import save_config

from test_trainer import tiny_dataset  # noqa: F401 (a fixture)
from tiny_runs import tiny_config


@pytest.fixture
def mount_tmpfs(tmp_path):
    mounted = []

    def mount(name: str, options: str):
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def train(capsys, config, out):
    code = main(["train", str(config), "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    return code, [line for line in captured.err.splitlines() if line.strip()]


def test_a_full_disk_and_a_read_only_folder_give_one_message_and_the_next_run_works(tiny_dataset, tmp_path, capsys,
                                                                                   mount_tmpfs):
    config = tmp_path / "exp.toml"
    save_config(tiny_config(tiny_dataset, tmp_path / "runs", epochs=1), config)

    full = mount_tmpfs("full", "size=1m")
    stats = os.statvfs(full)
    # Leave 24 KiB: the run folder, its config and sample list fit, the first checkpoint does not.
    (full / "filler").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 24 * 1024))
    code, lines = train(capsys, config, full / "runs")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: Cannot write ") and "No space left on device; free some space there" in lines[0]
    assert not list((full / "runs").rglob("*.tmp"))

    read_only = mount_tmpfs("read-only", "ro,size=1m")
    code, lines = train(capsys, config, read_only / "runs")
    assert (code, lines) == (2, [f"error: Cannot create a run folder in {read_only / 'runs'}: Read-only file system. "
                                 "Set train.runs_dir (or --out) to a folder you can write to."])

    code, lines = train(capsys, config, tmp_path / "healthy")
    assert code == 0
