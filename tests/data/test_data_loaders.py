"""Real-data loaders: penguins, digits, and the keras.datasets wrappers."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.data import loaders


def _raw_penguins():
    return loaders._penguin_frame().dropna().reset_index(drop=True)


def test_penguins_split_sizes_and_types():
    s = tp.data.load_penguins(seed=0)
    assert isinstance(s, tp.data.Splits)
    assert [len(part[0]) for part in s] == [200, 100, 33]
    for x, y in s:
        assert x.shape[1] == 12 and x.dtype == np.float32
        assert y.shape[1] == 3 and y.dtype == np.float32
        np.testing.assert_array_equal(y.sum(1), 1.0)
    s_int = tp.data.load_penguins(seed=0, one_hot=False)
    assert s_int.train[1].dtype == np.int64
    np.testing.assert_array_equal(s_int.train[1], s.train[1].argmax(1))


def test_penguins_features_follow_the_spec_preprocessing():
    raw = _raw_penguins()
    assert len(raw) == 333
    expected = np.column_stack([
        raw.island == "Torgersen", raw.island == "Biscoe",
        raw.island == "Dream", raw.bill_length_mm / 50,
        raw.bill_depth_mm / 20, raw.flipper_length_mm / 200,
        raw.body_mass_g / 5000, raw.sex == "male", raw.sex == "female",
        raw.year == 2007, raw.year == 2008, raw.year == 2009,
        raw.species.map({"Adelie": 0, "Gentoo": 1, "Chinstrap": 2}),
    ]).astype(np.float32)
    s = tp.data.load_penguins(seed=3, one_hot=False)
    got = np.column_stack([np.concatenate([p[0] for p in s]),
                           np.concatenate([p[1] for p in s])]
                          ).astype(np.float32)
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_array_equal(order(got), order(expected))
    assert tp.data.PENGUIN_CLASSES == ("Adelie", "Gentoo", "Chinstrap")


def test_penguins_seeded():
    a, b = tp.data.load_penguins(seed=1), tp.data.load_penguins(seed=1)
    c = tp.data.load_penguins(seed=2)
    np.testing.assert_array_equal(a.train[0], b.train[0])
    assert not np.array_equal(a.train[0], c.train[0])
    with pytest.raises(ValueError, match="seed"):
        tp.data.load_penguins(seed=-1)


def test_digits_split_is_stratified_and_shaped():
    s = tp.data.load_digits(seed=0)
    sizes = [len(p[0]) for p in s]
    assert sum(sizes) == 1797
    assert abs(sizes[2] - 0.2 * 1797) <= 1 and abs(sizes[1] - 0.1 * 1797) <= 1
    for x, y in s:
        assert x.shape[1:] == (64,) and x.dtype == np.float32
        assert x.min() >= 0 and x.max() <= 1 and y.dtype == np.int64
    full = np.bincount(np.concatenate([p[1] for p in s]), minlength=10)
    test = np.bincount(s.test[1], minlength=10)
    np.testing.assert_allclose(test / test.sum(), full / full.sum(), atol=0.01)
    conv = tp.data.load_digits(seed=0, flatten=False)
    assert conv.train[0].shape[1:] == (8, 8, 1)
    np.testing.assert_array_equal(conv.train[0].reshape(-1, 64), s.train[0])
    with pytest.raises(ValueError, match="val_fraction"):
        tp.data.load_digits(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="test_fraction"):
        tp.data.load_digits(test_fraction=1.5)


def _fake_keras_data(monkeypatch, name, shape, n_train, n_test):
    from tfprune._keras import keras
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 256, (n_train,) + shape, dtype=np.uint8)
    xt = rng.integers(0, 256, (n_test,) + shape, dtype=np.uint8)
    lab = (lambda k: (k, 1)) if name == "cifar10" else (lambda k: (k,))
    ys = rng.integers(0, 10, lab(n_train)).astype(np.uint8)
    yt = rng.integers(0, 10, lab(n_test)).astype(np.uint8)

    def load_data():
        return (xs.copy(), ys.copy()), (xt.copy(), yt.copy())

    monkeypatch.setattr(getattr(keras.datasets, name), "load_data",
                        load_data)


def test_mnist_split_and_normalisation(monkeypatch):
    _fake_keras_data(monkeypatch, "mnist", (28, 28), 600, 100)
    s = tp.data.load_mnist(seed=0, val_size=50)
    assert [len(p[0]) for p in s] == [550, 50, 100]
    assert s.train[0].shape[1:] == (784,) and s.train[1].dtype == np.int64
    assert 0 <= s.train[0].min() and s.train[0].max() <= 1
    st = tp.data.load_mnist(seed=0, val_size=50, normalize="standard",
                            flatten=False)
    assert st.train[0].shape[1:] == (28, 28, 1)
    np.testing.assert_allclose(
        st.train[0].reshape(len(st.train[0]), -1),
        (s.train[0] - loaders.MNIST_MEAN) / loaders.MNIST_STD, rtol=1e-5)
    with pytest.raises(ValueError, match="normalize"):
        tp.data.load_mnist(normalize="zscore")


def test_cifar10_split(monkeypatch):
    _fake_keras_data(monkeypatch, "cifar10", (32, 32, 3), 500, 80)
    s = tp.data.load_cifar10(seed=0, val_size=100, normalize="standard")
    assert [len(p[0]) for p in s] == [400, 100, 80]
    assert s.train[0].shape[1:] == (32, 32, 3) and s.test[1].ndim == 1
    assert abs(float(s.train[0].mean())) < 1.0
