"""Monte Carlo results: tables, the sparsest good level per network, and
per-layer / per-connection survival (``docs/sections/ensemble.md``).

Every function takes a :class:`MonteCarloResult` (or its ``history``
DataFrame where noted) and returns a ``pandas.DataFrame`` or ``Series``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._validate import check_choice, check_float, check_int
from ..errors import InvalidParameterError

__all__ = ["MonteCarloResult", "sparsest", "sparsity_distribution",
           "summary", "layer_survival", "connection_survival",
           "HISTORY_COLUMNS", "LOSS_COLUMNS"]

HISTORY_COLUMNS = ("network", "seed", "level", "sparsity", "kernel_sparsity",
                   "kept_weights", "total_weights", "bias_sparsity",
                   "train_loss", "val_loss", "test_loss", "batches",
                   "stopped")
LOSS_COLUMNS = ("train_loss", "val_loss", "test_loss")


@dataclass(frozen=True)
class MonteCarloResult:
    """Everything a Monte Carlo run produced.

    Attributes:
        history: one row per (network, level): ``network, seed, level,
            sparsity`` (the target; 0 for the dense level 0),
            ``kernel_sparsity`` (measured fraction of kernel weights pruned),
            ``kept_weights, total_weights, bias_sparsity``, ``train_loss,
            val_loss, test_loss`` (MSE over the full sets, mean over outputs;
            NaN without a test set), ``batches`` (trained at that level) and
            ``stopped`` (early stopping fired before the cap).
        layers: one row per (network, level, layer): ``layer, kept, total,
            fraction`` of the layer's kernel weights.
        connections: one row per (network, level, kind, unit): ``kind`` is
            ``"input"`` (outgoing weights of an input unit in the first layer)
            or ``"output"`` (incoming weights of an output unit in the last
            layer), with ``name, kept, total, fraction``.
        config: the run's parameters (widths, schedule, ...), with
            ``networks`` (``[first, stop)``: the global indices of the
            networks held here; a shard holds a part of the run) and their
            ``seeds``.
        ensemble: the :class:`~tfprune.ensemble.StackedMLP` after the last
            level (``None`` when not kept); its network ``p`` is network
            ``first + p`` of the run.
        snapshot_levels: ``(N,)`` level of each network's kept snapshot (its
            most pruned level passing the run's threshold so far), -1 if none.
        snapshot_weights: per-layer ``(N, ...)`` masked kernels and biases of
            those snapshots, in Keras order ``[W1, b1, W2, b2, ...]``.
        level_weights: ``{level: [W1, b1, ...]}`` when the run kept every
            level (``keep_levels=True``), else empty.
    """
    history: pd.DataFrame
    layers: pd.DataFrame
    connections: pd.DataFrame
    config: dict
    ensemble: Any = None
    snapshot_levels: np.ndarray | None = None
    snapshot_weights: list | None = None
    level_weights: dict = field(default_factory=dict)

    @property
    def networks(self) -> range:
        """Global indices of the networks held here (all of a run's, or a
        shard's share)."""
        first, stop = self.config.get("networks",
                                      (0, self.config["n_networks"]))
        return range(int(first), int(stop))

    @property
    def n_networks(self) -> int:
        return len(self.networks)

    def to_frame(self) -> pd.DataFrame:
        """The ``history`` table (a copy)."""
        return self.history.copy()

    def sparsest(self, threshold: float | None = None,
                 column: str | None = None) -> pd.DataFrame:
        """:func:`sparsest` with the run's threshold and column by default."""
        return sparsest(self, self.config["threshold"] if threshold is None
                        else threshold,
                        column or self.config["column"])

    def summary(self, threshold: float | None = None,
                column: str | None = None) -> pd.Series:
        """:func:`summary` with the run's threshold and column by default."""
        return summary(self, self.config["threshold"] if threshold is None
                       else threshold, column or self.config["column"])

    def export(self, network: int, level="sparsest"):
        """Network ``network`` as a plain tf_keras model.

        Args:
            network: the network's index in the run (see :attr:`networks`).
            level: ``"sparsest"`` (its most pruned level whose loss passed the
                run's threshold), ``"final"`` (after the last level) or an
                integer level (needs ``keep_levels=True`` in the run).

        Raises:
            ValueError: the network never passed the threshold, or the level
                was not kept.
        """
        from .stack import StackedMLP
        f = "MonteCarloResult.export"
        nets = self.networks
        network = check_int(network, "network", f, min_value=nets.start,
                            max_value=nets.stop - 1)
        p = network - nets.start
        ens = self.ensemble if isinstance(self.ensemble, StackedMLP) else \
            _template(self.config)
        if level == "final":
            if not isinstance(self.ensemble, StackedMLP):
                raise InvalidParameterError(
                    f"{f}(): this result holds no final ensemble.")
            return ens.to_keras(p, name=f"network_{network}")
        if level == "sparsest":
            lv = int(self.snapshot_levels[p])
            if lv < 0:
                raise InvalidParameterError(
                    f"{f}(): network {network} never reached "
                    f"{self.config['column']} <= {self.config['threshold']}; "
                    "export level='final' or an integer level instead.")
            weights = [w[p] for w in self.snapshot_weights]
            return ens.to_keras(p, weights=weights,
                                name=f"network_{network}_level_{lv}")
        level = check_int(level, "level", f, min_value=0)
        if level not in self.level_weights:
            raise InvalidParameterError(
                f"{f}(): level {level} was not kept; run with "
                "keep_levels=True to export any level, or use "
                "level='sparsest' / 'final'.")
        weights = self.level_weights[level]
        if callable(weights):
            weights = weights()
        return ens.to_keras(p, weights=[w[p] for w in weights],
                            name=f"network_{network}_level_{level}")


def _template(config):
    from .stack import StackedMLP
    return StackedMLP(len(config["seeds"]), inputs=config["widths"][0],
                      hidden=tuple(config["widths"][1:-1]),
                      outputs=config["widths"][-1],
                      activation=config["activation"], seeds=config["seeds"])


def _history(results, func) -> pd.DataFrame:
    if isinstance(results, MonteCarloResult):
        return results.history
    if isinstance(results, pd.DataFrame):
        missing = {"network", "level", "sparsity"} - set(results.columns)
        if missing:
            raise InvalidParameterError(
                f"{func}(): 'results' DataFrame lacks the columns "
                f"{sorted(missing)}; pass a MonteCarloResult or its .history.")
        return results
    raise TypeError(f"{func}(): 'results' must be a MonteCarloResult or its "
                    f"history DataFrame; got {type(results).__name__}.")


def sparsest(results, threshold: float = 1e-3, column: str = "train_loss"
             ) -> pd.DataFrame:
    """The most pruned level of each network whose loss is <= ``threshold``.

    The *last* passing level is chosen even when the loss curve is not
    monotone. Networks with no passing level are kept in the
    table with ``passed=False``, ``level`` missing (``<NA>``) and NaN values.

    Args:
        results: a :class:`MonteCarloResult` or its ``history`` DataFrame.
        threshold: loss threshold (scaled MSE; 1e-3 in the moth study).
        column: the loss column to test, ``"train_loss"`` by default.

    Returns:
        One row per network: ``network, seed, passed, level, sparsity,
        kernel_sparsity, kept_weights`` and the loss columns.
    """
    f = "sparsest"
    hist = _history(results, f)
    threshold = check_float(threshold, "threshold", f)
    cols = [c for c in hist.columns if c.endswith("_loss")]
    check_choice(column, cols, "column", f)
    keep = [c for c in ("network", "seed", "level", "sparsity",
                        "kernel_sparsity", "kept_weights") if c in hist]
    keep += [c for c in LOSS_COLUMNS if c in hist and c not in keep]
    if column not in keep:
        keep.append(column)
    rows = []
    for net, g in hist.sort_values(["network", "level"]).groupby(
            "network", sort=True):
        ok = g[g[column] <= threshold]
        if len(ok):
            row = ok.iloc[-1][keep].to_dict()
            row["passed"] = True
        else:
            row = {c: np.nan for c in keep}
            row["network"] = net
            if "seed" in g:
                row["seed"] = g["seed"].iloc[0]
            row["passed"] = False
        rows.append(row)
    out = pd.DataFrame(rows, columns=["network", "seed", "passed"] +
                       [c for c in keep if c not in ("network", "seed")])
    if "seed" not in hist:
        out = out.drop(columns="seed")
    out["network"] = out["network"].astype(int)
    out["passed"] = out["passed"].astype(bool)
    out["level"] = out["level"].astype("Int64")
    if "kept_weights" in out:
        out["kept_weights"] = out["kept_weights"].astype("Int64")
    return out.reset_index(drop=True)


def sparsity_distribution(results, threshold: float = 1e-3,
                          column: str = "train_loss") -> pd.DataFrame:
    """How many networks have each optimal sparsity.

    Returns:
        ``sparsity, networks, fraction`` (fraction of *all* networks), one row
        per sparsity reached, ascending; networks that never passed appear in
        :func:`summary` as ``failed``.
    """
    table = sparsest(results, threshold, column)
    ok = table[table["passed"]]
    counts = ok.groupby("sparsity").size().rename("networks").reset_index()
    counts["fraction"] = counts["networks"] / max(len(table), 1)
    return counts.sort_values("sparsity").reset_index(drop=True)


def summary(results, threshold: float = 1e-3, column: str = "train_loss"
            ) -> pd.Series:
    """Counts and statistics of the optimal sparsity across networks.

    Returns:
        ``networks, passed, failed, median_sparsity, mean_sparsity,
        min_sparsity, max_sparsity, mean_kept_fraction`` (over the networks
        that passed; NaN when none did).
    """
    table = sparsest(results, threshold, column)
    ok = table[table["passed"]]
    s = ok["sparsity"].astype(float)
    kept = 1.0 - ok["kernel_sparsity"].astype(float) \
        if "kernel_sparsity" in ok else 1.0 - s
    return pd.Series({
        "networks": int(len(table)), "passed": int(len(ok)),
        "failed": int(len(table) - len(ok)),
        "median_sparsity": float(s.median()) if len(s) else np.nan,
        "mean_sparsity": float(s.mean()) if len(s) else np.nan,
        "min_sparsity": float(s.min()) if len(s) else np.nan,
        "max_sparsity": float(s.max()) if len(s) else np.nan,
        "mean_kept_fraction": float(kept.mean()) if len(s) else np.nan,
        "threshold": float(threshold), "column": column}, dtype=object)


def _levels_for(results, level, threshold, column, func):
    """``{network: level}`` for 'sparsest', 'final' or an integer level."""
    hist = results.history
    if level == "sparsest":
        table = sparsest(results, threshold, column)
        table = table[table["passed"]]
        return dict(zip(table["network"].astype(int),
                        table["level"].astype(int)))
    if level == "final":
        last = hist.groupby("network")["level"].max()
        return {int(k): int(v) for k, v in last.items()}
    level = check_int(level, "level", func, min_value=0,
                      max_value=int(hist["level"].max()))
    return {int(n): level for n in sorted(hist["network"].unique())}


def _select(results, frame, level, threshold, column, func):
    if not isinstance(results, MonteCarloResult):
        raise TypeError(f"{func}(): 'results' must be a MonteCarloResult; "
                        f"got {type(results).__name__}.")
    chosen = _levels_for(results, level, threshold, column, func)
    if not chosen:
        return frame.iloc[0:0].copy()
    key = pd.DataFrame({"network": list(chosen),
                        "level": list(chosen.values())})
    return frame.merge(key, on=["network", "level"]).reset_index(drop=True)


def layer_survival(results, level="sparsest", threshold: float = 1e-3,
                   column: str = "train_loss") -> pd.DataFrame:
    """Surviving kernel weights per layer for each network.

    Args:
        results: a :class:`MonteCarloResult`.
        level: ``"sparsest"`` (each network's optimal level; networks that
            never pass are left out), ``"final"`` or an integer level.
        threshold, column: as in :func:`sparsest`.

    Returns:
        ``network, level, layer, kept, total, fraction``.
    """
    return _select(results, results.layers, level, threshold, column,
                   "layer_survival")


def connection_survival(results, level="sparsest", threshold: float = 1e-3,
                        column: str = "train_loss") -> pd.DataFrame:
    """Which input->hidden and hidden->output connections survive.

    For each network at the chosen level: per input unit, how many of its
    outgoing first-layer weights are kept (``kind="input"``); per output
    unit, how many incoming last-layer weights are kept (``kind="output"``).
    Pivot with ``table.pivot_table(index="network", columns="name",
    values="fraction")`` for a heat map across networks.

    Returns:
        ``network, level, kind, unit, name, kept, total, fraction``.
    """
    return _select(results, results.connections, level, threshold, column,
                   "connection_survival")
