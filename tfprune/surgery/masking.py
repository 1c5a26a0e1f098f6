"""Masking equivalent to channel deletion: which weight slices to zero.

Setting the slices of :func:`zeroing_spec` to zero makes every deleted
channel carry exact zeros through the network, so the zeroed model computes
the same outputs as the surgically pruned one (to float tolerance) without a
rebuild: the pruned layer's kernel output columns and bias, the gamma and
beta of every BatchNormalization (and LayerScale gamma) on the channel's
path, and the bias of a depthwise convolution on the path.

Equivalence is decided for the whole path of every deleted channel, not
layer by layer: a deleted channel may carry a non-zero constant for a while
(``x + 3`` inside a hard-swish, the sigmoid of a squeeze-excite gate) as long
as it is exactly zero again (a product with a zero channel, a
BatchNormalization whose gamma and beta are zeroed) before a layer that
mixes channels reads it. :func:`zeroing_spec` warns where it is not:

* a deleted channel carrying a non-zero value reaches a layer that mixes
  channels (Conv, Dense, ...): zeroing keeps that value's contribution,
  deletion removes it;
* a deleted channel reaches a LayerNormalization over the channels: the
  normalisation of the kept channels sees fewer channels after deletion.

BatchNormalization runs in inference mode.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from .. import _kgraph
from .._keras import check_model, tf
from .graph import DependencyGraph
from .ops import _resolve
from .rebuild import rebuild

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


def _drops(graph, rec, dead):
    ins, outs = graph.io(rec.nodes[0])
    drop_in = _dropped(dead, ins[0] if ins else None)
    if rec.kind == "source" and rec.out_atoms is not None:
        idx = np.flatnonzero(dead[rec.out_atoms])
        drop_out = idx if len(idx) else None
    else:
        drop_out = _dropped(dead, outs[0] if outs else None)
    return drop_in, drop_out


def _slices(graph, dead) -> list[ZeroSlice]:
    out: list[ZeroSlice] = []
    for rec in graph.records.values():
        h = rec.handler
        if h is None or h.zero is None or rec.kind in ("opaque", "model") \
                or not rec.nodes:
            continue
        drop_in, drop_out = _drops(graph, rec, dead)
        if drop_in is None and drop_out is None:
            continue
        for wi, ax, idx in h.zero(rec.layer, drop_in, drop_out):
            out.append(ZeroSlice(rec.name, int(wi), int(ax),
                                 np.asarray(idx, dtype=np.int64)))
    return out


# ------------------------------------------------------------- equivalence

def _nonzero_text(value):
    """``None`` when ``value`` (a layer's output at 0) is 0, else words."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return None if abs(value) <= 1e-12 else f"{value:g}"


def _what(rec) -> str:
    act = getattr(getattr(rec.layer, "activation", None), "__name__", None)
    return rec.class_name + (f", activation {act!r}" if act else "")


class _Values:
    """Which deleted channels carry a non-zero value, tensor by tensor.

    ``state[id(info)]`` is ``(mask over the tensor's channels, origin)``;
    a missing entry means every deleted channel there is exactly 0."""

    def __init__(self, graph, dead):
        self.g, self.dead = graph, dead
        self.state: dict[int, tuple] = {}
        self.odd: list[str] = []
        self.scratch = np.zeros(graph.size, dtype=bool)

    def get(self, info):
        if info is None:
            return None, None
        return self.state.get(id(info), (None, None))

    def put(self, info, mask, origin):
        if info is not None and mask is not None and mask.any():
            self.state[id(info)] = (mask, origin)

    def mapped(self, src, dst):
        """``src``'s non-zero mask carried over to ``dst`` (by channel id)."""
        mask, origin = self.get(src)
        if mask is None or dst is None:
            return None, None
        self.scratch[src.atoms[mask]] = True
        out = self.scratch[dst.atoms].copy()
        self.scratch[src.atoms] = False
        return (out, origin) if out.any() else (None, None)

    def dead_of(self, info):
        return self.dead[info.atoms]


def _zero_of_call(rec, node, ins, out):
    """Per output channel: True where the element-wise call gives a
    non-zero value when every tensor input is 0."""
    zeros = {}
    for t, info in zip(_kgraph.node_input_ids(node), ins):
        shape = (1,) + tuple(info.shape[1:])
        if any(d is None for d in shape):
            return np.ones(len(out.atoms), dtype=bool)
        zeros[t] = tf.zeros(shape, rec.layer.compute_dtype)
    args, kwargs = _kgraph.call_arguments(node, zeros)
    value = np.asarray(rec.layer.call(*args, **kwargs))
    value = np.moveaxis(value, out.axis, -1).reshape(-1, len(out.atoms))
    return ~(value == 0).all(axis=0)


def _start(values, rec, info, text):
    """A layer's own deleted channels start at ``text`` (None: at 0)."""
    if info is None or text is None:
        return None, None
    mask = values.dead_of(info)
    return (mask, f"'{rec.name}' ({_what(rec)}) maps 0 to {text}") \
        if mask.any() else (None, None)


def _combine(parts, product):
    masks = [m for m, _ in parts]
    origin = next((o for _, o in parts if o), None)
    if product:
        if any(m is None for m in masks):
            return None, None
        out = np.logical_and.reduce(masks)
    else:
        masks = [m for m in masks if m is not None]
        if not masks:
            return None, None
        out = np.logical_or.reduce(masks)
    return (out, origin) if out.any() else (None, None)


def _source_step(values, rec, node, ins, outs):
    h = rec.handler
    grouped = h.groups is not None and h.groups(rec.layer) > 1
    alive = any(o is not None and not values.dead_of(o).all() for o in outs)
    for info in ins:
        mask, origin = values.get(info)
        if mask is not None and alive and not grouped:
            values.odd.append(f"{origin} and layer '{rec.name}' "
                              f"({rec.class_name}) reads it")
            break
    text = _nonzero_text(h.zero_value(rec.layer) if h.zero_value else None)
    for info in outs:
        values.put(info, *_start(values, rec, info, text))


def _elementwise_step(values, rec, node, ins, out):
    product = bool(rec.handler.product and rec.handler.product(rec.layer))
    parts = [values.mapped(i, out) for i in ins]
    if rec.kind == "elementwise" and values.dead_of(out).any():
        at_zero = _zero_of_call(rec, node, ins, out) & values.dead_of(out)
        if at_zero.any():
            parts.append((at_zero, f"'{rec.name}' ({rec.class_name} "
                          f"{rec.layer.get_config().get('function')}) maps "
                          "0 to a non-zero value"))
            product = product and len(ins) > 1
    return _combine(parts, product)


def _single_step(values, rec, ins, out):
    h = rec.handler
    if h.normalizes and values.dead_of(ins[0]).any():
        values.odd.append(
            f"'{rec.name}' ({rec.class_name}) normalises over its channels, "
            "so the kept channels are normalised differently once channels "
            "are deleted (compare with a reference that normalises over the "
            "kept channels only)")
    resets = h.resets(rec.layer) if h.resets is not None else False
    mask, origin = (None, None) if resets else values.mapped(ins[0], out)
    text = _nonzero_text(h.zero_value(rec.layer) if h.zero_value else None)
    start = _start(values, rec, out, text)
    return _combine([(mask, origin), start], False)


def _equivalence(graph, dead) -> list[str]:
    """Why zeroing the spec's slices differs from deleting (empty: it
    does not)."""
    values = _Values(graph, dead)
    for node, rec in graph.sequence:
        if rec.kind in ("opaque", "model") or rec.handler is None:
            continue
        ins, outs = graph.io(node)
        if not outs or outs[0] is None:
            continue
        if rec.kind == "source":
            _source_step(values, rec, node, ins, outs)
        elif rec.kind in ("merge", "concat", "elementwise"):
            values.put(outs[0], *_elementwise_step(values, rec, node, ins,
                                                   outs[0]))
        elif ins and ins[0] is not None:
            values.put(outs[0], *_single_step(values, rec, ins, outs[0]))
    return values.odd


def _spec(graph, dead, func) -> list[ZeroSlice]:
    if dead is None:
        return []
    odd = _equivalence(graph, dead)
    if odd:
        warnings.warn(
            f"{func}(): zeroing is not equivalent to deletion here because "
            f"{'; '.join(dict.fromkeys(odd))}: a zeroed model then differs "
            "from the pruned one on the kept channels.", RuntimeWarning,
            stacklevel=3)
    return _slices(graph, dead)


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
        RuntimeWarning: zeroing is not equivalent to deleting (see the module
            doc): a deleted channel that carries a non-zero value reaches a
            layer that mixes channels, or a deleted channel reaches a
            LayerNormalization.
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
    """The layer ``name`` of ``model``: a real layer name (which may contain
    ``/``), or a nested path ``"outer/inner"``.

    Raises:
        ValueError: no such layer, or a name that is both a real name and a
            nested path.
    """
    check_model(model, "model", "get_layer")
    return _kgraph.find_layer(model, name, "get_layer", "name")[1]


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
        layer = _kgraph.find_layer(model, name, "apply_zeroing", "spec")[1]
        w = layer.get_weights()
        for z in items:
            sl = [slice(None)] * w[z.weight_index].ndim
            sl[z.axis] = z.indices
            w[z.weight_index][tuple(sl)] = 0
        layer.set_weights(w)
