"""Mask arithmetic: which weights are pruned, how many, and how sparse a model is.

Masks are ``{layer_name: [array, ...]}`` dicts, one 0/1 float array per
prunable weight of the layer (the kernel; the bias too with ``prune_bias``),
keyed by the *inner* layer name so that a wrapped model, its stripped copy and
the original model share keys.

Counting rule of :func:`prune_remaining` (used by ``DynamicPruning``,
``one_shot`` and ``lottery_ticket``): an event prunes
``round(fraction * remaining)`` of the still-unpruned entries (Python's
``round``, as ``torch.nn.utils.prune``), the smallest ``|w|`` first, ties to
the lower flat index; masks are monotone (a pruned weight never returns).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._validate import check_choice, check_fraction
from ..errors import InvalidParameterError
from .layers import kernel_vars, prunable_layer_names, wrappers
from .schedules import LevelSparsity

__all__ = ["get_masks", "set_masks", "apply_masks", "prunable_values",
           "prune_remaining", "percentile_masks", "sparsity_table",
           "achieved_sparsity", "count_pruned"]


def prunable_variables(model, layers=None, kernels_only=False) -> dict:
    """``{name: [(variable, mask_variable_or_None), ...]}`` of a model.

    For a wrapped model: the weights each tfmot wrapper prunes, with their
    mask variables. For a plain model: the kernel of every prunable layer
    (or of ``layers``), with no mask variable.
    """
    ws = wrappers(model)
    out = {}
    if ws:
        for w in ws:
            pairs = [(v, m) for v, m, _ in w.pruning_vars]
            if kernels_only:
                pairs = pairs[:1]
            out[w.layer.name] = pairs
        names = list(out)
    else:
        names = prunable_layer_names(model) if layers is None else list(layers)
        by_name = {la.name: la for la in model.layers}
        for name in names:
            if name not in by_name:
                raise InvalidParameterError(
                    f"'layers' names {name!r}, which is not a layer of "
                    f"model '{model.name}'.")
            out[name] = [(v, None) for v in kernel_vars(by_name[name])]
    if layers is not None:
        out = {k: v for k, v in out.items() if k in set(layers)}
    return out


def prunable_values(model, layers=None, masked=True) -> dict:
    """``{name: [array, ...]}``: current prunable weights (times their mask
    for a wrapped model when ``masked``)."""
    out = {}
    for name, pairs in prunable_variables(model, layers).items():
        vals = []
        for v, m in pairs:
            a = v.numpy()
            if masked and m is not None:
                a = a * m.numpy()
            vals.append(a)
        out[name] = vals
    return out


def get_masks(model, layers=None) -> dict:
    """Current masks: the wrappers' mask variables, or ``w != 0`` for a plain
    model."""
    out = {}
    for name, pairs in prunable_variables(model, layers).items():
        out[name] = [(m.numpy() if m is not None else
                      (v.numpy() != 0)).astype(np.float32) for v, m in pairs]
    return out


def _check_masks(masks, pairs_by_name, func):
    for name, arrays in masks.items():
        if name not in pairs_by_name:
            raise InvalidParameterError(
                f"{func}(): masks hold layer {name!r}, which is not a pruned "
                f"layer of the model; pruned layers are "
                f"{list(pairs_by_name)}.")
        pairs = pairs_by_name[name]
        if len(arrays) > len(pairs):
            raise InvalidParameterError(
                f"{func}(): masks[{name!r}] has {len(arrays)} arrays, the "
                f"layer prunes {len(pairs)} weights.")
        for a, (v, _) in zip(arrays, pairs):
            if tuple(np.shape(a)) != tuple(v.shape):
                raise InvalidParameterError(
                    f"{func}(): masks[{name!r}] has shape {np.shape(a)}, "
                    f"the weight has shape {tuple(v.shape)}.")


def set_masks(model, masks, freeze=True) -> None:
    """Install masks in a wrapped model (in place) and zero the pruned weights.

    With ``freeze`` the wrappers' :class:`LevelSparsity` schedules stop
    re-pruning, so the masks stay as given. For a plain model only the
    weights are multiplied by the masks.
    """
    pairs_by_name = prunable_variables(model)
    _check_masks(masks, pairs_by_name, "set_masks")
    for name, arrays in masks.items():
        for a, (v, m) in zip(arrays, pairs_by_name[name]):
            a = np.asarray(a, dtype=v.dtype.as_numpy_dtype)
            if m is not None:
                m.assign(a)
            v.assign(v.numpy() * a)
    if freeze:
        for w in wrappers(model):
            if isinstance(w.pruning_schedule, LevelSparsity):
                w.pruning_schedule.freeze()


def apply_masks(model) -> None:
    """``w <- w * mask`` for every wrapper (what ``UpdatePruningStep`` does at
    each epoch end)."""
    for w in wrappers(model):
        for v, m, _ in w.pruning_vars:
            v.assign(v * m)


def count_pruned(masks) -> tuple[int, int]:
    """``(pruned, total)`` entries over every array of ``masks``."""
    pruned = total = 0
    for arrays in masks.values():
        for a in arrays:
            a = np.asarray(a)
            pruned += int(a.size - np.count_nonzero(a))
            total += int(a.size)
    return pruned, total


def prune_remaining(values, masks, fraction, scope="layer", rates=None,
                    func="prune_remaining") -> dict:
    """New masks after pruning ``fraction`` of the remaining weights.

    Args:
        values: ``{name: [array, ...]}`` current weights.
        masks: ``{name: [array, ...]}`` current masks (None: all ones).
        fraction: share of the *remaining* entries to prune, in [0, 1).
        scope: ``"layer"`` (each array on its own) or ``"global"`` (one
            ranking over all arrays).
        rates: ``{name: multiplier}``; ``"layer"`` scope prunes
            ``fraction * rate`` of that layer, ``"global"`` scope accepts 0
            (leave the layer out) or 1.

    Returns:
        New monotone masks (``old AND keep``) with the same keys.
    """
    fraction = check_fraction(fraction, "fraction", func)
    check_choice(scope, ("layer", "global"), "scope", func)
    rates = rates or {}
    if masks is None:
        masks = {k: [np.ones_like(a, dtype=np.float32) for a in v]
                 for k, v in values.items()}
    new = {k: [np.asarray(m, dtype=np.float32).copy() for m in masks[k]]
           for k in values}
    if scope == "layer":
        for name, arrays in values.items():
            rate = rates.get(name, 1.0)
            for i, a in enumerate(arrays):
                new[name][i] = _prune_flat([a], [new[name][i]],
                                           fraction * rate)[0]
        return new
    for name, r in rates.items():
        if r not in (0, 1):
            raise InvalidParameterError(
                f"{func}(): scope='global' takes layer rates 0 (leave out) or "
                f"1; got {r} for {name!r}. Use scope='layer' for other rates.")
    pooled = [(name, i) for name, arrays in values.items()
              for i in range(len(arrays)) if rates.get(name, 1.0) != 0]
    if pooled:
        out = _prune_flat([values[n][i] for n, i in pooled],
                          [new[n][i] for n, i in pooled], fraction)
        for (n, i), m in zip(pooled, out):
            new[n][i] = m
    return new


def _prune_flat(arrays, masks, fraction):
    flat_w = np.concatenate([np.abs(np.asarray(a, np.float64)).ravel()
                             for a in arrays])
    flat_m = np.concatenate([np.asarray(m).ravel() for m in masks]) != 0
    alive = np.flatnonzero(flat_m)
    n = int(round(fraction * alive.size))
    if n > 0:
        order = np.argsort(flat_w[alive], kind="stable")
        flat_m[alive[order[:n]]] = False
    out, start = [], 0
    for a in arrays:
        size = np.size(a)
        out.append(flat_m[start:start + size].reshape(np.shape(a)).astype(
            np.float32))
        start += size
    return out


def percentile_masks(values, masks, level) -> dict:
    """The original code's "manual" rule (``docs/sections/sparsity.md``,
    Methods): zero every entry that lies between the array's (50 - q)th
    and (50 + q)th percentiles, q = 50 * level (a window centred on the
    median), AND the old mask."""
    q = 100.0 * level / 2.0
    new = {}
    for name, arrays in values.items():
        out = []
        for i, a in enumerate(arrays):
            a = np.asarray(a)
            old = np.ones(a.shape, bool) if masks is None else (
                np.asarray(masks[name][i]) != 0)
            if level > 0:
                lo, hi = np.percentile(a, [50.0 - q, 50.0 + q])
                keep = (a < lo) | (a > hi)
            else:
                keep = np.ones(a.shape, bool)
            out.append((old & keep).astype(np.float32))
        new[name] = out
    return new


def sparsity_table(model, layers=None) -> pd.DataFrame:
    """Per-layer sparsity of the pruned kernels (masks applied).

    Returns:
        DataFrame ``layer, weights, zeros, sparsity`` (one row per layer; the
        kernel only, biases are not counted).
    """
    rows = []
    for name, pairs in prunable_variables(model, layers,
                                          kernels_only=True).items():
        v, m = pairs[0]
        a = v.numpy()
        if m is not None:
            a = a * m.numpy()
        zeros = int(a.size - np.count_nonzero(a))
        rows.append({"layer": name, "weights": int(a.size), "zeros": zeros,
                     "sparsity": zeros / a.size})
    return pd.DataFrame(rows, columns=["layer", "weights", "zeros",
                                       "sparsity"])


def achieved_sparsity(model, layers=None) -> tuple[float, dict]:
    """``(total, {layer: sparsity})`` over the pruned kernels."""
    t = sparsity_table(model, layers)
    total = float(t["zeros"].sum() / max(t["weights"].sum(), 1))
    return total, dict(zip(t["layer"], t["sparsity"].astype(float)))
