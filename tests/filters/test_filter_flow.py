"""The filters flow end to end through the CLI, its run folder, its checks
before any training, and its figures."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import tfprune as tp
from tfprune.cli import main
from tfprune.models.digits import digits_cnn


def _main(argv) -> int:
    """The CLI's exit status, whether argparse exits or main returns."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("filters")
    assert main(["filters", "--out", str(out), "--quiet", "--export",
                 "tflite"]) == 0
    return out


@pytest.fixture(scope="module")
def small():
    """A small trained digits CNN and the digits splits."""
    splits = tp.data.load_digits(seed=0, flatten=False)
    model = tp.filters.train_model(
        digits_cnn(seed=0, widths=(8, 8, 16, 16), dense=16), splits.train,
        epochs=4, progress=False)
    return model, splits


@pytest.mark.slow
def test_cli_digits_halves_flops_within_one_point(flow_dir):
    rep = pd.read_csv(flow_dir / "report.csv").set_index("stage")
    assert list(rep.index) == ["original", "pruned", "retrained"]
    assert rep.at["original", "accuracy"] > 0.95
    assert rep.at["retrained", "flops_reduction_pct"] >= 50.0
    assert rep.at["retrained", "acc_drop_pts"] <= 1.0
    # --export tflite wrote the retrained network
    assert (flow_dir / "model.tflite").stat().st_size > 0
    # the numbers are the report module's
    cmp = pd.read_csv(flow_dir / "compare.csv")
    total = cmp[cmp["layer"] == "TOTAL"].iloc[0]
    assert total["flops_reduction_pct"] == pytest.approx(
        rep.at["retrained", "flops_reduction_pct"])
    original = tp.keras.models.load_model(flow_dir / "model.keras")
    pruned = tp.keras.models.load_model(flow_dir / "pruned_model.keras")
    assert tp.report.count_flops(pruned) == rep.at["retrained", "flops"]
    assert tp.report.count_flops(original) == rep.at["original", "flops"]
    (_, _), (_, _), (xt, yt) = tp.data.load_digits(seed=0, flatten=False)
    acc = np.mean(pruned.predict(xt, verbose=0).argmax(1) == yt)
    assert acc == pytest.approx(rep.at["retrained", "accuracy"])
    # the plan is the sensitivity table's first crossing of 0.9
    sens = pd.read_csv(flow_dir / "sensitivity.csv")
    plan = pd.read_csv(flow_dir / "plan.csv")
    assert dict(zip(plan["layer"], plan["ratio"])) == \
        tp.sensitivity.plan(sens, 0.9)
    for _, row in plan.iterrows():
        assert pruned.get_layer(row.layer).get_weights()[0].shape[-1] == \
            row.n_kept
    for name in ("sensitivity", "filters", "feature_maps",
                 "sign_fractions"):
        assert (flow_dir / f"{name}.png").stat().st_size > 5000


@pytest.mark.slow
def test_flow_resumes_its_stages_and_refuses_other_options(flow_dir,
                                                           capsys):
    def stamps():
        files = [flow_dir / "model.keras", flow_dir / "pruned_model.keras",
                 *flow_dir.glob("units/*.json"),
                 *flow_dir.glob("sensitivity/units/*.json")]
        return {str(p): p.stat().st_mtime_ns for p in files}
    before = stamps()
    assert len(before) == 2 + 2 + 1 + 5   # models, train/retrain, sweep
    report = pd.read_csv(flow_dir / "report.csv")
    res = tp.filters.run_flow(flow_dir, progress=False, plots=False)
    # nothing is trained, swept or retrained again
    assert stamps() == before
    pd.testing.assert_frame_equal(res.report, report)
    assert res.plan == tp.sensitivity.plan(res.sensitivity, 0.9)
    s = res.summary()
    assert s["lines"] and all(str(p).startswith(str(flow_dir))
                              for p in s["tables"])
    assert any(str(p).endswith("sensitivity.csv") for p in s["tables"])
    # other options are refused, named by their flags
    capsys.readouterr()
    assert _main(["filters", "--out", str(flow_dir), "--quiet",
                  "--threshold", "0.95", "--rule", "max_above",
                  "--retrain-lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--threshold: 0.9 in the folder, 0.95 now" in err
    assert "--rule" in err and "--retrain-learning-rate" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert stamps() == before


@pytest.mark.slow
def test_figures(flow_dir):
    model = tp.keras.models.load_model(flow_dir / "model.keras")
    sens = pd.read_csv(flow_dir / "sensitivity.csv")
    plan = pd.read_csv(flow_dir / "plan.csv")
    (_, _), (_, _), (xt, _) = tp.data.load_digits(seed=0, flatten=False)
    figs = [tp.plots.sensitivity_curves(sens, threshold=-0.01),
            tp.plots.pruned_filter_bars(plan),
            tp.plots.filter_feature_maps(model, "conv2", xt[0]),
            tp.plots.filter_sign_fractions(model, "conv2"),
            tp.plots.filter_sign_fractions(np.random.default_rng(0).normal(
                size=(3, 3, 4, 64)), ratio=0.2)]
    assert all(isinstance(f, Figure) for f in figs)
    ax = figs[0].axes[0]
    assert len(ax.lines) == sens["layer"].nunique() + 2
    baseline = sens["baseline"].iloc[0]
    assert ax.lines[-1].get_ydata()[0] == pytest.approx(baseline - 0.01)
    # Fig. 4 panels: filters and maps for both methods, 6 marked boxes each
    assert len(figs[2].axes) == 4
    assert all(len(a.patches) == 6 for a in figs[2].axes)
    with pytest.raises(ValueError, match="Conv2D"):
        tp.plots.filter_feature_maps(model, "fc1", xt[0])
    with pytest.raises(ValueError, match="shape"):
        tp.plots.filter_feature_maps(model, "conv2", xt[0, :4])
    with pytest.raises(ValueError, match="columns"):
        tp.plots.pruned_filter_bars(sens[["layer", "ratio"]])


def column_range(w):
    return w.max(axis=0) - w.min(axis=0)


@pytest.mark.slow
def test_data_criteria_and_user_functions_run_through_the_flow(small,
                                                               tmp_path):
    model, splits = small
    for method in ("apoz", "mean_activation", column_range):
        name = getattr(method, "__name__", method)
        res = tp.filters.run_flow(
            tmp_path / name, model=model, data=splits, method=method,
            ratios=[0.25, 0.5], threshold=0.0, retrain_epochs=0,
            progress=False)
        assert set(res.plan.values()) == {0.5}
        expect = tp.filters.plan_channels(model, res.plan, method,
                                          x=splits.val[0])
        for layer, idx in expect.items():
            assert res.pruned.get_layer(layer).get_weights()[0].shape[-1] \
                == model.get_layer(layer).get_weights()[0].shape[-1] - len(idx)
        assert res.config["method"] == name
        assert (tmp_path / name / "feature_maps.png").exists()


def test_cli_refuses_a_model_that_does_not_fit_the_data_before_the_sweep(
        tmp_path, capsys):
    path = tmp_path / "three.keras"
    digits_cnn(seed=0, widths=(4, 4, 4, 4), dense=8, classes=3).save(path)
    out = tmp_path / "run"
    assert _main(["filters", "--model", str(path), "--out", str(out),
                  "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "labels from 0 to 9" in err and "3 outputs" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()     # refused before the sweep wrote anything


@pytest.mark.parametrize("argv", [
    ["--ratios", "0.5,0.2"], ["--ratios", "0.5,1.0"], ["--retrain-lr", "-1"],
    ["--method", "nope"], ["--threshold", "2"], ["--threshold", "nan"],
    ["--threshold", "0.9", "--max-drop", "0.1"], ["--epochs", "-1"],
    ["--retrain-epochs", "x"], ["--batch-size", "0"], ["--seed", "-3"],
    ["--model", "missing.keras"], ["--layers", ","]])
def test_cli_bad_options_fail_before_any_work(argv, tmp_path, capsys):
    out = tmp_path / "run"
    assert _main(["filters", "--out", str(out), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert not out.exists()


def test_run_flow_checks_everything_before_training(small, monkeypatch,
                                                    tmp_path):
    model, splits = small
    calls = []
    import tfprune.filters.flow as flow
    monkeypatch.setattr(flow, "train_model",
                        lambda *a, **k: calls.append(1))
    bad = splits.train[0].copy()
    bad[7, 0, 0, 0] = np.inf
    nan_data = (splits.train[0] * 0, splits.train[1])
    nan_data[0][3, 1, 1, 0] = np.nan
    checks = [
        (dict(data=((bad, splits.train[1]), splits.val, splits.test)),
         "'data train x' holds 1 non-finite.*row 7"),
        (dict(data=(nan_data, splits.val, splits.test)), "row 3"),
        (dict(threshold=0.9, max_drop=0.01), "not both"),
        (dict(threshold=1.5), "threshold"),
        (dict(layers=["conv9"]), "conv9.*no such layer"),
        (dict(retrain_learning_rate=-1.0), "retrain_learning_rate"),
        (dict(ratios=[0.5, 0.5]), "increasing"),
        (dict(epochs=-1), "epochs"),
        (dict(method="nope"), "unknown method"),
        (dict(model=tmp_path / "missing.keras"), "does not exist"),
    ]
    for kw, match in checks:
        with pytest.raises(ValueError, match=match):
            tp.filters.run_flow(tmp_path / "run", progress=False, **kw)
    assert calls == []
    assert not (tmp_path / "run").exists()


def test_deprecated_flow_names(small, tmp_path):
    model, splits = small
    with pytest.warns(DeprecationWarning) as warned:
        res = tp.filters.run_flow(
            out=tmp_path / "run", model=model, data=splits, ratios=[0.5],
            retrain_epochs=1, retrain_lr=0.05, progress=False, plots=False)
    text = " ".join(str(w.message) for w in warned)
    assert "'out'" in text and "'retrain_lr'" in text
    assert res.config["retrain_learning_rate"] == 0.05
    assert (tmp_path / "run" / "report.csv").exists()
    with pytest.warns(DeprecationWarning, match="'lr'.*'learning_rate'"):
        m = tp.filters.train_model(model, splits.train, epochs=0, lr=0.02,
                                   progress=False)
    assert m.optimizer.get_config()["learning_rate"] == pytest.approx(0.02)
    # epochs=0 (--epochs 0) gives the untrained copy instead of a Keras error
    for a, b in zip(m.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
