"""`tfprune demo` at tiny sizes: every flow writes tables, figures and a
summary with real numbers."""
from __future__ import annotations

import pandas as pd
import pytest

from tfprune import demo


@pytest.mark.slow
def test_demo_flows_write_tables_figures_and_summary(tmp_path):
    flows = {
        "moth": demo.demo_moth(tmp_path / "moth", n=1500, hidden=(16, 16, 8),
                               levels=(0.0, 0.5, 0.8), max_epochs=2,
                               progress=False),
        "montecarlo": demo.demo_montecarlo(
            tmp_path / "montecarlo", networks=2, n=1500, hidden=(8, 8, 4),
            sparsities=(0.5,), max_batches=20, dense_max_batches=40,
            progress=False),
        "strategies": demo.demo_strategies(tmp_path / "strategies", seeds=1,
                                           epochs=20, log_every=10,
                                           progress=False),
        "criteria": demo.demo_criteria(tmp_path / "criteria",
                                       methods=("l1", "random"), seeds=2,
                                       train_epochs=1, retrain_epochs=1,
                                       progress=False),
    }
    for name, r in flows.items():
        r["seconds"] = 1.0
        assert r["figures"] and all(p.exists() for p in r["figures"]), name
        for t in r["tables"]:
            assert len(pd.read_csv(t)) > 0, t
    summary = demo._summary(tmp_path, flows, 3.0, "CPU").read_text()
    for r in flows.values():
        assert r["title"] in summary
    hist = pd.read_csv(tmp_path / "moth" / "history.csv")
    assert list(hist["sparsity"]) == [0.0, 0.5, 0.8]
    strat = pd.read_csv(tmp_path / "strategies" / "strategies.csv")
    assert set(strat["strategy"]) == {"unpruned", "one_shot",
                                      "lottery_ticket", "dynamic"}
    # the moth flow ends with the sparsest controller deployed and measured
    deploy = pd.read_csv(tmp_path / "moth" / "deploy.csv")
    assert list(deploy["artifact"]) == ["reference", "keras", "tflite"]
    assert (tmp_path / "moth" / "controller.tflite").stat().st_size > 0
    assert any("deployed as TFLite" in line for line in flows["moth"]["lines"])
    runs = pd.read_csv(tmp_path / "criteria" / "runs.csv")
    assert len(runs) == 4 and set(runs["method"]) == {"l1", "random"}
    assert any("random − l1" in line for line in flows["criteria"]["lines"])


def test_demo_cli_help(capsys):
    from tfprune.cli import main
    assert main(["demo", "--help"]) == 0
    assert "--flows" in capsys.readouterr().out
