"""Moth controller: the sparsest network under 1e-3, per seed and as a spread.

For each seed: simulates N flights (default 200,000; the seed draws the
flights and the initial weights), splits them 80/20 train/val (the study's TF
version), trains the 10-400-400-400-16-7 controller dense (level 0) and
prunes it through the study's 17 levels with tfmot, each level retrained with
early stopping (patience 2, min_delta 1e-5). Prints per seed the history
(with ``dead_outputs``: outputs left without a path from any input, and
``dead_units``), the train MSE of each output at each level, and the
sparsest level whose train MSE is <= 1e-3; then, over the seeds, the median
and range of that level, with the commit and the seeds.

Each seed runs in its own resumable folder ``<out>/seed_<s>``: a killed run
continues where it stopped, and a finished seed is read back, not retrained.
Each folder also gets ``history.csv``, ``per_output_mse.csv`` and
``loss_vs_sparsity.png``.

``--smoke`` checks the script in a minute or two (2,000 flights, a narrow
net, three levels, 3 epochs per level).

Usage: python benchmarks/moth_sparsity.py [--seeds 0,1,2,3,4] [--out DIR]
       [--flights N] [--output-rate R] [--frequency K] [--smoke]
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402

import pandas as pd  # noqa: E402

import tfprune as tp  # noqa: E402
from tfprune._io import (atomic_write_csv, atomic_write_json,  # noqa: E402
                         read_json)
from tfprune.errors import ResumeMismatchError  # noqa: E402

COLUMNS = ["level", "sparsity", "achieved", "train_loss", "val_loss",
           "epochs", "dead_outputs", "dead_units", "time_s"]


def commit() -> str:
    """The checked-out commit (``+dirty`` with uncommitted changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                             cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain",
                                "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0",
                   help="comma-separated seeds (default 0)")
    p.add_argument("--flights", "--n", dest="flights", type=int,
                   default=200_000)
    p.add_argument("--out", "--run-dir", dest="out",
                   default="moth-sparsity-runs",
                   help="folder holding one resumable run per seed")
    p.add_argument("--levels", default="moth",
                   help="'moth' (the study's 17) or a,b,...")
    p.add_argument("--hidden", default="400,400,400,16")
    p.add_argument("--max-epochs", type=int, default=500)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threshold", type=float, default=1e-3)
    p.add_argument("--output-rate", type=float, default=None,
                   help="sparsity multiplier of the output layer (default: "
                        "prune_moth_controller's; 1.0 = the study's rule)")
    p.add_argument("--frequency", type=int, default=None,
                   help="re-ranking period in steps within a level (default:"
                        " prune_moth_controller's; the study used 100)")
    p.add_argument("--smoke", action="store_true",
                   help="2,000 flights, 32-32-32-16 net, levels 0.5,0.9,0.95,"
                        " 3 epochs per level")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.flights, args.hidden = 2000, "32,32,32,16"
        args.levels, args.max_epochs = "0.5,0.9,0.95", 3
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    args.levels = (list(tp.sparsity.MOTH_LEVELS) if args.levels == "moth"
                   else [float(v) for v in args.levels.split(",")])
    return args


def _default(value, name):
    """``value``, or the library's default for argument ``name``."""
    if value is not None:
        return value
    for func in (tp.sparsity.prune_moth_controller,
                 tp.sparsity.sequential_prune):
        param = inspect.signature(func).parameters.get(name)
        if param is not None and param.default is not param.empty:
            return param.default
    raise KeyError(name)


def per_output_mse(res, x, y) -> pd.DataFrame:
    """Train MSE of each output (scaled units) at each level."""
    rows = []
    for i in range(len(res.history)):
        pred = res.result.model_at(i).predict(x, batch_size=8192, verbose=0)
        rows.append(((pred - y) ** 2).mean(axis=0))
    return pd.DataFrame(rows, columns=list(tp.data.moth.OUTPUT_COLUMNS),
                        index=res.history["sparsity"].rename("sparsity"))


def run_seed(seed, args, kwargs, out):
    """One seed's study; returns (history, per-output MSE)."""
    folder = Path(out) / f"seed_{seed}"
    settings = {"flights": args.flights, "hidden": list(args.hidden),
                "levels": args.levels, "max_epochs": args.max_epochs,
                "patience": args.patience, "batch_size": args.batch_size,
                "seed": seed, **kwargs}
    done = folder / "summary.json"
    if done.exists() and read_json(done).get("settings") == settings:
        print(f"seed {seed}: finished earlier, read from {folder}")
        return (pd.read_csv(folder / "history.csv"),
                pd.read_csv(folder / "per_output_mse.csv",
                            index_col="sparsity"))
    t0 = time.perf_counter()
    ds = tp.data.moth.make_dataset(args.flights, seed=seed,
                                   test_fraction=0.0)
    print(f"seed {seed}: {args.flights:,} flights -> train "
          f"{len(ds.train[0]):,} / val {len(ds.val[0]):,} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # printed below
        res = tp.sparsity.prune_moth_controller(
            ds, hidden=args.hidden, sparsities=args.levels,
            max_epochs=args.max_epochs, patience=args.patience,
            batch_size=args.batch_size, threshold=args.threshold, seed=seed,
            run_dir=folder / "run", progress=not args.quiet, **kwargs)
    mse = per_output_mse(res, *ds.train)
    atomic_write_csv(folder / "history.csv", res.history)
    atomic_write_csv(folder / "per_output_mse.csv", mse.reset_index())
    fig = tp.plots.plot_loss_vs_sparsity(res.history, args.threshold,
                                         title=f"moth controller, seed {seed}")
    fig.savefig(folder / "loss_vs_sparsity.png", dpi=120)
    atomic_write_json(done, {"settings": settings, "commit": commit(),
                             "time_s": time.perf_counter() - t0})
    return res.history, mse


def sparsest(h, threshold):
    """``(study's pick, pick among fully connected levels)`` rows or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pick = tp.sparsity.find_sparsest(h, threshold)
    connected = tp.sparsity.find_sparsest(h, threshold, skip_dead=True)
    return pick, connected


def _pct(row):
    return "none" if row is None else f"{100 * row['sparsity']:.0f} %"


def report_seed(seed, h, mse, threshold):
    fmt = {"float_format": lambda v: f"{v:.4g}", "index": False}
    print(f"\n-- seed {seed}")
    print(h[[c for c in COLUMNS if c in h.columns]].to_string(**fmt))
    print("train MSE per output (scaled units):")
    print(mse.to_string(float_format=lambda v: f"{v:.2e}"))
    print(f"seed {seed}: dense val MSE {h['val_loss'].iloc[0]:.3e}")
    pick, connected = sparsest(h, threshold)
    if pick is None:
        print(f"seed {seed}: no level with train MSE <= {threshold:g}")
        return None
    dead = int(pick.get("dead_outputs", 0) or 0)
    print(f"seed {seed}: sparsest under {threshold:g}: {_pct(pick)} pruned "
          f"(achieved {100 * pick['achieved']:.2f} %, train MSE "
          f"{pick['train_loss']:.3e}"
          + (f"; {dead} output(s) cut off" if dead else "") + ")"
          + ("" if connected is None or connected.name == pick.name else
             f"; among fully connected levels: {_pct(connected)}"))
    return float(pick["sparsity"])


def main(argv=None) -> int:
    args = parse(argv)
    header("moth controller: sequential pruning, sparsest network under "
           f"{args.threshold:g}")
    kwargs = {"output_rate": _default(args.output_rate, "output_rate"),
              "frequency": _default(args.frequency, "frequency")}
    print(f"commit {commit()}; seeds {args.seeds}; {args.flights:,} flights; "
          f"net 10-{'-'.join(map(str, args.hidden))}-7; {kwargs}; out "
          f"{args.out}")
    t0 = time.perf_counter()
    picks = {}
    for seed in args.seeds:
        try:
            h, mse = run_seed(seed, args, kwargs, args.out)
        except ResumeMismatchError as e:
            print(f"seed {seed}: {e}", file=sys.stderr)
            return 2
        picks[seed] = report_seed(seed, h, mse, args.threshold)
    print(f"\n== sparsest level under {args.threshold:g}, per seed (commit "
          f"{commit()})")
    for seed, s in picks.items():
        print(f"  seed {seed}: " + ("none" if s is None else
                                   f"{100 * s:.0f} %"))
    found = [s for s in picks.values() if s is not None]
    if found:
        print(f"median {100 * statistics.median(found):.0f} %, range "
              f"{100 * min(found):.0f}-{100 * max(found):.0f} % over "
              f"{len(found)} of {len(picks)} seeds (goal: each >= 90 %, "
              "median >= 93 %)")
    print(f"total time {(time.perf_counter() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
