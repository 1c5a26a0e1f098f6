"""The callbacks in a plain model.fit, under MirroredStrategy, across save."""
import json

import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.errors import InvalidParameterError

from _sparsity_helpers import (digits_mlp, digits_splits, penguin_model,
                               penguins, zeros_of)

keras = tp.keras
sp = tp.sparsity
LEVELS = [0.5, 0.8]


def _fit_with(model, cb, epochs=40, **kw):
    d = digits_splits()
    model.fit(d.train[0], d.train[1], validation_data=d.val, epochs=epochs,
              batch_size=64, verbose=0, callbacks=[cb], **kw)


def _check_exact_levels(history, model_at, layers):
    for i, level in enumerate(history["sparsity"]):
        m = model_at(i)
        for la in layers:
            k = m.get_layer(la).kernel.numpy()
            # tfmot keeps round(n * (1 - s)) weights: within one weight.
            assert abs((k == 0).sum() - level * k.size) <= 1, (i, la)


def test_callback_matches_driver_and_keeps_zeros():
    d = digits_splits()
    base = digits_mlp(seed=5)
    pm = sp.wrap(base, sparsity=0.0)
    cb = sp.SequentialPruning(LEVELS, patience=1, max_epochs=6,
                              train_data=d.train)
    tp.utils.set_seed(0)
    _fit_with(pm, cb)
    assert cb.finished and len(cb.history) == 2
    res = sp.sequential_prune(digits_mlp(seed=5), d.train, d.val, LEVELS,
                              max_epochs=6, patience=1, batch_size=64,
                              progress=False)
    assert list(cb.history.columns) == list(res.history.columns)
    np.testing.assert_array_equal(cb.history["sparsity"],
                                  res.history["sparsity"])
    layer_cols = [c for c in res.history.columns if c.startswith("achieved")]
    assert layer_cols == ["achieved", "achieved_hidden_1", "achieved_output"]
    np.testing.assert_allclose(cb.history[layer_cols],
                               res.history[layer_cols], atol=1 / 320)
    _check_exact_levels(cb.history, cb.model_at, ["hidden_1", "output"])
    _check_exact_levels(res.history, res.model_at, ["hidden_1", "output"])
    for get in (cb.model_at, res.model_at):
        z0, z1 = zeros_of(get(0)), zeros_of(get(1))
        for name in z0:       # pruned at 50 % -> still exactly zero at 80 %
            assert np.all(z1[name][z0[name]])
    # The recorded train_loss is an evaluation of the level's weights.
    m1 = res.model_at(1)
    m1.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    assert m1.evaluate(*d.train, verbose=0) == pytest.approx(
        res.history["train_loss"][1], rel=1e-4)


def test_state_roundtrip_and_reload_resume(tmp_path):
    pm = sp.wrap(digits_mlp(seed=6), sparsity=0.0)
    cb = sp.SequentialPruning([0.3, 0.6, 0.9], patience=1, max_epochs=3,
                              pause_between_levels=True)
    _fit_with(pm, cb)
    assert cb.level == 1 and not cb.finished
    # The user saves the stripped model and the callback state ...
    sp.strip(pm).save(tmp_path / "level0.h5")
    (tmp_path / "cb.json").write_text(json.dumps(cb.get_config()))
    # ... and the wrapped model itself, which reloads with its schedules.
    pm.save(tmp_path / "wrapped.h5")
    from tfprune._tfmot import prune_scope
    with prune_scope():
        again = keras.models.load_model(tmp_path / "wrapped.h5")
    assert isinstance(again.layers[1].pruning_schedule, sp.LevelSparsity)
    # Later: reload, wrap, restore the callback and go on with level 1.
    plain = keras.models.load_model(tmp_path / "level0.h5", compile=False)
    plain.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), metrics=["accuracy"])
    pm2 = sp.wrap(plain, sparsity=0.0)
    cb2 = sp.SequentialPruning.from_config(
        json.loads((tmp_path / "cb.json").read_text()))
    assert cb2.level == 1 and len(cb2.history) == 1
    cb2.pause_between_levels = False
    _fit_with(pm2, cb2)
    h = cb2.history
    assert list(h["level"]) == [0, 1, 2] and cb2.finished
    pd.testing.assert_frame_equal(h.iloc[:1], cb.history)
    _check_exact_levels(h.iloc[1:].reset_index(drop=True),
                        lambda i: cb2.model_at(i + 1), ["hidden_1"])


def test_callbacks_under_mirrored_strategy(two_cpu_strategy):
    d = digits_splits()
    with two_cpu_strategy.scope():
        pm = sp.wrap(digits_mlp(seed=7), sparsity=0.0)
        pm.compile(keras.optimizers.Adam(1e-2),
                   keras.losses.SparseCategoricalCrossentropy(
                       from_logits=True))
    cb = sp.SequentialPruning(LEVELS, patience=1, max_epochs=3)
    prog = sp.PruningProgress(progress=False)
    pm.fit(d.train[0], d.train[1], validation_data=d.val, epochs=20,
           batch_size=64, verbose=0, callbacks=[cb, prog])
    assert cb.finished
    _check_exact_levels(cb.history, cb.model_at, ["hidden_1", "output"])
    assert prog.last["level"] == pytest.approx(0.8)
    assert prog.last["sparsity"] == pytest.approx(0.8, abs=1e-2)

    with two_cpu_strategy.scope():
        pm2 = sp.wrap(penguin_model(seed=1), sparsity=0.0)
        pm2.compile(keras.optimizers.Adam(1e-2),
                    keras.losses.CategoricalCrossentropy(from_logits=True))
    p = penguins()
    dyn = sp.DynamicPruning(0.17, at=(1 / 3, 2 / 3))
    pm2.fit(*p.train, epochs=6, batch_size=50, verbose=0, callbacks=[dyn])
    assert list(dyn.history["pruned"]) == [31, 56]
    assert sp.count_pruned(sp.get_masks(sp.strip(pm2))) == (56, 180)


def test_dynamic_pruning_penguins_31_percent():
    p = penguins()
    pm = sp.wrap(penguin_model(seed=2), sparsity=0.0)
    dyn = sp.DynamicPruning(0.17, at=(1 / 3, 2 / 3))
    hist = pm.fit(*p.train, validation_data=p.val, epochs=9, batch_size=50,
                  verbose=0, callbacks=[dyn])
    ev = dyn.history
    assert list(ev["epoch"]) == [3, 6]                # int(f * 9)
    assert list(ev["pruned"]) == [31, 56] and ev["total"].iloc[0] == 180
    assert ev["sparsity"].iloc[-1] == pytest.approx(0.311, abs=1e-3)
    stripped = sp.strip(pm)
    assert sp.count_pruned(sp.get_masks(stripped)) == (56, 180)
    # Masks only change at the events: the same 56 weights stay zero.
    mask_after = sp.get_masks(pm)
    pm.fit(*p.train, epochs=2, batch_size=50, verbose=0,
           callbacks=[tp.sparsity.DynamicPruning(0.17, epochs=[])])
    for k, v in sp.get_masks(pm).items():
        np.testing.assert_array_equal(v[0], mask_after[k][0])
    assert len(hist.history["loss"]) == 9
    again = sp.DynamicPruning.from_config(dyn.get_config())
    assert again.history.equals(dyn.history)


def test_callbacks_need_wrapped_model_with_level_schedule():
    d = digits_splits()
    plain = digits_mlp()
    with pytest.raises(InvalidParameterError, match="tp.sparsity.wrap"):
        _fit_with(plain, sp.SequentialPruning(LEVELS), epochs=1)
    from tfprune._tfmot import ConstantSparsity
    pm = sp.wrap(plain, schedule=ConstantSparsity(0.5, 0))
    pm.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    with pytest.raises(InvalidParameterError,
                       match="prune_low_magnitude_hidden_1"):
        pm.fit(*d.train, epochs=1, verbose=0,
               callbacks=[sp.DynamicPruning(0.2)])


def test_rewind_point_and_rewind():
    d = digits_splits()
    base = digits_mlp(seed=8)
    init = sp.snapshot(base)
    pm = sp.wrap(base, sparsity=0.0, begin_step=-1)
    rp = sp.RewindPoint(step=3)
    pm.fit(*d.train, epochs=1, batch_size=64, verbose=0,
           callbacks=[rp, sp.DynamicPruning(0.5, epochs=[0])])
    assert rp.snapshot is not None
    masks = sp.get_masks(pm)
    for snap in (init, rp.snapshot):
        r = sp.rewind(pm, snap, masks)
        assert sp.is_wrapped(r) and r.optimizer is not pm.optimizer
        k = r.get_layer("prune_low_magnitude_hidden_1").layer.kernel.numpy()
        m = masks["hidden_1"][0]
        np.testing.assert_array_equal(k, snap["hidden_1"][0] * m)
    # Late rewinding differs from rewinding to init.
    assert not np.array_equal(init["hidden_1"][0], rp.snapshot["hidden_1"][0])
    re = sp.reinitialize(pm, seed=1, masks=masks)
    k = re.get_layer("prune_low_magnitude_hidden_1").layer.kernel.numpy()
    assert np.all((k == 0) == (masks["hidden_1"][0] == 0))
    assert not np.allclose(k, init["hidden_1"][0] * masks["hidden_1"][0])
