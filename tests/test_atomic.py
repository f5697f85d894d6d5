"""Atomic writes give files the permissions a plain open() would: 0666 less the umask, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat

import pytest

from workbench.atomic import atomic_write_text


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path, umask):
    atomic_write_text(tmp_path / "shared.json", "{}")
    assert _mode(tmp_path / "shared.json") == 0o644
    umask(0o077)
    atomic_write_text(tmp_path / "private.json", "{}")
    assert _mode(tmp_path / "private.json") == 0o600
    (tmp_path / "group.json").write_text("old")
    os.chmod(tmp_path / "group.json", 0o640)
    atomic_write_text(tmp_path / "group.json", "new")
    assert _mode(tmp_path / "group.json") == 0o640 and (tmp_path / "group.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
