"""Atomic file writes: a crash never leaves a half-written file in place.

Every writer goes to a temporary file in the target's folder, flushes and fsyncs it,
then ``os.replace``s it over the target (atomic on POSIX and Windows). The file gets the
permissions a plain ``open()`` would give it (``0666`` less the umask, or those of the file it
replaces), not the ``0600`` of the temporary file, so colleagues can read a run's results.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

from workbench.errors import WorkbenchError


# Why a write fails when the fault is the folder's, not the program's: a full disk or quota, a
# read-only disk, no permission, or a file standing where a folder should be.
_FOLDER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                            errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG})
TEMP_SUFFIX = ".tmp"  # the temporary files are ".<name>.<random>.tmp" beside their target


class WriteError(WorkbenchError, OSError):
    """A file could not be written for a reason its user can fix; the message names it and what to do."""

    def __str__(self) -> str:
        return self.strerror  # the message alone, without OSError's "[Errno 28]"


def write_error(error: OSError, path: str | os.PathLike) -> OSError:
    """``error`` as a :class:`WriteError` naming ``path`` when the folder is at fault, else ``error`` itself."""
    if isinstance(error, WriteError) or error.errno not in _FOLDER_ERRNOS:
        return error
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space there, or choose a folder on another disk"
    elif error.errno == errno.EROFS:
        advice = "the disk is read-only: choose a folder on a writable one"
    elif error.errno in (errno.EACCES, errno.EPERM):
        advice = "you may not write there: choose a folder you can write to"
    else:
        advice = "a file stands where a folder is needed (or the name is too long): choose another folder"
    return WriteError(error.errno, f"Cannot write {path}: {error.strerror}; {advice}.")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success it replaces ``path``.

    A full, read-only or forbidden folder raises a :class:`WriteError` and leaves nothing behind.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as error:
        raise write_error(error, target) from None
    try:
        if hasattr(os, "fchmod"):  # POSIX; on Windows the 0600 of mkstemp does not apply
            os.fchmod(fd, _mode_for(target))
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(error, OSError):
            raise write_error(error, target) from None
        raise


def remove_leftover_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writes interrupted by a crash or a kill left in ``folder`` and
    below it (a finished write never leaves one); returns what was removed."""
    removed = []
    for path in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed



def _current_umask() -> int:
    """The process's umask. Reading it means setting it, so it is set straight back (a few
    microseconds in which another thread's new file would get mode 0666 less 0o077)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)  # replacing a file keeps its permissions
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=True) + "\n")

