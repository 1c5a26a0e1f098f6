"""The D-Score paper's VGG-16 / CIFAR-10 table, on a GPU.

Trains VGG-16 once with the paper's recipe (450 epochs, SGD + Nesterov,
lr 0.01 x 0.9 every 20 epochs, batch 64, augmentation), then for each
criterion (L1, D-Score, D-Step, D-Step GM): sensitivity of the 13 conv
layers without retraining, one ratio per layer from the absolute threshold
(first crossing), one-shot pruning, 10 epochs of retraining, and the
accuracy drop and parameter / FLOP reductions next to the published rows.
Every stage writes into ``--out`` and a rerun resumes (the trained model,
and each criterion's run folder ``--out/<method>``: its sensitivity sweep
layer by layer and its retrained model).

    python benchmarks/vgg16_cifar10.py --out vgg16-run            # GPU, hours
    python benchmarks/vgg16_cifar10.py --smoke --out /tmp/smoke   # seconds

``--compare`` reproduces the table with error bars instead: the paper's
protocol (each method's own sensitivity plan at the threshold) through
``tp.filters.compare_criteria`` over ``--seeds`` seeds, each training its
own VGG-16 (``--shared-base`` prunes the one trained base for every seed,
so that seeds vary only retraining), with mean ± std and paired differences
against L1:

    python benchmarks/vgg16_cifar10.py --compare --seeds 3 --out vgg16-cmp

``--smoke`` runs the same code on a few random 32x32 images for one epoch,
to check that everything starts; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

#: The paper's VGG-16 / CIFAR-10 rows (Acc. Drop %, Params reduction %,
#: FLOPs reduction %).
PAPER = {"l1": (-0.15, 64.0, 34.2), "dscore": (0.16, 87.03, 64.81),
         "dstep": (0.12, 86.70, 65.40), "dstep_gm": (-0.10, 87.16, 64.37)}


def _smoke_data(seed):
    from tfprune.data import Splits
    rng = np.random.default_rng(seed)

    def split(n):
        return (rng.normal(size=(n, 32, 32, 3)).astype("float32"),
                rng.integers(0, 10, size=n))
    return Splits(split(64), split(32), split(32))


def build_vgg16(seed):
    """VGG-16 for CIFAR-10 with seeded initial weights."""
    import tfprune as tp
    return tp.models.vgg16(seed=seed)


def compare(args, data, out, epochs, retrain_epochs, ratios, layers,
            base_path):
    """The paper's protocol over seeds (``tp.filters.compare_criteria``)."""
    import tfprune as tp
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    shared = tp.report.load_model(base_path) if args.shared_base else None
    res = tp.filters.compare_criteria(
        shared if shared is not None else build_vgg16, data,
        methods=methods, seeds=range(args.seeds), mode="planned",
        threshold=[args.threshold], rule=args.rule, recipe="cifar10",
        train_epochs=0 if shared is not None else epochs,
        retrain_epochs=retrain_epochs, ratios=ratios, layers=layers,
        batch_size=args.batch_size, run_dir=out / "compare" / "run",
        workers=args.workers)
    res.save(out / "compare", plots=not args.smoke)
    print(res.render())
    print("\npaper (one run per method; acc drop, params -%, FLOPs -%): "
          + "; ".join(f"{m} {v[0]:+.2f} / {v[1]:.1f} / {v[2]:.1f}"
                      for m, v in PAPER.items()))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output / resume folder")
    ap.add_argument("--methods", default="l1,dscore,dstep,dstep_gm")
    ap.add_argument("--threshold", type=float, default=0.9,
                    help="absolute accuracy threshold tau (paper: 0.9)")
    ap.add_argument("--rule", default="first_crossing",
                    choices=("first_crossing", "max_above"))
    ap.add_argument("--epochs", type=int, default=450)
    ap.add_argument("--retrain-epochs", type=int, default=10)
    ap.add_argument("--eval-split", default="test", choices=("val", "test"),
                    help="split of the sensitivity sweep (paper: test)")
    ap.add_argument("--batch-size", type=int, default=512,
                    help="evaluation batch size of the sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny random data, 1 epoch: checks that it runs")
    ap.add_argument("--compare", action="store_true",
                    help="the table over seeds with error bars "
                         "(tp.filters.compare_criteria, planned mode)")
    ap.add_argument("--seeds", type=int, default=3,
                    help="--compare: number of seeds")
    ap.add_argument("--shared-base", action="store_true",
                    help="--compare: one trained base for every seed")
    ap.add_argument("--workers", type=int, default=1,
                    help="--compare: processes over seeds")
    args = ap.parse_args(argv)

    import tfprune as tp
    from tfprune._io import atomic_save_model, atomic_write_csv, ensure_dir
    header("D-Score VGG-16 / CIFAR-10 table" + (" (smoke)" if args.smoke
                                                else ""))
    tp.utils.ensure_device()
    out = ensure_dir(args.out, "out", "vgg16_cifar10")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.smoke:
        data = _smoke_data(args.seed)
        epochs, retrain_epochs, ratios = 1, 1, [0.5]
        layers = ["conv1", "conv13"]
    else:
        data = tp.filters.load_flow_data("cifar10", seed=args.seed)
        epochs, retrain_epochs, ratios = (args.epochs, args.retrain_epochs,
                                          None)
        layers = None
    base_path = out / "vgg16_base.keras"
    t = time.perf_counter()
    if args.compare and not args.shared_base:
        return compare(args, data, out, epochs, retrain_epochs, ratios,
                       layers, base_path)
    if base_path.exists():
        print(f"base model: {base_path} (resumed)")
    else:
        model = tp.models.vgg16(seed=args.seed)
        trained = tp.filters.train_model(model, data.train, data.val,
                                         "cifar10", epochs=epochs,
                                         seed=args.seed)
        atomic_save_model(base_path, trained)
        print(f"trained {epochs} epochs in {time.perf_counter() - t:.0f} s")
    if args.compare:
        return compare(args, data, out, epochs, retrain_epochs, ratios,
                       layers, base_path)

    rows = []
    for m in methods:
        t = time.perf_counter()
        res = tp.filters.run_flow(
            out / m, dataset="cifar10", model=base_path, data=data,
            method=m, threshold=args.threshold, rule=args.rule,
            ratios=ratios, layers=layers, retrain_epochs=retrain_epochs,
            batch_size=args.batch_size, eval_split=args.eval_split,
            seed=args.seed, progress=True, plots=not args.smoke)
        rep = res.report.set_index("stage")
        paper = PAPER.get(m, (np.nan,) * 3)
        rows.append({
            "approach": m,
            "acc_before": rep.at["original", "accuracy"],
            "acc_after": rep.at["retrained", "accuracy"],
            "acc_drop_pts": rep.at["retrained", "acc_drop_pts"],
            "params_reduction_pct": rep.at["retrained",
                                           "params_reduction_pct"],
            "flops_reduction_pct": rep.at["retrained",
                                          "flops_reduction_pct"],
            "paper_acc_drop": paper[0], "paper_params_red": paper[1],
            "paper_flops_red": paper[2],
            "seconds": time.perf_counter() - t})
        print(f"{m}: done in {rows[-1]['seconds']:.0f} s")
    table = pd.DataFrame(rows)
    atomic_write_csv(out / "table.csv", table)
    print(f"\nthreshold {args.threshold} ({args.rule}), sensitivity on "
          f"{args.eval_split}; FLOPs at batch 1, 2 per multiply-add + bias "
          "adds")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {out / 'table.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
