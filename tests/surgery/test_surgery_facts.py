"""tp.surgery's per-layer-type facts: the kernel criteria rank, the channel
axis, the activation chain, and their one lookup rule (exact class)."""
import numpy as np
import pytest

import tfprune as tp
from _surgery_helpers import randomize

K = tp.keras
L = K.layers


def _built(layer, shape):
    inp = K.Input(shape)
    K.Model(inp, layer(inp))
    return layer


# layer, input shape, expected output_kernel shape (channels last)
KERNELS = {
    "Conv2D": (L.Conv2D(5, 3), (6, 6, 3), (3, 3, 3, 5)),
    "Conv2D_grouped": (L.Conv2D(6, 3, groups=3), (6, 6, 6), (3, 3, 2, 6)),
    "Conv1D": (L.Conv1D(4, 2), (6, 3), (2, 3, 4)),
    "Conv2DTranspose": (L.Conv2DTranspose(5, 3), (4, 4, 3), (3, 3, 3, 5)),
    "DepthwiseConv1D": (L.DepthwiseConv1D(3, depth_multiplier=2), (6, 4),
                        (3, 8)),
    "DepthwiseConv2D": (L.DepthwiseConv2D(3), (6, 6, 4), (3, 3, 4)),
    "SeparableConv2D": (L.SeparableConv2D(5, 3), (6, 6, 3), (1, 1, 3, 5)),
    "Dense": (L.Dense(7), (4,), (4, 7)),
    "LSTM": (L.LSTM(3), (5, 2), (5, 4, 3)),
    "Bidirectional": (L.Bidirectional(L.GRU(3)), (5, 2), (10, 3, 3)),
    "TimeDistributed": (L.TimeDistributed(L.Dense(4)), (5, 2), (2, 4)),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_every_prunable_layer_has_a_rankable_kernel(name):
    layer, shape, expected = KERNELS[name]
    _built(layer, shape)
    assert tp.surgery.rankable(layer)
    kernel = tp.surgery.output_kernel(layer)
    assert kernel.shape == expected
    assert tp.filters.filter_matrix(kernel).shape[1] == expected[-1]


def test_kernel_columns_are_the_deleted_channels():
    dw = _built(L.DepthwiseConv1D(3, depth_multiplier=2), (6, 4))
    k = tp.surgery.output_kernel(dw)
    np.testing.assert_array_equal(k[:, 2 * 1 + 1],
                                  dw.depthwise_kernel.numpy()[:, 1, 1])
    tr = _built(L.Conv2DTranspose(5, 3), (4, 4, 3))
    np.testing.assert_array_equal(tp.surgery.output_kernel(tr)[..., 4],
                                  tr.kernel.numpy()[..., 4, :])


def test_layers_without_channels_are_not_rankable():
    bn = _built(L.BatchNormalization(), (4, 4, 3))
    assert not tp.surgery.rankable(bn)
    assert tp.surgery.layer_facts(bn).pointwise
    with pytest.raises(NotImplementedError, match="BatchNormalization"):
        tp.surgery.output_kernel(bn)


def test_which_layers_map_zero_to_zero():
    relu = _built(L.ReLU(), (4,))
    sig = _built(L.Activation("sigmoid"), (4,))
    conv = _built(L.Conv2D(2, 1, activation="sigmoid"), (3, 3, 2))
    bn = _built(L.BatchNormalization(), (4,))
    assert tp.surgery.maps_zero_to_zero(relu)
    assert tp.surgery.maps_zero_to_zero(bn)
    assert not tp.surgery.maps_zero_to_zero(sig)
    assert not tp.surgery.maps_zero_to_zero(conv)
    assert not tp.surgery.maps_zero_to_zero(_built(L.Lambda(abs), (4,)))


def test_lookup_is_by_exact_class():
    class MyConv(L.Conv2D):
        pass

    layer = _built(MyConv(4, 3), (6, 6, 3))
    assert tp.surgery.layer_facts(layer) is None
    assert not tp.surgery.rankable(layer)
    try:
        tp.surgery.register_handler(MyConv, like=L.Conv2D)
        assert tp.surgery.output_kernel(layer).shape == (3, 3, 3, 4)
    finally:
        tp.surgery.unregister_handler(MyConv)


def test_channel_axis_follows_the_data_format():
    cf = _built(L.Conv2D(4, 3, data_format="channels_first"), (3, 6, 6))
    assert tp.surgery.channel_axis(cf, 4) == 1
    assert tp.surgery.channel_axis(_built(L.Dense(3), (4,)), 2) == 1
    assert tp.surgery.channel_axis(_built(L.Dense(3), (5, 4)), 3) == 2


def _chain_model(*followers):
    inp = K.Input((6, 6, 3))
    x = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    for f in followers:
        x = f(x)
    return randomize(K.Model(inp, L.Conv2D(2, 1, name="next")(x)))


def test_activation_chain_walks_through_dropout_to_the_relu():
    model = _chain_model(L.Dropout(0.5, name="drop"), L.ReLU(name="relu"))
    chain = tp.surgery.activation_chain(model, "conv")
    assert [la.name for la in chain] == ["conv", "drop", "relu"]
    assert tp.surgery.activation_layer(model, "conv").name == "relu"
    # APoZ measures that same tensor: the ReLU's zeros, dropout off
    x = np.random.default_rng(0).normal(size=(16, 6, 6, 3))
    relu = K.Model(model.inputs, model.get_layer("relu").output)(x).numpy()
    expected = (relu == 0).reshape(-1, 4).mean(axis=0)
    np.testing.assert_allclose(
        tp.surgery.identify.get_apoz(model, "conv", x), expected)


def test_activation_layer_is_the_last_activation_of_the_chain():
    model = _chain_model(L.ReLU(name="relu"),
                         L.BatchNormalization(name="bn"))
    assert [la.name for la in tp.surgery.activation_chain(model, "conv")] \
        == ["conv", "relu", "bn"]
    assert tp.surgery.activation_layer(model, "conv").name == "relu"
    plain = _chain_model(L.BatchNormalization(name="bn"))
    assert tp.surgery.activation_layer(plain, "conv").name == "conv"


def test_activation_chain_stops_where_the_channels_are_read_twice():
    inp = K.Input((6, 6, 3))
    x = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    a = L.ReLU(name="relu")(x)
    model = K.Model(inp, L.Add()([a, L.Conv2D(4, 1, name="side")(x)]))
    assert [la.name for la in tp.surgery.activation_chain(model, "conv")] \
        == ["conv"]
