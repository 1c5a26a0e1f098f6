"""Shared by the benchmark scripts: machine/version header and timing."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def header(title: str) -> None:
    """Print what ran where: machine, cores, Python and library versions."""
    import numpy
    import tfprune as tp
    tf = tp._keras.tf
    print(f"== {title}")
    print(f"machine: {platform.machine()} {platform.processor() or ''} "
          f"cores={os.cpu_count()} gpu={bool(tf.config.list_physical_devices('GPU'))}")
    print(f"python {sys.version.split()[0]}  numpy {numpy.__version__}  "
          f"tensorflow {tf.__version__}  tf_keras {tp.keras.__version__}  "
          f"tfprune {tp.__version__}")


def median_time(fn, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
