"""What every worker process of the project does first: exit when the process that started it is gone.

A parent killed outright (SIGKILL, the OOM killer, a preempted job) runs no shutdown, and a
``ProcessPoolExecutor`` worker waiting for its next task then waits for ever: it holds its own copy of the task
queue's pipe, so it never reads end-of-file, and it keeps the multiprocessing resource tracker alive with it. The
kill matrix (:mod:`vst_vla.tools.chaos`) found such orphans after killing collection and evaluation.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

__all__ = ["exit_with_parent"]


def exit_with_parent(poll_s: float = 0.5) -> None:
    """Start a daemon thread that ends this process (exit status 1) within ``poll_s`` of its parent's death.

    Polls the parent pid rather than using Linux's ``PR_SET_PDEATHSIG``, which fires when the parent *thread* that
    started the worker ends (a pool may start workers from a thread that ends before the pool) and is Linux-only.
    The parent's pid is the one multiprocessing recorded when it started this process, not ``os.getppid()`` now: a
    parent killed while the worker was still importing (seconds for torch) has already been replaced by a reaper.
    """
    started_by = multiprocessing.parent_process()
    parent = started_by.pid if started_by is not None else os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)  # no cleanup: nobody is left to receive this worker's results
            time.sleep(poll_s)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
