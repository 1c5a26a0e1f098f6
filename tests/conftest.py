"""Shared test set-up: CPU only, quiet TensorFlow, small real data sets."""
import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tfprune as tp  # noqa: E402,F401  (selects Keras 2 before TF loads)


@pytest.fixture(scope="session")
def digits():
    """sklearn digits scaled to [0, 1]: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype("float32")
    y = d.target.astype("int64")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    x, y = x[idx], y[idx]
    n = int(0.8 * len(x))
    return x[:n], y[:n], x[n:], y[n:]


def _split_cpu():
    # Two logical CPU devices for tf.distribute.MirroredStrategy tests; must
    # run before TensorFlow initialises its devices.
    import tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:
        pass


_split_cpu()


@pytest.fixture()
def two_cpu_strategy():
    """A MirroredStrategy over the two logical CPU devices.

    Reductions go through one device rather than collective ops: collective
    instance keys are per process, and several strategies created by
    different tests would otherwise collide on them.
    """
    import tensorflow as tf
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    if len(devices) < 2:
        pytest.skip("TensorFlow initialised before the CPU could be split")
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


_KILL_PRELUDE = '''
import os, signal, sys
import tfprune._io as _tp_io
import tfprune._runstate as _tp_rs

_AT, _WHERE = int(os.environ["TFPRUNE_KILL_AT"]), os.environ["TFPRUNE_KILL_WHERE"]
_count = {"commit": 0, "replace": 0}
_commit, _replace = _tp_rs.RunDir.commit, _tp_io.os.replace


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _commit_hook(self, *args, **kwargs):
    _count["commit"] += 1
    if _WHERE == "before_commit" and _count["commit"] == _AT:
        _die()
    unit = _commit(self, *args, **kwargs)
    if _WHERE == "after_commit" and _count["commit"] == _AT:
        _die()
    return unit


class _OsProxy:
    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def replace(src, dst):
        _count["replace"] += 1
        if _WHERE == "before_rename" and _count["replace"] == _AT:
            _die()
        return _replace(src, dst)


_tp_rs.RunDir.commit = _commit_hook
_tp_io.os = _OsProxy()
'''


@pytest.fixture()
def run_killed(tmp_path):
    """Run a Python script in a subprocess that is SIGKILLed at a commit
    boundary of its run folder: ``where`` is ``"before_commit"`` (the unit's
    files are written, its record is not), ``"after_commit"`` (the record is
    written) or ``"before_rename"`` (a temporary file is complete but not yet
    renamed into place); ``at`` counts those events from 1. Returns the
    ``CompletedProcess``; ``returncode == -9`` when the kill happened, 0 when
    the script finished before reaching it."""
    import subprocess
    import sys
    import textwrap

    def run(script: str, at: int, where: str = "before_commit",
            timeout: int = 600):
        assert where in ("before_commit", "after_commit", "before_rename")
        path = tmp_path / f"killed_{where}_{at}.py"
        path.write_text(_KILL_PRELUDE + textwrap.dedent(script))
        env = dict(os.environ, TFPRUNE_KILL_AT=str(at),
                   TFPRUNE_KILL_WHERE=where)
        return subprocess.run([sys.executable, str(path)], env=env,
                              capture_output=True, text=True,
                              timeout=timeout)
    return run
