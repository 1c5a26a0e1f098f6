"""Surgery handlers: how each layer class reacts when channels disappear.

A handler is looked up by the **exact class** of a layer (``type(layer)``),
never through the MRO: a subclass may override ``call`` and use its weights
differently, so inheriting its parent's handler could build a silently wrong
model. A subclass joins with one call, usually copying its parent's handler::

    tp.surgery.register_handler(MyConv, like=tp.keras.layers.Conv2D)

Every other per-layer-type fact of the package (the kernel criteria rank, the
output-channel axis, which layers continue an activation chain, the FLOP
rules of ``tp.report``) is looked up the same way (see
:mod:`tfprune.surgery.facts`).

A layer class without a handler is *opaque*: the dependency graph still walks
through it, and any deletion whose channels reach it raises
``NotImplementedError`` naming the layer and its class.

Kinds (how channels flow; the graph reads only these):

``"source"``
    Creates new output channels (filters / units) and consumes its input
    channels: Conv*, Dense, SeparableConv*. Its output channels can be
    deleted. With ``groups`` (grouped convolution) input and output channels
    are tied per group and whole groups are deleted.
``"channelwise"``
    Output channel ``c`` depends only on input channel ``c`` and the layer has
    per-channel weights: BatchNormalization, PReLU, LayerScale,
    LayerNormalization (which also ``normalizes`` over the channels).
``"depthwise"``
    Output channel ``c * multiplier + m`` comes from input channel ``c``:
    DepthwiseConv*. Its channels are those of its input (a coupled group).
``"passthrough"``
    No per-channel weights and no mixing across channels: activations,
    dropout/noise, pooling, padding, cropping, upsampling, global pooling.
``"elementwise"``
    An element-wise function of one or more tensors and constants (a TF
    function called on symbolic tensors, ``TFOpLambda``): one tensor passes
    its channels through, several are joined like a merge; a per-channel
    constant is sliced with the channels.
``"merge"``
    Element-wise merge; all inputs lose the same channels (Add, Subtract,
    Multiply, Average, Maximum, Minimum).
``"concat"``
    Concatenate; along the channel axis the inputs stack with offsets, along
    another axis it behaves like a merge.
``"reshape"``
    Moves elements around (Flatten, Reshape, Permute); ``remap`` applies the
    layer's element order to an array of channel ids.

Handler functions never walk the model. ``prune(layer, keep_in, keep_out,
ctx)`` returns ``(config, weights)`` for the new layer: ``keep_in`` /
``keep_out`` are sorted ``np.ndarray`` of kept input / output channel positions
along the channel axis, or ``None`` when that side is unchanged; ``weights``
follows ``layer.get_weights()`` order. ``zero(layer, drop_in, drop_out)``
returns ``(weight_index, axis, indices)`` triples to zero so that a deleted
channel carries exact zeros (see :mod:`tfprune.surgery.masking`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

from .._keras import keras
from ..errors import InvalidParameterError

__all__ = ["Handler", "SliceContext", "KINDS", "register_handler",
           "unregister_handler", "get_handler", "registered_layers", "lookup"]

KINDS = ("source", "channelwise", "depthwise", "passthrough", "elementwise",
         "merge", "concat", "reshape")


@dataclass(frozen=True)
class SliceContext:
    """Shapes around one call of a layer, handed to ``prune``.

    Attributes:
        in_axis: channel axis of the (first) input tensor, counting the batch
            axis (e.g. 3 for NHWC).
        out_axis: channel axis of the (first) output tensor.
        in_shape: full static input shape, batch axis first (``None`` batch).
        out_shape: full static output shape.
    """
    in_axis: Optional[int]
    out_axis: Optional[int]
    in_shape: Optional[tuple]
    out_shape: Optional[tuple]


@dataclass(frozen=True)
class Handler:
    """What surgery needs to know about one layer class.

    Attributes:
        kind: one of :data:`KINDS`.
        prune: ``(layer, keep_in, keep_out, ctx) -> (config, weights)``;
            ``None`` means the config and weights never change.
        zero: ``(layer, drop_in, drop_out) -> [(weight_index, axis, idx)]``.
        axis: ``(layer, rank) -> int``, the channel axis the layer works on
            for an input of that rank (batch included); ``None`` when the
            layer works on any axis (element-wise layers).
        check: ``(layer, axis, rank) -> str | None``; a reason why channels on
            ``axis`` cannot pass this layer (the layer is then opaque).
        remap: for ``"reshape"``: ``(layer, ids, out_shape) -> ids``, where
            ``ids`` is an array of the per-sample input shape.
        zero_value: ``(layer) -> float | str``, the layer's output for a
            channel that is zero on input (source layers: their activation
            at 0); a string describes a non-zero value in words.
        channels: for ``"source"``: ``(layer) -> int``, the number of
            deletable channels when it is not the output's channel count
            (Bidirectional: the units of one direction).
        outputs: for ``"source"``: ``(layer, ids, out_shapes) -> list``, the
            channel ids of each output (``None`` for an output without the
            layer's channels), e.g. ``[ids, ids]`` for a Bidirectional concat.
        states: for ``"source"``: inputs after the first and outputs after
            the first carry the layer's own channels (RNN states).
        groups: for ``"source"``: ``(layer) -> int``, the number of groups
            whose input and output channels are tied (grouped convolution);
            a deletion then removes whole groups.
        kernel: ``(layer) -> np.ndarray``, the weights of each output channel
            as an array with the channels on the last axis (what filter
            criteria rank); for ``"source"`` and ``"depthwise"`` layers.
        resets: ``(layer) -> bool``; True when the layer's ``zero`` slices
            make a deleted channel exactly 0 whatever reaches it (a
            BatchNormalization with a scale).
        normalizes: the layer normalises over its channels
            (LayerNormalization): deleting a channel changes the others, so
            zeroing is not equivalent to deleting.
        pointwise: each output element depends only on the input element at
            the same position (BatchNormalization, activations, dropout);
            activation chains continue through such layers.
        activation: the layer is a non-linearity applied element-wise; its
            output is a post-activation feature map.
        product: for ``"merge"`` and ``"elementwise"``: ``(layer) -> bool``,
            True when the output is 0 wherever one input is 0 (Multiply).
        locked: for ``"source"``: ``(layer) -> str | None``, a reason why the
            layer's own output channels cannot be deleted (a softmax over
            them); its input channels still can.
    """
    kind: str
    prune: Optional[Callable] = None
    zero: Optional[Callable] = None
    axis: Optional[Callable] = None
    check: Optional[Callable] = None
    remap: Optional[Callable] = None
    zero_value: Optional[Callable] = None
    channels: Optional[Callable] = None
    outputs: Optional[Callable] = None
    states: bool = False
    groups: Optional[Callable] = None
    kernel: Optional[Callable] = None
    resets: Optional[Callable] = None
    normalizes: bool = False
    pointwise: bool = False
    activation: bool = False
    product: Optional[Callable] = None
    locked: Optional[Callable] = None


_HANDLERS: dict[type, Handler] = {}
_FIELDS = tuple(f.name for f in dataclasses.fields(Handler))


def _check_handler(handler, cls, func):
    if handler.kind not in KINDS:
        raise InvalidParameterError(
            f"{func}(): 'kind' must be one of {', '.join(KINDS)}; got "
            f"{handler.kind!r}.")
    if handler.kind in ("source", "channelwise", "depthwise") and (
            handler.prune is None or handler.zero is None):
        raise InvalidParameterError(
            f"{func}(): a {handler.kind!r} handler needs both 'prune' and "
            f"'zero' functions (layer {cls.__name__} has weights per "
            "channel).")
    if handler.kind == "reshape" and handler.remap is None:
        raise InvalidParameterError(
            f"{func}(): a 'reshape' handler needs a 'remap' function.")


def register_handler(cls, kind: str | None = None, *, like=None,
                     replace: bool = False, **functions) -> Handler:
    """Register how surgery treats the layer class ``cls`` (exact class).

    Args:
        cls: a tf_keras layer class.
        kind: one of :data:`KINDS`; taken from ``like`` when omitted.
        like: an already registered class whose handler to start from, e.g.
            ``like=tp.keras.layers.Conv2D`` for a Conv2D subclass that keeps
            Conv2D's weights and semantics.
        replace: allow replacing an existing registration.
        **functions: the handler's functions and flags (``prune``, ``zero``,
            ``axis``, ``check``, ``remap``, ``zero_value``, ``channels``,
            ``outputs``, ``states``, ``groups``, ``kernel``, ``resets``,
            ``normalizes``, ``pointwise``, ``activation``, ``product``,
            ``locked``; see
            :class:`Handler`); each overrides the one copied from ``like``.

    Returns:
        The registered :class:`Handler`.

    Raises:
        TypeError: ``cls`` is not a tf_keras layer class, or an unknown
            keyword.
        ValueError: unknown kind, missing ``prune``/``zero`` for a kind with
            weights, ``like`` not registered, or ``cls`` already registered
            without ``replace=True``.
    """
    func = "register_handler"
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise TypeError(f"{func}(): 'cls' must be a tf_keras layer class; got "
                        f"{cls!r}.")
    unknown = sorted(set(functions) - set(_FIELDS))
    if unknown:
        raise TypeError(f"{func}(): unknown keyword {unknown[0]!r}; valid: "
                        f"{', '.join(_FIELDS[1:])}.")
    if cls in _HANDLERS and not replace:
        raise InvalidParameterError(
            f"{func}(): {cls.__name__} already has a handler; pass "
            "replace=True to override it.")
    base = Handler(kind=kind or "passthrough")
    if like is not None:
        if like not in _HANDLERS:
            raise InvalidParameterError(
                f"{func}(): 'like' must be a registered layer class; got "
                f"{getattr(like, '__name__', like)!r}. Registered: "
                f"{', '.join(sorted(c.__name__ for c in _HANDLERS))}.")
        base = _HANDLERS[like]
    elif kind is None:
        raise InvalidParameterError(
            f"{func}(): give 'kind' (one of {', '.join(KINDS)}) or 'like'.")
    updates = {k: v for k, v in dict(functions, kind=kind).items()
               if v is not None}
    handler = dataclasses.replace(base, **updates)
    _check_handler(handler, cls, func)
    _HANDLERS[cls] = handler
    return handler


def lookup(table: dict, layer_or_class):
    """``table[type(layer)]`` (or ``table[cls]`` for a class): the package's
    one lookup rule for per-layer-type tables, exact class, no MRO."""
    cls = layer_or_class if isinstance(layer_or_class, type) \
        else type(layer_or_class)
    return table.get(cls)


def unregister_handler(cls) -> None:
    """Remove the handler of ``cls`` (its layers become opaque)."""
    _HANDLERS.pop(cls, None)


def get_handler(cls) -> Handler | None:
    """The handler registered for exactly ``cls`` (no MRO lookup), or None."""
    return lookup(_HANDLERS, cls)


def registered_layers() -> list[type]:
    """The layer classes with a handler, sorted by name."""
    return sorted(_HANDLERS, key=lambda c: c.__name__)
