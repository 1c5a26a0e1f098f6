"""StackedMLP: seeded init, batched forward, export to tf_keras."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.ensemble import StackedMLP
from tfprune.utils import derive_seed


def _numpy_forward(ens, x, p):
    h = x
    for l, (w, b, wm, bm) in enumerate(zip(ens.kernels, ens.biases,
                                           ens.kernel_masks, ens.bias_masks)):
        h = h @ (w.numpy()[p] * wm.numpy()[p]) + b.numpy()[p] * bm.numpy()[p]
        if l < ens.n_layers - 1:
            h = np.tanh(h)
    return h


def test_seeds_recorded_and_network_independent_of_n():
    a = StackedMLP(4, hidden=(8, 6), seed=3)
    b = StackedMLP(2, hidden=(8, 6), seed=3)
    c = StackedMLP(seeds=[a.seeds[2]], hidden=(8, 6))
    assert a.seeds == [derive_seed(3, i) for i in range(4)]
    assert len(set(a.seeds)) == 4
    for ka, kb, kc in zip(a.kernels, b.kernels, c.kernels):
        np.testing.assert_array_equal(ka.numpy()[:2], kb.numpy())
        np.testing.assert_array_equal(ka.numpy()[2], kc.numpy()[0])
        assert not np.allclose(ka.numpy()[0], ka.numpy()[1])
    for bias in a.biases:
        assert not bias.numpy().any()
    assert all(m.numpy().all() for m in a.kernel_masks)


def test_normal_init_std_and_glorot_option():
    ens = StackedMLP(8, hidden=(200,), seed=0)
    w = ens.kernels[0].numpy()
    assert abs(w.std() - 0.2) < 0.01 and abs(w.mean()) < 0.01
    g = StackedMLP(8, hidden=(200,), seed=0, init="glorot_uniform")
    lim = np.sqrt(6 / (10 + 200))
    gw = g.kernels[0].numpy()
    assert gw.max() <= lim and gw.min() >= -lim and gw.max() > 0.9 * lim


def test_forward_matches_each_network_and_export(teacher):
    ens = StackedMLP(3, hidden=(9, 5), seed=1)
    x = teacher[0][0][:50]
    # prune something so that the export has to carry the masks
    m = ens.kernel_masks[0].numpy()
    m[1, :4] = 0
    ens.kernel_masks[0].assign(m)
    pred = ens.predict(x, batch_size=16)
    assert pred.shape == (3, 50, 7)
    for p in range(3):
        np.testing.assert_allclose(pred[p], _numpy_forward(ens, x, p),
                                   rtol=1e-5, atol=1e-6)
        model = ens.to_keras(p)
        assert isinstance(model, tp.keras.Model)
        assert [l.name for l in model.layers[1:]] == ens.layer_names
        np.testing.assert_allclose(model.predict(x, verbose=0), pred[p],
                                   rtol=1e-5, atol=1e-6)
    assert not ens.to_keras(1).get_layer("hidden_1").kernel.numpy()[:4].any()


def test_from_models_round_trip(teacher):
    models = [tp.models.mlp(10, (6, 4), 7, activation="tanh", seed=s)
              for s in (0, 1)]
    ens = StackedMLP.from_models(models)
    x = teacher[1][0][:20]
    pred = ens.predict(x)
    for p, m in enumerate(models):
        np.testing.assert_allclose(pred[p], m.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="same layer shapes"):
        StackedMLP.from_models([models[0], tp.models.mlp(10, (5, 4), 7,
                                                         activation="tanh")])


def test_bad_arguments():
    with pytest.raises(ValueError, match="init"):
        StackedMLP(2, hidden=(4,), init="uniformish")
    with pytest.raises(ValueError, match="n_networks"):
        StackedMLP(0, hidden=(4,))
    with pytest.raises(TypeError, match="hidden"):
        StackedMLP(2, hidden=4)
    with pytest.raises(ValueError, match="activation"):
        StackedMLP(2, hidden=(4,), activation="nope")
    ens = StackedMLP(2, hidden=(4,))
    with pytest.raises(ValueError, match=r"shape \(n, 10\)"):
        ens.predict(np.zeros((3, 9)))
    with pytest.raises(ValueError, match="network"):
        ens.to_keras(2)
