"""m:n structured sparsity through tfmot (wrap(m_by_n=...))."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.errors import InvalidParameterError, UnsupportedLayerError

from _deploy_helpers import tiny_cnn


def windows_hold(kernel, m, n) -> bool:
    """Every run of n consecutive input-channel weights of every output
    (TFLite's layout: input channels last) holds at least m zeros; a short
    last run of r weights holds at least m - (n - r)."""
    k = np.asarray(kernel)
    rows = (k.T if k.ndim == 2 else
            np.transpose(k, (3, 0, 1, 2)).reshape(-1, k.shape[2]))
    for start in range(0, rows.shape[1], n):
        block = rows[:, start:start + n]
        need = m - (n - block.shape[1])
        if np.any((block == 0).sum(axis=1) < need):
            return False
    return True


def test_window_check_can_fail():
    assert windows_hold(np.zeros((8, 3)), 2, 4)
    assert not windows_hold(np.ones((8, 3)), 2, 4)
    assert windows_hold(np.ones((2, 3)), 2, 4)   # runs of 2: nothing needed


@pytest.fixture(scope="module")
def digits():
    return tp.data.load_digits(seed=0, flatten=False)


def _fit(model, digits, callbacks, epochs=1):
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(*digits.train, validation_data=digits.val, epochs=epochs,
              batch_size=64, verbose=0, callbacks=callbacks)


@pytest.mark.parametrize("m_by_n", [(2, 4), (1, 2)])
def test_m_by_n_mask_holds_in_every_window(digits, m_by_n):
    from tensorflow_model_optimization.python.core.sparsity.keras import (
        pruning_callbacks)
    wrapped = tp.sparsity.wrap(tiny_cnn(seed=0), m_by_n=m_by_n)
    _fit(wrapped, digits, [pruning_callbacks.UpdatePruningStep()])
    plain = tp.sparsity.strip(wrapped)
    kernels = {la.name: la.kernel.numpy() for la in plain.layers
               if hasattr(la, "kernel")}
    assert set(kernels) == {"conv1", "conv2", "out"}
    for name, k in kernels.items():
        assert windows_hold(k, *m_by_n), name
    m, n = m_by_n
    assert np.mean(kernels["conv2"] == 0) == pytest.approx(m / n)


def test_sequential_pruning_dense_then_m_by_n(digits):
    wrapped = tp.sparsity.wrap(tiny_cnn(seed=0), m_by_n=(2, 4))
    cb = tp.sparsity.SequentialPruning([0.0, 0.5], patience=0, max_epochs=1)
    _fit(wrapped, digits, [cb], epochs=4)
    assert cb.history["sparsity"].tolist() == [0.0, 0.5]
    dense, structured = cb.model_at(0), cb.model_at(1)
    assert np.all(dense.get_layer("conv2").kernel.numpy() != 0)
    for la in structured.layers:
        if hasattr(la, "kernel"):
            assert windows_hold(la.kernel.numpy(), 2, 4), la.name
    assert cb.history["achieved"].iloc[1] > 0.45


def test_sequential_pruning_refuses_other_levels():
    wrapped = tp.sparsity.wrap(tp.models.penguin_mlp(seed=0), m_by_n=(2, 4))
    wrapped.compile("adam", "mse")
    cb = tp.sparsity.SequentialPruning([0.5, 0.8])
    data = tp.data.load_penguins(seed=0)
    with pytest.raises(InvalidParameterError, match=r"0\.0 \(dense\) and 0\.5"):
        wrapped.fit(*data.train, validation_data=data.val, epochs=1,
                    verbose=0, callbacks=[cb])


@pytest.mark.parametrize("m_by_n, error", [
    ((4, 4), InvalidParameterError), ((0, 4), InvalidParameterError),
    ((2, 4, 8), TypeError), ("2:4", TypeError)])
def test_bad_m_by_n_is_named(m_by_n, error):
    with pytest.raises(error, match="m_by_n"):
        tp.sparsity.wrap(tp.models.penguin_mlp(seed=0), m_by_n=m_by_n)


def test_m_by_n_refuses_rank3_kernels_and_biases():
    inputs = tp.keras.Input((16, 4))
    x = tp.keras.layers.Conv1D(8, 3, name="conv1d")(inputs)
    model = tp.keras.Model(inputs, tp.keras.layers.Dense(2, name="d")(x))
    with pytest.raises(UnsupportedLayerError, match="conv1d.*layers="):
        tp.sparsity.wrap(model, m_by_n=(2, 4))
    assert tp.sparsity.wrap(model, m_by_n=(2, 4), layers=["d"])
    with pytest.raises(InvalidParameterError, match="prune_bias"):
        tp.sparsity.wrap(tp.models.penguin_mlp(seed=0), m_by_n=(2, 4),
                         prune_bias=True)


def test_sequential_prune_with_m_by_n():
    data = tp.data.load_penguins(seed=0)
    model = tp.models.penguin_mlp(seed=0)
    model.compile(tp.keras.optimizers.Adam(1e-2), "mse")
    result = tp.sparsity.sequential_prune(model, data.train, data.val,
                                          [0.0, 0.5], max_epochs=2,
                                          m_by_n=(2, 4), progress=False)
    pruned = result.model_at(1)
    for la in pruned.layers:
        if hasattr(la, "kernel"):
            assert windows_hold(la.kernel.numpy(), 2, 4), la.name
            assert np.mean(la.kernel.numpy() == 0) == 0.5
    with pytest.raises(InvalidParameterError, match="tfmot"):
        tp.sparsity.sequential_prune(model, data.train, data.val, [0.5],
                                     method="manual", m_by_n=(2, 4),
                                     progress=False)
