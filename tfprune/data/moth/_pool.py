"""Worker processes that die with their parent.

A ``kill -9`` of the parent cannot run any cleanup, so each worker watches
for it itself: on Linux the kernel sends it ``SIGKILL`` when the parent dies
(``PR_SET_PDEATHSIG``), and everywhere a daemon thread exits the worker as
soon as its parent process id changes (the orphan is re-parented).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

__all__ = ["worker_pool"]

_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True,
                     name="tfprune-parent-watch").start()


def worker_pool(workers: int):
    """A ``ProcessPoolExecutor`` of ``workers`` processes (forked where the
    platform allows) whose workers exit when this process dies."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method),
                               initializer=_die_with,
                               initargs=(os.getpid(),))
