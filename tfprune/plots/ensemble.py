"""Figures for the ensemble (Monte Carlo) flow.

Each function takes a :class:`tfprune.ensemble.MonteCarloResult` and returns
a matplotlib ``Figure``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["montecarlo_sparsity_histogram", "montecarlo_layer_survival",
           "montecarlo_connections", "montecarlo_loss_curves"]


def _check(results, func):
    from ..ensemble.results import MonteCarloResult
    if not isinstance(results, MonteCarloResult):
        raise TypeError(f"{func}(): 'results' must be a MonteCarloResult "
                        f"(from tp.ensemble.monte_carlo); got "
                        f"{type(results).__name__}.")
    return results


def _figure(figsize):
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, layout="constrained")


def montecarlo_sparsity_histogram(results, threshold: float = 1e-3,
                                  column: str = "train_loss"):
    """Histogram of each network's optimal sparsity.

    One bar per pruning level reached, labelled with the count; the title
    gives the median, the mean and how many networks never passed.
    """
    from ..ensemble.results import sparsity_distribution, summary
    _check(results, "montecarlo_sparsity_histogram")
    dist = sparsity_distribution(results, threshold, column)
    s = summary(results, threshold, column)
    fig = _figure((6.4, 3.6))
    ax = fig.add_subplot()
    labels = [f"{100 * v:g}" for v in dist["sparsity"]]
    bars = ax.bar(range(len(dist)), dist["networks"], color="tab:blue")
    ax.bar_label(bars)
    from matplotlib.ticker import MaxNLocator
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.15)
    ax.set_xticks(range(len(dist)), labels)
    ax.set_xlabel("optimal sparsity (% of kernel weights pruned)")
    ax.set_ylabel("networks")
    med = s["median_sparsity"]
    title = (f"{s['passed']} of {s['networks']} networks reach "
             f"{column.replace('_', ' ')} <= {threshold:g}")
    if s["passed"]:
        title += (f"\nmedian {100 * med:.1f} %, mean "
                  f"{100 * s['mean_sparsity']:.1f} % pruned")
    if s["failed"]:
        title += f"; {s['failed']} never pass"
    ax.set_title(title, fontsize=10)
    return fig


def montecarlo_layer_survival(results, level="sparsest",
                              threshold: float = 1e-3,
                              column: str = "train_loss"):
    """Fraction of each layer's kernel weights that survive, per network.

    Box plot over networks (points overlaid) at each network's optimal level
    (``level="sparsest"``), the last level (``"final"``) or a given level.
    """
    from ..ensemble.results import layer_survival
    _check(results, "montecarlo_layer_survival")
    table = layer_survival(results, level, threshold, column)
    fig = _figure((6.4, 3.6))
    ax = fig.add_subplot()
    names = list(dict.fromkeys(results.layers["layer"]))
    data = [table.loc[table["layer"] == n, "fraction"].to_numpy()
            for n in names]
    if any(len(d) for d in data):
        ax.boxplot([d if len(d) else [np.nan] for d in data],
                   showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names)
        rng = np.random.default_rng(0)
        for i, d in enumerate(data, 1):
            ax.plot(i + rng.uniform(-0.12, 0.12, len(d)), d, ".",
                    color="tab:blue", alpha=0.5, ms=4)
    else:
        ax.text(0.5, 0.5, "no network at this level", ha="center",
                transform=ax.transAxes)
        ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("fraction of weights kept")
    ax.set_xlabel("layer")
    ax.set_title(f"surviving weights per layer ({level} level, "
                 f"{table['network'].nunique()} networks)", fontsize=10)
    return fig


def montecarlo_connections(results, level="sparsest", threshold: float = 1e-3,
                           column: str = "train_loss", cmap: str = "viridis"):
    """Heat maps of surviving input->hidden and hidden->output connections.

    Rows are networks; columns are the input units (share of each input's
    first-layer weights kept) and the output units (share of each output's
    last-layer weights kept). The bottom row is the mean over networks.
    """
    from ..ensemble.results import connection_survival
    _check(results, "montecarlo_connections")
    table = connection_survival(results, level, threshold, column)
    fig = _figure((9.0, 4.2))
    axes = fig.subplots(1, 2, width_ratios=[10, 7])
    for ax, kind, title in zip(axes, ("input", "output"),
                               ("input -> first hidden layer",
                                "last hidden layer -> output")):
        part = table[table["kind"] == kind]
        names = list(dict.fromkeys(results.connections.loc[
            results.connections["kind"] == kind, "name"]))
        if part.empty:
            ax.text(0.5, 0.5, "no network at this level", ha="center",
                    transform=ax.transAxes)
            ax.set_title(title, fontsize=10)
            continue
        grid = part.pivot_table(index="network", columns="name",
                                values="fraction")[names]
        values = np.vstack([grid.to_numpy(), grid.to_numpy().mean(axis=0)])
        im = ax.imshow(values, aspect="auto", cmap=cmap, vmin=0.0,
                       vmax=max(float(np.nanmax(values)), 1e-9),
                       interpolation="nearest")
        ax.axhline(len(grid) - 0.5, color="white", lw=1.5)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
        rows = [str(n) for n in grid.index] + ["mean"]
        step = max(1, len(rows) // 20)
        ticks = list(range(0, len(rows) - 1, step)) + [len(rows) - 1]
        ax.set_yticks(ticks, [rows[t] for t in ticks])
        ax.set_ylabel("network")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, label="fraction kept", shrink=0.9)
    return fig


def montecarlo_loss_curves(results, column: str = "train_loss",
                           threshold: float | None = 1e-3, x: str = "level"):
    """Loss of every network against the pruning level (log scale).

    Args:
        results: a ``MonteCarloResult``.
        column: ``"train_loss"``, ``"val_loss"`` or ``"test_loss"``.
        threshold: draw this loss threshold (``None``: none).
        x: ``"level"`` (evenly spaced, labelled with the sparsity) or
            ``"sparsity"`` (the sparsity as the x value).
    """
    from .._validate import check_choice
    f = "montecarlo_loss_curves"
    _check(results, f)
    hist = results.history
    check_choice(column, [c for c in hist.columns if c.endswith("_loss")],
                 "column", f)
    check_choice(x, ("level", "sparsity"), "x", f)
    fig = _figure((6.4, 3.8))
    ax = fig.add_subplot()
    for _, g in hist.sort_values("level").groupby("network"):
        ax.plot(g[x], g[column], "-", color="tab:blue", alpha=0.35, lw=0.9)
    med = hist.groupby("level")[column].median()
    xs = med.index if x == "level" else \
        hist.groupby("level")["sparsity"].first()
    ax.plot(np.asarray(xs), med.to_numpy(), "-o", color="black", ms=3,
            lw=1.8, label="median")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", ls="--", lw=1,
                   label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    if x == "level":
        sp = hist.groupby("level")["sparsity"].first()
        step = max(1, len(sp) // 12)
        ax.set_xticks(sp.index[::step],
                      [f"{100 * v:g}" for v in sp.to_numpy()[::step]])
        ax.set_xlabel("pruning level (% of weights pruned)")
    else:
        ax.set_xlabel("sparsity")
    ax.set_ylabel(column.replace("_", " ") + " (scaled MSE)")
    ax.legend(fontsize=8)
    ax.set_title(f"{results.n_networks} networks", fontsize=10)
    return fig
