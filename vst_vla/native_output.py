"""Silence what native libraries print straight to the process's stdout / stderr file descriptors.

LeRobot encodes each episode's video with SVT-AV1 through PyAV. The encoder prints a banner of about twenty
``Svt[info]: ...`` lines per video, and libav adds notes such as ``[mp4 @ 0x...] Starting second pass``; both
are written from C directly to file descriptor 2, so neither Python's ``logging`` nor ``warnings`` filters can
reach them. :func:`native_output_silenced` points the descriptors at ``/dev/null`` for the length of a block
and restores them afterwards, while Python's own output inside the block (``sys.stdout`` / ``sys.stderr``,
and the logging handlers bound to them) still reaches the real console.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

__all__ = ["native_output_silenced"]


def _fileno(stream: object) -> int | None:
    """The descriptor a Python text stream writes to, or None (closed, replaced by a test harness, in memory)."""
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _stream_handlers() -> list[logging.StreamHandler]:
    """Every StreamHandler bound to a fixed stream, on the root logger or on any named logger created so far.

    Handlers whose ``stream`` is a property (``logging.lastResort``'s kind) read ``sys.stderr`` at each record,
    so rebinding ``sys.stderr`` already covers them.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [
        h
        for lg in loggers
        if isinstance(lg, logging.Logger)
        for h in lg.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(getattr(type(h), "stream", None), property)
    ]


@contextlib.contextmanager
def native_output_silenced(fds: Sequence[int] = (1, 2)) -> Iterator[None]:
    """Send everything written to the descriptors ``fds`` inside the block to ``/dev/null``; restore them after.

    Only writes that go to the descriptors themselves (from C libraries, or ``os.write``) vanish. Python's
    ``sys.stdout`` / ``sys.stderr``, when they write to one of ``fds``, are rebound for the block to copies of
    the original descriptors, and so is every logging ``StreamHandler`` holding one of them, so a warning or an
    error logged inside the block is still shown; exceptions propagate as usual. The descriptors are restored
    even when the block raises.

    The redirection is process-wide: another thread writing to the same descriptors meanwhile is silenced too.

    Args:
        fds: the descriptors to silence; stdout and stderr by default.
    """
    streams = {name: getattr(sys, name) for name in ("stdout", "stderr")}
    for stream in streams.values():
        with contextlib.suppress(Exception):
            stream.flush()  # text buffered before the block belongs to the console, not to /dev/null
    saved = {fd: os.dup(fd) for fd in fds}
    rebound: dict[str, TextIO] = {}
    handlers: list[tuple[logging.StreamHandler, TextIO]] = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for name, stream in streams.items():
            fd = _fileno(stream)
            if fd in saved:
                # closefd=False: the saved descriptor is closed below, once, after the original is restored.
                rebound[name] = open(  # noqa: SIM115 - closed in the finally below
                    saved[fd], "w", buffering=1, encoding=stream.encoding, errors=stream.errors, closefd=False
                )
        for handler in _stream_handlers():
            for name, replacement in rebound.items():
                if handler.stream is streams[name]:
                    handlers.append((handler, handler.setStream(replacement)))  # type: ignore[arg-type]
        for name, replacement in rebound.items():
            setattr(sys, name, replacement)
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
        for handler, original in handlers:
            handler.setStream(original)
        for name, replacement in rebound.items():
            replacement.flush()
            setattr(sys, name, streams[name])
            replacement.close()
        for copy in saved.values():
            os.close(copy)
        os.close(devnull)
