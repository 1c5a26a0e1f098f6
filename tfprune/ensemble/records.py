"""The per-level rows of a Monte Carlo run, kept compact.

Each finished level is one :class:`LevelRecord`: the history row of every
network and the surviving-weight counts per layer, per input unit and per
output unit. A record is small JSON (it goes into the level's commit
record), so a resumed or merged run rebuilds exactly the tables of an
uninterrupted one; records of shards of the same level are joined along the
network axis.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .results import HISTORY_COLUMNS

__all__ = ["LevelRecord", "frames"]

_HISTORY_TYPES = {"network": int, "seed": "int64", "level": int,
                  "kept_weights": int, "total_weights": int, "batches": int,
                  "stopped": bool, "kernel_sparsity": float,
                  "bias_sparsity": float, "train_loss": float,
                  "val_loss": float, "test_loss": float}


@dataclasses.dataclass(frozen=True)
class LevelRecord:
    """One level of a run (or of a shard of it).

    Attributes:
        level: the level (0 is the dense level).
        history: ``{column: list}``, one entry per network, in network
            order (columns of ``MonteCarloResult.history``).
        layer_kept: ``(N, layers)`` kept kernel weights per layer.
        input_kept: ``(N, inputs)`` kept outgoing weights of each input.
        output_kept: ``(N, outputs)`` kept incoming weights of each output.
        last: True when the run ended after this level.
    """

    level: int
    history: dict
    layer_kept: list
    input_kept: list
    output_kept: list
    last: bool = False

    @classmethod
    def measure(cls, ens, networks, level, target, log, losses, seconds,
                last=False) -> "LevelRecord":
        """The record of ``ens`` (a StackedMLP whose network ``p`` is
        network ``networks[p]`` of the run) after ``level``."""
        n = ens.n_networks
        masks = [m.numpy() for m in ens.kernel_masks]
        bmasks = [m.numpy() for m in ens.bias_masks]
        kept_l = np.stack([m.reshape(n, -1).sum(axis=1, dtype=np.int64)
                           for m in masks], 1)
        total = int(sum(np.prod(m.shape[1:]) for m in masks))
        kept = kept_l.sum(axis=1)
        btot = sum(int(np.prod(m.shape[1:])) for m in bmasks)
        bkept = sum(m.reshape(n, -1).sum(axis=1) for m in bmasks)
        hist = {
            "network": [int(k) for k in networks],
            "seed": [s if s is not None else -1 for s in ens.seeds],
            "level": [level] * n, "sparsity": [float(target)] * n,
            "kernel_sparsity": (1.0 - kept / float(total)).tolist(),
            "kept_weights": kept.astype(int).tolist(),
            "total_weights": [total] * n,
            "bias_sparsity": (1.0 - np.asarray(bkept, float) / btot).tolist(),
            **{c: np.asarray(losses[c], float).tolist()
               for c in ("train_loss", "val_loss", "test_loss")},
            "batches": np.asarray(log.batches, int).tolist(),
            "stopped": np.asarray(log.stopped, bool).tolist(),
            "seconds": [float(seconds)] * n}
        return cls(level, hist, kept_l.astype(int).tolist(),
                   masks[0].sum(axis=2, dtype=np.int64).tolist(),
                   masks[-1].sum(axis=1, dtype=np.int64).tolist(), last)

    def to_state(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> "LevelRecord":
        return cls(**{f.name: state[f.name]
                      for f in dataclasses.fields(cls)})

    @classmethod
    def join(cls, parts) -> "LevelRecord":
        """The records of several shards of one level, networks in order."""
        parts = sorted(parts, key=lambda r: r.history["network"][0])
        hist = {c: [v for r in parts for v in r.history[c]]
                for c in parts[0].history}
        return cls(parts[0].level, hist,
                   *([row for r in parts for row in getattr(r, name)]
                     for name in ("layer_kept", "input_kept",
                                  "output_kept")),
                   last=all(r.last for r in parts))

    def passed(self, column, threshold) -> np.ndarray:
        return np.asarray(self.history[column], float) <= threshold


def _layer_rows(records, layer_names, totals):
    rows = {c: [] for c in ("network", "level", "layer", "kept", "total",
                            "fraction")}
    for r in records:
        nets = r.history["network"]
        kept = np.asarray(r.layer_kept, np.int64).reshape(len(nets), -1)
        for j, name in enumerate(layer_names):
            rows["network"] += nets
            rows["level"] += [r.level] * len(nets)
            rows["layer"] += [name] * len(nets)
            rows["kept"] += kept[:, j].tolist()
            rows["total"] += [int(totals[j])] * len(nets)
            rows["fraction"] += (kept[:, j] / totals[j]).tolist()
    return rows


def _connection_rows(records, in_names, out_names, widths):
    rows = {c: [] for c in ("network", "level", "kind", "unit", "name",
                            "kept", "total", "fraction")}
    for r in records:
        nets = r.history["network"]
        for kind, counts, names, total in (
                ("input", r.input_kept, in_names, widths[1]),
                ("output", r.output_kept, out_names, widths[-2])):
            counts = np.asarray(counts, np.int64).reshape(len(nets), -1)
            units = counts.shape[1]
            rows["network"] += np.repeat(nets, units).tolist()
            rows["level"] += [r.level] * (len(nets) * units)
            rows["kind"] += [kind] * (len(nets) * units)
            rows["unit"] += np.tile(np.arange(units), len(nets)).tolist()
            rows["name"] += list(names) * len(nets)
            rows["kept"] += counts.reshape(-1).tolist()
            rows["total"] += [int(total)] * (len(nets) * units)
            rows["fraction"] += (counts.reshape(-1) / total).tolist()
    return rows


def frames(records, widths, layer_names, in_names, out_names):
    """``(history, layers, connections)`` DataFrames of ``records``."""
    records = sorted(records, key=lambda r: r.level)
    cols = list(HISTORY_COLUMNS) + ["seconds"]
    hist = pd.DataFrame({c: [v for r in records for v in r.history[c]]
                         for c in cols}).astype(_HISTORY_TYPES)
    totals = [a * b for a, b in zip(widths[:-1], widths[1:])]
    lay = pd.DataFrame(_layer_rows(records, layer_names, totals)).astype(
        {"network": int, "level": int, "kept": int, "total": int,
         "fraction": float})
    con = pd.DataFrame(_connection_rows(records, in_names, out_names,
                                        widths)).astype(
        {"network": int, "level": int, "unit": int, "kept": int,
         "total": int, "fraction": float})
    return hist, lay, con
