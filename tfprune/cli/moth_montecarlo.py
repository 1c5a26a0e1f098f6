"""``tfprune moth montecarlo``: train and prune many moth controllers at once.

Only parses arguments and calls ``tp.data.moth`` and ``tp.ensemble``.
"""
from __future__ import annotations

import sys
from pathlib import Path


def _widths(text):
    try:
        out = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        import argparse
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive widths such as "
            f"400,400,400,16; got {text!r}")
    return out


def _levels(text):
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError(
            f"expected comma-separated fractions such as 0.5,0.9; got "
            f"{text!r}")


def register(sub):
    p = sub.add_parser(
        "montecarlo",
        help="train and sequentially prune many controller networks at once "
             "and report each one's sparsest good level",
        description="Monte Carlo over moth controller networks (the study's "
                    "multi-network protocol). Writes CSV tables and PNG "
                    "figures to --out; run again with the same arguments to "
                    "resume after the last finished level.")
    p.add_argument("--networks", type=int, default=100,
                   help="number of networks (default: %(default)s)")
    p.add_argument("--samples", type=int, default=100_000,
                   help="moth simulations to use (default: %(default)s)")
    p.add_argument("--data", default=None,
                   help="folder of simulations (tp.data.moth."
                        "simulate_to_disk); simulated there when missing "
                        "(default: OUT/data)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--hidden", type=_widths, default=(400, 400, 400, 16),
                   help="hidden widths (default: 400,400,400,16)")
    p.add_argument("--levels", type=_levels, default=None,
                   help="pruning levels (default: the study's 18 levels "
                        "0.15 ... 0.99)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=5e-4)
    p.add_argument("--max-batches", type=int, default=None,
                   help="cap on batches per pruning level (default: one pass "
                        "over the training split)")
    p.add_argument("--dense-max-batches", type=int, default=None,
                   help="cap for the dense level (default: --max-batches)")
    p.add_argument("--early-stopping", default="ratio",
                   choices=("ratio", "patience", "none"))
    p.add_argument("--window", type=int, default=500,
                   help="window of the ratio rule in batches "
                        "(default: %(default)s)")
    p.add_argument("--init", default="normal",
                   choices=("normal", "glorot_uniform", "glorot_normal"))
    p.add_argument("--prune-biases", action="store_true")
    p.add_argument("--off-by-one", action="store_true",
                   help="prune floor(c*n)+1 weights like the original code")
    p.add_argument("--threshold", type=float, default=1e-3,
                   help="loss threshold of the sparsest good level "
                        "(default: %(default)s)")
    p.add_argument("--stop-after-failures", type=int, default=None,
                   help="end the run after this many consecutive levels at "
                        "which no network passes the threshold (default: "
                        "train every level)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None,
                   help="processes for the simulation (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def load_data(samples, data_dir, seed=0, workers=None, progress=True):
    """The scaled moth splits from a simulation folder, simulating the
    missing part first (``simulate_to_disk`` resumes)."""
    import tfprune as tp
    moth = tp.data.moth
    folder = Path(data_dir)
    if (folder / "manifest.json").exists():
        try:
            return moth.make_dataset(samples, data=str(folder))
        except ValueError:
            pass
    moth.simulate_to_disk(samples, folder, seed=seed, workers=workers,
                          progress=progress)
    return moth.make_dataset(samples, data=str(folder))


def run(args) -> int:
    import tfprune as tp
    from tfprune._io import ensure_dir
    tf = tp._keras.tf
    ens = tp.ensemble
    out = ensure_dir(args.out, "--out", "tfprune moth montecarlo")
    progress = not args.quiet
    data = load_data(args.samples, args.data or out / "data", args.seed,
                     args.workers, progress)
    if args.early_stopping == "ratio":
        rule = ens.RatioStopping(window=args.window)
    elif args.early_stopping == "patience":
        rule = ens.PatienceStopping()
    else:
        rule = None
    try:
        res = ens.monte_carlo(
            data, n_networks=args.networks, hidden=args.hidden,
            sparsities=args.levels or ens.MOTH_SPARSITIES,
            init=args.init, batch_size=args.batch_size,
            learning_rate=args.learning_rate, max_batches=args.max_batches,
            dense_max_batches=args.dense_max_batches, early_stopping=rule,
            prune_biases=args.prune_biases, off_by_one=args.off_by_one,
            threshold=args.threshold,
            stop_after_failures=args.stop_after_failures, seed=args.seed,
            run_dir=out / "run",
            input_names=list(tp.data.moth.INPUT_COLUMNS),
            output_names=list(tp.data.moth.OUTPUT_COLUMNS),
            progress=progress)
    except tf.errors.ResourceExhaustedError as e:
        print(f"tfprune: error: {e.message}", file=sys.stderr)
        return 3
    ens.save_report(res, out)
    s = res.summary()
    med = s["median_sparsity"]
    print(f"{s['passed']} of {s['networks']} networks reach train loss <= "
          f"{args.threshold:g}"
          + (f"; median optimal sparsity {100 * med:.1f} %, mean "
             f"{100 * s['mean_sparsity']:.1f} %" if s["passed"] else "")
          + f". Tables and figures: {out}")
    return 0
