"""Run state of the sparsity runs: SIGKILL at every commit boundary, damaged
files, refused reruns, the SequentialPruning callback's own run folder."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.errors import ResumeMismatchError, RunStateError

from _sparsity_helpers import digits_mlp, digits_splits

sp = tp.sparsity
HERE = Path(__file__).parent

SEQUENTIAL = """
import sys
sys.path.insert(0, {here!r})
import tfprune as tp
from _sparsity_helpers import digits_mlp, digits_splits
d = digits_splits()
tp.sparsity.sequential_prune(digits_mlp(seed=11), d.train, d.val,
                             [0.0, 0.5, 0.75], max_epochs=3, patience=1,
                             batch_size=64, run_dir={run_dir!r}, seed=3,
                             progress=False)
"""

STRATEGIES = """
import sys
sys.path.insert(0, {here!r})
import tfprune as tp
from _sparsity_helpers import penguins


def build(seed):
    return tp.models.penguin_mlp(seed=seed)


res = tp.sparsity.compare_strategies(build, penguins(), seeds=[0, 1],
                                     epochs=4, log_every=2,
                                     run_dir={run_dir!r}, progress=False)
res.runs.to_pickle({run_dir!r} + "/runs.pkl")
res.curves.to_pickle({run_dir!r} + "/curves.pkl")
"""


def _kill_chain(run_killed, script, plan, runs):
    """Run ``script`` ``runs`` times, each run SIGKILLed at the next boundary
    of ``plan`` (cycled) after resuming the previous one's folder."""
    for i in range(runs):
        where, at = plan[i % len(plan)]
        proc = run_killed(script, at=at, where=where)
        assert proc.returncode == -9, (where, at, proc.stderr[-3000:])


def _sequential(run_dir=None):
    d = digits_splits()
    return sp.sequential_prune(digits_mlp(seed=11), d.train, d.val,
                               [0.0, 0.5, 0.75], max_epochs=3, patience=1,
                               batch_size=64, run_dir=run_dir, seed=3,
                               progress=False)


def _same_levels(a, b):
    cols = [c for c in a.history.columns if c != "time_s"]
    pd.testing.assert_frame_equal(a.history[cols], b.history[cols])
    for i in range(len(a.history)):
        for wa, wb in zip(a.model_at(i).get_weights(),
                          b.model_at(i).get_weights()):
            np.testing.assert_array_equal(wa, wb)


@pytest.mark.slow
def test_sequential_prune_killed_at_every_commit_boundary(tmp_path,
                                                          run_killed):
    """Regression: a kill after a level's files but before its record used
    to resume the next level from an older level's weights, silently. Now
    every boundary (inside an atomic write, before and after each level's
    commit record) resumes to the uninterrupted run, bit for bit."""
    full = _sequential()
    run_dir = tmp_path / "run"
    script = SEQUENTIAL.format(here=str(HERE), run_dir=str(run_dir))
    first = run_killed(script, at=2, where="before_rename")  # level 0's npz
    assert first.returncode == -9, first.stderr[-3000:]
    # Before and after each of the 3 level records.
    _kill_chain(run_killed, script, [("before_commit", 1),
                                     ("after_commit", 1)], runs=6)
    assert sorted(p.name for p in (run_dir / "units").glob("*.json")) == [
        "000000.json", "000001.json", "000002.json"]
    resumed = _sequential(run_dir)
    _same_levels(resumed, full)
    exported = pd.read_csv(run_dir / "history.csv")
    assert list(exported["sparsity"]) == [0.0, 0.5, 0.75]


@pytest.mark.slow
def test_compare_strategies_killed_at_every_commit_boundary(tmp_path,
                                                            run_killed):
    def script(run_dir):
        return STRATEGIES.format(here=str(HERE), run_dir=str(run_dir))

    assert run_killed(script(tmp_path / "full"), at=99).returncode == 0
    run_dir = tmp_path / "run"
    # Before and after each seed's record, then a run that finishes.
    _kill_chain(run_killed, script(run_dir),
                [("before_commit", 1), ("after_commit", 1)], runs=4)
    assert run_killed(script(run_dir), at=99).returncode == 0
    for name in ("runs.pkl", "curves.pkl"):
        pd.testing.assert_frame_equal(pd.read_pickle(run_dir / name),
                                      pd.read_pickle(tmp_path / "full" /
                                                     name))


def _finished_run(tmp_path):
    run_dir = tmp_path / "run"
    d = digits_splits()
    sp.sequential_prune(digits_mlp(seed=11), d.train, d.val, [0.5, 0.75],
                        max_epochs=2, patience=1, batch_size=64,
                        run_dir=run_dir, seed=3, progress=False)
    return run_dir


def _rerun(run_dir, **changes):
    d = digits_splits()
    kw = dict(max_epochs=2, patience=1, batch_size=64, seed=3)
    kw.update(changes)
    model = kw.pop("model", None) or digits_mlp(seed=11)
    return sp.sequential_prune(model, d.train, d.val, [0.5, 0.75],
                               run_dir=run_dir, progress=False, **kw)


def test_sequential_prune_damaged_files_and_changed_arguments(tmp_path):
    run_dir = _finished_run(tmp_path)
    again = _rerun(run_dir)                  # reloads, trains nothing
    assert list(again.history["level"]) == [0, 1]
    # Other arguments, another initial model or other data: refused, named.
    with pytest.raises(ResumeMismatchError, match="patience: 1 in the "
                       "folder, 2 now"):
        _rerun(run_dir, patience=2)
    with pytest.raises(ResumeMismatchError, match="model"):
        _rerun(run_dir, model=digits_mlp(seed=12))
    with pytest.raises(ResumeMismatchError, match="learning_rate"):
        _rerun(run_dir, model=digits_mlp(seed=11, lr=1e-3))
    d = digits_splits()
    x = d.train[0].copy()
    x[0, 0] += 1.0
    with pytest.raises(ResumeMismatchError, match="train"):
        sp.sequential_prune(digits_mlp(seed=11), (x, d.train[1]), d.val,
                            [0.5, 0.75], max_epochs=2, patience=1,
                            batch_size=64, run_dir=run_dir, seed=3,
                            progress=False)
    # A truncated level file: named, with the fix, never a raw BadZipFile.
    level = run_dir / "level_01.npz"
    level.write_bytes(level.read_bytes()[:100])
    with pytest.raises(RunStateError, match="level_01.npz"):
        _rerun(run_dir)
    # A truncated commit record: named.
    record = run_dir / "units" / "000001.json"
    record.write_text(record.read_text()[:20])
    with pytest.raises(RunStateError, match="000001.json"):
        _rerun(run_dir)
    (run_dir / "manifest.json").write_text("{")
    with pytest.raises(RunStateError, match="manifest.json"):
        _rerun(run_dir)


def test_model_at_reads_committed_levels_verified(tmp_path):
    run_dir = _finished_run(tmp_path)
    res = _rerun(run_dir)
    assert res.model_at(0).count_params() == digits_mlp().count_params()
    path = run_dir / "level_00.npz"
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = _rerun(run_dir)          # resumes from level 1, intact
    with pytest.raises(RunStateError, match="level_00.npz"):
        fresh.model_at(0)


def _wrapped(seed=5):
    return sp.wrap(digits_mlp(seed=seed), sparsity=0.0)


def _fit(pm, cb, seed):
    d = digits_splits()
    tp.utils.set_seed(seed)
    pm.fit(*d.train, validation_data=d.val, epochs=10, batch_size=64,
           verbose=0, callbacks=[cb])


def test_callback_run_dir_resumes_in_a_new_fit(tmp_path):
    """SequentialPruning(run_dir=...) in the user's own fit: a new model and
    callback on the same folder continue after the committed level, with
    its weights and state, to the uninterrupted result."""
    def callback(**kw):
        return sp.SequentialPruning([0.3, 0.6], patience=1, max_epochs=3,
                                    pause_between_levels=True, **kw)

    whole = callback()
    pm = _wrapped()
    _fit(pm, whole, 0)
    _fit(pm, whole, 1)
    first = callback(run_dir=tmp_path / "cb")
    _fit(_wrapped(), first, 0)
    assert first.level == 1
    state = json.loads((tmp_path / "cb" / "units" /
                        "000000.json").read_text())["state"]["callback"]
    assert state["level"] == 1 and len(state["rows"]) == 1
    second = callback(run_dir=tmp_path / "cb")
    _fit(_wrapped(), second, 1)
    assert second.finished and len(second.history) == 2
    cols = [c for c in whole.history.columns if c != "time_s"]
    pd.testing.assert_frame_equal(second.history[cols], whole.history[cols])
    for i in (0, 1):
        for a, b in zip(second.model_at(i).get_weights(),
                        whole.model_at(i).get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ResumeMismatchError, match="patience"):
        _fit(_wrapped(), sp.SequentialPruning(
            [0.3, 0.6], patience=2, max_epochs=3,
            run_dir=tmp_path / "cb"), 0)
    with pytest.raises(ResumeMismatchError, match="model"):
        _fit(_wrapped(seed=6), callback(run_dir=tmp_path / "cb"), 0)


def test_save_dir_is_a_deprecated_alias_of_run_dir(tmp_path):
    with pytest.warns(DeprecationWarning, match="'save_dir'.*'run_dir'"):
        cb = sp.SequentialPruning([0.5], save_dir=tmp_path)
    assert cb.run_dir == str(tmp_path)
    assert cb.get_config()["run_dir"] == str(tmp_path)
    with pytest.raises(ValueError, match="both 'run_dir' and its old name"):
        sp.SequentialPruning([0.5], save_dir=tmp_path, run_dir=tmp_path)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        sp.SequentialPruning([0.5], savedir=tmp_path)
