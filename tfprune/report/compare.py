"""Before / after: params and FLOPs of an original and a pruned model."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._keras import check_model
from .measure import add_measured
from .tables import UNIT, layer_table, total_sparsity

__all__ = ["compare"]


def _pct(before, after):
    before = np.asarray(before, dtype="float64")
    after = np.asarray(after, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(before > 0, 100.0 * (1.0 - after / before), np.nan)
    return out


def compare(original, pruned, batch_size=1, measure=False,
            **measure_options) -> pd.DataFrame:
    """Params and FLOPs before / after pruning, per layer and in total.

    Layers are matched by name (tfmot wrappers by their inner layer's name);
    a layer missing on one side counts as 0 there. The last row,
    ``layer == "TOTAL"``, holds the model totals. Reduction is
    ``100 * (1 - after / before)`` (NaN where before is 0). Neither model is
    changed.

    Columns: ``layer, type, params_before, params_after,
    params_reduction_pct, flops_before, flops_after, flops_reduction_pct,
    shape_before, shape_after, sparsity_before, sparsity_after``. ``attrs``
    holds ``compression`` (params before / after), ``speedup`` (FLOPs before
    / after), ``batch_size`` and ``unit``.

    Args:
        original: the reference ``tp.keras`` model.
        pruned: the pruned model.
        batch_size: the batch the FLOP counts (and the latency) are for.
        measure: add file sizes, latencies and the measured speed-up to the
            TOTAL row (``measure.add_measured``, given ``measure_options``).

    Returns:
        pandas.DataFrame.

    Raises:
        TypeError, ValueError: as :func:`count_flops`, naming the argument.
    """
    check_model(original, "original", "compare")
    check_model(pruned, "pruned", "compare")
    a = layer_table(original, batch_size)
    b = layer_table(pruned, batch_size)
    names = list(a["layer"]) + [n for n in b["layer"] if n not in
                                set(a["layer"])]
    ai = a.set_index("layer")
    bi = b.set_index("layer")

    def col(frame, name, column, default):
        if name in frame.index:
            return frame.at[name, column]
        return default

    records = []
    for name in names:
        records.append({
            "layer": name,
            "type": col(ai, name, "type", None) or col(bi, name, "type", None),
            "params_before": int(col(ai, name, "params", 0)),
            "params_after": int(col(bi, name, "params", 0)),
            "flops_before": int(col(ai, name, "flops", 0)),
            "flops_after": int(col(bi, name, "flops", 0)),
            "shape_before": col(ai, name, "output_shape", None),
            "shape_after": col(bi, name, "output_shape", None),
            "sparsity_before": col(ai, name, "sparsity", np.nan),
            "sparsity_after": col(bi, name, "sparsity", np.nan)})
    records.append({
        "layer": "TOTAL", "type": "",
        "params_before": a.attrs["params"], "params_after": b.attrs["params"],
        "flops_before": a.attrs["flops"], "flops_after": b.attrs["flops"],
        "shape_before": None, "shape_after": None,
        "sparsity_before": total_sparsity(a),
        "sparsity_after": total_sparsity(b)})
    out = pd.DataFrame.from_records(records)
    out["params_reduction_pct"] = _pct(out["params_before"],
                                       out["params_after"])
    out["flops_reduction_pct"] = _pct(out["flops_before"], out["flops_after"])
    out = out[["layer", "type", "params_before", "params_after",
               "params_reduction_pct", "flops_before", "flops_after",
               "flops_reduction_pct", "shape_before", "shape_after",
               "sparsity_before", "sparsity_after"]]
    pb, pa = a.attrs["params"], b.attrs["params"]
    fb, fa = a.attrs["flops"], b.attrs["flops"]
    out.attrs.update(compression=pb / pa if pa else math.inf,
                     speedup=fb / fa if fa else math.inf,
                     batch_size=int(batch_size), unit=UNIT)
    if measure:
        out = add_measured(out, original, pruned, batch_size,
                           **measure_options)
    return out
