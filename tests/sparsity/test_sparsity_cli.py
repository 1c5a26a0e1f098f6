"""The two command lines at tiny sizes."""
import pandas as pd

import tfprune as tp


def test_cli_strategies_prints_mean_std(tmp_path, capsys):
    rc = tp.cli.main(["strategies", "--dataset", "penguins", "--seeds", "1",
                      "--epochs", "2", "--log-every", "2", "--lr", "1e-2",
                      "--quiet", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    for name in ("unpruned", "one_shot", "lottery_ticket", "dynamic"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert line.count("±") == 2
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["n_seeds"].tolist() == [1, 1, 1, 1]
    assert (tmp_path / "curves.png").exists()


def test_cli_moth_train_small(tmp_path, capsys):
    rc = tp.cli.main(["moth", "train", "--n", "300", "--levels", "0.5",
                      "--hidden", "16,8", "--max-epochs", "2", "--quiet",
                      "--threshold", "10", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "sparsest network under 10: 50 % pruned" in out
    assert "dead_outputs" in out.splitlines()[0]
    h = pd.read_csv(tmp_path / "sparsity_history.csv")
    assert h["sparsity"].tolist() == [0.0, 0.5]
    assert "dead_outputs" in h.columns
    assert (tmp_path / "loss_vs_sparsity.png").exists()
    assert (tmp_path / "sparsest.h5").exists()
