"""Figures of a criteria comparison (``tp.filters.compare_criteria``).

* :func:`criteria_accuracy`: accuracy vs FLOP reduction, one line per
  method with a band of ± one standard deviation over seeds, right after
  pruning and after retraining;
* :func:`criteria_overlap`: per layer, the Jaccard overlap of the filter
  sets two methods remove (do the criteria even disagree?).

Each function returns a ``matplotlib.figure.Figure``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import InvalidParameterError

__all__ = ["criteria_accuracy", "criteria_overlap"]

_D_FAMILY = ("dscore", "dstep", "dstep_gm")


def _figure(figsize):
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, layout="constrained")


def _frame(obj, attr, columns, func):
    if hasattr(obj, attr):
        obj = getattr(obj, attr)()
    if not isinstance(obj, pd.DataFrame) or not set(columns) <= set(
            obj.columns):
        raise InvalidParameterError(
            f"{func}(): expected a CriteriaComparison or its "
            f"{attr}() DataFrame (columns {', '.join(columns)}); got "
            f"{type(obj).__name__}.")
    if obj.empty:
        raise InvalidParameterError(f"{func}(): the table is empty.")
    return obj


def criteria_accuracy(runs, title=None):
    """Test accuracy vs FLOP reduction per method, mean ± std over seeds,
    after pruning (left) and after retraining (right).

    Args:
        runs: a ``CriteriaComparison`` or its ``to_frame()`` table.
        title: figure title.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    runs = _frame(runs, "to_frame", ("method", "target", "flops_reduction",
                                     "acc_pruned", "acc_retrained",
                                     "acc_base"), "criteria_accuracy")
    fig = _figure((11, 4.2))
    axes = fig.subplots(1, 2, sharex=True)
    methods = list(dict.fromkeys(runs["method"]))
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    base = 100 * float(runs["acc_base"].mean())
    for ax, col, name in zip(axes, ("acc_pruned", "acc_retrained"),
                             ("right after pruning", "after retraining")):
        for m in methods:
            g = runs[runs["method"] == m].groupby("target", sort=True)
            x = 100 * g["flops_reduction"].mean().to_numpy()
            y = 100 * g[col].mean().to_numpy()
            s = 100 * np.nan_to_num(g[col].std(ddof=1).to_numpy())
            o = np.argsort(x, kind="stable")
            style = "-" if m in _D_FAMILY else "--"
            ax.plot(x[o], y[o], style, marker="o", ms=3, color=colors[m],
                    label=m)
            ax.fill_between(x[o], (y - s)[o], (y + s)[o], color=colors[m],
                            alpha=0.12, linewidth=0)
            ax.errorbar(x[o], y[o], yerr=s[o], fmt="none", ecolor=colors[m],
                        alpha=0.5, capsize=2, lw=0.8)
        ax.axhline(base, color="0.4", ls=":", lw=1, label="unpruned")
        ax.set_title(f"test accuracy {name}")
        ax.set_xlabel("FLOP reduction (%)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower left", ncol=2)
    n = runs["seed"].nunique() if "seed" in runs else 1
    fig.suptitle(title or f"Criteria compared: mean ± std over {n} seeds")
    return fig


def criteria_overlap(overlap, target=None, title=None):
    """Jaccard overlap of the removed filter sets, one heatmap per layer.

    Args:
        overlap: a ``CriteriaComparison`` or its ``overlap()`` table.
        target: which target to draw (default: the middle one).
        title: figure title.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    func = "criteria_overlap"
    ov = _frame(overlap, "overlap", ("target", "layer", "method_a",
                                     "method_b", "jaccard"), func)
    targets = sorted(ov["target"].unique())
    if target is None:
        target = targets[len(targets) // 2]
    if target not in targets:
        raise InvalidParameterError(
            f"{func}(): target {target!r} is not in the table; it has "
            f"{targets}.")
    ov = ov[ov["target"] == target]
    layers = list(dict.fromkeys(ov["layer"]))
    methods = list(dict.fromkeys(ov["method_a"]))
    cols = min(3, len(layers))
    rows = math.ceil(len(layers) / cols)
    size = 0.42 * len(methods) + 1.2
    fig = _figure((cols * size + 0.8, rows * size))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for ax, layer in zip(axes, layers):
        g = ov[ov["layer"] == layer].pivot(index="method_a",
                                           columns="method_b",
                                           values="jaccard")
        g = g.reindex(index=methods, columns=methods)
        image = ax.imshow(g.to_numpy(), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(methods)), methods, rotation=90, fontsize=7)
        ax.set_yticks(range(len(methods)), methods, fontsize=7)
        ax.set_title(layer, fontsize=9)
        if len(methods) <= 10:
            for (i, j), v in np.ndenumerate(g.to_numpy()):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center",
                            fontsize=5.5, color="w" if v < 0.6 else "k")
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes[:len(layers)].tolist(), shrink=0.8,
                     label="Jaccard overlap of removed filters")
    fig.suptitle(title or f"Which filters the criteria remove (target "
                 f"{target:g}, mean over seeds)")
    return fig
