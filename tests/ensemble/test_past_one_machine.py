"""Every ``tfprune`` command of the "several machines" sections of
docs/sections/moth_data.md and docs/sections/ensemble.md, run at small size:
the two-machine runs and the SLURM array jobs (one call per array task),
with their results compared to one-machine runs."""
import glob
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from tfprune.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sections"
#: paper sizes in the docs -> test sizes
SMALL = {"--n 10000000": "--n 1200", "--samples 10000000": "--samples 1200",
         "--chunk-size 50000": "--chunk-size 300",
         "--networks 400": "--networks 4", "400,400,400,16": "8,8"}


def _section(md: Path, heading: str) -> str:
    """The text of ``md`` from ``heading`` to the next ## or ### heading."""
    text = md.read_text()
    start = text.index(heading) + len(heading)
    end = re.search(r"\n#{2,3} ", text[start:])
    return text[start:start + end.start() if end else len(text)]


def _commands(text: str, root: Path) -> list:
    """Every tfprune command line in the bash blocks of ``text``, in order,
    at test size; a block with ``#SBATCH --array=0-K`` gives one line per
    task."""
    calls = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        array = re.search(r"#SBATCH --array=0-(\d+)", block)
        tasks = int(array.group(1)) + 1 if array else 1
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line.startswith("tfprune "):
                continue
            for old, new in SMALL.items():
                line = line.replace(old, new)
            line = line.replace("/shared/", f"{root}/shared/")
            for task in range(tasks):
                env = {"SCRATCH": f"{root}/scratch",
                       "SLURM_ARRAY_TASK_ID": str(task),
                       "SLURM_ARRAY_TASK_COUNT": str(tasks)}
                calls.append(re.sub(r"\$(\w+)", lambda m: env[m.group(1)],
                                    line))
    return calls


def _run(command: str):
    """Run one command line in this process (globs expanded now)."""
    argv = []
    for token in shlex.split(command)[1:]:
        argv += sorted(glob.glob(token)) if "*" in token else [token]
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def _tables(folder: Path) -> dict:
    out = {}
    for path in sorted(folder.glob("*.csv")):
        frame = pd.read_csv(path)
        out[path.name] = frame.drop(columns="seconds", errors="ignore")
    return out


@pytest.mark.slow
def test_documented_multi_machine_commands_run_and_match_one_machine(
        tmp_path):
    sim = _commands(_section(DOCS / "moth_data.md",
                             "### Several machines: shards"), tmp_path)
    mc = _commands(_section(DOCS / "ensemble.md",
                            "### Past one machine"), tmp_path)
    assert sum("--shard" in c for c in sim) == 2 + 10
    assert sum("--verify" in c for c in sim) == 1
    assert sum("--shard" in c for c in mc) == 2 + 4
    assert sum("montecarlo merge" in c for c in mc) == 2
    for command in sim + mc:
        assert _run(command) == 0, command
    # the sharded simulations are the one-machine run, file for file
    one = tmp_path / "one"
    assert _run(f"tfprune moth simulate --n 1200 --chunk-size 300 --seed 0 "
                f"--out {one}") == 0
    for folder in (tmp_path / "shared" / "flights",
                   tmp_path / "scratch" / "flights"):
        names = sorted(p.name for p in one.glob("chunk_*.npz"))
        assert names == sorted(p.name for p in folder.glob("chunk_*.npz"))
        for name in names:
            assert (one / name).read_bytes() == (folder / name).read_bytes()
    # the merged Monte Carlo shards are the unsharded run's tables
    whole = tmp_path / "whole"
    assert _run(f"tfprune moth montecarlo --networks 4 --samples 1200 "
                f"--hidden 8,8 --data {tmp_path}/shared/flights --out {whole} "
                "--quiet") == 0
    expected = _tables(whole)
    assert {"history.csv", "sparsest.csv", "layers.csv",
            "connections.csv"} <= set(expected)
    for merged in (tmp_path / "shared" / "mc" / "all",
                   tmp_path / "scratch" / "mc" / "all"):
        got = _tables(merged)
        assert got.keys() == expected.keys()
        for name, frame in expected.items():
            pd.testing.assert_frame_equal(got[name], frame, check_exact=True,
                                          obj=name)
        pngs = sorted(whole.glob("*.png"))
        assert len(pngs) == 4
        for png in pngs:  # the same figures, byte for byte
            assert (merged / png.name).read_bytes() == png.read_bytes()
