"""The run_killed fixture kills at the commit boundaries it names, and a
RunDir resumes from exactly the committed units."""
import pytest


@pytest.mark.slow
def test_fixture(run_killed, tmp_path):
    script = f'''
import numpy as np
from tfprune._runstate import RunDir
rd = RunDir({str(tmp_path / "r")!r}, {{"a": 1}}, "k")
for i in range(5):
    if rd.has(i):
        continue
    np.savez({str(tmp_path / "r")!r} + f"/u{{i}}.npz", w=np.ones(2) * i)
    rd.commit(i, [f"u{{i}}.npz"])
print("done", rd.keys())
'''
    p = run_killed(script, 3, "before_commit")
    assert p.returncode == -9, p.stderr
    from tfprune._runstate import RunDir
    assert RunDir(tmp_path / "r", {"a": 1}, "k").keys() == [0, 1]
    p = run_killed(script, 2, "after_commit")
    assert p.returncode == -9, p.stderr
    assert RunDir(tmp_path / "r", {"a": 1}, "k").keys() == [0, 1, 2, 3]
    p = run_killed(script, 1, "before_rename")
    assert p.returncode == -9
    assert RunDir(tmp_path / "r", {"a": 1}, "k").keys() == [0, 1, 2, 3]
    p = run_killed(script, 99, "before_rename")
    assert p.returncode == 0 and "[0, 1, 2, 3, 4]" in p.stdout, p.stderr
