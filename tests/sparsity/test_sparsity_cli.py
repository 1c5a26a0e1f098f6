"""The two command lines at tiny sizes: outputs, refused reruns named by
their flags, bad options refused before any work."""
import pandas as pd
import pytest

import tfprune as tp


def _main(argv, capsys):
    rc = tp.cli.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _argparse_refuses(argv, capsys, *words):
    code = tp.cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    for w in words:
        assert w in err
    return err


def test_cli_strategies_prints_mean_std_and_refuses_other_options(
        tmp_path, capsys):
    argv = ["strategies", "--dataset", "penguins", "--seeds", "1",
            "--epochs", "2", "--log-every", "2", "--quiet", "--out",
            str(tmp_path)]
    rc, out, _ = _main(argv + ["--lr", "1e-2"], capsys)
    assert rc == 0
    for name in ("unpruned", "one_shot", "lottery_ticket", "dynamic"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert line.count("±") == 2
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["n_seeds"].tolist() == [1, 1, 1, 1]
    assert (tmp_path / "curves.png").exists()
    rc, _, err = _main(argv + ["--learning-rate", "0.5"], capsys)
    assert rc == 2 and "--learning-rate: 0.01 in the folder, 0.5 now" in err
    rc, _, err = _main(argv + ["--lr", "1e-2", "--at", "0.2,0.6"], capsys)
    assert rc == 2 and "--at" in err and "dynamic_at" not in err


@pytest.mark.parametrize("option, value", [
    ("--learning-rate", "-1"), ("--lr", "0"), ("--seeds", "0"),
    ("--at", "0.6,0.3"), ("--epochs", "x")])
def test_cli_strategies_bad_options_exit_2(option, value, capsys):
    _argparse_refuses(["strategies", option, value], capsys, option)


def test_cli_strategies_api_refusal_is_one_line(capsys):
    rc, _, err = _main(["strategies", "--one-shot", "0", "--quiet"], capsys)
    assert rc == 2 and "one_shot_fraction" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option, value", [
    ("--lr", "-1"), ("--learning-rate", "nan"), ("--levels", "0.5,0.4"),
    ("--sparsities", "1.5"), ("--hidden", "16,0"), ("--max-epochs", "0"),
    ("--threshold", "-1e-3"), ("--n", "-5"), ("--min-delta", "-1")])
def test_cli_moth_train_bad_options_exit_2_before_simulating(
        option, value, capsys, tmp_path):
    """Regression: --lr -1 trained by gradient ascent."""
    argv = ["moth", "train", "--out", str(tmp_path / "out"), option, value]
    if option != "--n":
        argv += ["--n", "100"]
    _argparse_refuses(argv, capsys, option)
    assert not (tmp_path / "out").exists()


def test_cli_moth_train_small(tmp_path, capsys):
    base = ["moth", "train", "--n", "300", "--hidden", "16,8",
            "--max-epochs", "2", "--quiet", "--out", str(tmp_path)]
    rc, out, _ = _main(base + ["--levels", "0.5", "--threshold", "10"],
                       capsys)
    assert rc == 0
    assert "sparsest network under 10: 50 % pruned" in out
    assert "dead_outputs" in out.splitlines()[0]
    h = pd.read_csv(tmp_path / "sparsity_history.csv")
    assert h["sparsity"].tolist() == [0.0, 0.5]
    assert "dead_outputs" in h.columns
    assert (tmp_path / "loss_vs_sparsity.png").exists()
    sparsest = tmp_path / "sparsest.h5"
    assert sparsest.exists()
    # Another seed into the same folder: refused, named by its flag.
    rc, _, err = _main(base + ["--sparsities", "0.5", "--seed", "1"], capsys)
    assert rc == 2 and "--seed: 0 in the folder, 1 now" in err
    assert "model" not in err and "Traceback" not in err
    # A threshold no level meets: no stale model from the earlier one.
    rc, out, _ = _main(base + ["--sparsities", "0.5", "--threshold",
                               "1e-12"], capsys)
    assert rc == 0 and "no level has train MSE <= 1e-12" in out
    assert f"removed {sparsest}" in out and not sparsest.exists()
    rc, out, _ = _main(base + ["--sparsities", "0.5", "--threshold", "10"],
                       capsys)
    assert rc == 0 and f"wrote {sparsest}" in out
    rc, out, _ = _main(base + ["--sparsities", "0.5", "--threshold", "10"],
                       capsys)
    assert rc == 0 and f"replaced {sparsest}" in out
