"""``tfprune moth simulate``: simulate moth flights to disk, or check a
folder (``--verify``)."""
from __future__ import annotations

import argparse

from ._args import nonnegative_int, positive_float, positive_int, shard


def _recompute(text):
    if text == "all":
        return text
    try:
        return nonnegative_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be an integer >= 0 or 'all'; got {text!r}") from None


def register(subparsers):
    p = subparsers.add_parser(
        "simulate", help="simulate random moth flights into .npz chunks "
        "(resumable, all cores, shardable), or --verify a folder",
        description="Simulate random moth flights into OUT (one .npz per "
        "chunk, resumable). --shard i/N computes share i of N of the chunks "
        "into the same folder (one SLURM array task each); --verify checks "
        "that a folder is complete, intact and equal to a one-machine run.")
    p.add_argument("--n", type=positive_int, default=None,
                   help="number of simulations (omit with --verify to check "
                   "an existing folder only)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--workers", type=positive_int, default=None,
                   help="processes (default: all cores)")
    p.add_argument("--chunk-size", type=positive_int, default=50_000,
                   help="simulations per chunk (default: %(default)s)")
    p.add_argument("--method", choices=("auto", "dopri5", "ark"),
                   default="auto", help="integrator (default: auto)")
    p.add_argument("--rtol", type=positive_float, default=None,
                   help="relative tolerance in [1e-12, 1e-2] (default: "
                   "1e-7, final states within ~2e-7; 1e-4 is about twice "
                   "as fast with errors <~1e-3)")
    p.add_argument("--scale", type=positive_float, default=1.0,
                   help="size scale s of the moth (lengths scale with s)")
    p.add_argument("--shard", type=shard, default=None, metavar="I/N",
                   help="compute only share I of N of the chunks (0 <= I < "
                   "N), e.g. --shard $SLURM_ARRAY_TASK_ID/"
                   "$SLURM_ARRAY_TASK_COUNT")
    p.add_argument("--verify", action="store_true",
                   help="check the folder: every chunk present, every "
                   "checksum right, and --recompute chunks equal to their "
                   "recomputation here (exit status 1 when not)")
    p.add_argument("--recompute", type=_recompute, default=1,
                   help="with --verify: chunks to recompute and compare "
                   "(an integer or 'all'; default: %(default)s)")
    p.add_argument("--against", default=None, metavar="DIR",
                   help="with --verify: also compare every chunk's digest "
                   "with this folder of the same run (e.g. a one-machine "
                   "run)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run, flags={"s": "--scale"})


def run(args) -> int:
    from ..data import moth
    from ..errors import InvalidParameterError
    if args.n is None and not args.verify:
        raise InvalidParameterError(
            "give --n to simulate, or --verify to check an existing folder.")
    progress = not args.no_progress
    if args.n is not None:
        path = moth.simulate_to_disk(
            args.n, args.out, seed=args.seed, chunk_size=args.chunk_size,
            workers=args.workers, progress=progress, s=args.scale,
            method=args.method, shard=args.shard,
            rtol=moth.DEFAULT_RTOL if args.rtol is None else args.rtol)
        share = "" if args.shard is None else \
            f"share {args.shard[0]}/{args.shard[1]} of "
        print(f"wrote {share}{args.n} simulations to {path}")
    if not args.verify:
        return 0
    check = moth.verify_simulations(args.out, recompute=args.recompute,
                                    reference=args.against,
                                    workers=args.workers, progress=progress)
    print(check)
    return 0 if check.ok else 1
