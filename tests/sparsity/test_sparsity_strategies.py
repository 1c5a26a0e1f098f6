"""Strategies on real data: penguins comparison, digits lottery ticket."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.errors import InvalidParameterError

from _sparsity_helpers import digits_splits, penguins

keras = tp.keras
sp = tp.sparsity


@pytest.mark.slow
def test_compare_strategies_penguins_same_init():
    p = penguins()
    built = []

    def build(seed):
        m = tp.models.penguin_mlp(seed=seed)
        built.append(m)
        m.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
        return m

    init = [w.copy() for w in tp.models.penguin_mlp(seed=0).get_weights()]
    res = sp.compare_strategies(build, p, seeds=[0, 1], epochs=9,
                                progress=False)
    df = res.summary
    assert list(df["strategy"]) == list(sp.strategies.STRATEGIES)
    for col in ("test_loss_mean", "test_loss_std", "test_accuracy_mean",
                "test_accuracy_std"):
        assert np.isfinite(df[col]).all()
    assert (df["n_seeds"] == 2).all()
    runs = res.runs
    assert len(runs) == 8
    pd.testing.assert_frame_equal(res.to_frame(), runs)
    sparsity = dict(zip(df["strategy"], df["sparsity_mean"]))
    assert sparsity["unpruned"] == 0
    assert sparsity["one_shot"] == sparsity["lottery_ticket"] == 54 / 180
    assert sparsity["dynamic"] == pytest.approx(56 / 180)
    # Every trial of a seed starts from build_fn(seed), left untouched.
    for a, b in zip(init, built[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    mean = runs.groupby("strategy")["test_accuracy"].mean()
    assert mean["unpruned"] == pytest.approx(df.loc[0, "test_accuracy_mean"])
    curves = res.curves
    assert set(curves["strategy"]) == {"unpruned", "lottery_ticket",
                                       "dynamic"}
    fig = tp.plots.plot_strategy_curves(res)
    assert fig.axes
    assert tp.plots.plot_strategy_summary(res).axes
    # B3: a plain summary, so two comparisons concatenate.
    assert not df.attrs
    both = pd.concat([df, df], ignore_index=True)
    assert len(both) == 2 * len(df)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.summary = df


@pytest.mark.slow
def test_lottery_ticket_lenet_digits_small():
    d = digits_splits()
    m = tp.models.lenet_300_100(input_dim=64, seed=0)
    m.compile(keras.optimizers.Adam(1.2e-3),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    lt = sp.lottery_ticket(m, d.train, d.val, rounds=2, rate=0.6, epochs=8,
                           batch_size=60, test=d.test, progress=False)
    h = lt.history
    # Layer-wise, output layer at half rate: 0.4^2 of the hidden kernels.
    k = lt.model_at(2).get_layer("hidden_1").kernel.numpy()
    assert abs((k != 0).sum() - 0.16 * k.size) <= 2
    out = lt.model_at(2).get_layer("output").kernel.numpy()
    assert abs((out != 0).sum() - 0.7 ** 2 * out.size) <= 2
    assert h["remaining"].iloc[-1] <= 0.2
    # The ticket (rewound to init, retrained) matches the dense net.
    assert h["test_accuracy"].iloc[-1] >= h["test_accuracy"].iloc[0] - 0.03
    # Survivors of round 2 started from θ0 (the snapshot) before training.
    assert set(lt.snapshot) == {"hidden_1", "hidden_2", "output"}
    with pytest.raises(InvalidParameterError, match="output_rate"):
        sp.lottery_ticket(m, d.train, rounds=1, scope="global",
                          output_rate=0.5)


@pytest.mark.slow
def test_lottery_random_reinit_control_keeps_the_tickets_masks():
    """reinit=True trains each round's *ticket mask* from fresh weights
    (Frankle & Carbin's control); the tickets are still found by rewinding."""
    d = digits_splits()

    def run(reinit):
        m = tp.models.lenet_300_100(input_dim=64, seed=0)
        m.compile(keras.optimizers.Adam(1.2e-3),
                  keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), metrics=["accuracy"])
        return sp.lottery_ticket(m, d.train, d.val, rounds=2, rate=0.5,
                                 epochs=3, batch_size=60, reinit=reinit,
                                 progress=False)
    ticket, control = run(False), run(True)
    np.testing.assert_allclose(control.history["remaining"],
                               ticket.history["remaining"])
    for r in (1, 2):
        same = [np.mean(a == b)
                for name in ticket.masks[r]
                for a, b in zip(ticket.masks[r][name],
                                control.masks[r][name])]
        assert min(same) > 0.99
        # Survivors trained from a different init: different weights.
        kt = ticket.model_at(r).get_layer("hidden_1").kernel.numpy()
        kc = control.model_at(r).get_layer("hidden_1").kernel.numpy()
        assert ((kt != 0) == (kc != 0)).mean() > 0.99
        assert not np.allclose(kt[kt != 0], kc[kt != 0], atol=1e-3)
    assert set(control.curves["round"]) == {0, 1, 2}


def _penguin_build(seed):
    return tp.models.penguin_mlp(seed=seed)


def test_compare_strategies_compile_fn_errors_name_it():
    """B7: a compile_fn that compiles in place and returns None used to
    fail inside lottery_ticket, which the error then blamed."""
    p = penguins()

    def compile_in_place(model):
        model.compile("adam", keras.losses.CategoricalCrossentropy(
            from_logits=True))

    with pytest.raises(InvalidParameterError,
                       match=r"compile_fn\(model\) returned None") as err:
        sp.compare_strategies(_penguin_build, p, seeds=[0], epochs=2,
                              compile_fn=compile_in_place, progress=False)
    assert "lottery_ticket" not in str(err.value)
    with pytest.raises(InvalidParameterError, match="compile_fn.*uncompiled"):
        sp.compare_strategies(_penguin_build, p, seeds=[0], epochs=2,
                              compile_fn=lambda m: m, progress=False)
    with pytest.raises(TypeError, match="compile_fn"):
        sp.compare_strategies(_penguin_build, p, seeds=[0], epochs=2,
                              compile_fn="adam", progress=False)


@pytest.mark.parametrize("kw, match", [
    ({"one_shot_fraction": 0.0}, "one_shot_fraction"),
    ({"dynamic_at": (0.6, 0.3)}, "dynamic_at"),
    ({"seeds": []}, "seeds"), ({"seeds": [0, 0]}, "seeds"),
    ({"epochs": 0}, "epochs"), ({"scope": "net"}, "scope")])
def test_compare_strategies_validates_arguments(kw, match, tmp_path):
    kw = dict({"seeds": [0], "epochs": 2}, **kw)
    with pytest.raises(InvalidParameterError, match=match):
        sp.compare_strategies(_penguin_build, penguins(), progress=False,
                              run_dir=tmp_path / "run", **kw)
    assert not (tmp_path / "run").exists()


def test_strategies_refuse_non_finite_data():
    p = penguins()
    x_test = p.test[0].astype("float32").copy()
    x_test[2, 1] = np.inf
    bad = p._replace(test=(x_test, p.test[1]))
    with pytest.raises(InvalidParameterError, match="'test x'.*row 2"):
        sp.compare_strategies(_penguin_build, bad, seeds=[0], epochs=2,
                              progress=False)
    m = _penguin_build(0)
    m.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    y = p.train[1].astype("float32").copy()
    y[0, 0] = np.nan
    for run in (sp.dynamic, sp.lottery_ticket):
        with pytest.raises(InvalidParameterError, match="'train y'"):
            run(m, (p.train[0], y), p.val, epochs=1)


def test_strategy_results_are_frozen_frames():
    p = penguins()
    m = _penguin_build(0)
    m.compile(keras.optimizers.Adam(1e-2),
              keras.losses.CategoricalCrossentropy(from_logits=True))
    dyn = sp.dynamic(m, p.train, p.val, epochs=3)
    pd.testing.assert_frame_equal(dyn.to_frame(), dyn.history)
    lt = sp.lottery_ticket(m, p.train, p.val, rounds=1, epochs=2,
                           progress=False)
    pd.testing.assert_frame_equal(lt.to_frame(), lt.history)
    for res in (dyn, lt):
        with pytest.raises(dataclasses.FrozenInstanceError):
            res.history = None
