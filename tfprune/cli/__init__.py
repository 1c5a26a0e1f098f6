"""The ``tfprune`` command line. This module only parses arguments.

Each subcommand lives in its own module here and registers itself:
``cmd_<name>.py`` defines ``register(subparsers)`` for ``tfprune <name>``;
``moth_<name>.py`` defines ``register(subparsers)`` for ``tfprune moth <name>``.
A registered parser sets ``func=callable(args) -> int`` via ``set_defaults``.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser"]


def _modules(prefix):
    names = sorted(m.name for m in pkgutil.iter_modules(__path__)
                   if m.name.startswith(prefix))
    return [importlib.import_module(f"{__name__}.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfprune",
        description="Pruning toolkit for Keras 2 (tf_keras) networks. Flows: "
                    "moth (simulate / train / montecarlo), strategies, "
                    "filters (D-Score), surgery, report, export, demo.")
    from .. import __version__
    parser.add_argument("--version", action="version",
                        version=f"tfprune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    moth_mods = _modules("moth_")
    if moth_mods:
        moth = sub.add_parser("moth", help="the moth flight-controller study: "
                              "simulate data, train and prune, Monte Carlo")
        moth_sub = moth.add_subparsers(dest="moth_command", metavar="STEP")
        for mod in moth_mods:
            mod.register(moth_sub)
        moth.set_defaults(func=lambda a: (moth.print_help(), 2)[1])
    for mod in _modules("cmd_"):
        mod.register(sub)
    return parser


def _option_names(parser) -> dict:
    """``{dest: "--flag"}`` of every option of the chosen subcommand."""
    names = {}
    for action in parser._actions:
        if action.option_strings:
            names[action.dest] = max(action.option_strings, key=len)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(_option_names(sub))
    return names


def _in_cli_terms(err, args, parser) -> str:
    """A resume refusal with the API's argument names turned into flags."""
    flags = _option_names(parser)
    flags.update(getattr(args, "flags", {}) or {})
    diffs = getattr(err, "differences", None)
    if not diffs:
        return str(err)
    text = "; ".join(
        f"{flags.get(k, flags.get(k.split('.')[0], k))}: {a!r} in the "
        f"folder, {b!r} now" for k, a, b in diffs)
    return (f"the output folder holds a run with other options ({text}); "
            "rerun with the folder's options or choose a new folder.")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with
    one line on stderr), also for argparse's own errors."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..errors import ResumeMismatchError, TfpruneError
    try:
        return int(args.func(args) or 0)
    except ResumeMismatchError as e:
        print(f"tfprune: error: {_in_cli_terms(e, args, parser)}",
              file=sys.stderr)
        return 2
    except (TfpruneError, OSError) as e:
        print(f"tfprune: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
