"""Errors in what a user gave (a config value, a path, a file), and the one place they become an exit message.

A :class:`UserError` is raised where the input enters (a config field, a checkpoint or data file, an output
path) with a message that names the field, file or value and says what was expected. Every command line runs
its body inside :func:`exit_on_user_error`, which prints that message as one ``error: ...`` line on stderr and
exits with status 2 (argparse's status for a usage error) instead of a traceback. Anything else is a bug and
keeps its traceback.

The subclasses also derive from the built-in exception a caller would expect (``ValueError``,
``FileNotFoundError``, ...), so code and tests that catch those keep working.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = [
    "USER_ERROR_EXIT",
    "ConfigError",
    "CorruptFileError",
    "MissingInputError",
    "OutputExistsError",
    "UserError",
    "exit_on_user_error",
]

USER_ERROR_EXIT = 2


class UserError(Exception):
    """Bad input from the user; the message alone (no traceback) is what they see."""


class ConfigError(UserError, ValueError):
    """A config value or key that does not fit its schema; the message names the dotted field path."""


class MissingInputError(UserError, FileNotFoundError):
    """An input path (checkpoint, dataset, data file) that does not exist or lacks a required file."""


class OutputExistsError(UserError, FileExistsError):
    """An output location that is already taken and may not be overwritten."""


class CorruptFileError(UserError, ValueError):
    """An input file that exists but cannot be read (truncated, not the expected format)."""


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Run a command line's body; a :class:`UserError` becomes ``error: <message>`` on stderr and exit status 2.

    A context manager rather than a decorator so that hydra's ``@hydra.main`` still sees the entry point's own
    function (it locates ``config_path`` from that function's file).
    """
    try:
        yield
    except UserError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(USER_ERROR_EXIT) from None
