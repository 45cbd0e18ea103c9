"""Crash-safe file writes (results, metadata, stats).

A reader (a dashboard, a resumed run, a person) must never see half a ``summary.json`` or a truncated mp4, so
files are written under a temporary name in the destination directory and moved into place with ``os.replace``,
which is atomic on POSIX and Windows when both names are on the same filesystem.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_directory", "atomic_path", "write_json_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on a clean exit move it onto ``path``, on an error delete it.

    The temporary path does not exist yet when yielded; the caller creates it. It lives in the same directory (so
    ``os.replace`` does not cross filesystems) and is hidden (leading dot) so globbing for results never picks it
    up. The parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh unique name rather than ``tempfile.mkstemp``: mkstemp creates the file with mode 0600, which the
    # rename would carry over, leaving results unreadable to other users; the writer creates it with the umask.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        # Without fsync a power loss after the rename can leave an empty file under the final name.
        os.fsync(f.fileno())
    return path


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``path``; on a clean exit it replaces ``path``, on an error it
    is deleted. Checkpoints are written this way, so resuming never finds a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.replace(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
