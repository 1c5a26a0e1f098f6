"""tp.filters.compare_criteria: matched and planned head-to-heads of filter
criteria over seeds, their statistics, resuming and the command line."""
import math

import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.filters import compare as cc


def tiny_cnn(seed=0):
    return tp.models.digits_cnn(seed=seed, widths=(4, 4, 8, 8), dense=8)


@pytest.fixture(scope="module")
def splits():
    return tp.data.load_digits(seed=0, flatten=False)


@pytest.fixture(scope="module")
def trained(splits):
    return tp.filters.train_model(tiny_cnn(0), splits.train, splits.val,
                                  epochs=3, seed=0, progress=False)


def fast(model, data, **kw):
    """A comparison on a given network without any (re)training."""
    kw.setdefault("progress", False)
    kw.setdefault("retrain_epochs", 0)
    return tp.filters.compare_criteria(model, data, **kw)


# --------------------------------------------------------------------------
# statistics on hand-computed examples

def test_paired_difference_matches_a_hand_computed_t_test():
    # differences 1, 2, 1 points: mean 4/3, sd 1/sqrt(3), t = 4 with 2
    # degrees of freedom, two-sided p = 1 - t / sqrt(2 + t^2)
    d = cc.paired_difference([0.91, 0.94, 0.95], [0.90, 0.92, 0.94])
    assert d.n == 3
    assert d.mean == pytest.approx(0.04 / 3)
    assert d.std == pytest.approx(0.01 / math.sqrt(3))
    assert d.p == pytest.approx(1 - 4 / math.sqrt(18), rel=1e-9)


def test_paired_difference_degenerate_cases():
    same = cc.paired_difference([0.9, 0.8], [0.9, 0.8])
    assert (same.mean, same.std, same.p) == (0.0, 0.0, 1.0)
    shifted = cc.paired_difference([0.5, 0.75], [0.25, 0.5])
    assert (shifted.mean, shifted.std, shifted.p) == (0.25, 0.0, 0.0)
    one = cc.paired_difference([0.9], [0.8])
    assert one.mean == pytest.approx(0.1) and math.isnan(one.p)
    with pytest.raises(ValueError, match="equally long"):
        cc.paired_difference([0.9, 0.8], [0.8])


def test_holm_adjustment_by_hand():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> made
    # non-decreasing: 0.03, 0.06, 0.06
    np.testing.assert_allclose(cc.holm([0.01, 0.04, 0.03, np.nan])[:3],
                               [0.03, 0.06, 0.06])
    assert np.isnan(cc.holm([0.01, np.nan])[1])
    assert cc.holm([0.6, 0.7])[1] == 1.0


def _runs(values: dict, target=0.5):
    rows = []
    for method, accs in values.items():
        for seed, a in enumerate(accs):
            rows.append(dict(mode="matched", target=target, method=method,
                             seed=seed, acc_base=0.97, acc_pruned=a - 0.2,
                             acc_retrained=a, flops=1, params=1,
                             flops_reduction=0.5, params_reduction=0.4,
                             n_pruned=3, seconds=1.0))
    return pd.DataFrame(rows, columns=cc.RUN_COLUMNS)


def test_summary_states_the_paired_difference_plainly():
    runs = _runs({"l1": [0.90, 0.92, 0.94], "dscore": [0.91, 0.94, 0.95],
                  "fpgm": [0.90, 0.92, 0.94]})
    s = cc._summarize(runs, "l1").set_index("method")
    assert s.at["dscore", "diff_retrained_pts"] == pytest.approx(4 / 3)
    assert s.at["dscore", "diff_retrained_std"] == pytest.approx(
        1 / math.sqrt(3))
    p = 1 - 4 / math.sqrt(18)
    assert s.at["dscore", "p_retrained"] == pytest.approx(p)
    # two comparisons: Holm doubles the smaller p-value
    assert s.at["dscore", "p_retrained_holm"] == pytest.approx(2 * p)
    assert s.at["dscore", "verdict_retrained"] == (
        f"dscore − l1 = +1.3 ± 0.6 pt after retraining (p = {p:.2g}, "
        f"Holm-adjusted {2 * p:.2g}: not significant)")
    assert s.at["fpgm", "verdict_retrained"].endswith(
        "(identical on every seed)")
    assert s.at["l1", "verdict_retrained"] == ""
    assert s.at["dscore", "acc_retrained_mean"] == pytest.approx(0.9333333)
    assert s.at["dscore", "acc_retrained_std"] == pytest.approx(
        np.std([0.91, 0.94, 0.95], ddof=1))


def test_overlap_is_the_jaccard_index_of_the_removed_sets():
    choices = pd.DataFrame(
        [[0.5, 0, "l1", "conv1", (0, 1, 2)], [0.5, 0, "dscore", "conv1",
                                               (1, 2, 3)],
         [0.5, 1, "l1", "conv1", (0, 1)], [0.5, 1, "dscore", "conv1",
                                           (0, 1)]],
        columns=["target", "seed", "method", "layer", "channels"])
    res = cc.CriteriaComparison(pd.DataFrame(), pd.DataFrame(),
                                pd.DataFrame(), choices, {})
    ov = res.overlap().set_index(["method_a", "method_b"])
    # seed 0: |{1,2}| / |{0,1,2,3}| = 0.5; seed 1: identical = 1.0
    assert ov.at[("l1", "dscore"), "jaccard"] == pytest.approx(0.75)
    assert ov.at[("dscore", "dscore"), "jaccard"] == 1.0
    fig = tp.plots.criteria_overlap(res)
    assert len([a for a in fig.axes if a.get_visible()]) == 2  # map + bar


# --------------------------------------------------------------------------
# bad input, refused before any training

@pytest.fixture()
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("trained before checking the input")
    monkeypatch.setattr(cc, "train_model", refuse)
    monkeypatch.setattr(cc, "retrain", refuse)


def test_unknown_method_is_refused_up_front(splits, no_training):
    with pytest.raises(ValueError, match="unknown method 'dscroe'.*l1"):
        tp.filters.compare_criteria(tiny_cnn, splits,
                                    methods=["l1", "dscroe"])


def test_unreachable_target_is_refused_up_front(splits, no_training):
    with pytest.raises(ValueError, match=r"flops_reduction \[0\.999\] "
                                         r"cannot be reached.*up to 0\.9"):
        tp.filters.compare_criteria(tiny_cnn, splits, methods=["l1"],
                                    flops_reduction=[0.5, 0.999])
    with pytest.raises(ValueError, match="cannot be reached by a "
                                         "sensitivity plan"):
        tp.filters.compare_criteria(tiny_cnn, splits, methods=["l1"],
                                    flops_reduction=[0.99],
                                    allocation="sensitivity",
                                    ratios=[0.1, 0.2])


def test_data_criteria_without_data_are_refused(splits, no_training):
    no_val = (splits.train, None, splits.test)
    with pytest.raises(ValueError, match=r"methods \['apoz'\] rank filters "
                                         "from input data.*data.val"):
        tp.filters.compare_criteria(tiny_cnn, no_val, methods=["l1", "apoz"])
    with pytest.raises(ValueError, match="planned mode runs sensitivity"):
        tp.filters.compare_criteria(tiny_cnn, no_val, methods=["l1"],
                                    mode="planned")


@pytest.mark.parametrize("kw, match", [
    (dict(methods=["dscore"]), "baseline 'l1' is not among"),
    (dict(methods=["l1", "l1"]), "distinct"),
    (dict(seeds=[]), "'seeds' is empty"),
    (dict(mode="both"), "'mode' must be one of"),
    (dict(flops_reduction=[1.2]), r"flops_reduction\[0\]"),
    (dict(threshold=[-1.5], mode="planned"), r"threshold\[0\]"),
    (dict(workers=0), "'workers' must be an integer >= 1"),
])
def test_bad_parameters_name_the_argument(splits, no_training, kw, match):
    kw.setdefault("methods", ["l1"])
    with pytest.raises(ValueError, match=match):
        tp.filters.compare_criteria(tiny_cnn, splits, **kw)


def test_data_that_does_not_fit_the_network_is_refused(splits, no_training):
    bad = (splits.train, splits.val, (splits.test[0][:, :4], splits.test[1]))
    with pytest.raises(ValueError, match="data.test.*per-sample shape"):
        tp.filters.compare_criteria(tiny_cnn, bad, methods=["l1"])
    with pytest.raises(TypeError, match="Splits"):
        tp.filters.compare_criteria(tiny_cnn, splits.train, methods=["l1"])


# --------------------------------------------------------------------------
# matched mode

def test_matched_mode_removes_the_same_counts_per_layer(trained, splits):
    res = fast(trained, splits, methods=["l1", "dscore", "random", "apoz"],
               seeds=[0, 1], flops_reduction=[0.3, 0.6])
    ch = res.choices.assign(k=[len(c) for c in res.choices["channels"]])
    counts = ch.pivot_table(index=["target", "seed", "layer"],
                            columns="method", values="k")
    assert (counts.nunique(axis=1) == 1).all()
    for target, g in res.plans.groupby("target"):
        ratio = g["ratio"].unique()
        assert len(ratio) == 1       # one uniform ratio per target
        for layer, k in g.groupby("layer")["n_pruned"].unique().items():
            n = tp.filters.n_filters(trained.get_layer(layer))
            assert list(k) == [tp.filters.n_to_prune(n, ratio[0])]
    runs = res.to_frame()
    assert len(runs) == 4 * 2 * 2
    assert runs.groupby("target")["flops"].nunique().eq(1).all()
    # the smallest ratio on the grid that reaches each target
    for target, g in res.plans.groupby("target"):
        r = float(g["ratio"].iloc[0])
        f0 = tp.report.count_flops(trained)

        def reduction(ratio):
            plan = {u.name: ratio for u in tp.filters.prunable_units(trained)}
            small = tp.filters.prune(trained, plan, "l1")
            return 1 - tp.report.count_flops(small) / f0
        assert reduction(r) >= target > reduction(round(r - 0.01, 2))
        assert runs.loc[runs["target"] == target, "flops_reduction"].eq(
            reduction(r)).all()


def test_layers_restricts_what_is_pruned(trained, splits):
    res = fast(trained, splits, methods=["l1"], seeds=[0],
               flops_reduction=[0.2], layers=["conv3", "conv4"])
    assert sorted(res.plans["layer"]) == ["conv3", "conv4"]
    assert set(res.choices["layer"]) <= {"conv3", "conv4"}
    with pytest.raises(ValueError, match="'output'.*cannot be pruned"):
        fast(trained, splits, methods=["l1"], seeds=[0],
             flops_reduction=[0.2], layers=["output"])


def test_random_differs_between_seeds_and_l1_does_not(trained, splits):
    res = fast(trained, splits, methods=["l1", "random"], seeds=[0, 1],
               flops_reduction=[0.5])
    ch = res.choices.set_index(["method", "seed", "layer"])["channels"]
    layers = res.choices["layer"].unique()
    # the network is the same for every seed: l1 chooses the same filters,
    # random does not
    assert all(ch["l1", 0, lay] == ch["l1", 1, lay] for lay in layers)
    assert any(ch["random", 0, lay] != ch["random", 1, lay]
               for lay in layers)
    again = fast(trained, splits, methods=["random"], seeds=[1],
                 flops_reduction=[0.5], baseline="random")
    assert list(again.choices["channels"]) == [
        ch["random", 1, lay] for lay in again.choices["layer"]]


def test_sensitivity_allocation_uses_the_reference_plan(trained, splits):
    ratios = [0.25, 0.5, 0.75]
    res = fast(trained, splits, methods=["l1", "fpgm"], seeds=[0],
               flops_reduction=[0.4], allocation="sensitivity",
               reference="dscore", ratios=ratios)
    assert res.config["allocation"] == "sensitivity"
    table = tp.sensitivity.analyze(trained, *splits.val, ratios=ratios,
                                   method="dscore", progress=False)
    tau = float(res.plans["threshold"].iloc[0])
    assert tau in set(table["metric"])
    for method, g in res.plans.groupby("method"):
        assert dict(zip(g["layer"], g["ratio"])) == tp.sensitivity.plan(
            table, tau)
    runs = res.to_frame()
    assert (runs["flops_reduction"] >= 0.4).all()
    # the next higher threshold would not reach the target
    higher = min(m for m in table["metric"] if m > tau)
    plan = tp.sensitivity.plan(table, higher)
    small = tp.filters.prune(trained, plan, "l1")
    reached = 1 - tp.report.count_flops(small) / tp.report.count_flops(
        trained)
    assert reached < 0.4


# --------------------------------------------------------------------------
# planned mode

def test_planned_mode_prunes_each_method_by_its_own_plan(trained, splits):
    ratios = [0.25, 0.5, 0.75]
    res = fast(trained, splits, methods=["l1", "dscore"], seeds=[0],
               mode="planned", threshold=[-0.05, 0.5], ratios=ratios)
    runs = res.to_frame()
    assert sorted(runs["target"].unique()) == [-0.05, 0.5]
    for method in ("l1", "dscore"):
        table = tp.sensitivity.analyze(trained, *splits.val, ratios=ratios,
                                       method=method, progress=False)
        for tau in (-0.05, 0.5):
            g = res.plans[(res.plans["method"] == method)
                          & (res.plans["target"] == tau)]
            assert dict(zip(g["layer"], g["ratio"])) == tp.sensitivity.plan(
                table, tau)
            small = tp.filters.prune(trained, tp.sensitivity.plan(table, tau),
                                     method)
            row = runs[(runs["method"] == method) & (runs["target"] == tau)]
            assert int(row["flops"].iloc[0]) == tp.report.count_flops(small)
    lines = res.statements()
    assert len(lines) == 2 and all("FLOPs -" in s for s in lines)


# --------------------------------------------------------------------------
# run folders

def test_rerun_resumes_without_work_and_refuses_other_parameters(
        trained, splits, tmp_path, monkeypatch):
    kw = dict(methods=["l1", "dscore"], seeds=[0], flops_reduction=[0.5],
              retrain_epochs=1, run_dir=tmp_path / "run")
    first = fast(trained, splits, **kw)

    def refuse(*a, **k):
        raise AssertionError("a committed unit was redone")
    monkeypatch.setattr(cc, "retrain", refuse)
    monkeypatch.setattr(cc, "plan_channels", refuse)
    again = fast(trained, splits, **kw)
    pd.testing.assert_frame_equal(first.to_frame(), again.to_frame())
    pd.testing.assert_frame_equal(first.choices, again.choices)
    with pytest.raises(tp.errors.ResumeMismatchError, match="methods"):
        fast(trained, splits, **dict(kw, methods=["l1", "fpgm"]))
    with pytest.raises(tp.errors.ResumeMismatchError, match="model"):
        fast(tiny_cnn(1), splits, **kw)


def test_damaged_base_weights_are_named(splits, tmp_path):
    kw = dict(methods=["l1"], seeds=[0], flops_reduction=[0.5],
              train_epochs=1, retrain_epochs=0, run_dir=tmp_path / "run",
              progress=False)
    tp.filters.compare_criteria(tiny_cnn, splits, **kw)
    for p in (tmp_path / "run" / "units").glob("*l1*"):
        p.unlink()                      # redo the unit: needs the base
    (tmp_path / "run" / "base_seed0.npz").write_bytes(b"broken")
    with pytest.raises(tp.errors.RunStateError, match="base_seed0.npz"):
        tp.filters.compare_criteria(tiny_cnn, splits, **kw)


# --------------------------------------------------------------------------
# seeds, processes and SIGKILL (slow)

def _without_time(frame):
    return frame.drop(columns=["seconds"])


@pytest.mark.slow
def test_same_seed_same_table_also_over_worker_processes(splits):
    kw = dict(methods=["l1", "dscore"], seeds=[0, 1], flops_reduction=[0.5],
              train_epochs=1, retrain_epochs=1, progress=False)
    one = tp.filters.compare_criteria(tiny_cnn, splits, **kw)
    two = tp.filters.compare_criteria(tiny_cnn, splits, workers=2, **kw)
    pd.testing.assert_frame_equal(_without_time(one.to_frame()),
                                  _without_time(two.to_frame()))
    pd.testing.assert_frame_equal(one.choices, two.choices)
    runs = one.to_frame()
    # the seed covers base training: the two seeds' networks differ
    assert runs.groupby("seed")["acc_base"].first().nunique() == 2


KILLED = """
import tfprune as tp

def tiny_cnn(seed=0):
    return tp.models.digits_cnn(seed=seed, widths=(4, 4, 8, 8), dense=8)

if __name__ == "__main__":
    res = tp.filters.compare_criteria(
        tiny_cnn, tp.data.load_digits(seed=0, flatten=False),
        methods=["l1", "dscore"], seeds=[0], flops_reduction=[0.5],
        train_epochs=1, retrain_epochs=1, run_dir=RUN_DIR, progress=False)
    res.to_frame().drop(columns="seconds").to_csv(TABLE, index=False)
    print("COMMITS", _count["commit"])
"""


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(run_killed,
                                                        tmp_path):
    def script(run_dir, table):
        return KILLED.replace("RUN_DIR", repr(str(run_dir))).replace(
            "TABLE", repr(str(table)))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    # units: the base network (a weights file, then its record), l1, dscore
    steps = [("before_rename", 1),   # the weights file never lands
             ("before_commit", 1),   # weights written, no record: redone
             ("after_commit", 2),    # base redone, l1 committed
             ("before_commit", 1)]   # dscore done, no record: redone
    for where, at in steps:
        p = run_killed(script(killed, tmp_path / "no.csv"), at, where)
        assert p.returncode == -9, (where, at, p.stderr[-2000:])
    p = run_killed(script(killed, tmp_path / "resumed.csv"), 99)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "COMMITS 1" in p.stdout      # only dscore was left to do
    p = run_killed(script(clean, tmp_path / "clean.csv"), 99)
    assert p.returncode == 0, p.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "resumed.csv"),
                                  pd.read_csv(tmp_path / "clean.csv"))
    with np.load(killed / "base_seed0.npz") as a, \
            np.load(clean / "base_seed0.npz") as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


# --------------------------------------------------------------------------
# figures and the command line

def test_accuracy_figure_has_both_stages():
    runs = pd.concat([_runs({"l1": [0.90, 0.92], "dscore": [0.91, 0.94]},
                            target=t) for t in (0.3, 0.5)])
    fig = tp.plots.criteria_accuracy(runs)
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["test accuracy right after pruning",
                      "test accuracy after retraining"]
    lines = {ln.get_label(): ln for ln in fig.axes[1].get_lines()}
    np.testing.assert_allclose(lines["dscore"].get_ydata(), [92.5, 92.5])
    with pytest.raises(ValueError, match="CriteriaComparison"):
        tp.plots.criteria_accuracy(pd.DataFrame({"x": [1]}))


def test_cli_compare_on_your_own_model_and_data(trained, splits, tmp_path,
                                                capsys):
    from tfprune.cli import main
    model = tmp_path / "model.keras"
    trained.save(model)
    data = tmp_path / "data.npz"
    np.savez(data, x_train=splits.train[0], y_train=splits.train[1],
             x_val=splits.val[0], y_val=splits.val[1],
             x_test=splits.test[0], y_test=splits.test[1])
    out = tmp_path / "out"
    argv = ["filters", "compare", "--model", str(model), "--data", str(data),
            "--methods", "l1,dscore", "--seeds", "2", "--flops-reduction",
            "0.5", "--retrain-epochs", "0", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "dscore − l1 = " in text
    for name in ("runs.csv", "summary.csv", "overlap.csv", "accuracy.png",
                 "overlap.png"):
        assert (out / name).exists()
    assert len(pd.read_csv(out / "runs.csv")) == 4
    # the same folder with other options: one line naming the flag
    other = [("l1,fpgm" if a == "l1,dscore" else a) for a in argv]
    assert main(other) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--methods" in err


@pytest.mark.parametrize("argv, match", [
    (["--methods", "l1,nope"], "--methods: must be comma-separated"),
    (["--seeds", "0"], "--seeds: must be a positive integer"),
    (["--flops-reduction", "0.5,1.5"], "--flops-reduction"),
    (["--threshold", "a"], "--threshold: must be comma-separated numbers"),
    (["--model", "m.keras"], "--model needs --data"),
    (["--data", "missing.npz"], "--data 'missing.npz'"),
])
def test_cli_bad_input_is_one_line(argv, match, tmp_path, capsys,
                                   monkeypatch):
    from tfprune.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["filters", "compare", *argv, "--out", "o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 or err[-1].startswith("tfprune")
    assert match in err[-1]


def test_filters_flow_command_is_unchanged(capsys):
    from tfprune.cli import build_parser, cmd_filters, main
    args = build_parser().parse_args(["filters", "--dataset", "digits",
                                      "--out", "x", "--seed", "3"])
    assert args.func is cmd_filters.run and args.seed == 3
    assert main(["filters", "--dataset", "digits"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err
