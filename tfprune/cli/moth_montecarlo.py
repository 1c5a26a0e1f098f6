"""``tfprune moth montecarlo``: train and prune many moth controllers at once
(``--shard i/N`` for share ``i`` of ``N`` of the networks), and
``tfprune moth montecarlo merge DIR... --out OUT`` to join the shards.

Only parses arguments and calls ``tp.data.moth`` and ``tp.ensemble``.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ._args import (fraction_list, int_list, nonnegative_int, positive_float,
                    positive_int, shard)

_FUNC = "tfprune moth montecarlo"
#: Manifest parameters that have no flag of the same name.
_FLAGS = {"n_networks": "--networks", "hidden": "--hidden",
          "sparsities": "--levels", "n": "--samples",
          "data": "--samples/--data", "prune_bias": "--prune-bias",
          "early_stopping.window": "--window",
          "early_stopping": "--early-stopping",
          "dense_early_stopping": "--early-stopping",
          "max_batches": "--max-batches", "seeds": "--seed"}


class _OldFlag(argparse.Action):
    """A deprecated spelling of a store_true flag: still works, says so."""

    def __init__(self, option_strings, dest, new=None, **kw):
        self.new = new
        super().__init__(option_strings, dest, nargs=0, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        msg = f"{option_string} is deprecated; use {self.new}"
        warnings.warn(msg, DeprecationWarning, stacklevel=2)
        print(f"tfprune: note: {msg}", file=sys.stderr)
        setattr(namespace, self.dest, True)


def register(sub):
    p = sub.add_parser(
        "montecarlo",
        help="train and sequentially prune many controller networks at once "
             "and report each one's sparsest good level",
        description="Monte Carlo over moth controller networks (the study's "
                    "multi-network protocol). Writes CSV tables and PNG "
                    "figures to --out; run again with the same arguments to "
                    "resume after the last finished level. --shard i/N "
                    "trains share i of N of the networks (each with the seed "
                    "it has in the whole run); 'merge' joins the shards.")
    _options(p)
    p.set_defaults(func=run, flags=_FLAGS)
    steps = p.add_subparsers(dest="mc_command", metavar="[merge]")
    m = steps.add_parser(
        "merge", help="join the --out folders of the shards of one run",
        description="Join the --out folders of the shards 0/N .. N-1/N of "
                    "one run into the tables and figures of the unsharded "
                    "run.")
    m.add_argument("dirs", nargs="+", metavar="DIR",
                   help="--out folders (or their run/ folders) of the shards")
    m.add_argument("--out", required=True, help="output folder")
    m.set_defaults(func=run_merge)


def _options(p):
    p.add_argument("--networks", type=positive_int, default=100,
                   help="number of networks in the whole run (default: "
                        "%(default)s)")
    p.add_argument("--samples", type=positive_int, default=100_000,
                   help="moth simulations to use (default: %(default)s)")
    p.add_argument("--data", default=None,
                   help="folder of simulations (tfprune moth simulate; used "
                        "as it is, it must be complete and hold at least "
                        "--samples); default: OUT/data, simulated there")
    p.add_argument("--out", default=None, help="output folder (required)")
    p.add_argument("--hidden", type=int_list, default=(400, 400, 400, 16),
                   help="hidden widths (default: 400,400,400,16)")
    p.add_argument("--levels", type=fraction_list, default=None,
                   help="pruning levels (default: the study's 18 levels "
                        "0.15 ... 0.99)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--learning-rate", type=positive_float, default=5e-4)
    p.add_argument("--max-batches", type=positive_int, default=None,
                   help="cap on batches per pruning level (default: one pass "
                        "over the training split)")
    p.add_argument("--dense-max-batches", type=positive_int, default=None,
                   help="cap for the dense level (default: --max-batches)")
    p.add_argument("--early-stopping", default="ratio",
                   choices=("ratio", "patience", "none"))
    p.add_argument("--window", type=positive_int, default=500,
                   help="window of the ratio rule in batches "
                        "(default: %(default)s)")
    p.add_argument("--init", default="normal",
                   choices=("normal", "glorot_uniform", "glorot_normal"))
    p.add_argument("--prune-bias", action="store_true",
                   help="also prune the biases (each its own threshold)")
    p.add_argument("--prune-biases", action=_OldFlag, dest="prune_bias",
                   new="--prune-bias", help=argparse.SUPPRESS)
    p.add_argument("--off-by-one", action="store_true",
                   help="prune floor(c*n)+1 weights like the original code")
    p.add_argument("--threshold", type=positive_float, default=1e-3,
                   help="loss threshold of the sparsest good level "
                        "(default: %(default)s)")
    p.add_argument("--stop-after-failures", type=positive_int, default=None,
                   help="end the run after this many consecutive levels at "
                        "which no network passes the threshold (default: "
                        "train every level; not with --shard)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the simulations and of the networks "
                        "(network k: derived from it and k)")
    p.add_argument("--shard", type=shard, default=None, metavar="I/N",
                   help="train only networks [I*networks/N, (I+1)*networks/"
                        "N); give each shard its own --out, then merge")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="processes for the simulation (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _arguments(args) -> dict:
    import tfprune as tp
    ens = tp.ensemble
    if args.early_stopping == "ratio":
        rule = ens.RatioStopping(window=args.window)
    else:
        rule = None if args.early_stopping == "none" else "patience"
    return dict(
        n_networks=args.networks, hidden=args.hidden,
        sparsities=args.levels or ens.MOTH_SPARSITIES, init=args.init,
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        max_batches=args.max_batches,
        dense_max_batches=args.dense_max_batches, early_stopping=rule,
        prune_bias=args.prune_bias, off_by_one=args.off_by_one,
        threshold=args.threshold,
        stop_after_failures=args.stop_after_failures, seed=args.seed,
        shard=args.shard, input_names=list(tp.data.moth.INPUT_COLUMNS),
        output_names=list(tp.data.moth.OUTPUT_COLUMNS))


def load_data(samples, data_dir, seed=0, workers=None, progress=True,
              given=True):
    """The scaled moth splits of the first ``samples`` flights of a
    simulation folder. A ``given`` folder is used as it is (complete, with
    at least ``samples`` flights); otherwise the folder is simulated, or
    finished when a run was interrupted."""
    from ..data import moth
    from ..errors import InvalidParameterError
    folder = Path(data_dir)
    if (folder / "manifest.json").exists():
        have = moth.SimulationConfig.load(folder)[0].n
        if have < samples:
            raise InvalidParameterError(
                f"the simulation folder {str(folder)!r} holds {have} "
                f"simulations but --samples asks for {samples}; pass "
                f"--samples {have} (or fewer), or "
                + ("another --data folder." if given else
                   "a new --out folder (or --data elsewhere)."))
        if not given:
            moth.resume_simulations(folder, workers, progress)
    else:
        moth.simulate_to_disk(samples, folder, seed=seed, workers=workers,
                              progress=progress)
    return moth.make_dataset(samples, data=str(folder))


def run(args) -> int:
    import tfprune as tp
    from tfprune._io import ensure_dir
    from tfprune.errors import InvalidParameterError
    if args.out is None:
        raise InvalidParameterError("--out is required: the output folder.")
    kw = _arguments(args)
    tp.ensemble.MonteCarloConfig.build(  # every option, before simulating
        _FUNC, inputs=10, outputs=7, activation="tanh", init_std=0.2,
        dense_early_stopping="same", bias_sparsities=None, prune_layers=None,
        column="train_loss", eval_batch_size=1024, keep_levels=False,
        seeds=None, **kw)
    out = ensure_dir(args.out, "--out", _FUNC)
    progress = not args.quiet
    data = load_data(args.samples, args.data or out / "data", args.seed,
                     args.workers, progress, given=args.data is not None)
    tf = tp._keras.tf
    try:
        res = tp.ensemble.monte_carlo(data, run_dir=out / "run",
                                      progress=progress, **kw)
    except tf.errors.ResourceExhaustedError as e:
        print(f"tfprune: error: {e.message}", file=sys.stderr)
        return 3
    tp.ensemble.save_report(res, out)
    _print_summary(res, args.threshold, out)
    return 0


def _print_summary(res, threshold, out):
    s = res.summary()
    nets = res.networks
    part = "" if len(nets) == res.config["n_networks"] else \
        f"networks {nets.start}-{nets.stop - 1} of {res.config['n_networks']}: "
    print(f"{part}{s['passed']} of {s['networks']} networks reach train loss "
          f"<= {threshold:g}"
          + (f"; median optimal sparsity {100 * s['median_sparsity']:.1f} %, "
             f"mean {100 * s['mean_sparsity']:.1f} %" if s["passed"] else "")
          + f". Tables and figures: {out}")


def run_merge(args) -> int:
    import tfprune as tp
    from tfprune._io import ensure_dir
    dirs = [Path(d) / "run" if (Path(d) / "run" / "manifest.json").exists()
            else Path(d) for d in args.dirs]
    res = tp.ensemble.merge_runs(dirs)
    out = ensure_dir(args.out, "--out", f"{_FUNC} merge")
    tp.ensemble.save_report(res, out)
    _print_summary(res, res.config["threshold"], out)
    return 0
