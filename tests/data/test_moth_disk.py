"""Simulation to disk: commit records and checksums, resume after a kill at
every commit boundary, damaged files, shards, verification, the loaders and
``tfprune moth simulate``."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tfprune.cli import main
from tfprune.data import moth
from tfprune.errors import ResumeMismatchError, RunStateError
from tfprune._validate import check_shard

FAST = dict(seed=4, method="ark", rtol=1e-4, progress=False)


def _cli(argv):
    """``tfprune`` exit status (argparse errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def _assert_same_frames(a, b):
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        np.testing.assert_array_equal(a[c].to_numpy(), b[c].to_numpy(),
                                      err_msg=c)


def _chunks(folder):
    return sorted(p.name for p in folder.glob("chunk_*.npz"))


@pytest.mark.parametrize("count", [0, 1, 5, 7, 100])
def test_shard_shares_are_disjoint_and_cover_every_unit(count):
    for n in range(1, 6):
        shares = [check_shard((i, n), count) for i in range(n)]
        assert [k for s in shares for k in s] == list(range(count))
    assert check_shard(None, count) == range(count)
    for bad in [(2, 2), (-1, 2), "0/2", (0,), (0, 0)]:
        with pytest.raises((ValueError, TypeError), match="shard"):
            check_shard(bad, count)


def test_same_rows_whatever_chunks_workers_or_shards(tmp_path):
    n = 1300
    one = moth.simulate_to_disk(n, tmp_path / "one", chunk_size=317,
                                workers=1, **FAST)
    other = moth.simulate_to_disk(n, tmp_path / "other", chunk_size=1000,
                                  workers=2, **FAST)
    sharded = tmp_path / "sharded"
    moth.simulate_to_disk(n, sharded, chunk_size=317, workers=1,
                          shard=(1, 2), **FAST)  # shards in any order
    with pytest.raises(ValueError, match="not complete"):
        moth.load_simulations(sharded)
    moth.simulate_to_disk(n, sharded, chunk_size=317, workers=1,
                          shard=(0, 2), **FAST)
    direct = moth.simulate(n, seed=4, method="ark", rtol=1e-4)
    for folder in (one, other, sharded):
        _assert_same_frames(moth.load_simulations(folder), direct)
    # two shards give the one-machine run's files, byte for byte
    assert _chunks(one) == _chunks(sharded) and len(_chunks(one)) == 5
    for name in _chunks(one):
        assert (one / name).read_bytes() == (sharded / name).read_bytes()
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["params"]["seed"] == 4
    assert manifest["params"]["ranges"]["F"] == [0.0, 44300.0]
    # the first rows of a bigger folder are the rows of a smaller run
    small = moth.make_dataset(700, seed=4, method="ark", rtol=1e-4)
    from_folder = moth.make_dataset(700, data=str(one))
    for a, b in zip(small[:3], from_folder[:3]):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_make_dataset_refuses_more_rows_than_the_folder(tmp_path):
    out = moth.simulate_to_disk(300, tmp_path / "s", chunk_size=150,
                                workers=1, **FAST)
    with pytest.raises(ValueError, match=r"n=3000.*holds 300 simulations"):
        moth.make_dataset(3000, data=str(out))
    df = moth.load_simulations(out)
    with pytest.raises(ValueError, match="3000.*300 rows"):
        moth.make_dataset(3000, data=df)


def test_resume_computes_only_the_uncommitted_chunks(tmp_path):
    out = moth.simulate_to_disk(900, tmp_path / "run", chunk_size=300,
                                workers=1, **FAST)
    first = moth.load_simulations(out)
    # a crash after chunk 2's file, before its record
    (out / "units" / "000002.json").unlink()
    with pytest.raises(ValueError, match="chunk_000002.npz"):
        moth.load_simulations(out)
    mtime0 = os.stat(out / "chunk_000000.npz").st_mtime_ns
    mtime2 = os.stat(out / "chunk_000002.npz").st_mtime_ns
    time.sleep(0.01)
    moth.simulate_to_disk(900, out, chunk_size=300, workers=1, **FAST)
    assert os.stat(out / "chunk_000000.npz").st_mtime_ns == mtime0
    assert os.stat(out / "chunk_000002.npz").st_mtime_ns != mtime2
    _assert_same_frames(moth.load_simulations(out), first)


def test_damaged_files_are_errors_never_a_resume(tmp_path, capsys):
    out = moth.simulate_to_disk(900, tmp_path / "run", chunk_size=300,
                                workers=1, **FAST)
    chunk = out / "chunk_000001.npz"
    whole = chunk.read_bytes()
    chunk.write_bytes(whole[:len(whole) // 2])
    for call in (lambda: moth.load_simulations(out),
                 lambda: moth.simulate_to_disk(900, out, chunk_size=300,
                                               workers=1, **FAST),
                 lambda: moth.make_dataset(data=str(out))):
        with pytest.raises(RunStateError, match="chunk_000001.npz.*delete"):
            call()
    check = moth.verify_simulations(out, recompute=0)
    assert not check.ok and "chunk_000001.npz" in check.problems[0]
    assert check.to_frame()["intact"].tolist() == [True, False, True]
    assert _cli(["moth", "simulate", "--out", str(out), "--verify",
                 "--recompute", "0", "--no-progress"]) == 1
    assert "chunk_000001.npz" in capsys.readouterr().out
    chunk.write_bytes(whole)
    assert moth.verify_simulations(out, recompute=0).ok
    record = out / "units" / "000000.json"
    record.write_text(record.read_text()[:20])
    with pytest.raises(RunStateError, match="000000.json"):
        moth.load_simulations(out)
    (out / "manifest.json").write_text("{")
    with pytest.raises(RunStateError, match="manifest.json"):
        moth.load_simulations(out)
    assert _cli(["moth", "simulate", "--out", str(out), "--n", "900",
                 "--chunk-size", "300", "--method", "ark", "--rtol", "1e-4",
                 "--seed", "4", "--no-progress"]) == 2
    assert "manifest.json" in capsys.readouterr().err


def test_incomplete_folder_names_the_missing_chunks_and_shards(tmp_path):
    out = tmp_path / "run"
    moth.simulate_to_disk(1500, out, chunk_size=300, workers=1, shard=(0, 3),
                          **FAST)
    for call in (lambda: moth.load_simulations(out),
                 lambda: moth.make_dataset(data=str(out))):
        with pytest.raises(ValueError) as err:
            call()
        text = str(err.value)
        assert "4 of 5 chunks are missing" in text
        assert "chunk_000001.npz .. chunk_000004.npz" in text
        assert "1/3, 2/3" in text and "0/3" not in text
    check = moth.verify_simulations(out)
    assert not check.ok and check.missing == [1, 2, 3, 4]
    moth.resume_simulations(out, workers=1, progress=False, shard=(2, 3))
    with pytest.raises(ValueError, match=r"1/3\b"):
        moth.load_simulations(out)
    moth.resume_simulations(out, workers=1, progress=False)
    assert len(moth.load_simulations(out, drop_duplicates=False)) == 1500


def _simulate_cli(out, *extra):
    return ["moth", "simulate", "--n", "300", "--out", str(out), "--seed",
            "3", "--workers", "1", "--chunk-size", "100", "--method", "ark",
            "--rtol", "1e-4", "--no-progress", *extra]


def test_rerun_with_other_options_is_refused_naming_the_option(tmp_path,
                                                               capsys):
    out = tmp_path / "cli"
    assert _cli(_simulate_cli(out)) == 0
    assert "300 simulations" in capsys.readouterr().out
    assert len(moth.load_simulations(out)) == 300
    before = sorted(p.name for p in out.rglob("*"))
    for flag, value, name in [("--rtol", "1e-5", "--rtol"),
                              ("--scale", "0.9", "--scale"),
                              ("--seed", "5", "--seed"),
                              ("--chunk-size", "150", "--chunk-size"),
                              ("--n", "400", "--n")]:
        argv = _simulate_cli(out)
        i = argv.index(flag) if flag in argv else None
        if i is None:
            argv += [flag, value]
        else:
            argv[i + 1] = value
        assert _cli(argv) == 2, flag
        err = capsys.readouterr().err
        assert name + ":" in err and "params" not in err, err
        assert err.count("\n") == 1, err
    assert sorted(p.name for p in out.rglob("*")) == before
    with pytest.raises(ResumeMismatchError, match=r"\bF: \[0.0, 44300.0\]"):
        moth.simulate_to_disk(300, out, seed=3, chunk_size=100, method="ark",
                              rtol=1e-4, F=(0.0, 10.0), progress=False)


@pytest.mark.parametrize("argv, name", [
    (["--n", "0"], "--n"), (["--n", "x"], "--n"),
    (["--n", "10", "--rtol", "-1"], "--rtol"),
    (["--n", "10", "--rtol", "nan"], "--rtol"),
    (["--n", "10", "--rtol", "0.5"], "rtol"),
    (["--n", "10", "--shard", "2/2"], "--shard"),
    (["--n", "10", "--shard", "1"], "--shard"),
    (["--n", "10", "--chunk-size", "0"], "--chunk-size"),
    (["--n", "10", "--scale", "-1"], "--scale"),
    (["--n", "10", "--workers", "0"], "--workers"),
    (["--n", "10", "--verify", "--recompute", "some"], "--recompute"),
    ([], "--n"),
])
def test_cli_checks_options_before_simulating(tmp_path, capsys, argv, name):
    out = tmp_path / "never"
    assert _cli(["moth", "simulate", "--out", str(out), "--no-progress",
                 *argv]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err
    assert not out.exists()


def test_verify_recomputes_and_compares_with_a_one_machine_run(tmp_path,
                                                               capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert _cli(_simulate_cli(one)) == 0
    for i in range(2):
        assert _cli(_simulate_cli(two, "--shard", f"{i}/2")) == 0
    assert _cli(["moth", "simulate", "--out", str(two), "--verify",
                 "--recompute", "all", "--against", str(one), "--workers",
                 "1", "--no-progress"]) == 0
    assert "3 recomputed; all good" in capsys.readouterr().out
    # a chunk that is intact but not what this run computes (taken from a
    # run with another tolerance, its record with it)
    other = moth.simulate_to_disk(300, tmp_path / "other", seed=3,
                                  chunk_size=100, method="ark", rtol=1e-5,
                                  workers=1, progress=False)
    for name in ("chunk_000001.npz", "units/000001.json"):
        (two / name).write_bytes((other / name).read_bytes())
    check = moth.verify_simulations(two, recompute="all", reference=one)
    assert not check.ok
    frame = check.to_frame()
    assert frame["intact"].all()
    assert frame["same_as_recomputed"].tolist() == [True, False, True]
    assert frame["same_as_reference"].tolist() == [True, False, True]
    assert any("chunk_000001.npz differs from its recomputation" in p
               for p in check.problems)
    assert _cli(["moth", "simulate", "--out", str(two), "--verify",
                 "--recompute", "1", "--no-progress"]) == 0  # chunk 0 only
    assert _cli(["moth", "simulate", "--out", str(two), "--verify",
                 "--recompute", "3", "--no-progress"]) == 1


_KILLED = '''
import tfprune as tp
tp.data.moth.simulate_to_disk(500, {out!r}, seed=4, chunk_size=250,
                              workers=1, progress=False, method="ark",
                              rtol=1e-4)
'''


@pytest.mark.slow
def test_kill_and_resume_at_every_commit_boundary(run_killed, tmp_path):
    """SIGKILL before a file's rename, before a chunk's record and after it,
    for every chunk in turn; the folder ends as an uninterrupted run's."""
    out = tmp_path / "killed"
    script = _KILLED.format(out=str(out))
    kills = 0
    for _ in range(4):
        for where in ("before_rename", "before_commit", "after_commit"):
            p = run_killed(script, 1, where)
            assert p.returncode in (-9, 0), p.stderr
            kills += p.returncode == -9
        if p.returncode == 0:
            break
    assert kills == 6  # 2 chunks x 3 boundaries
    assert run_killed(script, 1, "before_commit").returncode == 0  # done
    ref = moth.simulate_to_disk(500, tmp_path / "ref", seed=4,
                                chunk_size=250, workers=1, progress=False,
                                method="ark", rtol=1e-4)
    assert _chunks(out) == _chunks(ref)
    for name in _chunks(ref):
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    _assert_same_frames(moth.load_simulations(out),
                        moth.load_simulations(ref))
    assert moth.verify_simulations(out, recompute=0).ok


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_workers_die_with_the_command(tmp_path):
    """kill -9 of ``tfprune moth simulate`` leaves no worker running (they
    used to compute on for minutes)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfprune.cli", "moth", "simulate", "--n",
         "200000", "--chunk-size", "50000", "--workers", "2", "--out",
         str(tmp_path / "sims"), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        kids = []
        while time.time() < deadline and len(kids) < 2:
            time.sleep(0.5)
            kids = _children(proc.pid)
        assert len(kids) >= 2, "the worker processes never started"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        alive = [k for k in kids if _alive(k)]
        for k in alive:
            os.kill(k, signal.SIGKILL)
        assert not alive, "worker processes outlived the command"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_manifest_replaced_by_another_shard_stops_the_commits(
        tmp_path, monkeypatch):
    """Two shards started at once on an empty folder with other parameters:
    the one whose manifest was replaced commits nothing more."""
    from tfprune.data.moth import disk
    other = moth.simulate_to_disk(300, tmp_path / "other", chunk_size=100,
                                  workers=1, seed=4, method="ark",
                                  rtol=1e-5, progress=False)
    out = tmp_path / "run"
    real = disk._run_chunk

    def racing(job):
        if job[1] == 1:  # the other shard's manifest lands meanwhile
            (out / "manifest.json").write_bytes(
                (other / "manifest.json").read_bytes())
        return real(job)
    monkeypatch.setattr(disk, "_run_chunk", racing)
    with pytest.raises(ResumeMismatchError, match="rtol"):
        moth.simulate_to_disk(300, out, chunk_size=100, workers=1, **FAST)
    assert sorted(p.name for p in (out / "units").glob("0*.json")) == [
        "000000.json"]
