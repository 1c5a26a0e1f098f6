"""Monte Carlo runs on moth data: levels, results, resume, report, CLI."""
import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.ensemble import (PatienceStopping, connection_survival,
                              layer_survival, monte_carlo, prune_count,
                              sparsest, sparsity_distribution, summary)
from tfprune.errors import ResumeMismatchError

LEVELS = [0.3, 0.6, 0.8, 0.9]
KW = dict(n_networks=3, hidden=(24, 24, 8), sparsities=LEVELS,
          max_batches=40, learning_rate=2e-3, init="glorot_uniform",
          early_stopping=PatienceStopping(patience=2, check_every=10),
          threshold=0.0255, seed=11, progress=False)


@pytest.fixture(scope="module")
def run(moth, tmp_path_factory):
    path = tmp_path_factory.mktemp("mc") / "run"
    return monte_carlo(moth, run_dir=path, keep_levels=True,
                       input_names=list(tp.data.moth.INPUT_COLUMNS),
                       output_names=list(tp.data.moth.OUTPUT_COLUMNS),
                       **KW), path


def test_history_has_every_network_at_every_level(run, moth):
    res, _ = run
    h = res.history
    assert len(h) == 3 * (len(LEVELS) + 1)
    assert sorted(h["level"].unique()) == list(range(len(LEVELS) + 1))
    lv = h.groupby("level")["sparsity"].first().tolist()
    assert lv == [0.0] + LEVELS
    sizes = [24 * 10, 24 * 24, 24 * 8, 8 * 7]
    for c, g in h.groupby("sparsity"):
        kept = sum(n - prune_count(n, c) for n in sizes)
        assert (g["kept_weights"] == kept).all()
        np.testing.assert_allclose(g["kernel_sparsity"],
                                   1 - kept / sum(sizes))
    for col in ("train_loss", "val_loss", "test_loss"):
        assert np.isfinite(h[col]).all()
    # the full-set train loss is the exported network's MSE on all rows
    x, y = moth.train
    for i in range(3):
        pred = res.export(i, "final").predict(x, verbose=0)
        last = h[(h["network"] == i) & (h["level"] == len(LEVELS))]
        np.testing.assert_allclose(((pred - y) ** 2).mean(),
                                   last["train_loss"].item(), rtol=1e-4)


def test_masks_never_revive_across_levels(run):
    res, _ = run
    prev = None
    for level in range(len(LEVELS) + 1):
        weights = res.level_weights[level]
        nonzero = [w != 0 for w in weights[0::2]]
        if prev is not None:
            for old, new in zip(prev, nonzero):
                assert not (new & ~old).any()
        prev = nonzero


def test_sparsest_snapshot_and_tables_agree(run, moth):
    res, _ = run
    table = res.sparsest()
    # the threshold sits between the networks' best losses: both cases occur
    assert table["passed"].any() and not table["passed"].all()
    assert len(table) == 3 and set(table.columns) >= {
        "network", "seed", "passed", "level", "sparsity", "train_loss"}
    for _, row in table.iterrows():
        i = int(row["network"])
        if row["passed"]:
            assert res.snapshot_levels[i] == row["level"]
            model = res.export(i, "sparsest")
            x, y = moth.train
            mse = ((model.predict(x, verbose=0) - y) ** 2).mean()
            np.testing.assert_allclose(mse, row["train_loss"], rtol=1e-4)
        else:
            assert res.snapshot_levels[i] == -1
            with pytest.raises(ValueError, match="never reached"):
                res.export(i, "sparsest")
    lay = layer_survival(res, level="final")
    assert len(lay) == 3 * 4
    assert set(lay["layer"]) == {"hidden_1", "hidden_2", "hidden_3",
                                 "output"}
    con = connection_survival(res, level=len(LEVELS))
    assert set(con["kind"]) == {"input", "output"}
    inputs = con[con["kind"] == "input"]
    assert list(inputs["name"][:10]) == list(tp.data.moth.INPUT_COLUMNS)
    # per network, the input rows add up to the first layer's kept weights
    first = lay[lay["layer"] == "hidden_1"].set_index("network")["kept"]
    np.testing.assert_array_equal(
        inputs.groupby("network")["kept"].sum().to_numpy(), first.to_numpy())


def test_resume_after_interruption_gives_the_same_run(run, moth, tmp_path,
                                                      interrupt_training):
    res, _ = run
    calls = interrupt_training(3)
    path = tmp_path / "run"
    kw = dict(KW, keep_levels=True,
              input_names=list(tp.data.moth.INPUT_COLUMNS),
              output_names=list(tp.data.moth.OUTPUT_COLUMNS))
    with pytest.raises(KeyboardInterrupt):
        monte_carlo(moth, run_dir=path, **kw)
    assert (path / "history.csv").exists()
    assert pd.read_csv(path / "history.csv")["level"].max() == 1
    calls["n"] = -100
    again = monte_carlo(moth, run_dir=path, **kw)
    assert calls["n"] == -100 + len(LEVELS) + 1 - 2  # only levels 2.. ran
    pd.testing.assert_frame_equal(
        again.history.drop(columns="seconds"),
        res.history.drop(columns="seconds"), rtol=1e-5)
    for a, b in zip(again.ensemble.trainable_variables,
                    res.ensemble.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5,
                                   atol=1e-7)
    np.testing.assert_allclose(again.export(0, 1).get_weights()[0],
                               res.export(0, 1).get_weights()[0])
    with pytest.raises(ResumeMismatchError):
        monte_carlo(moth, run_dir=path, **dict(kw, learning_rate=1e-3))


def _history(losses):
    rows = []
    for net, curve in enumerate(losses):
        for level, loss in enumerate(curve):
            rows.append({"network": net, "seed": 100 + net, "level": level,
                         "sparsity": [0, .5, .9, .95][level],
                         "kernel_sparsity": [0, .5, .9, .95][level],
                         "kept_weights": 100 - [0, 50, 90, 95][level],
                         "train_loss": loss, "val_loss": loss,
                         "test_loss": loss})
    return pd.DataFrame(rows)


def test_sparsest_last_passing_level_and_failures_reported():
    hist = _history([[5e-4, 8e-4, 2e-3, 9e-4],   # not monotone: picks 3
                     [5e-4, 9e-4, 3e-3, 4e-3],   # picks 1
                     [2e-3, 3e-3, 4e-3, 5e-3]])  # never passes
    table = sparsest(hist, threshold=1e-3)
    assert table["network"].tolist() == [0, 1, 2]
    assert table["passed"].tolist() == [True, True, False]
    assert table["level"].iloc[:2].tolist() == [3, 1]
    assert pd.isna(table["level"].iloc[2])
    assert np.isnan(table["sparsity"].iloc[2])
    assert table["seed"].tolist() == [100, 101, 102]
    dist = sparsity_distribution(hist, 1e-3)
    assert dist["sparsity"].tolist() == [0.5, 0.95]
    assert dist["networks"].tolist() == [1, 1]
    s = summary(hist, 1e-3)
    assert (s["networks"], s["passed"], s["failed"]) == (3, 2, 1)
    assert s["median_sparsity"] == pytest.approx(0.725)
    assert sparsest(hist, threshold=1e-2)["level"].tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="column"):
        sparsest(hist, column="accuracy")


def test_report_files_and_figures(run, tmp_path):
    res, _ = run
    from matplotlib.figure import Figure
    for fn in (tp.plots.montecarlo_sparsity_histogram,
               tp.plots.montecarlo_layer_survival,
               tp.plots.montecarlo_connections,
               tp.plots.montecarlo_loss_curves):
        assert isinstance(fn(res), Figure)
    assert isinstance(tp.plots.montecarlo_layer_survival(res, "final"),
                      Figure)
    paths = tp.ensemble.save_report(res, tmp_path)
    for name in ("history", "sparsest", "distribution", "summary", "layers",
                 "connections", "sparsity_histogram", "connections",
                 "loss_curves", "layer_survival"):
        assert paths[name].exists() and paths[name].stat().st_size > 0
    back = pd.read_csv(paths["sparsest"])
    assert len(back) == 3
    with pytest.raises(TypeError, match="MonteCarloResult"):
        tp.plots.montecarlo_loss_curves(res.history)


def test_stop_after_failures_ends_the_run(teacher, tmp_path):
    kw = dict(n_networks=2, hidden=(4,), sparsities=[0.2, 0.4, 0.6, 0.8],
              max_batches=5, early_stopping=None, threshold=1e-12,
              stop_after_failures=2, progress=False, run_dir=tmp_path)
    res = monte_carlo(teacher, **kw)
    assert sorted(res.history["level"].unique()) == [0, 1]
    assert not res.sparsest()["passed"].any()
    again = monte_carlo(teacher, **kw)  # resumes: nothing more to train
    assert sorted(again.history["level"].unique()) == [0, 1]


def test_bad_parameters(moth):
    with pytest.raises(ValueError, match="increasing"):
        monte_carlo(moth, sparsities=[0.5, 0.3], progress=False)
    with pytest.raises(ValueError, match="'data'"):
        monte_carlo([1, 2, 3], progress=False)
    with pytest.raises(ValueError, match="input_names"):
        monte_carlo(moth, n_networks=1, hidden=(4,), input_names=["a"],
                    progress=False)
    with pytest.raises(ValueError, match="prune_layers"):
        monte_carlo(moth, n_networks=1, hidden=(4,), prune_layers=[5],
                    progress=False)


def test_cli_writes_tables_and_figures_and_resumes(moth_dir, tmp_path,
                                                   capsys):
    out = tmp_path / "out"
    argv = ["moth", "montecarlo", "--networks", "2", "--samples", "1200",
            "--data", str(moth_dir), "--out", str(out), "--hidden", "8,8",
            "--levels", "0.5,0.9", "--max-batches", "10",
            "--early-stopping", "none", "--threshold", "0.05", "--quiet"]
    assert tp.cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "networks reach train loss" in text
    for name in ("history.csv", "sparsest.csv", "sparsity_histogram.png",
                 "connections.png", "loss_curves.png", "layer_survival.png"):
        assert (out / name).exists()
    hist = pd.read_csv(out / "history.csv")
    assert len(hist) == 2 * 3
    assert tp.cli.main(argv) == 0  # resumes: nothing left to train
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), hist)


def _cli(argv):
    try:
        return tp.cli.main(argv)
    except SystemExit as e:  # argparse errors
        return e.code


def _mc_argv(moth_dir, out, *extra):
    return ["moth", "montecarlo", "--networks", "2", "--samples", "1200",
            "--data", str(moth_dir), "--out", str(out), "--hidden", "8,8",
            "--levels", "0.5", "--max-batches", "10", "--early-stopping",
            "none", "--threshold", "0.05", "--quiet", *extra]


def test_cli_rerun_with_other_options_is_refused_naming_the_flag(
        moth_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli(_mc_argv(moth_dir, out)) == 0
    capsys.readouterr()
    for flag, value in [("--learning-rate", "1e-3"), ("--networks", "3"),
                        ("--hidden", "8,4"), ("--samples", "1000"),
                        ("--levels", "0.6"), ("--seed", "1"),
                        ("--max-batches", "12")]:
        argv = _mc_argv(moth_dir, out)
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
        assert _cli(argv) == 2, flag
        err = capsys.readouterr().err
        assert flag in err and "Traceback" not in err, err
        assert err.count("\n") == 1, err
    assert _cli(_mc_argv(moth_dir, out, "--prune-biases")) == 2
    err = capsys.readouterr().err
    assert "--prune-biases is deprecated; use --prune-bias" in err
    assert "--prune-bias:" in err


def test_cli_samples_beyond_the_data_folder_are_refused(moth_dir, tmp_path,
                                                         capsys):
    out = tmp_path / "out"
    argv = _mc_argv(moth_dir, out)
    argv[argv.index("--samples") + 1] = "3000"
    assert _cli(argv) == 2
    err = capsys.readouterr().err
    assert "1200 simulations" in err and "--samples asks for 3000" in err
    assert not (out / "run").exists()
    # the default data folder, simulated with fewer flights earlier
    own = tmp_path / "own"
    small = ["moth", "montecarlo", "--networks", "1", "--samples", "400",
             "--out", str(own), "--hidden", "4", "--levels", "0.5",
             "--max-batches", "2", "--early-stopping", "none", "--workers",
             "1", "--quiet"]
    assert _cli(small) == 0
    small[small.index("--samples") + 1] = "600"
    assert _cli(small) == 2
    err = capsys.readouterr().err
    assert "holds 400 simulations but --samples asks for 600" in err


@pytest.mark.parametrize("extra, name", [
    (["--learning-rate", "-1"], "--learning-rate"),
    (["--learning-rate", "inf"], "--learning-rate"),
    (["--threshold", "0"], "--threshold"),
    (["--levels", "0.5,0.3"], "--levels"),
    (["--hidden", "8,0"], "--hidden"),
    (["--batch-size", "0"], "--batch-size"),
    (["--shard", "3/2"], "--shard"),
    (["--shard", "0/2", "--stop-after-failures", "2"],
     "stop_after_failures"),
    (["--shard", "0/5"], "no network"),
])
def test_cli_checks_options_before_simulating(tmp_path, capsys, extra, name):
    out = tmp_path / "out"
    argv = ["moth", "montecarlo", "--networks", "4", "--samples", "100000",
            "--out", str(out), "--quiet", *extra]
    assert _cli(argv) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err, err
    assert not (out / "data").exists()
    assert _cli(["moth", "montecarlo", "--networks", "4"]) == 2
    assert "--out" in capsys.readouterr().err
