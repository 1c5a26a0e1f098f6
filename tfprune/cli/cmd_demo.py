"""``tfprune demo``: every flow at small size on embedded data."""
from __future__ import annotations

from ._args import nonnegative_int


def register(sub):
    p = sub.add_parser("demo", help="run a small version of every flow on "
                       "embedded data (moth simulator, digits, penguins) and "
                       "write tables, figures and summary.md")
    p.add_argument("--out", default="tfprune-demo",
                   help="output folder (default: %(default)s)")
    p.add_argument("--flows", default="all",
                   help="comma-separated subset of: moth, montecarlo, "
                        "filters, strategies, criteria (default: all)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--docs", default=None,
                   help="also copy one figure per flow into this folder "
                        "(the README's figures live in docs/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo
    flows = None if args.flows == "all" else [
        f.strip() for f in args.flows.split(",") if f.strip()]
    result = run_demo(args.out, flows=flows, seed=args.seed,
                      docs_dir=args.docs, progress=not args.quiet)
    print(f"\nDemo finished in {result['seconds']:.0f} s. Results: "
          f"{result['out']}  (open {result['summary']})")
    return 0
