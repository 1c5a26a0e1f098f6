"""``tfprune surgery``: remove channels of a saved model, or list the groups
of layers whose channels go together."""
from __future__ import annotations

import argparse

from ._args import positive_int


def register(sub):
    p = sub.add_parser(
        "surgery", help="physically remove output channels (filters/units) "
        "of layers of a saved model in one rebuild, or list coupled groups",
        description="Remove output channels of one or more layers of a "
        "saved tf_keras model (.h5, .keras or a SavedModel folder) in one "
        "rebuild, with coupled layers (residual Add, depthwise chains, "
        "shared layers) pruned together and downstream weights sliced; "
        "prints the parameter/FLOP comparison and saves the new model. "
        "With --groups, only lists the coupled groups.",
        epilog="Channels: comma-separated indices and ranges, e.g. "
        "'conv1:0,3,8-11' (ranges include both ends; negative indices count "
        "from the end). A plan file is JSON: {\"conv1\": [0, 3], ...}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="saved model: MODEL.h5, MODEL.keras or a folder")
    p.add_argument("--delete", action="append", default=[],
                   metavar="LAYER:CHANNELS", type=_channel_arg,
                   help="channels to remove from LAYER (repeatable)")
    p.add_argument("--plan", default=None, metavar="PLAN.json",
                   type=_plan_arg,
                   help="JSON file mapping layer names to channel lists")
    p.add_argument("--out", default=None, metavar="OUT.keras",
                   help="where to save the pruned model (.keras or .h5)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out file")
    p.add_argument("--groups", action="store_true",
                   help="list the coupled layer groups and exit")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="batch the FLOP counts are for")
    p.set_defaults(func=run)


def parse_channels(spec: str) -> tuple[str, list[int]]:
    """``'layer:0,3,8-11'`` -> ``('layer', [0, 3, 8, 9, 10, 11])``."""
    from ..errors import InvalidParameterError
    layer, sep, chans = spec.rpartition(":")
    if not sep or not layer or not chans.strip():
        raise InvalidParameterError(
            f"--delete {spec!r}: expected LAYER:CHANNELS, e.g. "
            "'conv1:0,3,8-11'.")
    out = []
    for part in chans.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-") if not part.startswith("-") \
            else (part, "", "")
        try:
            if dash:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                out.extend(range(a, b + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise InvalidParameterError(
                f"--delete {spec!r}: {part!r} is not a channel index or an "
                "increasing range like 8-11.") from None
    return layer, out


def _channel_arg(spec):
    from ..errors import InvalidParameterError
    try:
        return parse_channels(spec)
    except InvalidParameterError as e:
        raise argparse.ArgumentTypeError(
            str(e).replace(f"--delete {spec!r}: ", "")) from None


def _plan_arg(path):
    from ..errors import InvalidParameterError
    try:
        return path, _read_plan(path)
    except (InvalidParameterError, OSError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_out(path, overwrite: bool, flag: str = "--out"):
    """Refuse a bad output model path before any work: the suffix, a folder
    that cannot be written, or an existing file without ``--overwrite``."""
    import os
    from pathlib import Path

    from ..errors import InvalidParameterError
    out = Path(path)
    if out.suffix not in (".keras", ".h5"):
        raise InvalidParameterError(
            f"{flag} {str(path)!r}: give a file name ending in .keras or .h5.")
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidParameterError(
            f"{flag} {str(path)!r}: the folder {str(parent)!r} is not "
            "writable; choose another path.")
    if out.is_dir():
        raise InvalidParameterError(
            f"{flag} {str(path)!r} is a folder; give a file name.")
    if out.exists() and not overwrite:
        raise InvalidParameterError(
            f"{flag} {str(path)!r} exists; pass --overwrite to replace it or "
            "choose another name.")
    return out


def _read_plan(path) -> dict:
    from .._io import read_json
    from ..errors import InvalidParameterError
    try:
        plan = read_json(path)
    except ValueError as e:
        raise InvalidParameterError(
            f"--plan {path!r} is not valid JSON ({e}).") from None
    except OSError as e:
        raise InvalidParameterError(
            f"--plan {path!r} cannot be read ({e.strerror}).") from None
    if not isinstance(plan, dict) or not all(
            isinstance(v, list) and all(isinstance(i, int) for i in v)
            for v in plan.values()):
        raise InvalidParameterError(
            f"--plan {path!r}: expected a JSON object mapping layer names to "
            "lists of channel indices, e.g. {\"conv1\": [0, 3]}.")
    return plan


def run(args) -> int:
    from pathlib import Path

    from .. import report, surgery
    from .._io import atomic_save_model
    from ..errors import InvalidParameterError
    if not args.groups:
        if not args.delete and not args.plan:
            raise InvalidParameterError(
                "nothing to remove: give --delete LAYER:CHANNELS or --plan "
                "PLAN.json (or --groups to list the coupled layers).")
        if args.out is None:
            raise InvalidParameterError(
                "--out OUT.keras is required to save the pruned model.")
        check_out(args.out, args.overwrite)
    model = report.load_model(args.model)
    if args.groups:
        groups = surgery.dependency_groups(model)
        print(f"{'coupling':<16} {'channels':>8}  layers")
        for g in groups:
            note = "" if g.prunable else f"  (not prunable: {g.reason})"
            print(f"{g.kind:<16} {g.channels:>8}  {', '.join(g.layers)}{note}")
        print(f"{len(groups)} groups, {sum(g.prunable for g in groups)} "
              "prunable")
        return 0
    # the API refuses a channel named twice; so does the command line
    plan = {k: list(v) for k, v in (args.plan[1] if args.plan else {}).items()}
    for layer, chans in args.delete:
        plan[layer] = plan.get(layer, []) + chans
    lost = surgery.expand_plan(model, plan)
    pruned = surgery.prune_channels(model, plan)
    for name, idx in lost.items():
        print(f"{name}: {len(idx)} channel{'s' * (len(idx) != 1)} removed")
    print(report.render(report.compare(model, pruned,
                                       batch_size=args.batch_size),
                        title="before / after"))
    existed = Path(args.out).exists()
    path = atomic_save_model(args.out, pruned)
    print(f"pruned model written to {path}"
          + (" (replaced the existing file)" if existed else ""))
    return 0
