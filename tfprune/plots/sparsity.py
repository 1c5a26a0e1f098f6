"""Figures for the sparsity flow: loss vs sparsity, strategy training curves."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["plot_loss_vs_sparsity", "plot_strategy_curves",
           "plot_strategy_summary"]


def _frame(obj, name):
    frame = getattr(obj, "history", obj)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}(): expected a history DataFrame (or a "
                        f"SequentialResult); got {type(obj).__name__}.")
    return frame


def plot_loss_vs_sparsity(history, threshold=1e-3, columns=("train_loss",
                          "val_loss"), ax=None, title=None, skip_dead=False):
    """Loss against sparsity with the threshold line (the original's Step 4).

    The most pruned level under the threshold (``find_sparsest`` on the first
    column) is marked with a star. Levels at which an output has no path
    from any input left (history column ``dead_outputs`` > 0) are circled
    and annotated with that count where it changes, so a network that lost
    an output is not read as one that lost accuracy.

    Args:
        history: ``sequential_prune(...).history`` (or the result itself).
        threshold: horizontal line; None for none.
        columns: loss columns to draw (those present are drawn).
        ax: an existing Axes to draw on.
        title: the Axes title.
        skip_dead: star the sparsest level among fully connected ones
            (``find_sparsest(..., skip_dead=True)``).

    Returns:
        matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from ..sparsity.sequential import find_sparsest
    h = _frame(history, "plot_loss_vs_sparsity")
    cols = [c for c in columns if c in h.columns]
    if not cols:
        raise ValueError(f"plot_loss_vs_sparsity(): none of {list(columns)} "
                         f"is a column of the history {list(h.columns)}.")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    x = 100 * h["sparsity"].to_numpy()
    for c in cols:
        ax.plot(x, h[c].to_numpy(), "o-", label=c.replace("_", " "))
    _mark_dead_outputs(ax, h, x, cols[0])
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=1,
                   label=f"threshold {threshold:g}")
        with warnings.catch_warnings():
            # the plot shows a dead output itself (circled)
            warnings.simplefilter("ignore", RuntimeWarning)
            best = find_sparsest(h, threshold, cols[0], skip_dead=skip_dead)
        if best is not None:
            ax.plot(100 * best["sparsity"], best[cols[0]], "r*", ms=14,
                    label=f"sparsest: {100 * best['sparsity']:.0f} %")
    ax.set_yscale("log")
    ax.set_xlabel("weights pruned (%)")
    ax.set_ylabel("loss")
    ax.set_title(title or "Loss vs sparsity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _mark_dead_outputs(ax, h, x, column):
    """Circle the levels with ``dead_outputs > 0``; write the count where it
    changes."""
    if "dead_outputs" not in h.columns:
        return
    dead = h["dead_outputs"].fillna(0).to_numpy()
    hit = np.flatnonzero(dead > 0)
    if not hit.size:
        return
    y = h[column].to_numpy()
    ax.plot(x[hit], y[hit], "o", ms=13, mfc="none", mec="crimson", mew=1.5,
            label="output(s) cut off (no input path)")
    for i in hit:
        if i > 0 and dead[i - 1] == dead[i]:
            continue
        ax.annotate(f"{int(dead[i])}", (x[i], y[i]), xytext=(0, 9),
                    textcoords="offset points", ha="center", fontsize=7,
                    color="crimson")


def plot_strategy_curves(curves, column="val_loss", ax=None, title=None):
    """Mean ± std training curves per strategy.

    Args:
        curves: a ``compare_strategies`` result or its ``.curves``
            (columns ``seed, strategy, epoch, <column>``).
        column: the logged value to draw.

    Returns:
        matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    curves = getattr(curves, "curves", curves)
    if not isinstance(curves, pd.DataFrame) or not {
            "strategy", "epoch", column} <= set(curves.columns):
        raise ValueError("plot_strategy_curves(): 'curves' must be a "
                         "DataFrame with columns strategy, epoch and "
                         f"{column!r} (compare_strategies(...).curves).")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for name, g in curves.groupby("strategy", sort=False):
        s = g.groupby("epoch")[column]
        mean, std = s.mean(), s.std().fillna(0.0)
        ax.plot(mean.index, mean.to_numpy(), label=name)
        ax.fill_between(mean.index, (mean - std).to_numpy(),
                        (mean + std).to_numpy(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(column.replace("_", " "))
    ax.set_title(title or f"{column} (mean ± std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_strategy_summary(summary, metrics=("test_loss", "test_accuracy")):
    """Bar chart of mean ± std per strategy.

    Args:
        summary: a ``compare_strategies`` result or its ``.summary``.
        metrics: the metrics to draw (``<metric>_mean`` columns).

    Returns:
        matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    summary = getattr(summary, "summary", summary)
    if not isinstance(summary, pd.DataFrame):
        raise TypeError("plot_strategy_summary(): 'summary' must be a "
                        "compare_strategies result or its .summary "
                        f"DataFrame; got {type(summary).__name__}.")
    metrics = [m for m in metrics if f"{m}_mean" in summary.columns]
    if not metrics:
        raise ValueError("plot_strategy_summary(): 'summary' has no "
                         "<metric>_mean columns (compare_strategies output).")
    fig, axes = plt.subplots(1, len(metrics),
                             figsize=(4.5 * len(metrics), 3.5))
    axes = np.atleast_1d(axes)
    for ax, m in zip(axes, metrics):
        ax.bar(summary["strategy"], summary[f"{m}_mean"],
               yerr=summary.get(f"{m}_std"), capsize=4)
        ax.set_title(m.replace("_", " "))
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig
