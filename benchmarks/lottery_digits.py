"""Iterative lottery ticket, LeNet-300-100 on sklearn digits, 3 seeds.

Each round prunes 20 % of the remaining weights layer-wise (output layer at
half rate, 10 %), rewinds the survivors to the init and retrains with a
fresh Adam 1.2e-3 (batch 60); the early-stop epoch (lowest validation loss)
is reported. Goal (issue): a ticket with <= 20 % of the weights remaining
whose test accuracy is within 1 point of the dense network, mean of 3 seeds.
Also prints the random-reinit control at the same sparsity.

``--rounds 2 --epochs 3 --seeds 1`` checks that the script works.

Usage: python benchmarks/lottery_digits.py [--rounds 8] [--epochs 30]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402

import tfprune as tp  # noqa: E402


def _model(seed):
    keras = tp.keras
    m = tp.models.lenet_300_100(input_dim=64, seed=seed)
    m.compile(keras.optimizers.Adam(1.2e-3),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--no-reinit", action="store_true",
                   help="skip the random-reinit control")
    args = p.parse_args(argv)
    header("lottery ticket: LeNet-300-100 on digits")
    d = tp.data.load_digits(seed=0)
    t0 = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        for reinit in ([False] if args.no_reinit else [False, True]):
            lt = tp.sparsity.lottery_ticket(
                _model(seed), d.train, d.val, rounds=args.rounds,
                rate=args.rate, epochs=args.epochs, batch_size=60,
                reinit=reinit, seed=seed, test=d.test, progress=False)
            h = lt.history.assign(seed=seed, reinit=reinit)
            rows.append(h)
    h = pd.concat(rows, ignore_index=True)
    table = h.groupby(["reinit", "round"]).agg(
        remaining=("remaining", "mean"), best_epoch=("best_epoch", "mean"),
        test_accuracy=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std")).reset_index()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    ticket = table[~table["reinit"]]
    dense = float(ticket.iloc[0]["test_accuracy"])
    small = ticket[ticket["remaining"] <= 0.20]
    if small.empty:
        print("\nno round with <= 20 % weights remaining; raise --rounds")
    else:
        best = small.loc[small["test_accuracy"].idxmax()]
        gap = 100 * (dense - best["test_accuracy"])
        ok = gap <= 1.0
        print(f"\ndense test accuracy {dense:.4f}; best ticket with <= 20 % "
              f"remaining: round {int(best['round'])}, "
              f"{100 * best['remaining']:.1f} % remaining, accuracy "
              f"{best['test_accuracy']:.4f} ({-gap:+.2f} points vs dense; "
              f"goal <= 1 point, mean of {args.seeds} seeds): "
              f"{'PASS' if ok else 'FAIL'}")
    print(f"time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
