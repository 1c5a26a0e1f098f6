"""Masking equivalent to channel deletion: which weight slices to zero.

Setting the slices of :func:`zeroing_spec` to zero makes every deleted
channel carry exact zeros through the network, so the zeroed model computes
the same outputs as the surgically pruned one (to float tolerance) without a
rebuild: the pruned layer's kernel output columns and bias, the gamma and
beta of every BatchNormalization on the channel's path (the BN right after
the layer, and a BN that meets the zero channel later, as in pre-activation
ResNets), and the bias of a depthwise convolution on the path.

Conditions (dscore.md §7): every layer on the path must map 0 to 0 (ReLU,
tanh, linear, ELU, max/avg pooling, ...) and BatchNormalization runs in
inference mode. A channel that passes ``sigmoid``/``softplus`` or similar
(f(0) != 0) is not equivalent; :func:`zeroing_spec` warns about it.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .._keras import check_model
from .graph import DependencyGraph
from .ops import _resolve, rebuild

__all__ = ["ZeroSlice", "zeroing_spec", "zero_channels", "apply_zeroing",
           "get_layer"]


class ZeroSlice(NamedTuple):
    """Weight slice to zero: ``layer.get_weights()[weight_index]`` at
    ``indices`` along ``axis``. ``layer`` is a name (``"sub/layer"`` inside
    a nested model; see :func:`get_layer`)."""
    layer: str
    weight_index: int
    axis: int
    indices: np.ndarray


def _dropped(dead, info):
    if info is None or dead is None:
        return None
    idx = np.flatnonzero(dead[info.atoms])
    return idx if len(idx) else None


def _spec(graph, dead, func) -> list[ZeroSlice]:
    out: list[ZeroSlice] = []
    if dead is None:
        return out
    odd = []
    for rec in graph.records.values():
        h = rec.handler
        if h is None or rec.kind in ("opaque", "model") or not rec.nodes:
            continue
        ins, outs = graph.node_io[id(rec.nodes[0])]
        drop_in = _dropped(dead, ins[0] if ins else None)
        if rec.kind == "source" and rec.out_atoms is not None:
            idx = np.flatnonzero(dead[rec.out_atoms])
            drop_out = idx if len(idx) else None
        else:
            drop_out = _dropped(dead, outs[0] if outs else None)
        if drop_in is None and drop_out is None:
            continue
        if h.zero is not None:
            for wi, ax, idx in h.zero(rec.layer, drop_in, drop_out):
                out.append(ZeroSlice(rec.name, int(wi), int(ax),
                                     np.asarray(idx, dtype=np.int64)))
        if h.zero_value is not None:
            side = drop_out if rec.kind in ("source", "depthwise") else drop_in
            if side is not None:
                value = h.zero_value(rec.layer)
                if isinstance(value, str) or abs(value) > 1e-12:
                    text = value if isinstance(value, str) else f"{value:g}"
                    act = getattr(getattr(rec.layer, "activation", None),
                                  "__name__", None)
                    what = rec.class_name + (f", activation {act!r}"
                                             if act else "")
                    odd.append(f"'{rec.name}' ({what}) maps 0 to {text}")
    if odd:
        warnings.warn(
            f"{func}(): zeroing is not equivalent to deletion here because "
            f"{'; '.join(odd)}: a zeroed channel then carries a constant "
            "that deletion removes.", RuntimeWarning, stacklevel=3)
    return out


def zeroing_spec(model, plan) -> list[ZeroSlice]:
    """Weight slices whose zeroing equals deleting the channels of ``plan``.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        plan: dict layer name (or layer) -> output-channel indices, as in
            :func:`tfprune.surgery.prune_channels`; coupled groups are
            expanded the same way.

    Returns:
        list of :class:`ZeroSlice` ``(layer, weight_index, axis, indices)``,
        in model order; empty for an empty plan.

    Raises:
        As :func:`tfprune.surgery.prune_channels` (the same checks run, so a
        plan that surgery refuses is refused here too).

    Warns:
        RuntimeWarning: a deleted channel passes a layer with f(0) != 0.
    """
    func = "zeroing_spec"
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    return _spec(graph, _resolve(graph, plan, func), func)


def zero_channels(model, plan):
    """A copy of ``model`` whose channels in ``plan`` are zeroed, not removed.

    The result has the original shapes, and (see the module conditions) the
    same outputs as ``prune_channels(model, plan)`` on the kept channels.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        plan: dict layer name (or layer) -> output-channel indices.

    Returns:
        A new model (same type, names, configs, compile state).

    Raises:
        As :func:`zeroing_spec`.
    """
    func = "zero_channels"
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    spec = _spec(graph, _resolve(graph, plan, func), func)
    by_layer: dict[str, list] = {}
    for z in spec:
        by_layer.setdefault(z.layer, []).append((z.weight_index, z.axis,
                                                 z.indices))
    return rebuild(graph, None, by_layer)


def get_layer(model, name):
    """The layer ``name`` of ``model``; ``"outer/inner"`` reaches into nested
    models."""
    layer = model
    for part in name.split("/"):
        layer = layer.get_layer(part)
    return layer


def apply_zeroing(model, spec) -> None:
    """Zero the slices of ``spec`` **in place** in ``model``.

    For sweeps that own a working copy (e.g. ``work = zero_channels(model,
    {})`` once, then restore its weights between steps). Never call it on a
    model the caller still needs unchanged.

    Args:
        model: the model to change.
        spec: list of :class:`ZeroSlice` from :func:`zeroing_spec`.
    """
    by_layer: dict[str, list] = {}
    for z in spec:
        by_layer.setdefault(z.layer, []).append(z)
    for name, items in by_layer.items():
        layer = get_layer(model, name)
        w = layer.get_weights()
        for z in items:
            sl = [slice(None)] * w[z.weight_index].ndim
            sl[z.axis] = z.indices
            w[z.weight_index][tuple(sl)] = 0
        layer.set_weights(w)
