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
