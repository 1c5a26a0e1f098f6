"""Monte Carlo run state: shards merged equal one run bit for bit, resume
after SIGKILL at every level boundary, damaged files, data and parameter
checks before any training, the deprecated ``prune_biases``."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfprune.ensemble import (PatienceStopping, RatioStopping, load_run,
                              merge_runs, monte_carlo, prune_ensemble,
                              StackedMLP)
from tfprune.ensemble import train as train_mod
from tfprune.errors import RunStateError

#: networks stop at different batches (per-network early stopping)
KW = dict(n_networks=5, hidden=(16, 12), sparsities=[0.5, 0.8],
          max_batches=60, seed=7, keep_levels=True, progress=False,
          early_stopping=PatienceStopping(patience=1, check_every=10,
                                          min_delta=3e-3))


def _same_results(a, b):
    """Two results hold the same tables (``seconds`` aside), masks,
    snapshots and weights, bit for bit."""
    for name in ("history", "layers", "connections"):
        x, y = getattr(a, name), getattr(b, name)
        pd.testing.assert_frame_equal(x.drop(columns="seconds", errors="ignore"),
                                      y.drop(columns="seconds", errors="ignore"),
                                      check_exact=True)
    sa, sb = a.ensemble.get_state(), b.ensemble.get_state()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)
    np.testing.assert_array_equal(a.snapshot_levels, b.snapshot_levels)
    for x, y in zip(a.snapshot_weights, b.snapshot_weights, strict=True):
        np.testing.assert_array_equal(x, y)
    assert sorted(a.level_weights) == sorted(b.level_weights)
    for lv in a.level_weights:
        wa, wb = a.level_weights[lv], b.level_weights[lv]
        wa, wb = (w() if callable(w) else w for w in (wa, wb))
        for x, y in zip(wa, wb, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def whole(teacher, tmp_path_factory):
    path = tmp_path_factory.mktemp("whole") / "run"
    return monte_carlo(teacher, run_dir=path, **KW), path


@pytest.mark.slow
def test_shards_merged_equal_one_run_bit_for_bit(teacher, whole, tmp_path):
    res, path = whole
    # per-network stopping fired at different batches: both Adam paths ran
    assert res.history.groupby("level")["batches"].nunique().max() > 1
    for n in (2, 3):
        dirs = [tmp_path / f"{n}_{i}" for i in range(n)]
        parts = [monte_carlo(teacher, shard=(i, n), run_dir=d, **KW)
                 for i, d in reversed(list(enumerate(dirs)))]
        assert sorted(len(p.networks) for p in parts) == sorted(
            len(range(i * 5 // n, (i + 1) * 5 // n)) for i in range(n))
        merged = merge_runs(dirs[::-1])
        _same_results(merged, res)
        assert merged.config == res.config
        assert merged.export(3, "final").name == "network_3"
        np.testing.assert_array_equal(
            merged.export(4, 1).get_weights()[0],
            res.export(4, 1).get_weights()[0])
    # a shard's own result names the networks by their index in the run
    last = parts[0]
    assert list(last.networks) == [3, 4]
    assert last.history["network"].unique().tolist() == [3, 4]
    np.testing.assert_array_equal(last.export(4, "final").get_weights()[2],
                                  res.export(4, "final").get_weights()[2])
    with pytest.raises(ValueError, match="network"):
        last.export(0, "final")
    # a finished run folder reads back as the run's result
    _same_results(load_run(path), res)


def test_merge_refuses_missing_repeated_foreign_or_unfinished_shards(
        teacher, tmp_path, interrupt_training):
    kw = dict(KW, n_networks=2, sparsities=[0.5], keep_levels=False)
    a, b = tmp_path / "a", tmp_path / "b"
    monte_carlo(teacher, shard=(0, 2), run_dir=a, **kw)
    with pytest.raises(ValueError, match=r"missing: 1/2"):
        merge_runs([a])
    with pytest.raises(ValueError, match="exactly once"):
        merge_runs([a, a])
    other = tmp_path / "other"
    monte_carlo(teacher, shard=(1, 2), run_dir=other,
                **dict(kw, learning_rate=1e-3))
    with pytest.raises(ValueError, match="not a shard of the same run"):
        merge_runs([a, other])
    interrupt_training(2)
    with pytest.raises(KeyboardInterrupt):
        monte_carlo(teacher, shard=(1, 2), run_dir=b, **kw)
    with pytest.raises(ValueError, match=r"unfinished \(1 of 2 levels"):
        merge_runs([a, b])
    with pytest.raises(ValueError, match="not finished"):
        load_run(b)
    with pytest.raises(ValueError, match="manifest.json"):
        merge_runs([a, tmp_path])


def test_shards_refuse_rules_that_need_every_network(teacher):
    for extra, match in [
            ({"stop_after_failures": 2}, "stop_after_failures"),
            ({"early_stopping": RatioStopping(per_network=False)},
             "per_network=False"),
            ({"dense_early_stopping": PatienceStopping(per_network=False)},
             "per_network=False"),
            ({"shard": (2, 2)}, "shard"),
            ({"shard": (0, 6)}, "shard")]:
        kw = dict(KW, shard=(0, 2))
        kw.update(extra)
        with pytest.raises(ValueError, match=match):
            monte_carlo(teacher, **kw)


@pytest.fixture()
def no_training(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("training started before the checks")
    monkeypatch.setattr(train_mod.EnsembleTrainer, "train_level", fail)
    monkeypatch.setattr(StackedMLP, "__init__", fail)


@pytest.mark.parametrize("where", ["train", "val", "test"])
def test_non_finite_data_refused_before_training(teacher, no_training,
                                                 where):
    splits = [tuple(np.array(a, np.float64) for a in s) for s in teacher]
    i = ("train", "val", "test").index(where)
    splits[i][0][[3, 9], 2] = np.nan
    with pytest.raises(ValueError, match=rf"'{where} x'.*2 non-finite.*row "
                                         r"3"):
        monte_carlo(tuple(splits), **KW)
    splits[i][0][[3, 9], 2] = 0.0
    splits[i][1][5, 0] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=rf"'{where} y'.*row 5"):
        monte_carlo(tuple(splits), **KW)


@pytest.mark.parametrize("name, value", [
    ("learning_rate", -1.0), ("learning_rate", 0.0),
    ("learning_rate", float("nan")), ("batch_size", 0), ("threshold", -1.0),
    ("max_batches", 0), ("init_std", 0.0), ("eval_batch_size", 0),
    ("n_networks", 0), ("hidden", (8, 0)), ("sparsities", [0.5, 0.5]),
    ("stop_after_failures", 0), ("column", "test_accuracy"),
    ("input_names", ["a"]), ("prune_layers", [7]), ("init", "zeros"),
])
def test_bad_parameters_refused_before_training(teacher, no_training, name,
                                                value):
    with pytest.raises(ValueError, match=name):
        monte_carlo(teacher, **dict(KW, **{name: value}))


def test_prune_biases_is_a_deprecated_alias(teacher):
    kw = dict(KW, n_networks=2, sparsities=[0.5], keep_levels=False)
    new = monte_carlo(teacher, prune_bias=True, **kw)
    with pytest.warns(DeprecationWarning, match="'prune_biases'.*prune_bias"):
        old = monte_carlo(teacher, prune_biases=True, **kw)
    _same_results(old, new)
    assert (new.history["bias_sparsity"] > 0).any()
    assert new.config["prune_bias"] is True
    with pytest.raises(TypeError, match="prune_bias"):
        monte_carlo(teacher, prune_bias=True, prune_biases=True, **kw)
    with pytest.raises(TypeError, match="unexpected keyword.*'prune_bais'"):
        monte_carlo(teacher, prune_bais=True, **kw)
    ens = StackedMLP(2, hidden=(6,), seed=0)
    with pytest.warns(DeprecationWarning, match="prune_biases"):
        prune_ensemble(ens, 0.5, prune_biases=True)
    assert (ens.bias_masks[0].numpy() == 0).sum() == 2 * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prune_ensemble(ens, 0.5, prune_bias=True)


def test_damaged_level_file_is_an_error_never_a_resume(teacher, tmp_path):
    kw = dict(KW, n_networks=2, keep_levels=False)
    path = tmp_path / "run"
    monte_carlo(teacher, run_dir=path, **kw)
    assert sorted(p.name for p in path.glob("state_*.npz")) == [
        "state_02.npz"]  # earlier levels' states are dropped
    state = path / "state_02.npz"
    whole = state.read_bytes()
    state.write_bytes(whole[:1000])
    with pytest.raises(RunStateError, match="state_02.npz.*delete"):
        monte_carlo(teacher, run_dir=path, **kw)
    with pytest.raises(RunStateError, match="state_02.npz"):
        load_run(path)
    state.write_bytes(whole)
    load_run(path)
    record = path / "units" / "000001.json"
    record.write_text("{")
    with pytest.raises(RunStateError, match="000001.json"):
        monte_carlo(teacher, run_dir=path, **kw)
    record.unlink()
    with pytest.raises(RunStateError, match=r"levels \[1\] are missing"):
        load_run(path)


_KILLED = '''
import sys
import numpy as np
import tfprune as tp
from tfprune.ensemble import PatienceStopping
sys.path.insert(0, {here!r})
from _teacher import teacher_data
data = teacher_data()
res = tp.ensemble.monte_carlo(
    data, n_networks=3, hidden=(16, 12), sparsities=[0.5], max_batches=60,
    seed=7, progress=False, run_dir={path!r},
    early_stopping=PatienceStopping(patience=1, check_every=10,
                                    min_delta=3e-3))
np.savez({out!r}, *[v.numpy() for v in res.ensemble.trainable_variables])
res.history.drop(columns="seconds").to_csv({csv!r}, index=False)
'''


@pytest.mark.slow
def test_kill_and_resume_at_every_level_boundary(run_killed, tmp_path):
    """SIGKILL before a file's rename, before a level's commit record and
    after it, at every level in turn; the run ends as an uninterrupted
    one, bit for bit."""
    def script(name):
        return _KILLED.format(here=str(Path(__file__).parent),
                              path=str(tmp_path / name),
                              out=str(tmp_path / f"{name}.npz"),
                              csv=str(tmp_path / f"{name}.csv"))
    kills = 0
    for _ in range(3):
        for where in ("before_rename", "before_commit", "after_commit"):
            p = run_killed(script("killed"), 1, where)
            assert p.returncode in (-9, 0), p.stderr
            kills += p.returncode == -9
        if p.returncode == 0:
            break
    assert kills == 7  # 2 levels x 3 boundaries, and the final tables
    assert run_killed(script("killed"), 1, "before_commit").returncode == 0
    assert run_killed(script("whole"), 99).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "killed.csv"),
                                  pd.read_csv(tmp_path / "whole.csv"),
                                  check_exact=True)
    with np.load(tmp_path / "killed.npz") as a, \
            np.load(tmp_path / "whole.npz") as b:
        for k in b.files:
            np.testing.assert_array_equal(a[k], b[k])
    _same_results(load_run(tmp_path / "killed"), load_run(tmp_path / "whole"))


def test_moth_schedule_is_the_study_levels_continued_to_099():
    import tfprune as tp
    assert tp.ensemble.MOTH_SPARSITIES == tp.sparsity.MOTH_LEVELS + (0.99,)
    assert len(tp.ensemble.MOTH_SPARSITIES) == 18
