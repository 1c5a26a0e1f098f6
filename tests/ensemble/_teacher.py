"""A smooth 10 -> 7 regression in [-0.5, 0.5]: the ensemble tests' small
data, also imported by scripts that the kill-and-resume tests run."""
import numpy as np


def teacher_data():
    """``(train, val, test)`` of 1024, 256 and 256 rows, always the same."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(10, 12))
    w2 = rng.normal(size=(12, 7)) / 3

    def part(n):
        x = rng.uniform(-0.5, 0.5, (n, 10)).astype("float32")
        return x, (0.5 * np.tanh(np.tanh(x @ w1) @ w2)).astype("float32")
    return part(1024), part(256), part(256)
