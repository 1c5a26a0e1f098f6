"""``tfprune moth simulate``: generate moth flight simulations to disk."""
from __future__ import annotations


def register(subparsers):
    p = subparsers.add_parser(
        "simulate", help="simulate random moth flights into .npz shards "
        "(resumable, all cores)")
    p.add_argument("--n", type=int, required=True,
                   help="number of simulations")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None,
                   help="processes (default: all cores)")
    p.add_argument("--chunk-size", type=int, default=50_000,
                   help="simulations per shard")
    p.add_argument("--method", choices=("auto", "dopri5", "ark"),
                   default="auto", help="integrator (default: auto)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance (default: moth.DEFAULT_RTOL, "
                   "1e-7, final states within ~2e-7; 1e-4 is about twice "
                   "as fast with errors <~1e-3)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="size scale s of the moth (lengths scale with s)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data import moth
    path = moth.simulate_to_disk(
        args.n, args.out, seed=args.seed, chunk_size=args.chunk_size,
        workers=args.workers, progress=not args.no_progress, s=args.scale,
        method=args.method,
        rtol=moth.DEFAULT_RTOL if args.rtol is None else args.rtol)
    print(f"wrote {args.n} simulations to {path}")
    return 0
