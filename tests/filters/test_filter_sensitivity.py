"""Sensitivity sweeps by masking equal surgery; plan rules; run folders."""
import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.models.digits import digits_cnn

keras = tp.keras


@pytest.fixture(scope="module")
def trained():
    """A small Conv-BN-ReLU digits CNN trained for a few epochs."""
    (xtr, ytr), (xv, yv), _ = tp.data.load_digits(seed=0, flatten=False)
    tp.utils.set_seed(0)
    model = digits_cnn(seed=0, widths=(8, 8, 16, 16), dense=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=4, batch_size=64, verbose=0)
    return model, xv, yv


def _recorder():
    preds = []

    def agree(y_true, y_pred):
        preds.append(np.array(y_pred))
        return float(np.mean(np.argmax(y_pred, -1) == y_true))
    return agree, preds


def _surgery_outputs(model, unit_members, channels, x):
    plan = {m: channels for m in unit_members}
    pruned = tp.surgery.prune_channels(model, plan)
    return pruned(x, training=False).numpy()


@pytest.mark.slow
def test_masked_sweep_equals_surgery_for_every_layer_and_ratio(trained):
    model, x, y = trained
    before = [w.copy() for w in model.get_weights()]
    metric, preds = _recorder()
    ratios = [0.05, 0.25, 0.5, 0.75, 0.95]
    table = tp.sensitivity.analyze(model, x, y, ratios=ratios, metric=metric,
                                   batch_size=64, progress=False)
    assert list(table.columns[:4]) == ["layer", "ratio", "n_pruned",
                                       "metric"]
    assert table["layer"].unique().tolist() == ["conv1", "conv2", "conv3",
                                                "conv4", "fc1"]
    assert len(table) == 5 * len(ratios)
    acc = tp.sensitivity.analyze(model, x, y, ratios=ratios, batch_size=64,
                                 progress=False)
    np.testing.assert_array_equal(acc["metric"], table["metric"])
    assert len(preds) == 1 + len(table)      # the unpruned baseline first
    for (_, row), pred in zip(table.iterrows(), preds[1:]):
        layer = model.get_layer(row.layer)
        assert row.n_pruned == int(np.floor(row.ratio * row.n_filters
                                            + 1e-9))
        idx = tp.filters.select(layer, row.n_pruned, "dscore")
        ref = _surgery_outputs(model, [row.layer], idx, x)
        assert np.abs(pred - ref).max() < 1e-4, (row.layer, row.ratio)
        assert row.metric == np.mean(ref.argmax(1) == y)
    # the input model is untouched
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _preact_model(seed=0):
    """Pre-activation block: the stem's zeroed channel meets a BN later, so
    masking must zero that BN too (the weight-mask path)."""
    L = keras.layers
    tp.utils.set_seed(seed)
    inp = keras.Input((8, 8, 3))
    stem = L.Conv2D(6, 3, padding="same", name="stem")(inp)
    h = L.BatchNormalization(name="b_bn1")(stem)
    h = L.ReLU(name="b_relu1")(h)
    h = L.Conv2D(5, 3, padding="same", name="b_conv1")(h)
    h = L.BatchNormalization(name="b_bn2")(h)
    h = L.ReLU(name="b_relu2")(h)
    h = L.Conv2D(6, 3, padding="same", name="b_conv2")(h)
    x = L.Add(name="add")([stem, h])
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(4, name="output")(x)
    return keras.Model(inp, out)


def _randomise_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape),
                               rng.normal(0, 0.5, b.shape),
                               rng.normal(0, 0.5, m.shape),
                               rng.uniform(0.5, 2.0, v.shape)])


def _postact_model(seed=0):
    """Post-activation residual stage (ResNet layout): the stem and the
    blocks' last convs meet at Adds and form one group."""
    L = keras.layers
    tp.utils.set_seed(seed)
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(6, 3, padding="same", name="stem")(inp)
    x = L.ReLU()(L.BatchNormalization(name="stem_bn")(x))
    for b in (1, 2):
        h = L.Conv2D(4, 3, padding="same", name=f"b{b}_conv1")(x)
        h = L.ReLU()(L.BatchNormalization(name=f"b{b}_bn1")(h))
        h = L.Conv2D(6, 3, padding="same", name=f"b{b}_conv2")(h)
        h = L.BatchNormalization(name=f"b{b}_bn2")(h)
        x = L.ReLU()(L.Add(name=f"b{b}_add")([x, h]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, name="output")(x))


@pytest.mark.parametrize("build", [_preact_model, _postact_model])
def test_masked_equals_surgery_on_residual_groups(build):
    model = build()
    rng = np.random.default_rng(0)
    _randomise_bn(model, rng)
    x = rng.normal(size=(40, 8, 8, 3)).astype("float32")
    y = model.predict(x, verbose=0).argmax(1)
    units = tp.filters.prunable_units(model)
    grouped = [u for u in units if u.is_group]
    assert grouped, "a residual model has coupled groups"
    pick = [grouped[0].name] + [u.name for u in units if not u.is_group][:1]
    metric, preds = _recorder()
    ratios = [0.2, 0.5, 0.8]
    table = tp.sensitivity.analyze(model, x, y, layers=pick, ratios=ratios,
                                   metric=metric, method="l1",
                                   progress=False)
    for (_, row), pred in zip(table.iterrows(), preds[1:]):
        unit = next(u for u in units if u.name == row.layer)
        layers = [model.get_layer(m) for m in unit.members]
        idx = tp.filters.select(layers if unit.is_group else layers[0],
                                row.n_pruned, "l1")
        ref = _surgery_outputs(model, unit.members, idx, x)
        assert np.abs(pred - ref).max() < 1e-4, (row.layer, row.ratio)


def test_dataset_evaluate_fn_and_iterative_mode(trained):
    model, x, y = trained
    ratios = [0.25, 0.5, 0.75]
    ref = tp.sensitivity.analyze(model, x, y, layers=["conv2", "fc1"],
                                 ratios=ratios, progress=False)
    ds = tp._keras.tf.data.Dataset.from_tensor_slices((x, y))
    got = tp.sensitivity.analyze(model, ds, layers=["conv2", "fc1"],
                                 ratios=ratios, batch_size=50,
                                 progress=False)
    pd.testing.assert_frame_equal(ref, got)

    seen = []

    def evaluate(m):
        seen.append(m)
        return float(np.mean(m.predict(x, verbose=0).argmax(1) == y))
    got = tp.sensitivity.analyze(model, None, layers=["conv2", "fc1"],
                                 ratios=ratios, evaluate_fn=evaluate,
                                 progress=False)
    np.testing.assert_allclose(got["metric"], ref["metric"])
    assert seen[0] is not model

    # the original code's cumulative greedy mode: floor(0.25*16)=4 per step
    it = tp.sensitivity.analyze(model, x, y, layers=["conv3"], ratios=ratios,
                                mode="iterative", progress=False)
    assert it["n_pruned"].tolist() == [4, 8, 12]
    # step 1 is the same as one-shot; later steps re-rank the survivors
    one = tp.sensitivity.analyze(model, x, y, layers=["conv3"],
                                 ratios=ratios, progress=False)
    assert it["metric"].iloc[0] == one["metric"].iloc[0]


@pytest.fixture(scope="module")
def mlp_digits():
    """A small trained MLP on flat digits: two prunable Dense layers."""
    (xtr, ytr), (xv, yv), _ = tp.data.load_digits(seed=0)
    model = tp.models.mlp(64, (12, 12), 10, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=3, batch_size=64, verbose=0)
    return model, xv, yv


_KILLED = """
import numpy as np
import tfprune as tp
model = tp.keras.models.load_model(r"MODEL")
data = np.load(r"DATA")
tp.sensitivity.analyze(model, data["x"], data["y"], ratios=[.25, .5, .75],
                       batch_size=64, run_dir=r"RUN_DIR", progress=False)
"""


@pytest.mark.slow
def test_sweep_killed_at_every_commit_boundary_resumes_to_the_same_table(
        mlp_digits, tmp_path, run_killed):
    model, x, y = mlp_digits
    path = tmp_path / "model.keras"
    model.save(path)
    model = keras.models.load_model(path)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    kw = dict(ratios=[.25, .5, .75], batch_size=64, progress=False)
    ref = tp.sensitivity.analyze(model, x, y, **kw)
    script = _KILLED.replace("MODEL", str(path)).replace(
        "DATA", str(tmp_path / "data.npz"))
    # commits: the baseline, hidden_1, hidden_2; renames: the manifest, the
    # three records, sensitivity.csv
    boundaries = ([(w, k) for w in ("before_commit", "after_commit")
                   for k in (1, 2, 3)] +
                  [("before_rename", k) for k in range(1, 7)])
    for where, at in boundaries:
        run_dir = tmp_path / f"run_{where}_{at}"
        proc = run_killed(script.replace("RUN_DIR", str(run_dir)), at, where)
        if (where, at) == ("before_rename", 6):
            assert proc.returncode == 0, proc.stderr[-2000:]
        else:
            assert proc.returncode == -9, (where, at, proc.stderr[-2000:])
        units = run_dir / "units"
        before = {p.name: p.stat().st_mtime_ns for p in units.glob("*.json")} \
            if units.exists() else {}
        table = tp.sensitivity.analyze(model, x, y, run_dir=run_dir, **kw)
        pd.testing.assert_frame_equal(table, ref, check_exact=True)
        assert table.attrs == ref.attrs
        # committed units are read back, never redone
        after = {p.name: p.stat().st_mtime_ns for p in units.glob("*.json")}
        assert {k: after[k] for k in before} == before, (where, at)
        assert len(after) == 3
        got = pd.read_csv(run_dir / "sensitivity.csv")
        np.testing.assert_array_equal(got["metric"], ref["metric"])


def test_resume_refuses_other_parameters_and_damaged_records(mlp_digits,
                                                             tmp_path):
    model, x, y = mlp_digits
    kw = dict(ratios=[.5], batch_size=64, progress=False)
    run_dir = tmp_path / "run"
    first = tp.sensitivity.analyze(model, x, y, run_dir=run_dir, **kw)
    calls = []

    def never(y_true, y_pred):
        calls.append(1)
        return 0.0
    # a finished folder is read back without any evaluation
    again = tp.sensitivity.analyze(model, x, y, run_dir=run_dir, **kw)
    pd.testing.assert_frame_equal(again, first, check_exact=True)
    refusals = [
        (dict(method="l1"), "method"),
        (dict(ratios=[.25]), "ratios"),
        (dict(metric=never), "metric"),
        (dict(layers=["hidden_2"]), "layers"),
        (dict(x=x[:-1], y=y[:-1]), "x"),
        (dict(y=(y + 1) % 10), "y"),
        (dict(mode="iterative"), "mode"),
    ]
    for change, name in refusals:
        args = dict(kw, x=x, y=y, metric="accuracy")
        args.update(change)
        with pytest.raises(tp.errors.ResumeMismatchError,
                           match=f"{name}: .* in the folder"):
            tp.sensitivity.analyze(model, run_dir=run_dir, **args)
    other = keras.models.clone_model(model)
    with pytest.raises(tp.errors.ResumeMismatchError, match="model: "):
        tp.sensitivity.analyze(other, x, y, run_dir=run_dir, **kw)
    assert calls == []
    # a truncated commit record or manifest names the file and the fix
    record = sorted((run_dir / "units").glob("0*.json"))[0]
    record.write_text(record.read_text()[:20])
    with pytest.raises(tp.errors.RunStateError,
                       match=f"units/{record.name}.*delete"):
        tp.sensitivity.analyze(model, x, y, run_dir=run_dir, **kw)
    record.unlink()            # the fix: that layer is redone
    redone = tp.sensitivity.analyze(model, x, y, run_dir=run_dir, **kw)
    pd.testing.assert_frame_equal(redone, first, check_exact=True)
    manifest = run_dir / "manifest.json"
    manifest.write_text(manifest.read_text()[:30])
    with pytest.raises(tp.errors.RunStateError, match="manifest.json"):
        tp.sensitivity.analyze(model, x, y, run_dir=run_dir, **kw)


def test_a_changed_evaluate_fn_is_refused(mlp_digits, tmp_path):
    model, x, y = mlp_digits

    def evaluate(m):
        return float(np.mean(m.predict(x, verbose=0).argmax(1) == y))
    kw = dict(layers=["hidden_1"], ratios=[.5], progress=False,
              run_dir=tmp_path / "run")
    tp.sensitivity.analyze(model, None, evaluate_fn=evaluate, **kw)
    first = evaluate

    def evaluate(m):  # noqa: F811 - same name, other code
        return float(np.mean(m.predict(x, verbose=0).argmax(1) != y))
    assert first.__qualname__ == evaluate.__qualname__
    with pytest.raises(tp.errors.ResumeMismatchError, match="evaluate_fn"):
        tp.sensitivity.analyze(model, None, evaluate_fn=evaluate, **kw)


def test_checkpoint_is_a_deprecated_alias_of_run_dir(mlp_digits, tmp_path):
    model, x, y = mlp_digits
    kw = dict(layers=["hidden_1"], ratios=[.5], progress=False)
    with pytest.warns(DeprecationWarning, match="'checkpoint'.*'run_dir'"):
        old = tp.sensitivity.analyze(model, x, y,
                                     checkpoint=tmp_path / "run", **kw)
    assert (tmp_path / "run" / "manifest.json").exists()
    new = tp.sensitivity.analyze(model, x, y, run_dir=tmp_path / "run", **kw)
    pd.testing.assert_frame_equal(old, new)
    with pytest.raises(ValueError, match="pass only 'run_dir'"):
        tp.sensitivity.analyze(model, x, y, checkpoint=tmp_path / "a",
                               run_dir=tmp_path / "b", **kw)


def test_data_is_checked_before_any_evaluation(mlp_digits):
    model, x, y = mlp_digits
    calls = []

    def metric(y_true, y_pred):
        calls.append(1)
        return 0.0
    kw = dict(metric=metric, ratios=[.5], progress=False)
    three = tp.models.mlp(64, (12,), 3, seed=0)
    with pytest.raises(ValueError, match="labels from 0 to 9.*3 outputs"):
        tp.sensitivity.analyze(three, x, y, **kw)
    bad = x.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="'x' holds 1 non-finite.*row 5"):
        tp.sensitivity.analyze(model, bad, y, **kw)
    with pytest.raises(ValueError, match="'y' holds"):
        tp.sensitivity.analyze(model, x, y.astype(float) * np.nan, **kw)
    ds = tp._keras.tf.data.Dataset.from_tensor_slices((bad, y)).batch(32)
    with pytest.raises(ValueError, match="non-finite"):
        tp.sensitivity.analyze(model, ds, **kw)
    with pytest.raises(ValueError, match="'l1' takes no keyword"):
        tp.sensitivity.analyze(model, x, y, method="l1", seed=1, **kw)
    with pytest.raises(ValueError, match="batch_size"):
        tp.sensitivity.analyze(model, x, y, batch_size=0, **kw)
    with pytest.raises(ValueError, match="cache_mb"):
        tp.sensitivity.analyze(model, x, y, cache_mb=-1, **kw)
    assert calls == []


def test_data_criteria_rank_on_the_evaluation_inputs(mlp_digits):
    model, x, y = mlp_digits
    table = tp.sensitivity.analyze(model, x, y, method="mean_activation",
                                   ratios=[.25, .5], progress=False)
    assert table["layer"].unique().tolist() == ["hidden_1", "hidden_2"]
    with pytest.raises(ValueError, match="pass model=... and x="):
        tp.sensitivity.analyze(model, None, method="apoz",
                               evaluate_fn=lambda m: 1.0, progress=False)


def _table():
    rows = []
    acc = {"a": [.95, .93, .89, .91, .80], "b": [.97, .96, .95, .94, .93],
           "c": [.85, .80, .70, .60, .50]}
    for layer, vals in acc.items():
        for r, v in zip([.1, .2, .3, .4, .5], vals):
            rows.append([layer, r, 0, v, 10, .96])
    return pd.DataFrame(rows, columns=tp.sensitivity.COLUMNS)


def test_plan_rules():
    t = _table()
    # first crossing stops at the dip; max_above ignores it
    assert tp.sensitivity.plan(t, 0.9) == {"a": .2, "b": .5, "c": 0.0}
    assert tp.sensitivity.plan(t, 0.9, rule="max_above") == {
        "a": .4, "b": .5, "c": 0.0}
    # equality counts as not below
    assert tp.sensitivity.plan(t, 0.93)["a"] == .2
    # relative: baseline .96 - .01 = .95
    rel = tp.sensitivity.plan(t, -0.01)
    assert rel == tp.sensitivity.plan(t, max_drop=0.01)
    assert rel == {"a": .1, "b": .3, "c": 0.0}
    assert tp.sensitivity.plan(t, max_drop=0.25, baseline=1.0)["c"] == .2
    # a loss: lower is better, tau is a ceiling
    loss = t.assign(metric=1 - t["metric"])
    assert tp.sensitivity.plan(loss, 0.1, higher_is_better=False) == \
        tp.sensitivity.plan(t, 0.9)
    with pytest.raises(ValueError, match="exactly one"):
        tp.sensitivity.plan(t, 0.9, max_drop=0.01)
    with pytest.raises(ValueError, match="first_crossing"):
        tp.sensitivity.plan(t, 0.9, rule="best")
    with pytest.raises(ValueError, match="baseline"):
        tp.sensitivity.plan(t.drop(columns="baseline"), -0.01)


def test_analyze_validates_inputs(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="output"):
        tp.sensitivity.analyze(model, x, y, layers=["output"],
                               progress=False)
    with pytest.raises(ValueError, match="no such layer"):
        tp.sensitivity.analyze(model, x, y, layers=["conv9"], progress=False)
    with pytest.raises(ValueError, match="increasing"):
        tp.sensitivity.analyze(model, x, y, ratios=[.5, .2], progress=False)
    with pytest.raises(ValueError, match="ratios"):
        tp.sensitivity.analyze(model, x, y, ratios=[.5, 1.0], progress=False)
    with pytest.raises(ValueError, match="unknown metric"):
        tp.sensitivity.analyze(model, x, y, metric="nope", progress=False)
    with pytest.raises(ValueError, match="per-sample shape"):
        tp.sensitivity.analyze(model, x.reshape(len(x), -1), y,
                               progress=False)
    with pytest.raises(TypeError, match="tf_keras"):
        tp.sensitivity.analyze(object(), x, y)
