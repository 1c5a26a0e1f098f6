"""The one run-state mechanism: fingerprints, manifests, commit records."""
import functools
import json
import os
import stat

import numpy as np
import pytest
import tensorflow as tf

import tfprune as tp
from tfprune._io import atomic_write_text, save_figure
from tfprune._runstate import RunConfig, RunDir, fingerprint
from tfprune.errors import ResumeMismatchError, RunStateError


def test_array_fingerprint_follows_content():
    a = np.arange(12.0).reshape(3, 4)
    assert fingerprint(a) == fingerprint(a.copy())
    b = a.copy()
    b[2, 3] += 1e-9
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) != fingerprint(a.astype("float32"))
    assert fingerprint((a, a[:, 0])) != fingerprint((a, a[:, 1]))


def test_dataset_fingerprint_and_refusals():
    x = np.arange(40, dtype="float32").reshape(20, 2)
    ds = tf.data.Dataset.from_tensor_slices((x, x[:, 0])).batch(4)
    fp = fingerprint(ds)
    assert fp == fingerprint(tf.data.Dataset.from_tensor_slices(
        (x, x[:, 0])).batch(4))
    assert fp != fingerprint(tf.data.Dataset.from_tensor_slices(
        (x + 1, x[:, 0])).batch(4))
    assert fp["dataset"]["cardinality"] == 5
    with pytest.raises(ValueError, match="tp.data.named"):
        fingerprint(ds.shuffle(20), "train", "f")
    seeded = ds.shuffle(20, seed=1, reshuffle_each_iteration=False)
    assert fingerprint(seeded)["dataset"]
    shuffled = ds.shuffle(20)
    assert tp.data.named(shuffled, "digits-v1") is shuffled
    assert fingerprint(shuffled) == {"name": "digits-v1"}


def test_callable_fingerprint_is_name_and_source():
    def build(seed):
        return seed + 1

    def build2(seed):
        return seed + 2

    assert fingerprint(build)["callable"].endswith("build")
    assert fingerprint(build)["code"] != fingerprint(build2)["code"]
    p1 = fingerprint(functools.partial(build, 1))
    assert p1 != fingerprint(functools.partial(build, 2))


def test_model_fingerprint_follows_weights():
    m1 = tp.models.penguin_mlp(seed=0)
    assert fingerprint(m1) == fingerprint(tp.models.penguin_mlp(seed=0))
    assert fingerprint(m1) != fingerprint(tp.models.penguin_mlp(seed=1))


class _Cfg(RunConfig):
    KIND = "demo_run"
    LABELS = {"rtol": "--rtol", "model": "--seed"}


def test_mismatch_names_every_difference_in_user_terms(tmp_path):
    RunDir(tmp_path, {"rtol": 1e-7, "n": 5, "model": fingerprint(
        np.zeros(3))}, "k", "f", labels=_Cfg.LABELS)
    with pytest.raises(ResumeMismatchError) as err:
        RunDir(tmp_path, {"rtol": 1e-6, "n": 5, "model": fingerprint(
            np.ones(3))}, "k", "f", labels=_Cfg.LABELS)
    msg = str(err.value)
    assert "--rtol: 1e-07 in the folder, 1e-06 now" in msg
    assert "--seed" in msg and "n:" not in msg
    assert [d[0] for d in err.value.differences] == ["--seed", "--rtol"]
    with pytest.raises(ResumeMismatchError, match="not a 'other' run"):
        RunDir(tmp_path, {"rtol": 1e-7}, "other")


def test_commit_records_and_checksums(tmp_path):
    rd = RunDir(tmp_path, {"a": 1}, "k")
    assert rd.last() is None
    np.savez(tmp_path / "level_01.npz", w=np.ones(3))
    rd.commit(1, ["level_01.npz"], {"row": {"loss": 0.5}})
    np.savez(tmp_path / "level_02.npz", w=np.full(3, 2.0))
    rd.commit(2, ["level_02.npz"], {"row": {"loss": 0.25}})
    np.savez(tmp_path / "level_10.npz", w=np.full(3, 3.0))
    rd.commit(10, ["level_10.npz"], {"row": {"loss": 0.2}})
    again = RunDir(tmp_path, {"a": 1}, "k")
    assert again.keys() == [1, 2, 10]
    last = again.last()
    assert last.state["row"]["loss"] == 0.2
    np.testing.assert_array_equal(again.load_npz(last, "level_10.npz")["w"],
                                  np.full(3, 3.0))
    # a file written but never committed does not count
    np.savez(tmp_path / "level_11.npz", w=np.zeros(3))
    assert RunDir(tmp_path, {"a": 1}, "k").keys() == [1, 2, 10]


def test_damaged_files_get_clear_errors(tmp_path):
    rd = RunDir(tmp_path, {"a": 1}, "k", "f")
    np.savez(tmp_path / "shard.npz", w=np.ones(1000))
    unit = rd.commit("chunk/0", ["shard.npz"])
    data = (tmp_path / "shard.npz").read_bytes()
    (tmp_path / "shard.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunStateError, match="shard.npz is damaged.*delete"):
        rd.load_npz(unit, "shard.npz")
    (tmp_path / "shard.npz").unlink()
    with pytest.raises(RunStateError, match="missing"):
        rd.load_npz(unit, "shard.npz")
    record = next((tmp_path / "units").glob("*.json"))
    record.write_text(record.read_text()[:10])
    with pytest.raises(RunStateError, match=f"units/{record.name}"):
        rd.committed()
    (tmp_path / "manifest.json").write_text('{"format": 2, "ki')
    with pytest.raises(RunStateError, match="manifest.json is damaged"):
        RunDir(tmp_path, {"a": 1}, "k")


def test_older_folder_format_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"kind": "k", "params": {"a": 1}}))
    with pytest.raises(ResumeMismatchError, match="another version"):
        RunDir(tmp_path, {"a": 1}, "k")


def test_atomic_write_keeps_umask_mode_without_touching_umask(tmp_path,
                                                              monkeypatch):
    calls = []
    monkeypatch.setattr(os, "umask", lambda *a: calls.append(a) or 0o22)
    path = atomic_write_text(tmp_path / "a.txt", "x")
    assert calls == []
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & 0o600 == 0o600 and not mode & 0o111


def test_save_figure_is_atomic_png(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))
    plt.close(fig)


def test_non_chief_worker_reads_but_never_writes(tmp_path):
    chief = RunDir(tmp_path / "run", {"a": 1}, "k")
    np.savez(chief.file("u0.npz"), w=np.ones(2))
    chief.commit(0, ["u0.npz"], {"n": 1})
    other = RunDir(tmp_path / "run", {"a": 1}, "k", chief=False)
    assert other.keys() == [0]
    np.testing.assert_array_equal(other.load_npz(other.last(), "u0.npz")["w"],
                                  np.ones(2))
    np.savez(other.file("u1.npz"), w=np.zeros(2))
    assert other.file("u1.npz").parent != chief.path
    other.commit(1, ["u1.npz"])
    assert chief.keys() == [0]
    assert sorted(p.name for p in chief.path.iterdir()) == [
        "manifest.json", "u0.npz", "units"]
    with pytest.raises(ResumeMismatchError):
        RunDir(tmp_path / "run", {"a": 2}, "k", chief=False)


def test_callable_fingerprint_sees_captured_values_and_defaults():
    def make(lr):
        def compile_fn(model):
            return lr
        return compile_fn

    assert fingerprint(make(1e-3)) == fingerprint(make(1e-3))
    assert fingerprint(make(1e-3)) != fingerprint(make(1e-2))

    def with_default(model, lr=1e-3):
        return lr

    def with_other_default(model, lr=1e-3):
        return lr
    with_other_default.__defaults__ = (1e-2,)
    assert fingerprint(with_default)["values"] != \
        fingerprint(with_other_default)["values"]


def test_keras_objects_are_fingerprinted_by_config():
    keras = tp.keras
    a = fingerprint(keras.losses.CategoricalCrossentropy(from_logits=True))
    b = fingerprint(keras.losses.CategoricalCrossentropy(from_logits=False))
    assert a != b and a["config"]["from_logits"] is True
    m1, m2 = tp.models.penguin_mlp(seed=0), tp.models.penguin_mlp(seed=0)
    m1.compile(keras.optimizers.Adam(1e-3), "mse")
    m2.compile(keras.optimizers.Adam(1e-2), "mse")
    from tfprune._runstate import compile_fingerprint
    assert compile_fingerprint(m1) != compile_fingerprint(m2)
    assert compile_fingerprint(tp.models.penguin_mlp(seed=0)) == {}
