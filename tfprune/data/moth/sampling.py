"""Sampling of the moth flights: ranges, column names, seeded draws.

Row ``i`` of any simulation draws its controls and initial state from the
child seed ``(seed, i // SAMPLE_BLOCK)``, so a row's inputs depend only on
``seed`` and ``i``, never on the chunk or process that computes it.
"""
from __future__ import annotations

import math

import numpy as np

from ..._validate import check_choice, check_float, check_int, check_type
from ...errors import InvalidParameterError
from ._model import CONTROL_NAMES, STATE_NAMES, MothParams

__all__ = ["T_END", "DEFAULT_RTOL", "SAMPLE_BLOCK", "DEFAULT_RANGES",
           "INITIAL_COLUMNS", "CONTROL_COLUMNS", "FINAL_COLUMNS",
           "INPUT_COLUMNS", "OUTPUT_COLUMNS", "STATUS_CODES",
           "sample_inputs"]

T_END = 0.02
DEFAULT_RTOL = 1e-7
#: Rows are drawn in blocks of this size, each from its own child seed, so a
#: row's random numbers depend only on ``seed`` and its index.
SAMPLE_BLOCK = 1024

TWO_PI = 2.0 * math.pi
#: Sampling ranges ``(low, high)`` of the original study (uniform draws).
DEFAULT_RANGES = {
    "F": (0.0, 44300.0),
    "alpha": (0.0, TWO_PI),
    "tau": (-100000.0, 100000.0),
    "x0": (0.0, 0.0),
    "xdot0": (-1500.0, 1500.0),
    "y0": (0.0, 0.0),
    "ydot0": (-1500.0, 1500.0),
    "theta0": (0.0, TWO_PI),
    "thetadot0": (-25.0, 25.0),
    "phi0": (0.0, TWO_PI),
    "phidot0": (-25.0, 25.0),
}
_IC_ORDER = ("x0", "xdot0", "y0", "ydot0", "theta0", "thetadot0", "phi0",
             "phidot0")
INITIAL_COLUMNS = ("x0", "y0", "theta0", "phi0", "xdot0", "ydot0",
                   "thetadot0", "phidot0")
CONTROL_COLUMNS = ("F", "alpha", "tau")
FINAL_COLUMNS = ("xf", "yf", "thetaf", "phif", "xdotf", "ydotf", "thetadotf",
                 "phidotf")
STATE_TO_FINAL = {n: n + "f" for n in STATE_NAMES}
#: The 10 network inputs, in order (x0 = y0 = 0 are dropped; angles unwrapped).
INPUT_COLUMNS = ("phi0", "theta0", "xf", "yf", "phif", "thetaf", "xdot0",
                 "ydot0", "phidot0", "thetadot0")
#: The 7 network outputs, in order (Fx, Fy in the thorax frame).
OUTPUT_COLUMNS = ("Fx", "Fy", "tau", "xdotf", "ydotf", "phidotf",
                  "thetadotf")
#: Values of the ``status`` column.
STATUS_CODES = {0: "converged", 1: "too many steps", 2: "step size underflow",
                3: "non-finite state"}


def check_ranges(ranges: dict, func: str) -> dict:
    """The full range table: ``DEFAULT_RANGES`` updated with ``ranges``
    (``name=(low, high)`` or ``name=value``), each bound finite, low <= high.

    Raises:
        TypeError: an unknown range name.
        InvalidParameterError: a malformed or reversed range.
    """
    out = dict(DEFAULT_RANGES)
    for name, value in ranges.items():
        if name not in DEFAULT_RANGES:
            raise TypeError(
                f"{func}(): unknown argument {name!r}; sampling ranges are "
                f"{', '.join(DEFAULT_RANGES)}.")
        if isinstance(value, (int, float, np.number)) and not isinstance(
                value, bool):
            value = (value, value)
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"{func}(): range {name!r} must be a (low, high) pair or a "
                f"single number; got {value!r}.") from None
        lo = check_float(lo, f"{name}[0]", func)
        hi = check_float(hi, f"{name}[1]", func)
        if lo > hi:
            raise InvalidParameterError(
                f"{func}(): range {name!r} has low > high ({lo} > {hi}); "
                "give it as (low, high).")
        out[name] = (lo, hi)
    return out


def params_from(s, params, func) -> MothParams:
    """The model parameters from ``s`` or a full ``MothParams``."""
    if params is not None:
        check_type(params, MothParams, "params", func)
        if s != 1.0 and s != params.s:
            raise InvalidParameterError(
                f"{func}(): give the size scale either as 's' or inside "
                f"'params', not both (s={s}, params.s={params.s}).")
        return params
    s = check_float(s, "s", func, min_value=0.0, min_inclusive=False)
    return MothParams(s=s)


def common_checks(n, seed, t_end, rtol, method, methods, func):
    """Validated ``(n, seed, t_end, rtol)``; ``method`` must be in
    ``("auto",) + methods``."""
    n = check_int(n, "n", func, min_value=1)
    seed = check_int(seed, "seed", func, min_value=0)
    t_end = check_float(t_end, "t_end", func, min_value=0.0,
                        min_inclusive=False)
    check_choice(method, ("auto",) + tuple(methods), "method", func)
    rtol = check_float(rtol, "rtol", func, min_value=1e-12, max_value=1e-2)
    return n, seed, t_end, rtol


def _draw_block(seed: int, block: int, ranges: dict):
    rng = np.random.default_rng(np.random.SeedSequence(seed,
                                                       spawn_key=(block,)))
    r_u = rng.random((SAMPLE_BLOCK, 3))
    r_y = rng.random((SAMPLE_BLOCK, 8))
    u = np.empty((3, SAMPLE_BLOCK))
    y = np.empty((8, SAMPLE_BLOCK))
    for k, name in enumerate(CONTROL_NAMES):
        lo, hi = ranges[name]
        u[k] = lo + (hi - lo) * r_u[:, k]
    for k, name in enumerate(_IC_ORDER):
        lo, hi = ranges[name]
        y[k] = lo + (hi - lo) * r_y[:, k]
    return y, u


def sample_inputs(start: int, stop: int, seed: int, ranges: dict):
    """Initial states (8, m) and controls (3, m) of rows ``start:stop``.

    Row ``i`` is drawn from the child seed ``(seed, i // SAMPLE_BLOCK)``, so
    it is the same whatever chunk it is computed in.
    """
    ys, us = [], []
    for b in range(start // SAMPLE_BLOCK, -(-stop // SAMPLE_BLOCK)):
        y, u = _draw_block(seed, b, ranges)
        lo = max(start - b * SAMPLE_BLOCK, 0)
        hi = min(stop - b * SAMPLE_BLOCK, SAMPLE_BLOCK)
        ys.append(y[:, lo:hi])
        us.append(u[:, lo:hi])
    if not ys:
        return np.empty((8, 0)), np.empty((3, 0))
    return np.concatenate(ys, axis=1), np.concatenate(us, axis=1)
