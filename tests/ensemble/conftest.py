"""Small data for the ensemble tests: the moth simulator and a teacher net."""
import numpy as np
import pytest

import tfprune as tp


@pytest.fixture(scope="session")
def moth_dir(tmp_path_factory):
    """1,200 moth simulations on disk (simulate_to_disk folder)."""
    path = tmp_path_factory.mktemp("moth_sims")
    tp.data.moth.simulate_to_disk(1200, path, seed=0, workers=1,
                                  progress=False)
    return path


@pytest.fixture(scope="session")
def moth(moth_dir):
    """Scaled moth controller splits: ~770 train, ~190 val, ~240 test rows."""
    return tp.data.moth.make_dataset(data=str(moth_dir))


@pytest.fixture(scope="session")
def teacher():
    """A smooth 10 -> 7 regression in [-0.5, 0.5] (train, val, test)."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(10, 12))
    w2 = rng.normal(size=(12, 7)) / 3

    def part(n):
        x = rng.uniform(-0.5, 0.5, (n, 10)).astype("float32")
        return x, (0.5 * np.tanh(np.tanh(x @ w1) @ w2)).astype("float32")
    return part(1024), part(256), part(256)
