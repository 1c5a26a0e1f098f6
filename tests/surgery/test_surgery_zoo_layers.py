"""The layer patterns of the keras.applications zoo, one small model each:
TF functions on symbolic tensors (hard-swish, ``x + y``, constants),
grouped convolutions (RegNet, ConvNeXt's depthwise), LayerScale and
LayerNormalization (ConvNeXt), squeeze-excite gates, and layer names that
contain ``/`` (DenseNet, MobileNetV3)."""
import warnings

import numpy as np
import pytest

import tfprune as tp
from _surgery_helpers import (check_equivalent, max_rel_error, randomize,
                              rebuilt_reference)
from tfprune import _kgraph

K = tp.keras
L = K.layers
tf = tp._keras.tf


def _x(shape, n=2, seed=1):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(
        "float32")


def _group_of(model, name):
    return next(g for g in tp.surgery.dependency_groups(model)
                if name in g.layers)


def _no_warning_equivalent(model, plan, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return check_equivalent(model, plan, x)


# ------------------------------------------------------------ TF functions

def _hard_swish_model():
    inp = K.Input((6, 6, 3))
    x = L.Conv2D(6, 3, padding="same", name="src")(inp)
    x = L.BatchNormalization(name="bn")(x)
    gate = L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)      # MobileNetV3's hard-sigmoid
    x = L.Multiply(name="hswish")([x, gate])
    return K.Model(inp, L.Conv2D(4, 1, name="consumer")(x))


def test_hard_swish_chain_is_prunable_and_equivalent():
    model = randomize(_hard_swish_model())
    group = _group_of(model, "src")
    assert group.prunable, group.reason
    # x + 3 maps 0 to 3, but the product with the zeroed x is 0 again
    pruned = _no_warning_equivalent(model, {"src": [1, 4]}, _x((6, 6, 3)))
    assert pruned.get_layer("src").filters == 4


def test_tensor_sums_and_products_couple_their_inputs():
    inp = K.Input((5, 5, 3))
    a = L.Conv2D(4, 3, padding="same", name="a")(inp)
    b = L.Conv2D(4, 1, name="b")(inp)
    c = L.Conv2D(4, 1, name="c")(inp)
    x = (a + b) * tf.sigmoid(c)        # sigmoid(0) = 0.5, times a zero: 0
    model = randomize(K.Model(inp, L.Conv2D(2, 1, name="out")(x)))
    group = _group_of(model, "a")
    assert set(group.layers) == {"a", "b", "c"} and group.prunable
    assert "add" in group.kind and "multiply" in group.kind
    _no_warning_equivalent(model, {"b": [0, 3]}, _x((5, 5, 3)))


@pytest.mark.parametrize("const", ["tensor", "array", "spatial"])
def test_constants_follow_the_channels(const):
    inp = K.Input((4, 4, 3))
    x = L.Conv2D(5, 3, padding="same", name="src")(inp)
    if const == "tensor":
        x = x * tf.constant(np.arange(1.0, 6.0, dtype="float32"))
    elif const == "array":
        x = x + np.linspace(-1, 1, 5).astype("float32")
    else:                               # one value per position, any channel
        x = x - np.ones((4, 4, 1), dtype="float32")
    model = randomize(K.Model(inp, L.Conv2D(2, 1, name="out")(x)))
    plan = {"src": [0, 3]}
    if const == "tensor":
        pruned = _no_warning_equivalent(model, plan, _x((4, 4, 3)))
    else:  # x + c and x - 1 map 0 to c: not zero-equivalent, but exact
        with pytest.warns(RuntimeWarning, match="'out' \\(Conv2D\\) reads"):
            tp.surgery.zeroing_spec(model, plan)
        pruned = tp.surgery.prune_channels(model, plan)
        ref = model(_x((4, 4, 3))).numpy()
        assert pruned(_x((4, 4, 3))).shape == ref.shape
    assert pruned.get_layer("src").filters == 3


def test_a_non_elementwise_tf_function_is_refused_by_name():
    inp = K.Input((4, 4, 3))
    x = L.Conv2D(5, 3, padding="same", name="src")(inp)
    x = x - tf.reduce_mean(x, axis=-1, keepdims=True)
    model = K.Model(inp, L.Conv2D(2, 1, name="out")(x))
    assert not _group_of(model, "src").prunable
    with pytest.raises(NotImplementedError, match="math.reduce_mean"):
        tp.surgery.delete_channels(model, "src", [0])


# --------------------------------------------------------- grouped convs

def _grouped_model(groups=2, c_in=8, c_out=8, seed=0):
    inp = K.Input((6, 6, 3))
    a = L.Conv2D(c_in, 3, padding="same", name="a")(inp)
    a = L.BatchNormalization(name="bn_a")(a)
    a = L.ReLU()(a)
    b = L.Conv2D(c_out, 3, padding="same", groups=groups, name="b")(a)
    b = L.BatchNormalization(name="bn_b")(b)
    b = L.ReLU()(b)
    model = K.Model(inp, L.Conv2D(3, 1, name="c")(b))
    return randomize(model, seed)


@pytest.mark.parametrize("groups,c_in,c_out", [(2, 8, 8), (4, 4, 8),
                                               (2, 6, 4)])
def test_grouped_conv_loses_whole_groups(groups, c_in, c_out):
    model = _grouped_model(groups, c_in, c_out)
    group = _group_of(model, "b")
    assert group.layers == ("a", "b") and group.kind == "grouped"
    assert group.channels == groups and group.prunable
    gin, gout = c_in // groups, c_out // groups
    lost = tp.surgery.expand_plan(model, {"a": [gin]})   # one channel ...
    np.testing.assert_array_equal(lost["a"], np.arange(gin, 2 * gin))
    np.testing.assert_array_equal(lost["b"], np.arange(gout, 2 * gout))
    pruned = _no_warning_equivalent(model, {"a": [gin]}, _x((6, 6, 3)))
    b = pruned.get_layer("b")                            # ... the group goes
    assert (b.groups, b.filters) == (groups - 1, c_out - gout)
    assert b.kernel.shape == (3, 3, gin, c_out - gout)


def test_grouped_conv_refuses_requests_that_split_groups():
    model = _grouped_model(2, 8, 8)
    with pytest.raises(ValueError, match="inconsistent"):
        tp.surgery.prune_channels(model, {"a": [0], "b": [4]})


def test_depthwise_as_grouped_conv_prunes_single_channels():
    inp = K.Input((7, 7, 3))
    x = L.Conv2D(6, 1, name="pw")(inp)
    x = L.Conv2D(6, 3, padding="same", groups=6, name="dw")(x)  # ConvNeXt
    model = randomize(K.Model(inp, L.Conv2D(2, 1, name="out")(x)))
    assert _group_of(model, "pw").channels == 6
    pruned = _no_warning_equivalent(model, {"pw": [1, 2, 5]}, _x((7, 7, 3)))
    assert pruned.get_layer("dw").groups == 3


# ---------------------------------------------- LayerScale and LayerNorm

def _convnext_block(dtype="float64"):
    scale_cls = _kgraph.applications_layer("convnext", "LayerScale")
    inp = K.Input((6, 6, 3), dtype=dtype)
    x = L.Conv2D(8, 1, name="stem", dtype=dtype)(inp)
    y = L.Conv2D(8, 3, padding="same", groups=8, name="dw", dtype=dtype)(x)
    y = L.LayerNormalization(epsilon=1e-6, name="ln", dtype=dtype)(y)
    y = L.Dense(16, activation="gelu", name="pw1", dtype=dtype)(y)
    y = L.Dense(8, name="pw2", dtype=dtype)(y)
    y = scale_cls(0.5, 8, name="ls", dtype=dtype)(y)
    x = x + y
    out = L.Conv2D(3, 1, name="head", dtype=dtype)(x)
    return randomize(K.Model(inp, out))


def test_convnext_block_prunes_through_layer_scale_and_layer_norm():
    model = _convnext_block()
    group = _group_of(model, "stem")
    assert set(group.layers) == {"stem", "dw", "pw2"} and group.prunable
    plan = {"stem": [1, 5]}
    with pytest.warns(RuntimeWarning, match="'ln' \\(LayerNormalization\\) "
                      "normalises over its channels"):
        tp.surgery.zeroing_spec(model, plan)
    pruned = tp.surgery.prune_channels(model, plan)
    reference, replaced = rebuilt_reference(model, plan)
    assert replaced == ["ln"]
    x = _x((6, 6, 3)).astype("float64")
    assert max_rel_error(model, pruned, reference, plan, x) <= 1e-10
    ls = pruned.get_layer("ls")
    assert ls.projection_dim == 6 and ls.gamma.shape == (6,)
    assert pruned.get_layer("ln").gamma.shape == (6,)


def test_convnext_block_hidden_units_stay_zero_equivalent():
    model = _convnext_block()
    pruned = _no_warning_equivalent(model, {"pw1": [0, 9]},
                                    _x((6, 6, 3)).astype("float64"))
    assert pruned.get_layer("pw1").units == 14


# ---------------------------------------------------- squeeze-excite gates

def _se_model(gate="sigmoid"):
    inp = K.Input((5, 5, 3))
    x = L.Conv2D(8, 1, name="expand")(inp)
    x = L.Activation("swish")(x)
    se = L.GlobalAveragePooling2D(keepdims=True)(x)
    se = L.Conv2D(2, 1, activation="swish", name="se_reduce")(se)
    se = L.Conv2D(8, 1, activation=gate, name="se_expand")(se)
    x = L.Multiply(name="excite")([x, se])
    return randomize(K.Model(inp, L.Conv2D(3, 1, name="project")(x)))


def test_se_gate_of_a_zeroed_channel_gives_no_false_warning():
    model = _se_model()
    assert set(_group_of(model, "expand").layers) == {"expand", "se_expand"}
    # sigmoid(0) = 0.5 on the gate, but the gated product is 0
    _no_warning_equivalent(model, {"expand": [1, 6]}, _x((5, 5, 3)))
    _no_warning_equivalent(model, {"se_reduce": [0]}, _x((5, 5, 3)))


def test_a_nonzero_channel_that_reaches_a_conv_is_still_warned():
    inp = K.Input((5, 5, 3))
    x = L.Conv2D(4, 1, name="src")(inp)
    x = L.Activation("sigmoid", name="gate")(x)
    model = K.Model(inp, L.Conv2D(2, 1, name="consumer")(x))
    with pytest.warns(RuntimeWarning, match="'gate' \\(Activation.*maps 0 "
                      "to 0.5 and layer 'consumer' \\(Conv2D\\) reads it"):
        tp.surgery.zeroing_spec(model, {"src": [0]})


def test_softmax_over_a_classifier_is_a_semantic_limit():
    inp = K.Input((6,))
    h = L.Dense(5, name="hidden")(inp)
    model = K.Model(inp, L.Dense(3, activation="softmax", name="probs")(h))
    group = _group_of(model, "probs")
    assert not group.prunable and "normalises over" in group.reason
    assert _group_of(model, "hidden").prunable    # its inputs still can go
    pruned = tp.surgery.delete_channels(model, "hidden", [2])
    assert pruned.get_layer("probs").kernel.shape == (4, 3)


# ------------------------------------------------------ names with a slash

def _slash_model():
    inp = K.Input((6, 6, 3), name="input_1")
    x = L.Conv2D(6, 3, padding="same", name="conv1/conv")(inp)
    x = L.BatchNormalization(name="conv1/bn")(x)
    x = L.ReLU(name="conv1/relu")(x)
    x = L.Conv2D(4, 3, padding="same", name="conv2/conv")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return randomize(K.Model(inp, L.Dense(3, name="out")(x)))


def test_layer_names_with_a_slash_work_everywhere():
    model = _slash_model()
    x = _x((6, 6, 3), n=8)
    assert tp.surgery.get_layer(model, "conv1/conv") is \
        model.get_layer("conv1/conv")
    plan = {"conv1/conv": [0, 2]}
    pruned = check_equivalent(model, plan, x, inplace=False)
    assert pruned.get_layer("conv1/conv").filters == 4
    work = tp.surgery.zero_channels(model, {})
    tp.surgery.apply_zeroing(work, tp.surgery.zeroing_spec(model, plan))
    assert not work.get_layer("conv1/conv").get_weights()[0][..., 0].any()
    apoz = tp.surgery.identify.get_apoz(model, "conv1/conv", x)
    assert apoz.shape == (6,)
    assert tp.filters.scores(["conv1/conv"], "l1", model=model).shape == (6,)
    small = tp.filters.prune(model, {"conv1/conv": 0.5, "conv2/conv": 1})
    assert small.get_layer("conv1/conv").filters == 3


def test_a_name_that_is_both_a_layer_and_a_nested_path_is_ambiguous():
    inner_in = K.Input((4,))
    outer = K.Model(inner_in, L.Dense(4, name="inner")(inner_in),
                    name="outer")
    inp = K.Input((4,))
    x = outer(inp)
    model = K.Model(inp, L.Dense(2, name="outer/inner")(x))
    with pytest.raises(ValueError, match="ambiguous"):
        tp.surgery.get_layer(model, "outer/inner")
    with pytest.raises(ValueError, match="ambiguous"):
        tp.surgery.delete_channels(model, "outer/inner", [0])


def test_nested_paths_reach_layers_whose_names_contain_a_slash():
    inner_in = K.Input((6, 6, 3))
    block = K.Model(inner_in, L.Conv2D(5, 3, padding="same",
                                       name="conv1/conv")(inner_in),
                    name="block")
    inp = K.Input((6, 6, 3))
    model = randomize(K.Model(inp, L.Conv2D(2, 1, name="out")(block(inp))))
    layer = tp.surgery.get_layer(model, "block/conv1/conv")
    assert layer is block.get_layer("conv1/conv")
    pruned = check_equivalent(model, {"block/conv1/conv": [4]}, _x((6, 6, 3)))
    assert tp.surgery.get_layer(pruned, "block/conv1/conv").filters == 4
    with pytest.raises(ValueError, match="no layer named 'block/conv2'"):
        tp.surgery.get_layer(model, "block/conv2")
