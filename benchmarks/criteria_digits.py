"""Which filter criterion? All nine on the digits CNN, over seeds.

``tp.filters.compare_criteria`` on ``tp.models.digits_cnn`` and sklearn's
digits: every criterion, 5 seeds (each seed trains its own base network,
retrains and seeds ``random``), in both modes:

* matched: FLOP reductions of 30, 50 and 70 % with the same uniform ratio
  for every method, so only the choice of filters differs;
* planned: each method's own sensitivity plan at thresholds of 1, 3 and
  10 accuracy points below the base network (the paper's protocol).

It prints, per mode, accuracy right after pruning and after retraining
(mean ± std over seeds), the FLOP and parameter reductions, and every
method's paired difference with L1 with its p-value (paired t-test,
Holm-adjusted over the methods of a target), after retraining and right
after pruning. Tables and figures go to
``--out`` (one folder per mode, resumable).

    python benchmarks/criteria_digits.py --out criteria-run
    python benchmarks/criteria_digits.py --smoke --out /tmp/criteria-smoke

``--smoke``: 3 methods, 2 seeds, one target, 1 retraining epoch. The full
run takes about 25 minutes on a 2-core CPU with the default two workers.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output / resume folder")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--modes", default="matched,planned")
    ap.add_argument("--retrain-epochs", type=int, default=5,
                    help="retraining epochs per pruned network (the digits "
                         "recipe's 20 would not fit in 30 minutes)")
    ap.add_argument("--workers", type=int, default=2,
                    help="processes over seeds (one per core)")
    ap.add_argument("--smoke", action="store_true",
                    help="3 methods, 2 seeds, one target, 1 epoch")
    args = ap.parse_args(argv)

    import tfprune as tp
    from tfprune._io import ensure_dir
    from tfprune.filters.compare import METHODS
    header("filter criteria head-to-head on digits" +
           (" (smoke)" if args.smoke else ""))
    out = ensure_dir(args.out, "out", "criteria_digits")
    data = tp.data.load_digits(seed=0, flatten=False)
    if args.smoke:
        kw = dict(methods=["l1", "dscore", "random"], seeds=range(2),
                  flops_reduction=[0.5], threshold=[-0.03],
                  retrain_epochs=1, train_epochs=3)
    else:
        kw = dict(methods=METHODS,
                  seeds=range(args.seeds), flops_reduction=[0.3, 0.5, 0.7],
                  threshold=[-0.01, -0.03, -0.1],
                  retrain_epochs=args.retrain_epochs)
    print(f"data: {len(data.train[0])} / {len(data.val[0])} / "
          f"{len(data.test[0])} digits (train / val / test); network "
          "tp.models.digits_cnn; sensitivity ratios 0.1 ... 0.9")
    t_all = time.perf_counter()
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        t = time.perf_counter()
        res = tp.filters.compare_criteria(
            tp.models.digits_cnn, data, mode=mode,
            ratios=[round(0.1 * i, 1) for i in range(1, 10)],
            run_dir=out / mode / "run", workers=args.workers, **kw)
        res.save(out / mode)
        print(f"\n== {mode} ({time.perf_counter() - t:.0f} s)")
        print(res.render())
        print("right after pruning, before retraining:")
        print("\n".join(res.statements("pruned")))
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; tables and figures "
          f"in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
