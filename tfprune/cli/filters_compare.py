"""``tfprune filters compare``: every filter criterion on the same networks,
over several seeds, with paired differences against L1.

Parses arguments and calls :func:`tfprune.filters.compare_criteria`.
"""
from __future__ import annotations

import argparse

from ._args import (float_list, fraction_list, nonnegative_int,
                    positive_float, positive_int)

_DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _methods(text):
    from ..filters import criterion_names
    names = [p.strip() for p in str(text).split(",") if p.strip()]
    bad = [n for n in names if n not in criterion_names()]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated criteria among "
            f"{', '.join(criterion_names())}; got {text!r}")
    return names


def register(filters_parser) -> None:
    """Add ``compare`` under ``tfprune filters``."""
    from ..filters.compare import METHODS
    sub = filters_parser.add_subparsers(
        dest="filters_command", metavar="[compare]", required=False,
        help="compare: every criterion over seeds (without it: the flow)")
    p = sub.add_parser(
        "compare",
        help="which criterion? every criterion on the same networks over "
             "several seeds, mean ± std and paired tests against l1",
        description="Prune the same trained networks with several filter "
                    "criteria over several seeds and compare them: accuracy "
                    "right after pruning and after retraining, FLOPs and "
                    "parameters removed, mean ± std over seeds, paired "
                    "differences against --baseline with p-values. "
                    "matched: the same per-layer ratios for every method; "
                    "planned: each method's own sensitivity plan.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", choices=("digits", "cifar10"),
                   default="digits",
                   help="digits: a VGG-style CNN on 8x8 digits; cifar10: "
                        "VGG-16 (needs CIFAR-10 on this machine)")
    p.add_argument("--model", default=None, metavar="FILE",
                   help="your trained tf_keras model (used as given for "
                        "every seed unless --train-epochs > 0); needs "
                        "--data")
    p.add_argument("--data", default=None, metavar="FILE.npz",
                   help="arrays x_train, y_train, x_val, y_val (optional), "
                        "x_test, y_test")
    p.add_argument("--methods", type=_methods, default=list(METHODS),
                   help="comma-separated criteria")
    p.add_argument("--seeds", type=positive_int, default=5,
                   help="number of seeds (0 .. N-1)")
    p.add_argument("--mode", choices=("matched", "planned"),
                   default="matched")
    p.add_argument("--flops-reduction", type=fraction_list,
                   default=[0.3, 0.5, 0.7],
                   help="matched mode's FLOP-reduction targets")
    p.add_argument("--threshold", type=float_list,
                   default=[-0.01, -0.03, -0.1],
                   help="planned mode's accuracy thresholds: absolute "
                        "(0.9) or relative drops (-0.01)")
    p.add_argument("--allocation", choices=("uniform", "sensitivity"),
                   default="uniform",
                   help="matched mode's per-layer ratios")
    p.add_argument("--reference", default="l1",
                   help="criterion whose sensitivity plan gives the ratios "
                        "with --allocation sensitivity")
    p.add_argument("--baseline", default="l1",
                   help="method every other is compared with")
    p.add_argument("--train-epochs", type=nonnegative_int, default=None,
                   help="base training epochs (default: the recipe's; 0 "
                        "with --model)")
    p.add_argument("--retrain-epochs", type=nonnegative_int, default=None,
                   help="retraining epochs (default: the recipe's)")
    p.add_argument("--retrain-learning-rate", "--retrain-lr",
                   type=positive_float, default=None,
                   dest="retrain_learning_rate", metavar="LR",
                   help="retraining learning rate (default: the recipe's)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes over seeds")
    p.add_argument("--no-plots", action="store_true",
                   help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (tables, figures, and run/ to "
                        "resume from)")
    p.set_defaults(func=run, flags={"model": "--model/--dataset",
                                    "data": "--data/--dataset",
                                    "recipe": "--dataset"})


def load_splits(path):
    """``Splits(train, val, test)`` from an ``.npz`` file with ``x_train,
    y_train, [x_val, y_val,] x_test, y_test``."""
    import numpy as np
    from ..data import Splits
    from ..errors import InvalidParameterError
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise InvalidParameterError(
            f"--data {path!r}: cannot read it as an .npz file ({e}).") from e
    missing = [k for k in _DATA_KEYS if k not in arrays]
    if missing:
        raise InvalidParameterError(
            f"--data {path!r} lacks {', '.join(missing)}; it needs x_train, "
            "y_train, x_test, y_test (and x_val, y_val for sensitivity "
            f"sweeps and data criteria); it has {', '.join(arrays)}.")
    val = ((arrays["x_val"], arrays["y_val"]) if "x_val" in arrays
           and "y_val" in arrays else None)
    return Splits((arrays["x_train"], arrays["y_train"]), val,
                  (arrays["x_test"], arrays["y_test"]))


def vgg16_cifar10(seed):
    """VGG-16 for CIFAR-10 (a picklable ``build_fn``)."""
    from ..models import vgg16
    return vgg16(seed=seed)


def _network(args):
    """``(model_or_build_fn, data, recipe)`` from the options."""
    import functools
    import numpy as np
    import tfprune as tp
    if args.model is not None and args.data is None:
        raise tp.errors.InvalidParameterError(
            "tfprune filters compare: --model needs --data FILE.npz (the "
            "arrays your network was trained on).")
    if args.data is not None:
        data = load_splits(args.data)
        if args.model is not None:
            return tp.report.load_model(args.model), data, "digits"
        x, y = data.train
        classes = (int(np.max(y)) + 1 if np.ndim(y) == 1
                   else int(np.shape(y)[-1]))
        build = functools.partial(tp.models.digits_cnn,
                                  input_shape=tuple(np.shape(x)[1:]),
                                  classes=classes)
        return build, data, "digits"
    data = tp.filters.load_flow_data(args.dataset, seed=0)
    build = (tp.models.digits_cnn if args.dataset == "digits"
             else vgg16_cifar10)
    return build, data, args.dataset


def run(args) -> int:
    import tfprune as tp
    from pathlib import Path
    network, data, recipe = _network(args)
    out = Path(args.out)
    res = tp.filters.compare_criteria(
        network, data, methods=args.methods, seeds=range(args.seeds),
        flops_reduction=args.flops_reduction, mode=args.mode,
        retrain_epochs=args.retrain_epochs, run_dir=out / "run",
        threshold=args.threshold, allocation=args.allocation,
        reference=args.reference, baseline=args.baseline, recipe=recipe,
        train_epochs=args.train_epochs,
        retrain_learning_rate=args.retrain_learning_rate,
        workers=args.workers, progress=not args.quiet)
    files = res.save(out, plots=not args.no_plots)
    print(res.render())
    print(f"wrote {len(files)} files to {out}")
    return 0
