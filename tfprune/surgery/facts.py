"""Per-layer-type facts, read from the surgery handler registry.

One table answers, for every layer class surgery knows, the questions the
rest of tfprune asks about a layer: does it own output channels that can be
ranked and deleted, what are the weights of each channel (the kernel filter
criteria rank), on which axis do its output channels lie, and which layers
after it still belong to its activation (Conv -> BN -> Dropout -> ReLU).

**Lookup rule: the exact class** (``type(layer)``), as for surgery handlers;
a subclass joins with ``tp.surgery.register_handler(MyConv,
like=tp.keras.layers.Conv2D)``. The FLOP rules of ``tp.report`` follow the
same rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import _kgraph
from ..errors import UnsupportedLayerError
from .handlers import Handler, get_handler, lookup

__all__ = ["LayerFacts", "layer_facts", "lookup", "rankable",
           "maps_zero_to_zero",
           "output_kernel", "channel_axis", "activation_chain",
           "activation_layer", "activation_tensors"]


@dataclass(frozen=True)
class LayerFacts:
    """What tfprune knows about one layer class.

    Attributes:
        kind: the surgery kind (see :mod:`tfprune.surgery.handlers`).
        owns_channels: the layer creates the output channels surgery deletes
            (Conv*, Dense, SeparableConv*, DepthwiseConv*, RNNs); criteria
            rank exactly these layers.
        has_kernel: :func:`output_kernel` works for it.
        pointwise: each output element depends only on the input element at
            the same position; activation chains continue through it.
        activation: it is an element-wise non-linearity.
        normalizes: it normalises over its channels (LayerNormalization).
        handler: the surgery handler the facts come from.
    """
    kind: str
    owns_channels: bool
    has_kernel: bool
    pointwise: bool
    activation: bool
    normalizes: bool
    handler: Handler


def layer_facts(layer_or_class) -> Optional[LayerFacts]:
    """The facts of a layer (or layer class), or None when surgery has no
    handler for its exact class."""
    cls = layer_or_class if isinstance(layer_or_class, type) \
        else type(layer_or_class)
    h = get_handler(cls)
    if h is None:
        return None
    return LayerFacts(h.kind, h.kind in ("source", "depthwise"),
                      h.kernel is not None, h.pointwise, h.activation,
                      h.normalizes, h)


def rankable(layer) -> bool:
    """True when ``layer`` owns deletable output channels with a kernel to
    rank (what ``tp.filters`` criteria accept)."""
    f = layer_facts(layer)
    return f is not None and f.owns_channels and f.has_kernel


def maps_zero_to_zero(layer) -> bool:
    """True when ``layer`` outputs exactly 0 on a channel whose input is 0
    (for a layer that owns channels: on a channel whose weights are zeroed,
    i.e. its activation at 0). False for layers without a handler,
    ``sigmoid``, ``softplus``, a softmax over space, ..."""
    f = layer_facts(layer)
    if f is None:
        return False
    if f.handler.zero_value is None:
        return True
    value = f.handler.zero_value(layer)
    return not isinstance(value, str) and abs(value) <= 1e-12


def output_kernel(layer) -> np.ndarray:
    """The weights of each output channel of ``layer``, as a float array with
    one entry per output channel on its **last** axis.

    Conv/Dense: the kernel; transposed convolutions: the kernel with its two
    channel axes swapped; SeparableConv: the pointwise kernel;
    DepthwiseConv: the depthwise kernel with channel ``c * multiplier + m``
    last; RNNs: kernel and recurrent kernel, ``(inputs + units, gates,
    units)``; Bidirectional: both directions stacked; TimeDistributed: the
    wrapped layer's.

    Raises:
        NotImplementedError: the layer has no deletable channels with a
            kernel (name and class in the message).
        ValueError: the layer is not built.
    """
    f = layer_facts(layer)
    if f is None or not f.owns_channels or not f.has_kernel:
        raise UnsupportedLayerError(
            f"Layer {layer.name!r} ({type(layer).__name__}) has no output "
            "channels with a kernel to rank; rankable layers are those "
            "surgery can prune: Conv1D/2D/3D (also grouped, transposed, "
            "depthwise, separable), Dense, SimpleRNN/GRU/LSTM, Bidirectional "
            "and TimeDistributed around them. Register a subclass with "
            "tp.surgery.register_handler(cls, like=...).")
    if not layer.built:
        from ..errors import InvalidParameterError
        raise InvalidParameterError(
            f"layer {layer.name!r} is not built; build the model first.")
    return np.asarray(f.handler.kernel(layer))


def channel_axis(layer, rank: int) -> int:
    """The channel axis (batch axis counted) of ``layer``'s output of
    ``rank`` dimensions: 1 for ``channels_first`` layers, else the last."""
    h = get_handler(type(layer))
    if h is not None and h.axis is not None:
        ax = h.axis(layer, rank)
        if ax is not None:
            return ax
    fmt = getattr(layer, "data_format", None) or "channels_last"
    return 1 if fmt == "channels_first" and rank > 2 else rank - 1


# -------------------------------------------------------- activation chain

def _container(model, layer):
    """The graph model whose own layers include ``layer``."""
    if any(la is layer for la in model.layers):
        return model
    for _, la in _kgraph.layer_paths(model):
        if _kgraph.is_graph_model(la) and any(x is layer for x in la.layers):
            return la
    raise UnsupportedLayerError(
        f"layer {layer.name!r} is not part of model {model.name!r}.")


def _resolve_layer(model, layer):
    if isinstance(layer, str):
        return _kgraph.find_layer(model, layer, "activation_chain")[1]
    return layer


def _chain_nodes(container, node) -> list:
    """``node`` and the single-consumer pointwise calls after it."""
    nodes = _kgraph.model_nodes(container)
    readers: dict[str, list] = {}
    for n in nodes:
        for t in set(_kgraph.node_input_ids(n)):
            readers.setdefault(t, []).append(n)
    chain = [node]
    while True:
        outs = _kgraph.node_output_ids(chain[-1])
        nxt = readers.get(outs[0], []) if len(outs) == 1 else []
        if len(nxt) != 1 or len(_kgraph.node_input_ids(nxt[0])) != 1:
            return chain
        f = layer_facts(nxt[0].layer)
        if f is None or not f.pointwise:
            return chain
        chain.append(nxt[0])


def _activation_index(chain) -> int:
    best = 0
    for i, n in enumerate(chain[1:], 1):
        f = layer_facts(n.layer)
        if f is not None and f.activation:
            best = i
    return best


def _calls(container, layer) -> list:
    mine = {id(n) for n in _kgraph.model_nodes(container)}
    return [n for n in _kgraph.inbound_nodes(layer) if id(n) in mine]


def _first_chain(model, layer) -> list:
    layer = _resolve_layer(model, layer)
    container = _container(model, layer)
    calls = _calls(container, layer)
    if not calls:
        return []
    return _chain_nodes(container, calls[0])


def activation_chain(model, layer) -> list:
    """``layer`` and the layers after it that still act on its channels one
    element at a time (BatchNormalization, dropout, noise, activations), as
    long as each is the only reader of the previous one's output.

    Args:
        model: the Sequential or Functional model holding ``layer``.
        layer: a layer object or name (a nested path reaches inside nested
            models); the chain follows its first call.

    Returns:
        list of layers, ``layer`` first.
    """
    chain = _first_chain(model, layer)
    return [n.layer for n in chain] if chain else \
        [_resolve_layer(model, layer)]


def activation_layer(model, layer):
    """The layer whose output is ``layer``'s post-activation feature map:
    the last activation of :func:`activation_chain` (Conv -> BN -> Dropout ->
    ReLU gives the ReLU), else ``layer`` itself."""
    chain = _first_chain(model, layer)
    if not chain:
        return _resolve_layer(model, layer)
    return chain[_activation_index(chain)].layer


def activation_tensors(model, layer) -> list:
    """The post-activation feature map (see :func:`activation_layer`) of
    every call of ``layer`` in its model, as symbolic tensors of that
    model."""
    layer = _resolve_layer(model, layer)
    container = _container(model, layer)
    out = []
    for node in _calls(container, layer):
        chain = _chain_nodes(container, node)
        out.append(_kgraph.node_outputs(chain[_activation_index(chain)])[0])
    return out
