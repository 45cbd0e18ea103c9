"""Crash-safe file writes (results, metadata, stats).

A reader (a dashboard, a resumed run, a person) must never see half a ``summary.json`` or a truncated mp4, so
files are written under a temporary name in the destination directory and moved into place with ``os.replace``,
which is atomic on POSIX and Windows when both names are on the same filesystem.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vst_vla.errors import CorruptFileError, MissingInputError, UserError

__all__ = [
    "atomic_directory",
    "atomic_path",
    "check_safetensors",
    "check_writable_destination",
    "remove_dead_temporaries",
    "temporary_sibling",
    "write_json_atomic",
]

# Temporary names carry the writing process (pid and host), so a later writer can tell the leftovers of a process
# that was killed (SIGKILL, power loss: no ``except`` ran to delete them) from the temporaries of one still writing.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[0-9a-f]{8})\.[0-9a-f]{12}\.(?:tmp|old)$")


def temporary_sibling(path: str | os.PathLike[str], kind: str = "tmp") -> Path:
    """A fresh hidden name next to ``path``: ``.<name>.<pid>@<host>.<uuid>.<kind>`` (kind ``tmp`` or ``old``).

    Hidden (leading dot) so globbing for results never picks it up; :func:`remove_dead_temporaries` recognises it.
    """
    if kind not in ("tmp", "old"):
        raise ValueError(f"kind must be 'tmp' or 'old', got {kind!r}")
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}@{_HOST}.{uuid.uuid4().hex[:12]}.{kind}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_dead_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries (:func:`temporary_sibling` names) in ``directory`` whose writer no longer runs.

    Only names made on this host by a process that is gone are removed: a live writer's temporary, another
    host's (a shared filesystem) and anything not named by :func:`temporary_sibling` are left alone. Returns
    what was removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or match["host"] != _HOST or _process_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on a clean exit move it onto ``path``, on an error delete it.

    The temporary path does not exist yet when yielded; the caller creates it. It lives in the same directory (so
    ``os.replace`` does not cross filesystems) and is hidden (leading dot) so globbing for results never picks it
    up. The parent directory is created if needed, and temporaries left there by killed writers are removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(path.parent)
    # A fresh unique name rather than ``tempfile.mkstemp``: mkstemp creates the file with mode 0600, which the
    # rename would carry over, leaving results unreadable to other users; the writer creates it with the umask.
    tmp = temporary_sibling(path)
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
    is deleted. Checkpoints are written this way, so resuming never finds a half-written one. Temporaries left
    beside ``path`` by killed writers are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(path.parent)
    tmp = temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        _give_safetensors_the_umask_mode(tmp)
        if path.exists():
            # Moved aside, then deleted: a kill between the two renames leaves the old copy under a name the next
            # writer removes, never a half-deleted one at ``path``.
            old = temporary_sibling(path, "old")
            path.replace(old)
            tmp.replace(path)
            shutil.rmtree(old)
        else:
            tmp.replace(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _give_safetensors_the_umask_mode(directory: Path) -> None:
    """Make the ``.safetensors`` files under ``directory`` as readable as any other file written there.

    safetensors >= 0.8 writes through a temporary file that it creates with mode 0600 and renames into place, so
    weights end up readable by their owner only, unlike the JSON beside them (safetensors issue #782; its fix, PR
    #789, is not released). A checkpoint on a shared machine must be loadable by the team, so such files get the
    mode a plain ``open()`` would have given them: 0666 less the process umask.
    """
    mask = os.umask(0o022)
    os.umask(mask)
    for file in directory.rglob("*.safetensors"):
        if file.is_file() and (file.stat().st_mode & 0o777) == 0o600:
            file.chmod(0o666 & ~mask)


def check_writable_destination(path: str | os.PathLike[str], what: str) -> None:
    """Refuse, before any work, an output ``path`` that cannot be written (or whose parents cannot be created).

    The directory that will receive it (``path`` itself when it is an existing directory, else the nearest
    existing ancestor of ``path``) must be one in which a file can be created: a probe file is created and
    deleted there (``os.access`` says yes to root even on a read-only mount). Nothing is left behind.

    Args:
        path: the output file or directory the user named.
        what: how the user named it (``--out``, ``collect.root``), for the message.
    Raises:
        UserError: naming ``path`` and why it cannot be written.
    """
    path = Path(path)
    ancestor = path.absolute() if path.is_dir() else path.parent.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{what} {str(path)!r} cannot be written: {ancestor} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        raise UserError(f"{what} {str(path)!r} cannot be written: {ancestor} is not writable "
                        f"({err.strerror or err})") from None


def check_safetensors(path: str | os.PathLike[str], hint: str) -> None:
    """Refuse a missing, truncated or corrupt ``.safetensors`` file before a loader reports it without its name.

    Reads only the header (8-byte length + JSON) and checks that the file holds every tensor's bytes, so it is
    cheap even for multi-GB weights.

    Args:
        path: the file.
        hint: what to do about it (``re-run without trainer.resume``, ``re-export the checkpoint``).
    Raises:
        MissingInputError: the file does not exist.
        CorruptFileError: naming the file, what is wrong and ``hint``.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"checkpoint file {path} does not exist; {hint}")
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if 8 + header_len > size:
                raise ValueError(f"header of {header_len} bytes in a {size}-byte file")
            header = json.loads(f.read(header_len))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise CorruptFileError(f"checkpoint file {path} is truncated or corrupt (unreadable safetensors header: "
                               f"{err}); {hint}") from None
    needed = 8 + header_len + max(ends, default=0)
    if size < needed:
        raise CorruptFileError(f"checkpoint file {path} is truncated or corrupt ({size} bytes, its header needs "
                               f"{needed}); {hint}")
