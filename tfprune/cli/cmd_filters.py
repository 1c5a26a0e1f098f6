"""``tfprune filters``: D-Score sensitivity -> parallel pruning -> retraining.

Parses arguments (bad values fail here, exit 2) and calls
:func:`tfprune.filters.run_flow`, which checks the data and the model before
any training; ``tfprune filters compare`` lives in :mod:`.filters_compare`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ._args import (fraction, fraction_list, nonnegative_int, positive_float,
                    positive_int)


def _method(text):
    from ..filters import criterion_names
    if text.lower() not in criterion_names():
        raise argparse.ArgumentTypeError(
            f"must be one of {', '.join(criterion_names())}; got {text!r}")
    return text.lower()


def _threshold(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            "must be an accuracy in [0, 1] or a relative drop in [-1, 0); "
            f"got {text!r}")
    return value


def _model_file(text):
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such model file: {text!r}")
    return text


def _names(text):
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated layer names; got {text!r}")
    return names


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
    p.add_argument("--model", default=None, metavar="PATH", type=_model_file,
                   help="a trained tf_keras model file to prune instead of "
                        "training one")
    p.add_argument("--method", default="dscore", type=_method,
                   help="criterion: dscore, dstep, dstep_gm, l1, l2, fpgm, "
                        "random, apoz, mean_activation")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--threshold", type=_threshold, default=None,
                       help="accuracy threshold: absolute (0.9) or a "
                            "relative drop (-0.01); default 0.9")
    limit.add_argument("--max-drop", type=fraction, default=None,
                       help="instead of --threshold: allowed accuracy drop "
                            "below the unpruned model (0.01 = 1 point)")
    p.add_argument("--rule", choices=("first_crossing", "max_above"),
                   default="first_crossing",
                   help="first_crossing: the paper's rule; max_above: the "
                        "largest ratio still above the threshold")
    p.add_argument("--ratios", type=fraction_list, default=None,
                   metavar="R1,R2,...",
                   help="sensitivity ratios (default 0.05,0.10,...,0.95)")
    p.add_argument("--layers", type=_names, default=None,
                   metavar="NAME,...",
                   help="layers to sweep and prune (default every prunable "
                        "layer but the output one)")
    p.add_argument("--epochs", type=nonnegative_int, default=None,
                   help="training epochs when no --model is given (digits "
                        "15, cifar10 450)")
    p.add_argument("--retrain-epochs", type=nonnegative_int, default=None,
                   help="retraining epochs (digits 20, cifar10 10)")
    p.add_argument("--retrain-learning-rate", "--retrain-lr",
                   type=positive_float, default=None,
                   dest="retrain_learning_rate", metavar="LR",
                   help="retraining learning rate (digits 0.01, cifar10 "
                        "0.001)")
    p.add_argument("--eval-split", choices=("val", "test"), default="val",
                   help="split the sensitivity sweep evaluates on (test = "
                        "the paper's choice)")
    p.add_argument("--batch-size", type=positive_int, default=256,
                   help="evaluation batch size of the sweep")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--no-plots", action="store_true",
                   help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars")
    # required, but checked in run(): argparse would demand it before the
    # compare sub-command too
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder (created; a rerun with the same options "
                        "resumes from its finished stages); required")
    p.add_argument("--export", choices=("tflite",), default=None,
                   help="also export the retrained model to TFLite "
                        "(model.tflite in --out) and measure it next to the "
                        "unpruned one")
    p.set_defaults(func=run, flags={"data": "--dataset/--seed",
                                    "model": "--model/--seed"})
    from .filters_compare import register as register_compare
    register_compare(p)


def run(args) -> int:
    import tfprune as tp
    if args.out is None:
        raise tp.errors.InvalidParameterError(
            "tfprune filters: --out DIR is required.")
    res = tp.filters.run_flow(
        args.out, dataset=args.dataset, model=args.model, method=args.method,
        threshold=args.threshold, rule=args.rule, max_drop=args.max_drop,
        ratios=args.ratios, layers=args.layers, epochs=args.epochs,
        retrain_epochs=args.retrain_epochs,
        retrain_learning_rate=args.retrain_learning_rate,
        batch_size=args.batch_size, eval_split=args.eval_split,
        seed=args.seed, progress=not args.quiet, plots=not args.no_plots)
    summary = res.summary()
    print(summary["title"])
    for line in summary["lines"]:
        print("  " + line)
    print(res.report.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.export:
        from .cmd_export import export_and_measure
        export_and_measure(res.retrained, res.original,
                           Path(args.out) / "model.tflite")
    print(f"wrote {len(res.files)} files to {args.out}")
    return 0
