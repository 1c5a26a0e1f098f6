"""Write a Monte Carlo result as CSV tables and PNG figures (a workflow:
it calls the plots)."""
from __future__ import annotations

from pathlib import Path

from .. import plots
from .._io import atomic_write_csv, ensure_dir, save_figure
from .results import (MonteCarloResult, connection_survival, layer_survival,
                      sparsity_distribution)

__all__ = ["save_report"]


def save_report(results: MonteCarloResult, out_dir, threshold=None,
                column=None, dpi: int = 120) -> dict[str, Path]:
    """Write the tables and figures of ``results`` into ``out_dir``.

    Files: ``history.csv`` (every network at every level), ``sparsest.csv``
    (each network's most pruned level under the threshold, failures
    included), ``distribution.csv``, ``summary.csv``, ``layers.csv`` and
    ``connections.csv`` (survival at each network's sparsest level) and the
    figures ``sparsity_histogram.png``, ``layer_survival.png``,
    ``connections.png`` and ``loss_curves.png``. Each file is written
    atomically.

    Args:
        results: a :class:`MonteCarloResult`.
        out_dir: output folder (created if needed).
        threshold, column: default to the run's own.
        dpi: resolution of the PNGs.

    Returns:
        ``{name: path}`` of the files written.
    """
    f = "save_report"
    if not isinstance(results, MonteCarloResult):
        raise TypeError(f"{f}(): 'results' must be a MonteCarloResult; got "
                        f"{type(results).__name__}.")
    out = ensure_dir(out_dir, "out_dir", f)
    th = results.config["threshold"] if threshold is None else threshold
    col = column or results.config["column"]
    tables = {
        "history": results.history,
        "sparsest": results.sparsest(th, col),
        "distribution": sparsity_distribution(results, th, col),
        "summary": results.summary(th, col).to_frame("value"),
        "layers": layer_survival(results, "sparsest", th, col),
        "connections": connection_survival(results, "sparsest", th, col),
    }
    paths = {}
    for name, table in tables.items():
        paths[name] = atomic_write_csv(out / f"{name}.csv", table,
                                       index=(name == "summary"))
    figs = {
        "sparsity_histogram": plots.montecarlo_sparsity_histogram(
            results, th, col),
        "layer_survival": plots.montecarlo_layer_survival(
            results, "sparsest", th, col),
        "connections": plots.montecarlo_connections(results, "sparsest", th,
                                                    col),
        "loss_curves": plots.montecarlo_loss_curves(results, col, th),
    }
    for name, fig in figs.items():
        paths[name] = save_figure(fig, out / f"{name}.png", dpi=dpi)
    return paths
