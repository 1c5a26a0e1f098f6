"""APoZ on a small trained network (sklearn digits)."""
import numpy as np
import pytest

import tfprune as tp

L = tp.keras.layers


@pytest.fixture(scope="module")
def mlp(digits):
    x_tr, y_tr, _, _ = digits
    tp.utils.set_seed(0)
    inp = tp.keras.Input((64,))
    h = L.Dense(24, activation="relu", name="h1")(inp)
    h2 = L.Dense(16, name="h2")(h)
    h2 = L.BatchNormalization(name="bn2")(h2)
    h2 = L.ReLU(name="relu2")(h2)
    out = L.Dense(10, activation="softmax", name="out")(h2)
    model = tp.keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_tr, y_tr, epochs=2, batch_size=64, verbose=0)
    # one dead unit: bias far below anything the inputs can reach
    w, b = model.get_layer("h1").get_weights()
    b[5] = -1e3
    model.get_layer("h1").set_weights([w, b])
    return model, x_tr


def test_apoz_counts_zero_activations(mlp):
    model, x = mlp
    apoz = tp.surgery.identify.get_apoz(model, "h1", x, batch_size=100)
    assert apoz.shape == (24,)
    acts = tp.keras.Model(model.inputs, model.get_layer("h1").output)(x)
    np.testing.assert_allclose(apoz, (np.asarray(acts) == 0).mean(axis=0))
    assert apoz[5] == 1.0
    assert 5 in tp.surgery.identify.high_apoz(apoz)
    # Dense -> BN -> ReLU: the activation is the ReLU's output
    apoz2 = tp.surgery.identify.get_apoz(model, "h2", x)
    relu = tp.keras.Model(model.inputs, model.get_layer("relu2").output)(x)
    np.testing.assert_allclose(apoz2, (np.asarray(relu) == 0).mean(axis=0))


def test_high_apoz_methods_and_errors():
    apoz = np.array([0.1, 0.2, 0.95, 0.15, 0.5])
    ident = tp.surgery.identify
    cut = apoz.mean() + apoz.std()
    np.testing.assert_array_equal(ident.high_apoz(apoz),
                                  np.flatnonzero(apoz >= cut))
    np.testing.assert_array_equal(
        ident.high_apoz(apoz, "absolute", cutoff_absolute=0.4), [2, 4])
    np.testing.assert_array_equal(
        ident.high_apoz(apoz, "both", cutoff_std=3, cutoff_absolute=0.4),
        [2, 4])
    with pytest.raises(ValueError, match="method"):
        ident.high_apoz(apoz, "median")
    with pytest.raises(ValueError, match="1-D"):
        ident.high_apoz(np.zeros((2, 2)))


def test_apoz_errors(mlp):
    model, x = mlp
    with pytest.raises(ValueError, match="no layer named 'h3'"):
        tp.surgery.identify.get_apoz(model, "h3", x)
    with pytest.raises(ValueError, match="empty"):
        tp.surgery.identify.get_apoz(model, "h1", x[:0])
