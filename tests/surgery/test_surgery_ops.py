"""delete_channels / prune_channels / Surgeon: behaviour, state carried over,
saving, training, and error messages."""
import numpy as np
import pytest

import tfprune as tp
from _surgery_helpers import (assert_close, check_equivalent, kept_outputs,
                              randomize)

L = tp.keras.layers
K = tp.keras


def _digits_cnn(seed=0):
    tp.utils.set_seed(seed)
    reg = K.regularizers.l2(1e-4)
    inp = K.Input((8, 8, 1), name="image")
    x = L.Conv2D(8, 3, padding="same", name="conv1", kernel_regularizer=reg,
                 kernel_constraint=K.constraints.MaxNorm(3.0))(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(12, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation="relu", name="fc1")(x)
    out = L.Dense(10, activation="softmax", name="output")(x)
    return K.Model(inp, out, name="digits_cnn")


@pytest.fixture(scope="module")
def trained(digits):
    x_tr, y_tr, x_te, y_te = digits
    x_tr = x_tr.reshape(-1, 8, 8, 1)
    x_te = x_te.reshape(-1, 8, 8, 1)
    model = _digits_cnn()
    model.compile(optimizer=K.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_tr, y_tr, epochs=3, batch_size=64, verbose=0)
    return model, (x_tr, y_tr, x_te, y_te)


PLAN = {"conv1": [0, 5], "conv2": [1, 2, 3, 11], "fc1": [4]}


def test_trained_model_pruned_equals_zeroed_and_keeps_state(trained):
    model, (x_tr, y_tr, x_te, y_te) = trained
    before = [w.copy() for w in model.get_weights()]
    pruned = check_equivalent(model, PLAN, x_te[:64])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # shapes and the Flatten -> Dense row mapping
    assert pruned.get_layer("conv1").filters == 6
    assert pruned.get_layer("conv2").filters == 8
    assert pruned.get_layer("fc1").units == 15
    assert pruned.get_layer("bn1").get_weights()[0].shape == (6,)
    k_old = model.get_layer("fc1").get_weights()[0]
    k_new = pruned.get_layer("fc1").get_weights()[0]
    rows = [r for r in range(k_old.shape[0]) if r % 12 not in PLAN["conv2"]]
    np.testing.assert_array_equal(k_new, np.delete(k_old[rows], 4, axis=1))
    # names, regularizers, constraints, dtype policy, no shared variables
    assert [la.name for la in pruned.layers] == [la.name for la in model.layers]
    conv1 = pruned.get_layer("conv1")
    assert conv1.kernel_regularizer.get_config() == \
        model.get_layer("conv1").kernel_regularizer.get_config()
    assert isinstance(conv1.kernel_constraint, K.constraints.MaxNorm)
    assert conv1.dtype_policy.name == model.get_layer("conv1").dtype_policy.name
    ids = {id(v) for v in model.variables}
    assert not ids & {id(v) for v in pruned.variables}
    # compile state
    assert pruned.optimizer is not model.optimizer
    assert pruned.optimizer.get_config()["learning_rate"] == pytest.approx(
        model.optimizer.get_config()["learning_rate"])
    assert type(pruned.optimizer) is type(model.optimizer)
    assert pruned.loss == model.loss
    acc_zero = tp.surgery.zero_channels(model, PLAN).evaluate(
        x_te, y_te, verbose=0)[1]
    loss, acc = pruned.evaluate(x_te, y_te, verbose=0)
    assert acc == pytest.approx(acc_zero, abs=1e-6)
    assert "accuracy" in pruned.metrics_names


def test_pruned_model_saves_loads_and_trains(trained, tmp_path):
    model, (x_tr, y_tr, x_te, y_te) = trained
    pruned = tp.surgery.prune_channels(model, PLAN)
    ref = pruned.predict(x_te, verbose=0)
    for ext in ("keras", "h5"):
        path = str(tmp_path / f"pruned.{ext}")
        pruned.save(path)
        loaded = K.models.load_model(path)
        np.testing.assert_allclose(loaded.predict(x_te, verbose=0), ref,
                                   rtol=1e-5, atol=1e-6)
        assert loaded.get_layer("conv2").filters == 8
    loss0 = pruned.evaluate(x_tr, y_tr, verbose=0)[0]
    hist = pruned.fit(x_tr, y_tr, epochs=2, batch_size=64, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert pruned.evaluate(x_tr, y_tr, verbose=0)[0] < loss0


def test_sequential_stays_sequential_and_trainable_flags_kept(digits):
    x_tr, y_tr, x_te, _ = digits
    model = K.Sequential([K.Input((64,)), L.Dense(20, activation="relu",
                                                 name="h1"),
                          L.Dense(12, activation="tanh", name="h2"),
                          L.Dense(10, name="out")], name="mlp")
    model.get_layer("h2").trainable = False
    randomize(model)
    pruned = check_equivalent(model, {"h1": [0, 19], "h2": [3]}, x_te[:32])
    assert isinstance(pruned, K.Sequential)
    assert pruned.name == "mlp"
    assert pruned.get_layer("h2").trainable is False
    assert pruned.get_layer("h1").units == 18
    assert pruned.count_params() == (64 * 18 + 18) + (18 * 11 + 11) + \
        (11 * 10 + 10)


def test_mixed_precision_policy_is_kept():
    inp = K.Input((6, 6, 3))
    x = L.Conv2D(4, 3, dtype="mixed_float16", name="c1")(inp)
    x = L.Conv2D(2, 1, dtype="float32", name="c2")(x)
    model = K.Model(inp, x)
    pruned = tp.surgery.delete_channels(model, "c1", [1])
    assert pruned.get_layer("c1").dtype_policy.name == "mixed_float16"
    assert pruned.get_layer("c1").filters == 3


def test_delete_channels_negative_indices_and_layer_object():
    model, _ = _small_resnet()
    a = tp.surgery.delete_channels(model, model.get_layer("b_conv1"), [-1])
    assert a.get_layer("b_conv1").filters == 5
    b = tp.surgery.delete_channels(model, "b_conv1", [5])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_surgeon_matches_prune_channels(trained):
    model, (_, _, x_te, _) = trained
    surgeon = tp.surgery.Surgeon(model)
    for name, ch in PLAN.items():
        surgeon.add_job("delete_channels", name, channels=ch)
    with pytest.raises(ValueError, match="already has a job"):
        surgeon.add_job("delete_channels", "conv1", channels=[1])
    with pytest.raises(ValueError, match="job"):
        surgeon.add_job("explode", "conv1", channels=[1])
    a = surgeon.operate()
    b = tp.surgery.prune_channels(model, PLAN)
    assert_close(a.predict(x_te[:16], verbose=0),
                 b.predict(x_te[:16], verbose=0))


def _small_resnet():
    """Stem -> two residual blocks (identity shortcuts) -> head."""
    inp = K.Input((6, 6, 3))
    x = L.Conv2D(6, 3, padding="same", name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    for b in "ab":
        y = L.Conv2D(6, 3, padding="same", name=f"{b}_conv1")(x)
        y = L.BatchNormalization(name=f"{b}_bn1")(y)
        y = L.ReLU()(y)
        y = L.Conv2D(6, 3, padding="same", name=f"{b}_conv2")(y)
        y = L.BatchNormalization(name=f"{b}_bn2")(y)
        x = L.ReLU(name=f"{b}_out")(L.Add(name=f"{b}_add")([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(4, name="head")(x)
    model = K.Model(inp, out)
    randomize(model)
    return model, np.random.default_rng(2).normal(size=(3, 6, 6, 3)
                                                  ).astype("float32")


def test_residual_group_is_pruned_consistently():
    model, x = _small_resnet()
    groups = tp.surgery.dependency_groups(model)
    res = [g for g in groups if g.coupled]
    assert len(res) == 1
    assert res[0].layers == ("stem", "a_conv2", "b_conv2")
    assert res[0].kind == "add" and res[0].channels == 6
    expanded = tp.surgery.expand_plan(model, {"a_conv2": [1, 4]})
    assert set(expanded) == {"stem", "a_conv2", "b_conv2"}
    for idx in expanded.values():
        np.testing.assert_array_equal(idx, [1, 4])
    pruned = check_equivalent(model, {"a_conv2": [1, 4]}, x)
    assert pruned.get_layer("b_bn2").get_weights()[0].shape == (4,)
    # the same channels named in several members is fine
    check_equivalent(model, {"stem": [1, 4], "b_conv2": [1, 4]}, x)
    with pytest.raises(ValueError, match=r"coupled group.*stem.*a_conv2"):
        tp.surgery.prune_channels(model, {"stem": [1], "b_conv2": [2]})


def test_concatenate_offsets_and_partial_coupling():
    inp = K.Input((5, 5, 2))
    a = L.Conv2D(3, 1, name="a")(inp)
    b = L.Conv2D(4, 3, padding="same", name="b")(inp)
    cat = L.Concatenate(name="cat")([a, b])
    c = L.Conv2D(7, 1, name="c")(inp)
    s = L.Add(name="add")([cat, c])
    out = L.Conv2D(2, 1, name="out")(L.ReLU()(s))
    model = K.Model(inp, out)
    randomize(model)
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 2)).astype("float32")
    g = [g for g in tp.surgery.dependency_groups(model) if g.coupled][0]
    assert set(g.layers) == {"a", "b", "c"} and g.channels == 7
    # deleting b's channel 1 removes c's channel 3 + 1 = 4
    exp = tp.surgery.expand_plan(model, {"b": [1]})
    np.testing.assert_array_equal(exp["c"], [4])
    assert "a" not in exp
    pruned = check_equivalent(model, {"b": [1], "a": [0]}, x)
    assert pruned.get_layer("c").filters == 5
    # all of 'a' through the group: its branch leaves the concatenation
    pruned = check_equivalent(model, {"c": [0, 1, 2]}, x)
    names = [la.name for la in pruned.layers]
    assert "a" not in names and "cat" not in names  # one input left
    assert pruned.get_layer("c").filters == 4


def test_depthwise_chain_and_mobilenet_groups():
    model = K.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None,
                                       classes=5)
    groups = tp.surgery.dependency_groups(model)
    kinds = {g.kind for g in groups}
    assert "depthwise" in kinds and "add" in kinds
    dw = [g for g in groups if g.kind == "depthwise"][0]
    assert any("depthwise" in n for n in dw.layers)
    assert len(dw.layers) == 2
    # every prunable layer is in exactly one group
    names = [n for g in groups for n in g.layers]
    assert len(names) == len(set(names))


def test_nested_models_and_qualified_names():
    inner = K.Sequential([K.Input((5, 5, 4)),
                          L.Conv2D(5, 3, padding="same", name="ic1"),
                          L.BatchNormalization(name="ibn"),
                          L.ReLU(name="irelu")], name="inner")
    inp = K.Input((5, 5, 3))
    x = L.Conv2D(4, 1, name="outer_conv")(inp)
    x = inner(x)
    block_in = K.Input((5, 5, 5))
    y = L.Conv2D(6, 1, name="fc")(block_in)
    func_inner = K.Model(block_in, L.ReLU()(y), name="fn_inner")
    x = func_inner(x)
    out = L.Conv2D(2, 1, name="out")(x)
    model = K.Model(inp, out)
    randomize(model)
    x = np.random.default_rng(4).normal(size=(2, 5, 5, 3)).astype("float32")
    names = tp.surgery.prunable_layers(model)
    assert "inner/ic1" in names and "fn_inner/fc" in names
    plan = {"outer_conv": [0], "inner/ic1": [1, 2], "fc": [5]}
    pruned = check_equivalent(model, plan, x)
    assert isinstance(pruned.get_layer("inner"), K.Sequential)
    assert pruned.get_layer("inner").get_layer("ic1").filters == 3
    assert pruned.get_layer("inner").input_shape == (None, 5, 5, 3)
    assert tp.surgery.get_layer(pruned, "fn_inner/fc").filters == 5


def test_shared_layer_loses_channels_at_every_call():
    inp1, inp2 = K.Input((4, 4, 2)), K.Input((4, 4, 2))
    stem = L.Conv2D(5, 3, padding="same", name="stem")
    shared = L.Conv2D(3, 1, name="shared")
    a = shared(L.ReLU()(stem(inp1)))
    b = shared(L.ReLU()(L.Conv2D(5, 1, name="other")(inp2)))
    model = K.Model([inp1, inp2], L.Add()([a, b]))
    randomize(model)
    g = {n: grp for grp in tp.surgery.dependency_groups(model)
         for n in grp.layers}
    assert g["stem"] is g["other"] and "shared" in g["stem"].kind
    x = [np.random.default_rng(5).normal(size=(2, 4, 4, 2)).astype("float32")
         for _ in range(2)]
    check_equivalent(model, {"stem": [0, 3]}, x)
    check_equivalent(model, {"shared": [2]}, x)


def test_pre_activation_bn_is_zeroed_too():
    inp = K.Input((5, 5, 3))
    stem = L.Conv2D(4, 3, padding="same", name="stem")(inp)
    y = L.BatchNormalization(name="pre_bn")(stem)
    y = L.ReLU()(y)
    y = L.Conv2D(4, 3, padding="same", name="conv1")(y)
    out = L.Conv2D(3, 1, name="out")(L.Add()([stem, y]))
    model = K.Model(inp, out)
    randomize(model)
    spec = tp.surgery.zeroing_spec(model, {"stem": [2]})
    touched = {(z.layer, z.weight_index) for z in spec}
    assert ("pre_bn", 0) in touched and ("pre_bn", 1) in touched
    assert ("stem", 0) in touched and ("stem", 1) in touched
    assert ("conv1", 0) in touched  # coupled through the Add
    for z in spec:
        assert list(z.indices) == [2]
    x = np.random.default_rng(6).normal(size=(2, 5, 5, 3)).astype("float32")
    check_equivalent(model, {"stem": [2]}, x)


def test_zero_channels_returns_new_model_and_warns_on_sigmoid():
    inp = K.Input((5,))
    x = L.Dense(4, activation="sigmoid", name="h")(inp)
    model = K.Model(inp, L.Dense(2, name="o")(x))
    w0 = [w.copy() for w in model.get_weights()]
    with pytest.warns(RuntimeWarning, match="sigmoid"):
        z = tp.surgery.zero_channels(model, {"h": [1]})
    assert z is not model
    for a, b in zip(w0, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(z.get_layer("h").get_weights()[0][:, 1], 0)


# ----------------------------------------------------------------- errors

def test_errors_name_the_problem():
    model, _ = _small_resnet()
    with pytest.raises(ValueError, match=r"no layer named 'a_conv'.*a_conv1"):
        tp.surgery.delete_channels(model, "a_conv", [0])
    with pytest.raises(ValueError, match="out of range.*6 output channels"):
        tp.surgery.delete_channels(model, "a_conv1", [6])
    with pytest.raises(ValueError, match="duplicate.*\\[2\\]"):
        tp.surgery.delete_channels(model, "a_conv1", [2, 2])
    with pytest.raises(ValueError, match="duplicate"):
        tp.surgery.delete_channels(model, "a_conv1", [1, -5])
    with pytest.raises(ValueError, match="every channel of layer 'a_conv1'"):
        tp.surgery.delete_channels(model, "a_conv1", range(6))
    with pytest.raises(TypeError, match="integers"):
        tp.surgery.delete_channels(model, "a_conv1", [0.5])
    with pytest.raises(ValueError, match="no output channels of its own.*"
                       "'a_conv1'"):
        tp.surgery.delete_channels(model, "a_bn1", [0])
    with pytest.raises(TypeError, match="dict"):
        tp.surgery.prune_channels(model, [("a_conv1", [0])])


def test_unknown_layer_on_the_path_raises_not_implemented():
    inp = K.Input((4, 4, 2))
    x = L.Conv2D(3, 1, name="c1")(inp)
    y = L.Lambda(lambda t: t * 2.0, name="double")(x)
    z = L.Conv2D(3, 1, name="c2")(inp)
    out = L.Conv2D(2, 1, name="c3")(L.Concatenate()([y, z]))
    model = K.Model(inp, out)
    with pytest.raises(NotImplementedError, match=r"'double' \(Lambda\)"):
        tp.surgery.delete_channels(model, "c1", [0])
    g = {n: grp for grp in tp.surgery.dependency_groups(model)
         for n in grp.layers}
    assert not g["c1"].prunable and "Lambda" in g["c1"].reason
    # a layer away from the unknown one is still fine
    pruned = tp.surgery.delete_channels(model, "c2", [1])
    assert pruned.get_layer("c2").filters == 2


def test_softmax_over_channels_and_model_input_groups_are_refused():
    inp = K.Input((4, 4, 3))
    x = L.Conv2D(3, 1, name="c1")(inp)
    x = L.Add()([x, inp])  # coupled with the model input
    y = L.Conv2D(4, 1, name="c2")(x)
    out = L.Softmax(name="sm")(y)
    model = K.Model(inp, L.Conv2D(2, 1, name="c3")(out))
    with pytest.raises(ValueError, match="model input"):
        tp.surgery.delete_channels(model, "c1", [0])
    with pytest.raises(NotImplementedError, match=r"'sm' \(Softmax\)"):
        tp.surgery.delete_channels(model, "c2", [0])


def test_non_graph_models_are_refused():
    class Sub(K.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    sub = Sub()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match="subclassed"):
        tp.surgery.delete_channels(sub, "d", [0])
    with pytest.raises(TypeError):
        tp.surgery.dependency_groups("not a model")


def test_kept_outputs_when_deleting_model_output_units():
    inp = K.Input((5,))
    model = K.Model(inp, L.Dense(4, name="o")(L.Dense(3, name="h")(inp)))
    randomize(model)
    pruned = tp.surgery.delete_channels(model, "o", [2])
    x = np.random.default_rng(7).normal(size=(3, 5)).astype("float32")
    assert_close(pruned(x), np.delete(model(x).numpy(), 2, axis=1))
    assert kept_outputs(model, {"o": [2]})[0][0] == 1


def test_shared_nested_model_and_multi_output_layer():
    block_in = K.Input((4, 4, 3))
    inner = K.Model(block_in, L.ReLU()(L.Conv2D(5, 1, name="ic")(block_in)),
                    name="tower")
    a, b = K.Input((4, 4, 2)), K.Input((4, 4, 2))
    pa = L.Conv2D(3, 1, name="pa")(a)
    pb = L.Conv2D(3, 1, name="pb")(b)
    model = K.Model([a, b], L.Add()([inner(pa), inner(pb)]))
    randomize(model)
    g = {n: grp for grp in tp.surgery.dependency_groups(model)
         for n in grp.layers}
    assert g["pa"] is g["pb"]  # both feed the one tower
    x = [np.random.default_rng(8).normal(size=(2, 4, 4, 2)).astype("float32")
         for _ in range(2)]
    pruned = check_equivalent(model, {"pa": [1], "tower/ic": [0, 4]}, x)
    assert tp.surgery.get_layer(pruned, "tower/ic").filters == 3

    class Split(L.Layer):  # two outputs, no handler
        def call(self, t):
            return t[..., :2], t[..., 2:]

    inp = K.Input((4, 4, 2))
    h = L.Conv2D(4, 1, name="h")(inp)
    s1, s2 = Split(name="split")(h)
    multi = K.Model(inp, L.Concatenate()([L.Conv2D(2, 1, name="o1")(s1),
                                          L.Conv2D(2, 1, name="o2")(s2)]))
    with pytest.raises(NotImplementedError, match=r"'split' \(Split\)"):
        tp.surgery.delete_channels(multi, "h", [0])
    assert tp.surgery.delete_channels(multi, "o1", [1]).get_layer(
        "o1").filters == 1


def test_register_handler_exact_class_and_like():
    class MyConv(L.Conv2D):
        pass

    inp = K.Input((4, 4, 2))
    x = MyConv(4, 1, name="mine")(inp)
    model = K.Model(inp, L.Conv2D(2, 1, name="next")(x))
    randomize(model)
    with pytest.raises(NotImplementedError, match=r"'mine' \(MyConv\).*"
                       "register_handler"):
        tp.surgery.delete_channels(model, "mine", [0])
    try:
        tp.surgery.register_handler(MyConv, like=L.Conv2D)
        xs = np.random.default_rng(9).normal(size=(2, 4, 4, 2)
                                             ).astype("float32")
        pruned = check_equivalent(model, {"mine": [0]}, xs)
        assert type(pruned.get_layer("mine")) is MyConv
        with pytest.raises(ValueError, match="already has a handler"):
            tp.surgery.register_handler(MyConv, like=L.Conv2D)
    finally:
        tp.surgery.unregister_handler(MyConv)
    with pytest.raises(ValueError, match="kind"):
        tp.surgery.register_handler(MyConv, "bogus")
    with pytest.raises(ValueError, match="prune"):
        tp.surgery.register_handler(MyConv, "source")
    assert tp.surgery.get_handler(MyConv) is None
