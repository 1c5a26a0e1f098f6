"""Small data for the ensemble tests: the moth simulator and a teacher net."""
import pytest

import tfprune as tp
from _teacher import teacher_data


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
    return teacher_data()


@pytest.fixture()
def interrupt_training(monkeypatch):
    """``interrupt_training(k)``: the k-th ``train_level`` call from now
    raises ``KeyboardInterrupt`` (a crash in the middle of a level)."""
    from tfprune.ensemble import train as train_mod
    real = train_mod.EnsembleTrainer.train_level

    def arm(k):
        calls = {"n": 0}

        def interrupted(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == k:
                raise KeyboardInterrupt
            return real(self, *args, **kwargs)
        monkeypatch.setattr(train_mod.EnsembleTrainer, "train_level",
                            interrupted)
        return calls
    return arm
