"""One battery over every registered handler: prune one channel that flows
through the layer, and the pruned model equals the zeroed model."""
import numpy as np
import pytest

import tfprune as tp
from _surgery_helpers import (check_equivalent, max_rel_error, randomize,
                              rebuilt_reference)
from tfprune import _kgraph

L = tp.keras.layers
tf = tp._keras.tf
_CONVNEXT = {name: _kgraph.applications_layer("convnext", name)
             for name in ("LayerScale", "StochasticDepth")}


def _conv_model(dim, mid, channels=4, size=6, tail=True):
    """Input -> source conv (pruned) -> mid layers -> conv consumer."""
    inp = tp.keras.Input((size,) * dim + (3,))
    conv = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[dim]
    x = conv(channels, 3, padding="same", name="src")(inp)
    for layer in mid():
        x = layer(x)
    if tail:
        x = conv(3, 1, name="consumer")(x)
    return tp.keras.Model(inp, x), (size,) * dim + (3,)


def _dense_model(mid, units=5):
    inp = tp.keras.Input((7,))
    x = L.Dense(units, name="src")(inp)
    for layer in mid():
        x = layer(x)
    x = L.Dense(3, name="consumer")(x)
    return tp.keras.Model(inp, x), (7,)


def _source(cls, dim, **kw):
    """The class itself is the pruned source."""
    def build():
        inp = tp.keras.Input((6,) * dim + (3,))
        x = cls(**kw, name="src")(inp)
        conv = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[dim]
        x = conv(2, 1, name="consumer")(x)
        return tp.keras.Model(inp, x), (6,) * dim + (3,)
    return build


def _merge(cls):
    def build():
        inp = tp.keras.Input((5, 5, 3))
        a = L.Conv2D(4, 3, padding="same", name="src")(inp)
        b = L.Conv2D(4, 1, name="other")(inp)
        x = cls()([a, b])
        x = L.Conv2D(2, 1, name="consumer")(x)
        return tp.keras.Model(inp, x), (5, 5, 3)
    return build


CASES = {
    "Conv1D": _source(L.Conv1D, 1, filters=4, kernel_size=3),
    "Conv2D": _source(L.Conv2D, 2, filters=4, kernel_size=3),
    "Conv3D": _source(L.Conv3D, 3, filters=4, kernel_size=2),
    "Conv1DTranspose": _source(L.Conv1DTranspose, 1, filters=4,
                               kernel_size=3),
    "Conv2DTranspose": _source(L.Conv2DTranspose, 2, filters=4,
                               kernel_size=3, strides=2),
    "Conv3DTranspose": _source(L.Conv3DTranspose, 3, filters=4,
                               kernel_size=2),
    "SeparableConv1D": _source(L.SeparableConv1D, 1, filters=4,
                               kernel_size=3, depth_multiplier=2),
    "SeparableConv2D": _source(L.SeparableConv2D, 2, filters=4,
                               kernel_size=3, depth_multiplier=2),
    "Dense": lambda: _dense_model(lambda: []),
    "DepthwiseConv1D": lambda: _conv_model(1, lambda: [
        L.DepthwiseConv1D(3, padding="same", depth_multiplier=2)]),
    "DepthwiseConv2D": lambda: _conv_model(2, lambda: [
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)]),
    "BatchNormalization": lambda: _conv_model(2, lambda: [
        L.BatchNormalization()]),
    "SyncBatchNormalization": lambda: _conv_model(2, lambda: [
        L.experimental.SyncBatchNormalization()]),
    "PReLU": lambda: _conv_model(2, lambda: [L.PReLU()]),
    "ReLU": lambda: _conv_model(2, lambda: [L.ReLU(max_value=2.0)]),
    "LeakyReLU": lambda: _conv_model(2, lambda: [L.LeakyReLU(0.3)]),
    "ELU": lambda: _conv_model(2, lambda: [L.ELU()]),
    "ThresholdedReLU": lambda: _conv_model(2, lambda: [
        L.ThresholdedReLU(0.1)]),
    "Activation": lambda: _conv_model(2, lambda: [L.Activation("tanh")]),
    "Softmax": lambda: _conv_model(2, lambda: [L.Softmax(axis=1)],
                                   tail=False),
    "Dropout": lambda: _conv_model(2, lambda: [
        L.Dropout(0.5, noise_shape=(None, 1, 1, 4), seed=1)]),
    "GaussianNoise": lambda: _conv_model(2, lambda: [
        L.GaussianNoise(0.1, seed=1)]),
    "GaussianDropout": lambda: _conv_model(2, lambda: [
        L.GaussianDropout(0.1, seed=1)]),
    "AlphaDropout": lambda: _conv_model(2, lambda: [
        L.AlphaDropout(0.1, seed=1)]),
    "ActivityRegularization": lambda: _conv_model(2, lambda: [
        L.ActivityRegularization(l1=0.1)]),
    "Identity": lambda: _conv_model(2, lambda: [L.Identity()]),
    "SpatialDropout1D": lambda: _conv_model(1, lambda: [
        L.SpatialDropout1D(0.2, seed=1)]),
    "SpatialDropout2D": lambda: _conv_model(2, lambda: [
        L.SpatialDropout2D(0.2, seed=1)]),
    "SpatialDropout3D": lambda: _conv_model(3, lambda: [
        L.SpatialDropout3D(0.2, seed=1)], size=4),
    "MaxPooling1D": lambda: _conv_model(1, lambda: [L.MaxPooling1D(2)]),
    "MaxPooling2D": lambda: _conv_model(2, lambda: [L.MaxPooling2D(2)]),
    "MaxPooling3D": lambda: _conv_model(3, lambda: [L.MaxPooling3D(2)],
                                        size=4),
    "AveragePooling1D": lambda: _conv_model(1, lambda: [
        L.AveragePooling1D(2)]),
    "AveragePooling2D": lambda: _conv_model(2, lambda: [
        L.AveragePooling2D(2)]),
    "AveragePooling3D": lambda: _conv_model(3, lambda: [
        L.AveragePooling3D(2)], size=4),
    "GlobalMaxPooling1D": lambda: _gp(L.GlobalMaxPooling1D, 1),
    "GlobalMaxPooling2D": lambda: _gp(L.GlobalMaxPooling2D, 2),
    "GlobalMaxPooling3D": lambda: _gp(L.GlobalMaxPooling3D, 3),
    "GlobalAveragePooling1D": lambda: _gp(L.GlobalAveragePooling1D, 1),
    "GlobalAveragePooling2D": lambda: _gp(L.GlobalAveragePooling2D, 2,
                                          keepdims=True),
    "GlobalAveragePooling3D": lambda: _gp(L.GlobalAveragePooling3D, 3),
    "ZeroPadding1D": lambda: _conv_model(1, lambda: [L.ZeroPadding1D(2)]),
    "ZeroPadding2D": lambda: _conv_model(2, lambda: [L.ZeroPadding2D(1)]),
    "ZeroPadding3D": lambda: _conv_model(3, lambda: [L.ZeroPadding3D(1)],
                                         size=3),
    "Cropping1D": lambda: _conv_model(1, lambda: [L.Cropping1D(1)]),
    "Cropping2D": lambda: _conv_model(2, lambda: [L.Cropping2D(1)]),
    "Cropping3D": lambda: _conv_model(3, lambda: [L.Cropping3D(1)],
                                      size=4),
    "UpSampling1D": lambda: _conv_model(1, lambda: [L.UpSampling1D(2)]),
    "UpSampling2D": lambda: _conv_model(2, lambda: [L.UpSampling2D(2)]),
    "UpSampling3D": lambda: _conv_model(3, lambda: [L.UpSampling3D(2)],
                                        size=3),
    "RepeatVector": lambda: _dense_model(lambda: [L.RepeatVector(3)]),
    "Add": _merge(L.Add),
    "Subtract": _merge(L.Subtract),
    "Multiply": _merge(L.Multiply),
    "Average": _merge(L.Average),
    "Maximum": _merge(L.Maximum),
    "Minimum": _merge(L.Minimum),
    "Concatenate": lambda: _conv_model(2, lambda: [
        _Concat()]),
    "Flatten": lambda: _flat(lambda: [L.Flatten()]),
    "SimpleRNN": lambda: _seq(L.SimpleRNN(4, return_sequences=True,
                                          name="src")),
    "GRU": lambda: _seq(L.GRU(4, return_sequences=True, name="src")),
    "LSTM": lambda: _seq(L.LSTM(4, return_sequences=True, name="src")),
    "Bidirectional": lambda: _seq(L.Bidirectional(
        L.LSTM(4, return_sequences=True), name="src")),
    "TimeDistributed": lambda: _seq(L.TimeDistributed(L.Dense(4),
                                                      name="src")),
    "Reshape": lambda: _conv_model(2, lambda: [L.Reshape((36, 4)),
                                               L.Reshape((6, 6, 4))]),
    "Permute": lambda: _conv_model(2, lambda: [L.Permute((2, 1, 3))]),
    "TFOpLambda": lambda: _conv_model(2, lambda: [
        lambda x: tf.nn.relu6(x * 2.0) / 6.0]),
    "LayerScale": lambda: _conv_model(2, lambda: [
        _CONVNEXT["LayerScale"](0.5, 4)]),
    "StochasticDepth": lambda: _conv_model(2, lambda: [
        _CONVNEXT["StochasticDepth"](0.1)]),
    "LayerNormalization": lambda: _conv_model(2, lambda: [
        L.LayerNormalization(epsilon=1e-6)]),
    "Rescaling": lambda: _conv_model(2, lambda: [L.Rescaling(0.5)]),
    "CustomScaleLayer": _merge(lambda: _kgraph.applications_layer(
        "inception_resnet_v2", "CustomScaleLayer")(0.2)),
}


class _Concat:
    """Concatenate the source with a second branch built from it."""

    def __call__(self, x):
        other = L.Conv2D(3, 1, name="branch")(x)
        return L.Concatenate()([other, x])


def _gp(cls, dim, **kw):
    inp = tp.keras.Input((4,) * dim + (3,))
    conv = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[dim]
    x = conv(4, 2, padding="same", name="src")(inp)
    x = cls(**kw)(x)
    x = L.Flatten()(x) if kw.get("keepdims") else x
    x = L.Dense(3, name="consumer")(x)
    return tp.keras.Model(inp, x), (4,) * dim + (3,)


def _seq(src):
    inp = tp.keras.Input((5, 3))
    x = src(inp)
    x = L.GRU(3, name="consumer")(x)
    return tp.keras.Model(inp, x), (5, 3)


def _flat(mid):
    inp = tp.keras.Input((3, 3, 2))
    x = L.Conv2D(4, 2, padding="same", name="src")(inp)
    for layer in mid():
        x = layer(x)
    x = L.Dense(3, name="consumer")(x)
    return tp.keras.Model(inp, x), (3, 3, 2)


def test_every_registered_handler_has_a_case():
    names = {c.__name__ for c in tp.surgery.registered_layers()}
    assert names <= set(CASES), \
        f"handlers without a test: {names - set(CASES)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_handler_prunes_one_channel_equivalently(name):
    model, shape = CASES[name]()
    assert any(type(la).__name__ == name for la in model.layers), name
    randomize(model, seed=len(name))
    x = np.random.default_rng(1).normal(size=(2,) + shape).astype("float32")
    before = model.get_layer("src").output_shape[-1]
    if name == "LayerNormalization":
        # the normalisation sees fewer channels after the deletion: compare
        # with a reference that normalises over the kept channels only
        with pytest.warns(RuntimeWarning, match="normalises over"):
            tp.surgery.zeroing_spec(model, {"src": [1]})
        pruned = tp.surgery.delete_channels(model, "src", [1])
        reference, _ = rebuilt_reference(model, {"src": [1]})
        assert max_rel_error(model, pruned, reference, {"src": [1]},
                             x) <= 1e-5
    else:
        # softmax(0) over space is uniform, not 0, but the constant only
        # reaches the model output, which loses that channel: equivalent
        pruned = check_equivalent(model, {"src": [1]}, x, inplace=True)
    lost = 2 if name == "Bidirectional" else 1  # one unit, both directions
    assert pruned.get_layer("src").output_shape[-1] == before - lost
