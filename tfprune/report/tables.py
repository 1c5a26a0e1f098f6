"""The per-layer table and the totals: params, MACs, FLOPs, sparsity."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._keras import check_model, tf
from .rules import is_prune_wrapper, n_of, unwrap
from .walk import analyse, warn_uncounted

__all__ = ["count_params", "count_flops", "count_macs", "layer_table",
           "total_sparsity", "human", "COLUMNS", "EXTRA_COLUMNS", "UNIT"]

#: The first columns of :func:`layer_table`, in this order.
COLUMNS = ("layer", "type", "output_shape", "params", "macs", "flops",
           "sparsity")
#: Extra columns of :func:`layer_table`, after :data:`COLUMNS`.
EXTRA_COLUMNS = ("trainable_params", "counted", "note")
#: The unit every report names.
UNIT = "FLOPs (2 per MAC + bias adds)"



def count_params(model) -> int:
    """Number of parameters, equal to ``model.count_params()``.

    Counts every weight once, trainable or not (BN moving statistics and tfmot
    masks included).

    Args:
        model: a built Sequential or Functional ``tp.keras`` model.

    Returns:
        int.

    Raises:
        TypeError: Keras 3, subclassed or non-model input.
        ValueError: an unbuilt model.
    """
    check_model(model, "model", "count_params")
    return int(model.count_params())


def count_flops(model, batch_size=1) -> int:
    """Inference FLOPs: 2 per multiply-add plus bias adds (TF profiler rules).

    Computed from layer shapes; equal to :func:`profiler_flops` on models made
    of the layers listed in ``docs/sections/report.md`` (with
    ``inline_grouped=True`` where the model has grouped convolutions). The
    model is not changed.

    Args:
        model: a built Sequential or Functional ``tp.keras`` model with a fixed
            input shape (tfmot pruning wrappers are counted as their layer).
        batch_size: the batch the count is for (int >= 1).

    Returns:
        int: total FLOPs.

    Raises:
        TypeError: Keras 3, subclassed or non-model input; non-int batch.
        ValueError: unbuilt model, undefined input dims, batch_size < 1.

    Example:
        >>> tp.report.count_flops(tp.models.lenet_300_100())
        532810
    """
    rows = analyse(model, batch_size, "count_flops")
    warn_uncounted(rows, "count_flops")
    return int(sum(r.flops for r in rows))


def human(n):
    for factor, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= factor:
            return f"{n / factor:.3f} {unit}FLOPs"
    return f"{n} FLOPs"


def count_macs(model, batch_size=1) -> int:
    """Multiply-accumulates of the Conv/Dense-family layers (the number most
    pruning papers quote)."""
    rows = analyse(model, batch_size, "count_macs")
    return int(sum(r.macs for r in rows))


_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings",
            "gamma")


def _zeros(layer):
    """(exact zeros, size) of the layer's kernels; kernel * mask if wrapped.

    Kernels are ``kernel``, ``depthwise_kernel``, ``pointwise_kernel``,
    ``embeddings`` and, for normalization layers, the scale ``gamma``.
    """
    arrays = []
    if is_prune_wrapper(layer) and getattr(layer, "pruning_vars", None):
        arrays = [w.numpy() * m.numpy() for w, m, _ in layer.pruning_vars]
    else:
        inner = unwrap(layer)
        for attr in _KERNELS:
            w = getattr(inner, attr, None)
            if isinstance(w, tf.Variable):
                arrays.append(w.numpy())
    size = sum(a.size for a in arrays)
    return sum(a.size - np.count_nonzero(a) for a in arrays), size


def layer_table(model, batch_size=1) -> pd.DataFrame:
    """One row per layer: params, MACs, FLOPs and sparsity.

    Columns: ``layer, type, output_shape, params, macs, flops, sparsity``
    then ``trainable_params, counted, note``. Nested models appear as
    ``outer/inner`` rows; tfmot-wrapped layers under their own name and type.
    ``output_shape`` includes the batch dimension of the count. ``sparsity``
    is the fraction of exact zeros in the layer's kernels (``kernel``,
    ``depthwise_kernel``, ``pointwise_kernel``, ``embeddings``, or the BN/LN
    scale ``gamma``; kernel * mask for a tfmot wrapper; NaN for layers without
    any). ``counted`` is False where the layer's FLOPs are unknown (shown as
    0); ``note`` says where the count follows a profiler quirk. Totals are in
    ``table.attrs``: ``params`` (= ``model.count_params()``), ``macs``,
    ``flops``, ``sparsity`` (zeros over all kernels), ``batch_size``,
    ``unit``.

    Args:
        model: a built Sequential or Functional ``tp.keras`` model.
        batch_size: the batch the MAC/FLOP counts are for.

    Returns:
        pandas.DataFrame.

    Raises:
        TypeError, ValueError: as :func:`count_flops`.
    """
    rows = analyse(model, batch_size, "layer_table")
    records = []
    zeros = size = 0
    for r in rows:
        z, n = _zeros(r.layer)
        zeros, size = zeros + z, size + n
        records.append({
            "layer": r.name, "type": r.type,
            "output_shape": r.output_shape,
            "params": int(r.layer.count_params()) if r.layer.built else 0,
            "macs": r.macs, "flops": r.flops,
            "sparsity": z / n if n else float("nan"),
            "trainable_params": int(sum(n_of(w.shape) for w in
                                        r.layer.trainable_weights)),
            "counted": r.counted, "note": "; ".join(r.notes)})
    table = pd.DataFrame.from_records(records,
                                      columns=list(COLUMNS + EXTRA_COLUMNS))
    for col in ("params", "macs", "flops", "trainable_params"):
        table[col] = table[col].astype("int64")
    table["sparsity"] = table["sparsity"].astype("float64")
    table["counted"] = table["counted"].astype(bool)
    table.attrs.update(model=model.name, params=int(model.count_params()),
                       macs=int(table["macs"].sum()),
                       flops=int(table["flops"].sum()),
                       sparsity=zeros / size if size else float("nan"),
                       batch_size=int(batch_size), unit=UNIT)
    return table


def total_sparsity(table):
    """The fraction of exact zeros over all kernels of a layer table."""
    if "sparsity" in table.attrs:
        return table.attrs["sparsity"]
    s = table["sparsity"]
    w = table["params"].where(s.notna(), 0)
    if w.sum() == 0:
        return float("nan")
    # Weighted by each layer's parameter count (an approximation for layers
    # whose kernels are only part of their weights).
    return float((s.fillna(0) * w).sum() / w.sum())
