"""``tfprune filters``: D-Score sensitivity -> parallel pruning -> retraining.

Parses arguments and calls :func:`tfprune.filters.run_flow`;
``tfprune filters compare`` lives in :mod:`.filters_compare`.
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "filters",
        help="filter pruning: train or load a model, sensitivity sweep, "
             "plan, one-shot prune, retrain; writes CSV tables, PNG plots "
             "and the pruned model",
        description="Filter (channel) pruning with D-Score and other "
                    "criteria: per-layer sensitivity without retraining, one "
                    "ratio per layer from an accuracy threshold, all layers "
                    "pruned at once, then a short retraining. Default: a "
                    "small VGG-style CNN on sklearn's digits (minutes on a "
                    "CPU).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=("digits", "cifar10"),
                   default="digits",
                   help="digits: 8x8 images, a VGG-style CNN; cifar10: "
                        "VGG-16 as in the paper (downloads CIFAR-10)")
    p.add_argument("--model", default=None, metavar="PATH",
                   help="a trained tf_keras model file to prune instead of "
                        "training one")
    p.add_argument("--method", default="dscore",
                   help="criterion: dscore, dstep, dstep_gm, l1, l2, fpgm, "
                        "random, apoz, mean_activation")
    p.add_argument("--threshold", type=float, default=None,
                   help="accuracy threshold: absolute (0.9) or a relative "
                        "drop (-0.01); default 0.9")
    p.add_argument("--max-drop", type=float, default=None,
                   help="instead of --threshold: allowed accuracy drop "
                        "below the unpruned model (0.01 = 1 point)")
    p.add_argument("--rule", choices=("first_crossing", "max_above"),
                   default="first_crossing",
                   help="first_crossing: the paper's rule; max_above: the "
                        "largest ratio still above the threshold")
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs when no --model is given (digits "
                        "15, cifar10 450)")
    p.add_argument("--retrain-epochs", type=int, default=None,
                   help="retraining epochs (digits 20, cifar10 10)")
    p.add_argument("--retrain-lr", type=float, default=None,
                   help="retraining learning rate (digits 0.01, cifar10 "
                        "0.001)")
    p.add_argument("--eval-split", choices=("val", "test"), default="val",
                   help="split the sensitivity sweep evaluates on (test = "
                        "the paper's choice)")
    p.add_argument("--batch-size", type=int, default=256,
                   help="evaluation batch size of the sweep")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true",
                   help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars")
    # required, but checked in run(): argparse would demand it before the
    # compare sub-command too
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (created; reruns resume from its "
                        "checkpoints); required")
    p.set_defaults(func=run)
    from .filters_compare import register as register_compare
    register_compare(p)


def run(args) -> int:
    import tfprune as tp
    if args.out is None:
        raise tp.errors.InvalidParameterError(
            "tfprune filters: --out DIR is required.")
    if args.threshold is not None and args.max_drop is not None:
        raise tp.errors.InvalidParameterError(
            "tfprune filters: give --threshold or --max-drop, not both.")
    res = tp.filters.run_flow(
        args.out, dataset=args.dataset, model=args.model, method=args.method,
        threshold=args.threshold, rule=args.rule, max_drop=args.max_drop,
        epochs=args.epochs, retrain_epochs=args.retrain_epochs,
        retrain_lr=args.retrain_lr, batch_size=args.batch_size,
        eval_split=args.eval_split, seed=args.seed,
        progress=not args.quiet, plots=not args.no_plots)
    summary = res.summary()
    print(summary["title"])
    for line in summary["lines"]:
        print("  " + line)
    print(res.report.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {len(res.files)} files to {args.out}")
    return 0
