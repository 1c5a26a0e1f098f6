"""keras-surgeon's own test expectations, checked against tfprune.surgery
(same models, same expected weights and layer lists; where keras-surgeon
silently built an ambiguous model, tfprune raises instead).

keras-surgeon (BenWhetton/keras-surgeon, tests/test_surgeon.py) checks a
layer deletion by comparing the result's config and weights with a model
built by hand from the same layers; a layer called at several places must
keep its call order and the model its output order. Its ``node_indices``
keyword selects calls of a shared layer: tfprune accepts all of them and
refuses a partial selection."""
import numpy as np
import pytest

import tfprune as tp

L = tp.keras.layers
K = tp.keras
CHANNELS = [[0], [-1], [1, 2]]
FORMATS = ["channels_first", "channels_last"]


def _norm(idx, n):
    return sorted(i % n for i in idx)


def _flat_rows(idx, flat_sz, n, data_format):
    """Rows of the Dense after Flatten fed by channels ``idx`` of ``n``."""
    if data_format == "channels_first":
        per = flat_sz // n
        return [x * per + i for x in idx for i in range(per)]
    return [x + i for i in range(0, flat_sz, n) for x in idx]


def _shape(dim, data_format, size=6, channels=2):
    spatial = (size,) * dim
    return (channels,) + spatial if data_format == "channels_first" \
        else spatial + (channels,)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("channels", CHANNELS, ids=str)
def test_conv2d_conv2d_weights_and_next_layer(channels, data_format):
    inp = K.Input(_shape(2, data_format, 7, 1))
    x = L.Conv2D(3, 3, data_format=data_format, name="c1")(inp)
    x = L.Conv2D(3, 3, data_format=data_format, name="c2")(x)
    x = L.Flatten()(x)
    model = K.Model(inp, L.Dense(1)(L.Dense(3)(x)))
    new = tp.surgery.delete_channels(model, "c1", channels)
    idx = _norm(channels, 3)
    w = model.get_layer("c1").get_weights()
    for a, b in zip(new.get_layer("c1").get_weights(),
                    [np.delete(w[0], idx, -1), np.delete(w[1], idx, 0)]):
        np.testing.assert_array_equal(a, b)
    w = model.get_layer("c2").get_weights()
    np.testing.assert_array_equal(new.get_layer("c2").get_weights()[0],
                                  np.delete(w[0], idx, -2))
    np.testing.assert_array_equal(new.get_layer("c2").get_weights()[1], w[1])


def _flatten_case(dim, layer_fn, data_format, channels):
    conv = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[dim]
    kw = {} if dim == 1 else {"data_format": data_format}
    size = {1: 12, 2: 10, 3: 8}[dim]
    inp = K.Input(_shape(dim, data_format if dim > 1 else "channels_last",
                         size))
    x = conv(3, 3, name="src", **kw)(inp)
    x = layer_fn(**kw)(x)
    flat = L.Flatten()(x)
    model = K.Model(inp, L.Dense(5, name="dense")(flat))
    surgeon = tp.surgery.Surgeon(model)
    surgeon.add_job("delete_channels", "src", channels=channels)
    new = surgeon.operate()
    flat_sz = int(np.prod(flat.shape[1:]))
    rows = _flat_rows(_norm(channels, 3), flat_sz, 3,
                      data_format if dim > 1 else "channels_last")
    w = model.get_layer("dense").get_weights()
    np.testing.assert_array_equal(new.get_layer("dense").get_weights()[0],
                                  np.delete(w[0], rows, axis=0))


LAYERS_1D = {
    "MaxPool1D": lambda **kw: L.MaxPool1D(2),
    "Cropping1D": lambda **kw: L.Cropping1D(3),
    "UpSampling1D": lambda **kw: L.UpSampling1D(3),
    "ZeroPadding1D": lambda **kw: L.ZeroPadding1D(3),
    "AveragePooling1D": lambda **kw: L.AveragePooling1D(3),
}
LAYERS_2D = {
    "MaxPool2D": lambda **kw: L.MaxPool2D([2, 2], **kw),
    "Cropping2D": lambda **kw: L.Cropping2D([2, 3], **kw),
    "UpSampling2D": lambda **kw: L.UpSampling2D([2, 3], **kw),
    "ZeroPadding2D": lambda **kw: L.ZeroPadding2D([2, 3], **kw),
    "AveragePooling2D": lambda **kw: L.AveragePooling2D([2, 3], **kw),
    "LeakyReLU": lambda **kw: L.LeakyReLU(),
    "ELU": lambda **kw: L.ELU(),
    "ThresholdedReLU": lambda **kw: L.ThresholdedReLU(),
    "GaussianNoise": lambda **kw: L.GaussianNoise(0.5, seed=1),
    "GaussianDropout": lambda **kw: L.GaussianDropout(0.5, seed=1),
    "AlphaDropout": lambda **kw: L.AlphaDropout(0.5, seed=1),
    "BatchNormalization": lambda **kw: L.BatchNormalization(
        axis=1 if kw.get("data_format") == "channels_first" else -1),
}
LAYERS_3D = {
    "MaxPool3D": lambda **kw: L.MaxPool3D([2, 3, 2], **kw),
    "Cropping3D": lambda **kw: L.Cropping3D([2, 1, 2], **kw),
    "UpSampling3D": lambda **kw: L.UpSampling3D([2, 1, 2], **kw),
    "ZeroPadding3D": lambda **kw: L.ZeroPadding3D([2, 1, 2], **kw),
    "AveragePooling3D": lambda **kw: L.AveragePooling3D([2, 3, 2], **kw),
}


@pytest.mark.parametrize("name", sorted(LAYERS_1D))
def test_flatten_rows_1d(name):
    _flatten_case(1, LAYERS_1D[name], "channels_last", [1, 2])


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("name", sorted(LAYERS_2D))
def test_flatten_rows_2d(name, data_format):
    _flatten_case(2, LAYERS_2D[name], data_format, [-1])


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("name", sorted(LAYERS_3D))
def test_flatten_rows_3d(name, data_format):
    _flatten_case(3, LAYERS_3D[name], data_format, [0, 2])


@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_then_dense(data_format):
    for dim, layer in ((1, L.GlobalAveragePooling1D()),
                       (2, L.GlobalAveragePooling2D(data_format=data_format))):
        conv = L.Conv1D(3, 3, name="src") if dim == 1 else \
            L.Conv2D(3, 3, data_format=data_format, name="src")
        inp = K.Input(_shape(dim, data_format if dim == 2
                             else "channels_last", 8))
        model = K.Model(inp, L.Dense(5, name="dense")(layer(conv(inp))))
        new = tp.surgery.delete_channels(model, "src", [1, 2])
        w = model.get_layer("dense").get_weights()[0]
        np.testing.assert_array_equal(new.get_layer("dense").get_weights()[0],
                                      np.delete(w, [1, 2], axis=0))


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("merge", ["Add", "Multiply", "Average", "Maximum",
                                   "Concatenate"])
def test_merges_then_flatten(merge, data_format):
    shape = _shape(2, data_format, 8)
    in1, in2 = K.Input(shape), K.Input(shape)
    x = L.Conv2D(3, 3, data_format=data_format, name="conv_1")(in1)
    y = L.Conv2D(3, 3, data_format=data_format, name="conv_2")(in2)
    axis = 1 if data_format == "channels_first" else -1
    layer = L.Concatenate(axis=axis) if merge == "Concatenate" \
        else getattr(L, merge)()
    m = layer([x, y])
    flat = L.Flatten()(m)
    model = K.Model([in1, in2], L.Dense(5, name="dense_1")(flat))
    surgeon = tp.surgery.Surgeon(model)
    surgeon.add_job("delete_channels", "conv_1", channels=[1, 2])
    if merge != "Concatenate":
        surgeon.add_job("delete_channels", "conv_2", channels=[1, 2])
    new = surgeon.operate()
    flat_sz = int(np.prod(flat.shape[1:]))
    n = int(m.shape[axis])
    rows = _flat_rows([1, 2], flat_sz, n, data_format)
    w = model.get_layer("dense_1").get_weights()[0]
    np.testing.assert_array_equal(new.get_layer("dense_1").get_weights()[0],
                                  np.delete(w, rows, axis=0))


@pytest.mark.parametrize("rnn", ["SimpleRNN", "GRU", "LSTM"])
def test_recurrent_next_layer_rows(rnn):
    inp = K.Input((8, 4))
    x = getattr(L, rnn)(9, return_sequences=True, name="r")(inp)
    x = L.GRU(4, name="next")(x)
    model = K.Model(inp, L.Dense(5)(x))
    new = tp.surgery.delete_channels(model, "r", [1, 2])
    w = model.get_layer("next").get_weights()
    np.testing.assert_array_equal(new.get_layer("next").get_weights()[0],
                                  np.delete(w[0], [1, 2], axis=0))
    assert new.get_layer("r").units == 7


def _same(model_a, model_b):
    assert [la.name for la in model_a.layers] == \
        [la.name for la in model_b.layers]
    for a, b in zip(model_a.layers, model_b.layers):
        if not isinstance(a, L.InputLayer):
            assert a.get_config() == b.get_config()
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(a, b)


def _dense_chain(names, shape=(7,)):
    inp = K.Input(shape, name="in")
    layers = {n: L.Dense(1 if n == "dense_4" else 3, name=n) for n in names}
    return inp, layers


def test_delete_insert_replace_layer():
    inp, d = _dense_chain(["dense_1", "dense_2", "dense_3", "dense_4"])
    model = K.Model(inp, d["dense_4"](d["dense_3"](d["dense_2"](
        d["dense_1"](inp)))))
    expected = K.Model(inp, d["dense_4"](d["dense_3"](d["dense_1"](inp))))
    _same(tp.surgery.delete_layer(model, "dense_2"), expected)
    # insert before / replace by a new layer
    short = K.Model(inp, d["dense_4"](d["dense_2"](d["dense_1"](inp))))
    new3 = L.Dense(3, name="dense_new")
    got = tp.surgery.insert_layer(short, "dense_4", new3)
    assert [la.name for la in got.layers] == ["in", "dense_1", "dense_2",
                                              "dense_new", "dense_4"]
    rep = L.Dense(3, name="dense_rep")
    got = tp.surgery.replace_layer(short, "dense_2", rep)
    assert [la.name for la in got.layers] == ["in", "dense_1", "dense_rep",
                                              "dense_4"]
    np.testing.assert_array_equal(got.get_layer("dense_1").get_weights()[0],
                                  short.get_layer("dense_1").get_weights()[0])


def test_delete_layer_reuse_and_same_layer_outputs():
    inp, d = _dense_chain(["dense_1", "dense_2", "dense_3", "dense_4"],
                          shape=(3,))
    d["dense_4"] = L.Dense(3, name="dense_4")
    x = d["dense_2"](d["dense_3"](d["dense_2"](d["dense_1"](inp))))
    model = K.Model(inp, d["dense_4"](x))
    got = tp.surgery.delete_layer(model, "dense_2")
    assert [la.name for la in got.layers] == ["in", "dense_1", "dense_3",
                                              "dense_4"]


def test_downstream_sharing_needs_the_same_channels():
    inp = K.Input((5,))
    d1, d2, d3 = (L.Dense(4, name="dense_1"), L.Dense(4, name="dense_2"),
                  L.Dense(3, name="dense_3"))
    model = K.Model(inp, [d3(d1(inp)), d3(d2(inp))])
    surgeon = tp.surgery.Surgeon(model)
    surgeon.add_job("delete_channels", "dense_1", channels=[0])
    surgeon.add_job("delete_channels", "dense_2", channels=[1])
    # keras-surgeon built a model whose shared dense_3 fits neither branch;
    # tfprune refuses (documented: one set of weights cannot fit both)
    with pytest.raises(ValueError, match="inconsistent.*shared"):
        surgeon.operate()
    new = tp.surgery.prune_channels(model, {"dense_1": [0], "dense_2": [0]})
    assert new.get_layer("dense_3").get_weights()[0].shape == (3, 3)


@pytest.mark.parametrize("long", [False, True])
def test_delete_all_channels_in_branch(long):
    inp = K.Input((8, 8, 3))
    x = L.Conv2D(2, 3, name="conv_1")(inp)
    if long:
        x = L.Conv2D(4, 1, name="conv_3")(x)
    y = L.Conv2D(3, 3, name="conv_2")(inp)
    model = K.Model(inp, L.Concatenate(name="cat_1")([x, y]))
    surgeon = tp.surgery.Surgeon(model)
    surgeon.add_job("delete_channels", "conv_1", channels=[0, 1])
    new = surgeon.operate()
    assert [la.name for la in new.layers] == [model.layers[0].name, "conv_2"]
    np.testing.assert_array_equal(new.get_layer("conv_2").get_weights()[0],
                                  model.get_layer("conv_2").get_weights()[0])
    # a branch that does not end in a Concatenate cannot vanish
    chain = K.Model(inp, L.Conv2D(2, 1, name="c")(L.Conv2D(2, 3,
                                                            name="b")(inp)))
    with pytest.raises(ValueError, match="every channel of layer 'b'"):
        tp.surgery.delete_channels(chain, "b", [0, 1])


def test_channels_first_bn_and_flatten_equivalence():
    from _surgery_helpers import check_equivalent, randomize
    inp = K.Input((2, 6, 6))
    x = L.Conv2D(4, 3, padding="same", data_format="channels_first",
                 name="c1")(inp)
    x = L.BatchNormalization(axis=1)(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D(2, data_format="channels_first")(x)
    x = L.Conv2D(3, 1, data_format="channels_first", name="c2")(x)
    a = L.Dense(2, name="fa")(L.Flatten()(x))
    b = L.Dense(2, name="fb")(L.Flatten(data_format="channels_first")(x))
    model = K.Model(inp, [a, b])
    randomize(model)
    xs = np.random.default_rng(0).normal(size=(2, 2, 6, 6)).astype("float32")
    check_equivalent(model, {"c1": [0, 3], "c2": [1]}, xs)


# ------------------------------------------- shared layers, call order

def _same_model(a, b):
    """keras-surgeon's comparison: equal configs up to the model name, and
    equal weights."""
    ca, cb = a.get_config(), b.get_config()
    cb["name"] = ca["name"]
    assert ca == cb
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))


def _clean(model):
    return K.Model.from_config(model.get_config())


def _two_outputs_through_a_shared_dense():
    inp = K.Input((10,))
    d1, d2, d3 = (L.Dense(3, name=f"dense_{i}") for i in (1, 2, 3))
    d4 = L.Dense(1, name="dense_4")
    x = d1(inp)
    y = d2(x)
    x = d3(x)
    model = K.Model(inp, [d4(x), d4(y)])
    return model, (inp, d1, d2, d4)


def test_delete_layer_keeps_the_shared_layers_call_and_output_order():
    model, (inp, d1, d2, d4) = _two_outputs_through_a_shared_dense()
    model = _clean(model)
    x = d1(inp)
    y = d2(x)
    expected = _clean(K.Model(inp, [d4(x), d4(y)]))
    for la in expected.layers:
        la.set_weights(model.get_layer(la.name).get_weights())
    new = tp.surgery.delete_layer(model, model.get_layer("dense_3"))
    _same_model(new, expected)


def test_a_rebuild_without_jobs_keeps_every_call_in_its_order():
    model, _ = _two_outputs_through_a_shared_dense()
    for pruned in (tp.surgery.prune_channels(model, {}),
                   tp.surgery.Surgeon(model).operate()):
        _same_model(pruned, model)
        assert pruned.get_config()["output_layers"] == \
            model.get_config()["output_layers"]


# ------------------------------------------------------------ node_indices

def _shared_hidden():
    inp = K.Input((5,))
    shared = L.Dense(4, name="shared")
    y = L.Add()([shared(L.Dense(3, name="a")(inp)),
                 shared(L.Dense(3, name="b")(inp))])
    return K.Model(inp, L.Dense(2, name="out")(y))


def test_node_indices_selecting_every_call_are_accepted():
    model = _shared_hidden()
    for sel in (None, [0, 1], [1, 0]):
        new = tp.surgery.delete_channels(model, "shared", [0],
                                         node_indices=sel)
        assert new.get_layer("shared").units == 3
    assert tp.surgery.delete_channels(model, "a", [1], [0]).get_layer(
        "a").units == 2                      # keras-surgeon's position too
    model, _ = _two_outputs_through_a_shared_dense()
    assert tp.surgery.delete_layer(model, "dense_3",
                                   node_indices=[0]).get_layer("dense_4")
    surgeon = tp.surgery.Surgeon(model)
    surgeon.add_job("delete_layer", "dense_3", node_indices=[0])
    surgeon.add_job("delete_channels", "dense_1", channels=[2],
                    node_indices=None)
    assert surgeon.operate().get_layer("dense_1").units == 2


def test_a_partial_node_selection_is_refused_clearly():
    model, _ = _two_outputs_through_a_shared_dense()
    with pytest.raises(ValueError, match=r"selects some of the calls "
                       r"\[0, 1\] of the shared layer 'dense_4'"):
        tp.surgery.delete_channels(model, "dense_4", [0], node_indices=[0])
    with pytest.raises(ValueError, match="node index 5 is not a call"):
        tp.surgery.replace_layer(model, "dense_4", L.Dense(1, name="d"),
                                 node_indices=[5])
    with pytest.raises(TypeError, match="node_indices"):
        tp.surgery.delete_layer(model, "dense_3", node_indices="0")
    surgeon = tp.surgery.Surgeon(model)
    with pytest.raises(ValueError, match="selects some"):
        surgeon.add_job("delete_channels", "dense_4", channels=[0],
                        node_indices=[1])
    with pytest.raises(TypeError, match="node_names"):
        surgeon.add_job("delete_channels", "dense_1", channels=[0],
                        node_names=["x"])
