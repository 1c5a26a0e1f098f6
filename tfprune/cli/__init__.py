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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, NotImplementedError, OSError) as e:
        from ..errors import TfpruneError
        if isinstance(e, (TfpruneError, OSError)):
            print(f"tfprune: error: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
