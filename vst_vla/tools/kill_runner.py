"""Run a command as a subprocess and SIGKILL it at a chosen moment: a time, or the k-th temporary file it creates.

The command runs in its own process group (session), so after the kill the tool can see whether the command's
worker processes outlived it (orphans) and end them; only the command's main process is killed, as an OOM killer
or a preempting scheduler would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

POLL_S = 0.02  # how often the output directory is scanned for new temporaries
# How long the command's workers may take to notice their parent is gone: a worker killed while it imports
# torch notices after the import (tens of seconds on a busy 2-core machine).
ORPHAN_GRACE_S = 120.0


@dataclass(frozen=True)
class KillPlan:
    """When to kill: ``at_s`` seconds after the start, or on the ``at_write``-th new temporary (1-based)."""

    at_s: float | None = None
    at_write: int | None = None

    def describe(self) -> str:
        return f"at {self.at_s:.1f} s" if self.at_s is not None else f"on temporary write #{self.at_write}"


@dataclass
class RunOutcome:
    """What one run of a command did."""

    returncode: int | None
    seconds: float
    killed: bool
    write_times_s: list[float] = field(default_factory=list)  # when each new temporary was first seen
    orphans: list[str] = field(default_factory=list)  # processes of the command still alive after the grace period
    log: Path | None = None

    def tail(self, lines: int = 15) -> str:
        if self.log is None or not self.log.is_file():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _temporaries(root: Path) -> set[str]:
    """Relative paths under ``root`` with a hidden component (every temporary the project writes starts with a dot)."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        hidden_dir = any(part.startswith(".") for part in Path(rel).parts)
        for name in (*dirnames, *filenames):
            if hidden_dir or name.startswith("."):
                found.add(os.path.join(rel, name))
    return found


def _group_members(pgid: int) -> list[str]:
    """``pid command`` of the live processes in process group ``pgid`` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                members.append(f"{entry.name} {cmd[:120]}")
        except (OSError, ValueError, IndexError):
            continue
    return members


def run_command(argv: list[str], cwd: Path, log: Path, watch: Path, plan: KillPlan | None = None,
                timeout_s: float = 3600.0, env: dict[str, str] | None = None) -> RunOutcome:
    """Run ``argv`` to completion, or until ``plan`` says to SIGKILL it; returns what happened.

    Args:
        argv: the command line.
        cwd: its working directory.
        log: where its stdout and stderr go.
        watch: directory whose new hidden paths count as writes (for ``plan.at_write`` and ``write_times_s``).
        plan: when to kill; None runs it uninterrupted.
        timeout_s: a run that takes longer is killed and reported with returncode None.
        env: its environment (default: this process's).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    write_times: list[float] = []
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env)
        try:
            killed = _watch(proc, start, watch, plan, timeout_s, seen, write_times)
        except BaseException:  # Ctrl-C of the matrix: the command and its workers go with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
    seconds = time.perf_counter() - start
    returncode = None if (proc.returncode == -signal.SIGKILL and not killed) else proc.returncode
    return RunOutcome(returncode, seconds, killed, write_times, _reap_group(proc.pid), log)


def _watch(proc: subprocess.Popen, start: float, watch: Path, plan: KillPlan | None, timeout_s: float,
           seen: set[str], write_times: list[float]) -> bool:
    """Poll ``proc`` until it exits, recording new temporaries under ``watch``; SIGKILL it when ``plan`` says (or
    past ``timeout_s``). Returns whether ``plan``'s kill was sent."""
    while proc.poll() is None:
        elapsed = time.perf_counter() - start
        new = _temporaries(watch) - seen if watch.exists() else set()
        seen |= new
        write_times += [elapsed] * len(new)
        due = plan is not None and (
            (plan.at_s is not None and elapsed >= plan.at_s)
            or (plan.at_write is not None and len(write_times) >= plan.at_write)
        )
        if due or elapsed > timeout_s:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return due
        time.sleep(POLL_S)
    return False


def _reap_group(pgid: int) -> list[str]:
    """Wait for the command's other processes to exit on their own; SIGKILL and report those that do not."""
    deadline = time.monotonic() + ORPHAN_GRACE_S
    members = _group_members(pgid)
    while members and time.monotonic() < deadline:
        time.sleep(0.5)
        members = _group_members(pgid)
    if members:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return members
