"""Small shared helpers: seeding, device selection."""
from __future__ import annotations

import random
import warnings

import numpy as np

from ._keras import keras, tf

__all__ = ["set_seed", "derive_seed", "ensure_device", "is_chief"]

_GPU_WARNED = False


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (weight init, shuffles, dropout)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    keras.utils.set_random_seed(int(seed))


def derive_seed(seed, *keys) -> int | None:
    """A stable child seed of ``seed`` for sub-tasks (layers, members, chunks).

    ``None`` stays ``None`` (unseeded). The mapping is a hash of the integers,
    not Python's salted ``hash``, so it is the same in every process.
    """
    if seed is None:
        return None
    ss = np.random.SeedSequence([int(seed)] + [int(k) for k in keys])
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def ensure_device(prefer_gpu: bool = True) -> str:
    """Return the device TensorFlow will use; warn once when no GPU is found."""
    global _GPU_WARNED
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return "GPU"
    if prefer_gpu and not _GPU_WARNED:
        _GPU_WARNED = True
        warnings.warn("No GPU found; tfprune runs on the CPU. For a GPU, create "
                      "the conda environment (conda env create -f "
                      "environment.yml) on a machine with CUDA.",
                      RuntimeWarning, stacklevel=2)
    return "CPU"


def progress_bar(enabled: bool, total=None, **kwargs):
    """A ``tqdm`` progress bar; a disabled one (``update``, ``set_postfix``
    and ``close`` do nothing) when ``enabled`` is false, so callers need no
    ``None`` checks."""
    from tqdm.auto import tqdm
    return tqdm(total=total, disable=not enabled, **kwargs)


def is_chief(strategy=None) -> bool:
    """True unless this process is a non-chief worker of a multi-worker
    ``tf.distribute`` strategy: only the chief writes run folders and
    artifacts."""
    if strategy is None:
        return True
    return bool(getattr(strategy.extended, "should_checkpoint", True))
