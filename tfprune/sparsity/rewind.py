"""Lottery-ticket helpers for user loops: take a snapshot, rewind to it.

A snapshot is ``{layer_name: [arrays]}`` with every weight of every layer
(kernels, biases, BatchNorm statistics), keyed by the inner layer name, so a
snapshot of a plain model rewinds its wrapped copy and vice versa.
"""
from __future__ import annotations

import numpy as np

from .._keras import check_model, compile_like
from .._validate import check_type
from ..errors import InvalidParameterError
from ..utils import derive_seed
from . import masks as _masks
from .layers import inner_layer, wrappers
from .wrap import strip, wrap

__all__ = ["snapshot", "rewind", "reinitialize"]


def snapshot(model) -> dict:
    """Copy of every layer's weights: the point to rewind to.

    Take it before training (rewind to init) or use ``RewindPoint(step=k)``
    to take it after k steps (late rewinding).
    """
    check_model(model, "model", "snapshot")
    out = {}
    for la in model.layers:
        inner = inner_layer(la)
        if inner.weights:
            out[inner.name] = [np.array(w) for w in la.get_weights()]
    return out


def _check_snapshot(model, snap, func):
    check_type(snap, dict, "snapshot", func,
               "a dict from tp.sparsity.snapshot or RewindPoint.snapshot")
    names = {}
    for la in model.layers:
        inner = inner_layer(la)
        names[inner.name] = la
    for name, arrays in snap.items():
        if name not in names:
            raise InvalidParameterError(
                f"{func}(): snapshot holds layer {name!r}, which model "
                f"'{model.name}' does not have.")
        shapes = [tuple(w.shape) for w in names[name].get_weights()]
        if shapes != [tuple(np.shape(a)) for a in arrays]:
            raise InvalidParameterError(
                f"{func}(): snapshot weights of layer {name!r} have shapes "
                f"{[np.shape(a) for a in arrays]}, the model's are {shapes}.")


def rewind(model, snapshot, masks=None):
    """A new model with ``snapshot``'s weights, pruned by ``masks``.

    The lottery-ticket reset: survivors take their snapshot values (θ₀ or
    θ_k), pruned weights are zero. For a wrapped model the result is wrapped
    the same way with the masks installed and frozen; it is compiled like
    ``model`` with a FRESH optimizer (the lottery-ticket protocol).

    Args:
        model: the trained (wrapped or plain) model; not changed.
        snapshot: from :func:`snapshot` or ``RewindPoint``.
        masks: ``{layer: [mask, ...]}``; None takes ``model``'s current masks.

    Returns:
        A new tf_keras model.
    """
    func = "rewind"
    check_model(model, "model", func)
    _check_snapshot(model, snapshot, func)
    if masks is None:
        masks = _masks.get_masks(model)
    ws = wrappers(model)
    plain = strip(model, compile=False)
    by_name = {la.name: la for la in plain.layers}
    for name, arrays in snapshot.items():
        by_name[name].set_weights(arrays)
    if ws:
        prune_bias = any(len(w.pruning_vars) > 1 for w in ws)
        new = wrap(plain, sparsity=0.0, layers=[w.layer.name for w in ws],
                   prune_bias=prune_bias, masks=masks, compile=False)
    else:
        _masks.set_masks(plain, masks)
        new = plain
    return compile_like(new, model)


def reinitialize(model, seed, masks=None):
    """The random-reinit control: a copy with fresh draws of every layer's
    initialisers (seeded by ``seed``), pruned by ``masks``."""
    func = "reinitialize"
    check_model(model, "model", func)
    snap = {}
    n = 0
    for la in model.layers:
        inner = inner_layer(la)
        if not inner.weights:
            continue
        arrays = []
        for w in inner.weights:
            n += 1
            attr = w.name.split("/")[-1].split(":")[0]
            init = getattr(inner, f"{attr}_initializer", None)
            if init is None:
                arrays.append(np.array(w))
                continue
            cfg = init.get_config()
            if "seed" in cfg:
                cfg["seed"] = derive_seed(seed, n)
            fresh = type(init).from_config(cfg)
            arrays.append(np.array(fresh(tuple(w.shape), dtype=w.dtype)))
        snap[inner.name] = arrays
    return rewind(model, snap, masks)

