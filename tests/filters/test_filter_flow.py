"""The filters flow end to end through the CLI, and its figures."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import tfprune as tp
from tfprune.cli import main


@pytest.fixture(scope="module")
def flow_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("filters")
    assert main(["filters", "--out", str(out), "--quiet"]) == 0
    return out


def test_cli_digits_halves_flops_within_one_point(flow_dir):
    rep = pd.read_csv(flow_dir / "report.csv").set_index("stage")
    assert list(rep.index) == ["original", "pruned", "retrained"]
    assert rep.at["original", "accuracy"] > 0.95
    assert rep.at["retrained", "flops_reduction_pct"] >= 50.0
    assert rep.at["retrained", "acc_drop_pts"] <= 1.0
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


def test_flow_reruns_from_its_checkpoints(flow_dir):
    stamp = (flow_dir / "model.keras").stat().st_mtime_ns
    units = flow_dir / "sensitivity_ckpt" / "units"
    done = {p.name: p.read_text() for p in units.glob("*.json")}
    assert done
    res = tp.filters.run_flow(flow_dir, progress=False, plots=False,
                              retrain_epochs=0,
                              threshold=0.95, rule="max_above")
    # the trained model and the sweep come back from the folder
    pd.testing.assert_frame_equal(
        res.sensitivity, pd.read_csv(flow_dir / "sensitivity_ckpt" /
                                     "sensitivity.csv"), check_dtype=False)
    assert res.plan == tp.sensitivity.plan(res.sensitivity, 0.95,
                                           rule="max_above")
    s = res.summary()
    assert s["lines"] and all(str(p).startswith(str(flow_dir))
                              for p in s["tables"])
    assert (flow_dir / "model.keras").stat().st_mtime_ns == stamp
    assert {p.name: p.read_text() for p in units.glob("*.json")} == done


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
