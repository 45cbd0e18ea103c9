"""A worker process ends when the process that started it is killed outright."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PARENT = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from vst_vla.workers import exit_with_parent

    def child(path):
        open(path, "w").write(str(os.getpid()))
        # Still "importing" when the parent dies: the watch starts only after the parent is gone.
        while not os.path.exists(path + ".parent-killed"):
            time.sleep(0.05)
        exit_with_parent(poll_s=0.1)
        time.sleep(600)

    if __name__ == "__main__":
        multiprocessing.get_context("spawn").Process(target=child, args=(sys.argv[1],)).start()
        time.sleep(600)
""")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its exit status waits to be collected


def wait_for(condition, what: str, bound_s: float = 120.0) -> None:
    """Poll ``condition``; the bound only stops a hang, the test does not depend on how fast it becomes true."""
    deadline = time.monotonic() + bound_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_worker_exits_when_its_parent_is_sigkilled(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)], start_new_session=True)
    try:
        wait_for(lambda: pid_file.is_file() and pid_file.read_text(), "the worker never started")
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        Path(f"{pid_file}.parent-killed").touch()
        wait_for(lambda: not alive(child), f"worker {child} outlived its killed parent")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
