"""The parallel-pruning plan: one ratio per layer from a sensitivity table
and a threshold (``docs/sections/filters.md``, "Parallel pruning")."""
from __future__ import annotations

import pandas as pd

from .._validate import check_choice, check_float
from ..errors import InvalidParameterError

__all__ = ["plan"]


def _first_crossing(acc, ratios, tau):
    ratio = 0.0
    for a, r in zip(acc, ratios):
        if a < tau:
            break
        ratio = r
    return ratio


def _max_above(acc, ratios, tau):
    ok = [r for a, r in zip(acc, ratios) if a >= tau]
    return max(ok) if ok else 0.0


_RULES = {"first_crossing": _first_crossing, "max_above": _max_above}


def _check_table(table, func):
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{func}(): 'table' must be the DataFrame from "
                        f"tp.sensitivity.analyze; got {type(table).__name__}.")
    missing = [c for c in ("layer", "ratio", "metric") if c not in table]
    if missing:
        raise InvalidParameterError(
            f"{func}(): 'table' lacks column(s) {', '.join(missing)}; pass "
            "the DataFrame from tp.sensitivity.analyze.")


def _tau(table, threshold, max_drop, baseline, sign, func):
    """The absolute threshold, from an absolute or relative one."""
    if (threshold is None) == (max_drop is None):
        raise InvalidParameterError(
            f"{func}(): give exactly one of 'threshold' (absolute, e.g. 0.9, "
            "or relative, e.g. -0.01) and 'max_drop' (e.g. 0.01); got "
            f"threshold={threshold!r}, max_drop={max_drop!r}.")
    if threshold is not None:
        threshold = check_float(threshold, "threshold", func)
        if threshold >= 0:
            return threshold
        drop = -threshold
    else:
        drop = check_float(max_drop, "max_drop", func, min_value=0.0)
    if baseline is None:
        if "baseline" not in table:
            raise InvalidParameterError(
                f"{func}(): a relative threshold needs the unpruned "
                "metric: pass baseline=... or a table with a 'baseline' "
                "column.")
        baseline = float(table["baseline"].iloc[0])
    baseline = check_float(baseline, "baseline", func)
    return baseline - sign * drop


def plan(table, threshold=None, rule="first_crossing", *, max_drop=None,
         baseline=None, higher_is_better=None) -> dict:
    """One pruning ratio per layer from a sensitivity table.

    Args:
        table: ``analyze``'s DataFrame (``layer, ratio, metric`` and, for a
            relative threshold, ``baseline``).
        threshold: an absolute metric value ``tau`` (e.g. ``0.90``: keep
            accuracy >= 0.90), or a negative number for a drop relative to
            the unpruned metric (``-0.01``: at most one point below it).
        rule: ``"first_crossing"`` (the paper's: the last ratio before the
            layer's metric first falls below ``tau``) or ``"max_above"``
            (the largest ratio whose metric is still >= ``tau``).
        max_drop: instead of ``threshold``: allowed drop below the unpruned
            metric (``0.01`` = ``threshold=-0.01``).
        baseline: the unpruned metric; default the table's ``baseline``.
        higher_is_better: ``False`` for a loss (then ``tau`` is a ceiling and
            ``max_drop`` an allowed rise); default from the table
            (``analyze`` records it for loss/error metrics), else True.

    Returns:
        dict layer -> ratio (0.0 where even the smallest ratio crosses),
        layers in table order.

    Raises:
        ValueError: for a missing column, both or neither of ``threshold``
            and ``max_drop``, or an unknown rule.

    Example:
        >>> tp.sensitivity.plan(table, 0.9)              # absolute
        >>> tp.sensitivity.plan(table, max_drop=0.01)    # relative
    """
    func = "plan"
    _check_table(table, func)
    check_choice(rule, tuple(_RULES), "rule", func)
    if higher_is_better is None:
        higher_is_better = table.attrs.get("higher_is_better", True)
    sign = 1.0 if higher_is_better else -1.0
    tau = _tau(table, threshold, max_drop, baseline, sign, func)
    out = {}
    for layer, g in table.groupby("layer", sort=False):
        g = g.sort_values("ratio", kind="stable")
        acc = sign * g["metric"].to_numpy(dtype=float)
        out[layer] = float(_RULES[rule](acc, g["ratio"].to_numpy(float),
                                        sign * tau))
    return out
