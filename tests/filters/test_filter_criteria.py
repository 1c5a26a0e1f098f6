"""Filter criteria pinned on hand-made kernels (docs/sections/filters.md)."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.filters import criteria as C

keras = tp.keras

# Five 2-element filters (columns): mixed, all-positive, all-negative, small
# mixed, all-zero. P = [1, 2, 0, .5, 0], N = [1, 0, 3, .5, 0].
W5 = np.array([[1.0, 2.0, 0.0, 0.5, 0.0],
               [-1.0, 0.0, -3.0, -0.5, 0.0]])


def _spec_dstep(op, on, k):
    """The D-Step set rule of docs/sections/filters.md, step by step."""
    n = len(op)
    rp = np.empty(n, int)
    rp[op] = np.arange(n)
    rn = np.empty(n, int)
    rn[on] = np.arange(n)
    if k == 0:
        return set()
    prev = set()
    for t in range(k, n + 1):
        c = set(op[:t].tolist()) & set(on[:t].tolist())
        if len(c) == k:
            return c
        if len(c) == k + 1:
            a, b = c - prev
            c.discard(max((a, b), key=lambda j: (rp[j] + rn[j], j)))
            return c
        prev = c
    raise AssertionError


def test_positive_negative_one_signed_filters_give_zero_not_none():
    p, n = C.positive_negative(W5)
    np.testing.assert_array_equal(p, [1, 2, 0, 0.5, 0])
    np.testing.assert_array_equal(n, [1, 0, 3, 0.5, 0])


def test_dscore_is_rank_sum_with_ties_to_lower_index():
    # rank(P) = [3, 4, 0, 2, 1], rank(N) = [3, 0, 4, 2, 1]
    np.testing.assert_array_equal(C.ranks([1, 2, 0, .5, 0]), [3, 4, 0, 2, 1])
    np.testing.assert_array_equal(tp.filters.scores(W5, "dscore"),
                                  [6, 4, 4, 4, 2])
    # filters 1, 2, 3 tie at 4: the lower index goes first
    assert tp.filters.select(W5, 1, "dscore").tolist() == [4]
    assert tp.filters.select(W5, 2, "dscore").tolist() == [1, 4]
    assert tp.filters.select(W5, 3, "dscore").tolist() == [1, 2, 4]
    assert tp.filters.select(W5, 4, "dscore").tolist() == [1, 2, 3, 4]


def test_l1_l2_exact_k_even_with_ties():
    np.testing.assert_array_equal(tp.filters.scores(W5, "l1"),
                                  [2, 2, 3, 1, 0])
    np.testing.assert_allclose(tp.filters.scores(W5, "l2"),
                               [np.sqrt(2), 2, 3, np.sqrt(.5), 0])
    # 0 and 1 tie at 2: exactly k are taken (the original took every filter
    # <= the k-th value), the lower index first
    assert tp.filters.select(W5, 3, "l1").tolist() == [0, 3, 4]
    # D-Score is not L1
    assert (tp.filters.select(W5, 3, "dscore").tolist()
            != tp.filters.select(W5, 3, "l1").tolist())


def test_dstep_set_rule_by_hand():
    # order(P) = [2, 4, 3, 0, 1], order(N) = [1, 4, 3, 0, 2]
    assert tp.filters.select(W5, 0, "dstep").tolist() == []
    assert tp.filters.select(W5, 1, "dstep").tolist() == [4]
    assert tp.filters.select(W5, 2, "dstep").tolist() == [3, 4]
    assert tp.filters.select(W5, 3, "dstep").tolist() == [0, 3, 4]
    # k=4: C_5 has 5 members, two newcomers 1 and 2 with equal rank sums
    # (4 + 0 and 0 + 4): the lower index (1) is pruned, 2 is kept
    assert tp.filters.select(W5, 4, "dstep").tolist() == [0, 1, 3, 4]
    assert tp.filters.select(W5, 5, "dstep").tolist() == [0, 1, 2, 3, 4]


def test_dstep_gm_by_hand():
    w = np.array([[2.0, -1.0, 0.0, 1.0, -3.0]])
    gp, gn = C.dstep_gm_keys(w)
    np.testing.assert_allclose(gp, [7, 3, 3, 4, 3])
    np.testing.assert_allclose(gn, [4, 5, 4, 4, 11])
    assert tp.filters.select(w, 1, "dstep_gm").tolist() == [2]
    # k=2: C_4 = {1, 2, 3} overshoots; newcomers 1 (rank sum 0 + 3) and 3
    # (3 + 2): the smaller rank sum (1) is pruned
    assert tp.filters.select(w, 2, "dstep_gm").tolist() == [1, 2]


def test_dstep_matches_spec_pseudocode_on_random_orders():
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(1, 25))
        op, on = rng.permutation(n), rng.permutation(n)
        k = int(rng.integers(0, n + 1))
        got = C.dstep_from_orders(op, on, k)
        assert got.tolist() == sorted(_spec_dstep(op, on, k))
        assert len(got) == k


def test_fpgm_by_hand():
    w = np.array([[0.0, 1.0, 3.0, 10.0]])
    np.testing.assert_allclose(tp.filters.scores(w, "fpgm"), [14, 12, 12, 26])
    assert tp.filters.select(w, 1, "fpgm").tolist() == [1]
    assert tp.filters.select(w, 2, "fpgm").tolist() == [1, 2]


def test_random_is_seeded():
    w = np.random.default_rng(0).normal(size=(9, 16))
    a = tp.filters.select(w, 5, "random", seed=3)
    assert a.tolist() == tp.filters.select(w, 5, "random", seed=3).tolist()
    assert len(set(a.tolist())) == 5
    others = {tuple(tp.filters.select(w, 5, "random", seed=s)) for s in
              range(4, 10)}
    assert len(others) > 1


@pytest.mark.parametrize("method", ["l1", "l2", "fpgm", "dscore", "dstep",
                                    "dstep_gm", "random"])
def test_every_kernel_criterion_shape_determinism_and_order_invariance(
        method):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3, 4, 12))
    w2 = w.reshape(-1, 12)
    perm = rng.permutation(w2.shape[0])
    for k in (0, 1, 5, 12):
        a = tp.filters.select(w, k, method)
        assert a.dtype.kind == "i" and a.shape == (k,)
        assert np.all(np.diff(a) > 0)
        assert a.tolist() == tp.filters.select(w2, k, method).tolist()
        # element order inside a filter does not matter
        assert a.tolist() == tp.filters.select(w2[perm], k, method).tolist()
    crit = tp.filters.get_criterion(method)
    if crit.has_score:
        s = tp.filters.scores(w, method)
        assert s.shape == (12,) and np.all(np.isfinite(s))
        # sums are order-exact; distances (Gram form) to rounding
        np.testing.assert_allclose(s, tp.filters.scores(w2[perm], method),
                                   rtol=1e-12)


def test_kernels_of_layers_match_arrays():
    L = keras.layers
    inp = keras.Input((6, 6, 3))
    c2 = L.Conv2D(5, 3, name="c2")
    d = L.Dense(4, name="d")
    c1 = L.Conv1D(3, 2, name="c1")
    x = c2(inp)
    model = keras.Model(inp, d(L.Flatten()(x)))
    rng = np.random.default_rng(2)
    for layer in (c2, d):
        layer.set_weights([rng.normal(size=w.shape) for w in
                           layer.get_weights()])
        np.testing.assert_array_equal(
            tp.filters.filter_matrix(layer),
            layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1]))
        assert (tp.filters.select(layer, 2, "dscore").tolist() ==
                tp.filters.select(layer.kernel.numpy(), 2, "dscore").tolist())
    c1(keras.Input((5, 2)))
    assert tp.filters.filter_matrix(c1).shape == (4, 3)
    # conv3d-like rank-5 arrays reshape the same way
    assert tp.filters.filter_matrix(np.ones((2, 2, 2, 3, 7))).shape == (24, 7)
    # a layer name resolves through model=
    assert (tp.filters.select("c2", 2, model=model).tolist() ==
            tp.filters.select(c2, 2).tolist())


def test_group_scores_sum_members():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(8, 6)), rng.normal(size=(5, 6))
    np.testing.assert_allclose(tp.filters.scores([a, b], "l1"),
                               C.l1(a) + C.l1(b))
    expect = np.sort(np.argsort(C.dscore(a) + C.dscore(b),
                                kind="stable")[:3])
    assert tp.filters.select([a, b], 3, "dscore").tolist() == expect.tolist()
    pa, na = C.positive_negative(a)
    pb, nb = C.positive_negative(b)
    assert (tp.filters.select([a, b], 3, "dstep").tolist() ==
            C.dstep_from_orders(C.order(pa + pb), C.order(na + nb),
                                3).tolist())
    with pytest.raises(ValueError, match="different numbers of filters"):
        tp.filters.scores([a, rng.normal(size=(5, 7))], "l1")


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="dscore.*dstep.*l1"):
        tp.filters.select(W5, 1, "nope")
    with pytest.raises(ValueError, match="select"):
        tp.filters.scores(W5, "dstep")
    with pytest.raises(ValueError, match="'k' must be <= the number"):
        tp.filters.select(W5, 6)
    with pytest.raises(ValueError):
        tp.filters.select(W5, -1)
    with pytest.raises(ValueError, match="rank >= 2"):
        tp.filters.select(np.ones(4), 1)
    with pytest.raises(ValueError, match="NaN"):
        tp.filters.select(np.full((2, 2), np.nan), 1)
    with pytest.raises(ValueError, match="one score per output channel"):
        tp.filters.select(W5, 1, lambda w: np.ones(3))
    with pytest.raises(NotImplementedError, match="no filters"):
        layer = keras.layers.BatchNormalization()
        layer.build((None, 4))
        tp.filters.select(layer, 1)


def test_user_callable_criterion():
    # largest-first on column max: the lowest max is pruned
    got = tp.filters.select(W5, 2, lambda w: w.max(axis=0))
    assert got.tolist() == [2, 4]  # maxima [1, 2, 0, .5, 0]


def _dead_channel_model():
    L = keras.layers
    inp = keras.Input((4, 4, 1))
    x = L.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="relu")(x)
    out = L.Dense(2, name="out")(L.Flatten()(x))
    model = keras.Model(inp, out)
    gamma, beta, mean, var = model.get_layer("bn").get_weights()
    beta[2] = -100.0  # post-ReLU channel 2 is always 0
    beta[0] = 5.0     # channel 0 is almost never 0
    model.get_layer("bn").set_weights([gamma, beta, mean, var])
    return model


def test_activation_criteria_use_the_post_activation_map():
    model = _dead_channel_model()
    x = np.random.default_rng(0).normal(size=(64, 4, 4, 1)).astype("f4")
    s = tp.filters.scores("conv", "apoz", model=model, x=x)
    assert s.shape == (4,) and np.all((s >= 0) & (s <= 1))
    assert s[2] == 0.0 and s[0] == 1.0
    assert tp.filters.select("conv", 1, "apoz", model=model,
                             x=x).tolist() == [2]
    m = tp.filters.scores("conv", "mean_activation", model=model, x=x)
    assert m[2] == 0.0 and np.argmax(m) == 0
    with pytest.raises(ValueError, match="model="):
        tp.filters.scores(np.ones((3, 4)), "apoz")


def test_retrain_recipe_copy_and_strategy(two_cpu_strategy):
    (x, y), _, _ = tp.data.load_digits(seed=0)
    x, y = x[:256], y[:256]
    model = tp.models.mlp(64, (16,), 10, seed=0)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    one = tp.filters.retrain(model, (x, y), epochs=2, batch_size=32, seed=1)
    two = tp.filters.retrain(model, (x, y), epochs=2, batch_size=32, seed=1,
                             strategy=two_cpu_strategy)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)       # the input is untouched
    assert one is not model and one.optimizer.nesterov
    lr = one.optimizer.get_config()["learning_rate"]
    assert lr["class_name"].endswith("TimeDecay")
    assert lr["config"]["decay"] == 5e-4
    assert float(tp.filters.TimeDecay(1e-3, 5e-4)(1000)) == pytest.approx(
        1e-3 / 1.5)
    assert one.compiled_loss is not None and one.metrics_names[-1] == \
        "accuracy"
    changed = [not np.allclose(a, b) for a, b in zip(before,
                                                     one.get_weights())]
    assert all(changed)
    for a, b in zip(one.get_weights(), two.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="never compiled"):
        tp.filters.retrain(tp.models.mlp(64, (4,), 10), (x, y))


def _two_layers_of_one_width():
    L = keras.layers
    inp = keras.Input((6,))
    h = L.Dense(16, name="a")(inp)
    h = L.Dense(16, name="b")(h)
    return keras.Model(inp, L.Dense(2, name="out")(h))


def test_random_is_seeded_per_layer():
    model = _two_layers_of_one_width()
    a = tp.filters.select(model.get_layer("a"), 5, "random")
    b = tp.filters.select(model.get_layer("b"), 5, "random")
    assert a.tolist() != b.tolist()      # not the same indices everywhere
    # stable: the same layer name gives the same choice in a new model
    again = _two_layers_of_one_width()
    assert tp.filters.select(again.get_layer("a"), 5, "random").tolist() \
        == a.tolist()
    assert tp.filters.select("a", 5, "random", model=model).tolist() == \
        a.tolist()
    assert tp.filters.select(model.get_layer("a"), 5, "random",
                             seed=1).tolist() != a.tolist()
    chans = tp.filters.plan_channels(model, {"a": 5, "b": 5}, "random")
    assert chans["a"].tolist() == a.tolist()
    assert chans["b"].tolist() == b.tolist()


def test_criterion_keywords_are_checked():
    with pytest.raises(ValueError, match="'l1' takes no keyword arguments; "
                                         "got seed=1"):
        tp.filters.scores(W5, "l1", seed=1)
    with pytest.raises(ValueError, match="'random' accepts only key, seed; "
                                         "got sed=1"):
        tp.filters.select(W5, 2, "random", sed=1)
    with pytest.raises(ValueError, match="'dstep' takes no keyword"):
        tp.filters.select(W5, 2, "dstep", seed=1)
    with pytest.raises(ValueError, match="'apoz' takes no keyword"):
        tp.filters.scores("conv", "apoz", model=_dead_channel_model(),
                          x=np.zeros((2, 4, 4, 1), "f4"), seed=1)
    with pytest.raises(ValueError, match="takes no keyword"):
        tp.filters.prune(_two_layers_of_one_width(), {"a": 2}, "l2", seed=1)
    # a user function's own keywords pass; **kwargs accepts anything
    assert tp.filters.select(W5, 1, lambda w, p=1: w.max(0) ** p,
                             p=2).tolist() == [2]
    assert tp.filters.select(W5, 1, lambda w, **k: w.max(0),
                             anything=1).tolist() == [2]


def test_data_criteria_without_data_are_refused_up_front(monkeypatch):
    model = _dead_channel_model()
    for method in ("apoz", "mean_activation"):
        with pytest.raises(ValueError, match=f"'{method}' ranks filters by "
                                             "their activations.*x="):
            tp.filters.select("conv", 1, method, model=model)
    # plan_channels and prune refuse before any ranking or surgery
    calls = []
    monkeypatch.setattr(tp.surgery, "prune_channels",
                        lambda *a, **k: calls.append(a))
    with pytest.raises(ValueError, match="x="):
        tp.filters.prune(model, {"conv": 1}, "apoz")
    assert calls == []
    x = np.random.default_rng(0).normal(size=(32, 4, 4, 1)).astype("f4")
    pruned = tp.filters.prune(model, {"conv": 1}, "apoz", x=x)
    assert calls and list(calls[0][1]["conv"]) == [2]
    del pruned


def test_dependency_groups_come_from_surgery_without_a_fallback(monkeypatch):
    def broken(model):
        raise AttributeError("surgery failed")
    monkeypatch.setattr(tp.surgery, "dependency_groups", broken)
    with pytest.raises(AttributeError, match="surgery failed"):
        tp.filters.prunable_units(_two_layers_of_one_width())


def test_retrain_lr_is_a_deprecated_alias(digits):
    x, y = digits[0][:128], digits[1][:128]
    model = tp.models.mlp(64, (8,), 10, seed=0)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    with pytest.warns(DeprecationWarning, match="'lr'.*'learning_rate'"):
        old = tp.filters.retrain(model, (x, y), epochs=1, lr=0.05, seed=0)
    new = tp.filters.retrain(model, (x, y), epochs=1, learning_rate=0.05,
                             seed=0)
    assert old.optimizer.get_config()["learning_rate"]["config"][
        "initial_learning_rate"] == 0.05
    for a, b in zip(old.get_weights(), new.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="pass only 'learning_rate'"):
        tp.filters.retrain(model, (x, y), lr=0.1, learning_rate=0.1)
