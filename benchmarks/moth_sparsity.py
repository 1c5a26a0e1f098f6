"""Moth controller: dense accuracy and the sparsest network under 1e-3.

Simulates N flights (default 200,000), splits them 80/20 train/val (the
study's TF version), trains the 10-400-400-400-16-7 controller dense (level
0) and prunes it through the study's 17 levels with tfmot, each level
retrained with early stopping (patience 2, min_delta 1e-5). Prints the
history, the dense validation MSE (goal <= 1e-3, scaled units), the
sparsest level whose train MSE is <= 1e-3 (goal >= 90 % pruned) and the
total time (goal < 30 min on a 2-core CPU).

``--n 5000 --levels 0.5,0.9 --max-epochs 3`` checks that the script works in
a minute or two. The run folder (``--run-dir``) makes a killed run resumable.

Usage: python benchmarks/moth_sparsity.py [--n N] [--levels moth|a,b,...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402

import tfprune as tp  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--levels", default="moth")
    p.add_argument("--max-epochs", type=int, default=500)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threshold", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    header("moth controller: sequential pruning, sparsest network under "
           f"{args.threshold:g}")
    levels = (list(tp.sparsity.MOTH_LEVELS) if args.levels == "moth" else
              [float(v) for v in args.levels.split(",")])
    t0 = time.perf_counter()
    ds = tp.data.moth.make_dataset(args.n, seed=args.seed, test_fraction=0.0)
    t_data = time.perf_counter() - t0
    print(f"data: {args.n:,} flights -> train {len(ds.train[0]):,} / val "
          f"{len(ds.val[0]):,} ({t_data:.0f} s)")
    res = tp.sparsity.prune_moth_controller(
        ds, sparsities=levels, max_epochs=args.max_epochs,
        patience=args.patience, batch_size=args.batch_size,
        threshold=args.threshold, seed=args.seed, run_dir=args.run_dir,
        progress=not args.quiet)
    h = res.history
    cols = ["level", "sparsity", "achieved", "train_loss", "val_loss",
            "epochs", "cum_epochs", "time_s"]
    print(h[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    total = time.perf_counter() - t0
    dense_ok = res.dense_val_loss <= args.threshold
    print(f"\ndense val MSE {res.dense_val_loss:.3e} (goal <= "
          f"{args.threshold:g}): {'PASS' if dense_ok else 'FAIL'}")
    if res.sparsest is None:
        print(f"no level with train MSE <= {args.threshold:g}: FAIL")
        sparse_ok = False
    else:
        s = res.sparsest
        sparse_ok = s["sparsity"] >= 0.90
        print(f"sparsest under {args.threshold:g}: {100 * s['sparsity']:.0f} "
              f"% pruned (achieved {100 * s['achieved']:.2f} %, train MSE "
              f"{s['train_loss']:.3e}; goal >= 90 %): "
              f"{'PASS' if sparse_ok else 'FAIL'}")
    print(f"total time {total / 60:.1f} min (data {t_data:.0f} s, training "
          f"and pruning {res.time_s:.0f} s; goal < 30 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
