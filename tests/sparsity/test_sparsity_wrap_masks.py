"""wrap/strip, mask arithmetic, schedules and input validation."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.errors import InvalidParameterError, UnsupportedLayerError

from _sparsity_helpers import digits_mlp, digits_splits
from tfprune.sparsity.wrap import wrappers as _wrappers

keras = tp.keras
sp = tp.sparsity


def test_wrap_strip_copies_and_keeps_outputs():
    m = digits_mlp(seed=2)
    before = [w.copy() for w in m.get_weights()]
    pm = sp.wrap(m, sparsity=0.0)
    assert [la.name for la in pm.layers[1:]] == [
        "prune_low_magnitude_hidden_1", "prune_low_magnitude_output"]
    assert pm.optimizer is not None and pm.optimizer is not m.optimizer
    x = digits_splits().val[0][:16]
    np.testing.assert_allclose(pm(x, training=False).numpy(),
                               m(x, training=False).numpy(), atol=1e-6)
    # Weights are copied: changing the wrapped copy leaves the input alone.
    pm.layers[1].layer.kernel.assign(np.zeros((64, 32), "float32"))
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    s = sp.strip(pm)
    assert [la.name for la in s.layers] == [la.name for la in m.layers]
    assert not sp.is_wrapped(s)
    assert np.all(s.get_layer("hidden_1").kernel.numpy() == 0)


def test_tp_models_pruning_wrapped_uses_wrap():
    m = digits_mlp()
    with pytest.warns(DeprecationWarning, match="tp.sparsity.wrap"):
        pm = tp.models.pruning_wrapped(m, sparsity=0.3, output_rate=0.5)
    scales = {w.layer.name: w.pruning_schedule.scale
              for w in pm.layers if hasattr(w, "pruning_schedule")}
    assert scales == {"hidden_1": 1.0, "output": 0.5}


def test_unwrappable_layer_is_named():
    inp = keras.Input((8,))
    h = keras.layers.Dense(4, name="dense_a")(inp)
    h = keras.layers.PReLU(name="my_prelu")(h)
    out = keras.layers.Dense(2, name="dense_b")(h)
    m = keras.Model(inp, out)
    with pytest.raises(UnsupportedLayerError, match="my_prelu"):
        sp.wrap(m)
    with pytest.raises(UnsupportedLayerError, match="my_prelu"):
        sp.wrap(m, layers=["dense_a", "my_prelu"])
    pm = sp.wrap(m, layers=["dense_a", "dense_b"])   # leaving it out works
    assert sp.is_wrapped(pm)
    with pytest.raises(InvalidParameterError, match="nope"):
        sp.wrap(m, layers=["nope"])


def test_nested_model_is_named():
    inner = keras.Sequential([keras.layers.Dense(3, input_shape=(4,))],
                             name="inner_block")
    inp = keras.Input((4,))
    m = keras.Model(inp, keras.layers.Dense(2)(inner(inp)))
    with pytest.raises(UnsupportedLayerError, match="inner_block"):
        sp.wrap(m)


def test_wrap_rejects_keras3_and_wrapped():
    with pytest.raises(TypeError):
        sp.wrap("not a model")
    pm = sp.wrap(digits_mlp())
    with pytest.raises(InvalidParameterError, match="strip"):
        sp.wrap(pm)


@pytest.mark.parametrize("levels, match", [
    ([0.5, 0.4], "increasing"), ([0.5, 0.5], "increasing"),
    ([0.2, 1.0], r"sparsities\[1\]"), ([-0.1, 0.5], r"sparsities\[0\]"),
    ([], "non-empty")])
def test_invalid_schedules(levels, match):
    with pytest.raises(InvalidParameterError, match=match):
        sp.SequentialPruning(levels)
    d = digits_splits()
    with pytest.raises(InvalidParameterError, match=match):
        sp.sequential_prune(digits_mlp(), d.train, d.val, levels)


def test_level_sparsity_schedule_and_config():
    s = sp.LevelSparsity(0.5, begin_step=3, frequency=2)
    should = [bool(s(step)[0]) for step in range(1, 9)]
    assert should == [False, False, True, False, True, False, True, False]
    assert float(s(3)[1]) == pytest.approx(0.5)
    s.set_level(0.8, begin_step=10, ramp_steps=4, initial_sparsity=0.5)
    vals = [float(s(t)[1]) for t in (10, 12, 14, 20)]
    assert vals[0] == pytest.approx(0.5) and vals[-1] == pytest.approx(0.8)
    assert vals[0] < vals[1] < vals[2] == pytest.approx(0.8)
    s.freeze()
    assert not any(bool(s(t)[0]) for t in range(1, 30))
    again = sp.LevelSparsity.from_config(s.get_config())
    assert again.get_config() == s.get_config()
    with pytest.raises(InvalidParameterError, match="sparsity"):
        sp.LevelSparsity(1.0)


def test_prune_remaining_exact_counts_ties_and_monotone():
    w = {"a": [np.array([[0.5, -0.1], [0.1, 0.3]], "float32")],
         "b": [np.arange(1, 11, dtype="float32").reshape(2, 5)]}
    m1 = sp.prune_remaining(w, None, 0.25, scope="layer")
    # round(0.25 * 4) = 1 in "a": |-0.1| and |0.1| tie, lower index goes.
    np.testing.assert_array_equal(m1["a"][0], [[1, 0], [1, 1]])
    assert m1["b"][0].sum() == 10 - round(2.5)
    g = sp.prune_remaining(w, None, 0.5, scope="global")
    assert sp.count_pruned(g) == (7, 14)
    assert g["a"][0].sum() == 0        # the small weights all live in "a"
    m2 = sp.prune_remaining(w, m1, 0.5, scope="layer")
    for k in w:
        assert np.all(m2[k][0] <= m1[k][0])         # monotone
    with pytest.raises(InvalidParameterError, match="global"):
        sp.prune_remaining(w, None, 0.5, scope="global", rates={"a": 0.5})


def test_dynamic_rounding_on_penguin_sizes():
    rng = np.random.default_rng(0)
    w = {"hidden_1": [rng.normal(size=(12, 12))],
         "output": [rng.normal(size=(12, 3))]}
    m = sp.prune_remaining(w, None, 0.17, scope="global")
    assert sp.count_pruned(m) == (31, 180)           # round(30.6)
    m = sp.prune_remaining(w, m, 0.17, scope="global")
    assert sp.count_pruned(m) == (56, 180)           # + round(0.17 * 149)
    assert 56 / 180 == pytest.approx(1 - 0.83 ** 2, abs=1e-3)


def test_percentile_masks_window_on_median():
    a = np.arange(1, 101, dtype="float32")            # median 50.5
    m = sp.percentile_masks({"x": [a]}, None, 0.2)["x"][0]
    pruned = a[m == 0]
    assert pruned.min() > 40 and pruned.max() < 61 and len(pruned) == 20


def test_one_shot_global_penguin():
    m = tp.models.penguin_mlp(seed=4)
    o = sp.one_shot(m, 0.3)
    assert sp.count_pruned(sp.get_masks(o)) == (54, 180)
    kept = np.concatenate([np.abs(la.kernel.numpy()).ravel()
                           for la in o.layers[1:]])
    orig = np.concatenate([np.abs(la.kernel.numpy()).ravel()
                           for la in m.layers[1:]])
    assert kept[kept > 0].min() >= np.sort(orig)[53]


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_prune_bias_survives_save_and_load(tmp_path, ext):
    x, y = digits_splits().train
    model = digits_mlp(seed=3)
    w = tp.sparsity.wrap(model, 0.5, prune_bias=True, begin_step=1)
    from tfprune._tfmot import UpdatePruningStep
    w.fit(x[:256], y[:256], epochs=1, batch_size=64, verbose=0,
          callbacks=[UpdatePruningStep()])
    biases = [la.layer.bias.numpy() * la.pruning_vars[1][1].numpy()
              for la in _wrappers(w)]
    assert all(np.mean(b == 0) >= 0.4 for b in biases)
    assert tp.report.count_flops(w) == tp.report.count_flops(model)
    table = tp.report.layer_table(w)
    assert table["sparsity"].iloc[-1] >= 0.4
    path = tmp_path / f"wrapped.{ext}"
    w.save(path)
    back = tp.report.load_model(path)
    got = _wrappers(back)
    assert [la.name for la in got] == [la.name for la in _wrappers(w)]
    for old, new in zip(_wrappers(w), got):
        assert len(new.pruning_vars) == 2
        for (_, m_old, _), (_, m_new, _) in zip(old.pruning_vars,
                                                new.pruning_vars):
            np.testing.assert_array_equal(m_old.numpy(), m_new.numpy())
    np.testing.assert_allclose(back.predict(x[:32], verbose=0),
                               w.predict(x[:32], verbose=0), atol=1e-6)
    plain = tp.sparsity.strip(back, compile=False)
    assert np.mean(plain.layers[-1].bias.numpy() == 0) >= 0.4


def test_wrap_and_strip_do_not_share_the_callers_metric_objects():
    x, y = digits_splits().train
    metric = keras.metrics.SparseCategoricalAccuracy()
    m = tp.models.mlp(64, (8,), 10, seed=0)
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=[metric])
    for copy in (sp.wrap(m), sp.strip(sp.wrap(m))):
        callbacks = ([tp.sparsity.DynamicPruning(0.1, epochs=[])]
                     if sp.is_wrapped(copy) else [])
        copy.fit(x[:128], y[:128], epochs=1, batch_size=64, verbose=0,
                 callbacks=callbacks)
        assert "sparse_categorical_accuracy" in copy.metrics_names
    assert float(metric.count.numpy()) == 0.0     # the caller's, untouched
