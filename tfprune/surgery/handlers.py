"""Surgery handlers: how each layer class reacts when channels disappear.

A handler is looked up by the **exact class** of a layer (``type(layer)``),
never through the MRO: a subclass may override ``call`` and use its weights
differently, so inheriting its parent's handler could build a silently wrong
model. A subclass joins with one call, usually copying its parent's handler::

    tp.surgery.register_handler(MyConv, like=tp.keras.layers.Conv2D)

A layer class without a handler is *opaque*: the dependency graph still walks
through it, and any deletion whose channels reach it raises
``NotImplementedError`` naming the layer and its class.

Kinds (how channels flow; the graph in ``graph.py`` reads only these):

``"source"``
    Creates new output channels (filters / units) and consumes its input
    channels: Conv*, Dense, SeparableConv*. Its output channels can be deleted.
``"channelwise"``
    Output channel ``c`` depends only on input channel ``c`` and the layer has
    per-channel weights: BatchNormalization, PReLU.
``"depthwise"``
    Output channel ``c * multiplier + m`` comes from input channel ``c``:
    DepthwiseConv*. Its channels are those of its input (a coupled group).
``"passthrough"``
    No per-channel weights and no mixing across channels: activations,
    dropout/noise, pooling, padding, cropping, upsampling, global pooling.
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

import numpy as np

from .._keras import keras, tf
from ..errors import InvalidParameterError

layers = keras.layers

__all__ = ["Handler", "SliceContext", "KINDS", "register_handler",
           "unregister_handler", "get_handler", "registered_layers"]

KINDS = ("source", "channelwise", "depthwise", "passthrough", "merge",
         "concat", "reshape")


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


_HANDLERS: dict[type, Handler] = {}


def register_handler(cls, kind: str | None = None, *, prune=None, zero=None,
                     axis=None, check=None, remap=None, zero_value=None,
                     channels=None, outputs=None, states=None, like=None,
                     replace: bool = False) -> Handler:
    """Register how surgery treats the layer class ``cls`` (exact class).

    Args:
        cls: a tf_keras layer class.
        kind: one of :data:`KINDS`; taken from ``like`` when omitted.
        prune, zero, axis, check, remap, zero_value, channels, outputs,
            states: the handler functions and flags (see :class:`Handler`);
            each overrides the one copied from ``like``.
        like: an already registered class whose handler to start from, e.g.
            ``like=tp.keras.layers.Conv2D`` for a Conv2D subclass that keeps
            Conv2D's weights and semantics.
        replace: allow replacing an existing registration.

    Returns:
        The registered :class:`Handler`.

    Raises:
        TypeError: ``cls`` is not a tf_keras layer class.
        ValueError: unknown kind, missing ``prune``/``zero`` for a kind with
            weights, ``like`` not registered, or ``cls`` already registered
            without ``replace=True``.
    """
    func = "register_handler"
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise TypeError(f"{func}(): 'cls' must be a tf_keras layer class; got "
                        f"{cls!r}.")
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
    updates = {k: v for k, v in dict(
        kind=kind, prune=prune, zero=zero, axis=axis, check=check,
        remap=remap, zero_value=zero_value, channels=channels,
        outputs=outputs, states=states).items() if v is not None}
    handler = dataclasses.replace(base, **updates)
    if handler.kind not in KINDS:
        raise InvalidParameterError(
            f"{func}(): 'kind' must be one of {', '.join(KINDS)}; got "
            f"{handler.kind!r}.")
    if handler.kind in ("source", "channelwise", "depthwise") and (
            handler.prune is None or handler.zero is None):
        raise InvalidParameterError(
            f"{func}(): a {handler.kind!r} handler needs both 'prune' and "
            f"'zero' functions (layer {cls.__name__} has weights per channel).")
    if handler.kind == "reshape" and handler.remap is None:
        raise InvalidParameterError(
            f"{func}(): a 'reshape' handler needs a 'remap' function.")
    _HANDLERS[cls] = handler
    return handler


def unregister_handler(cls) -> None:
    """Remove the handler of ``cls`` (its layers become opaque)."""
    _HANDLERS.pop(cls, None)


def get_handler(cls) -> Handler | None:
    """The handler registered for exactly ``cls`` (no MRO lookup), or None."""
    return _HANDLERS.get(cls)


def registered_layers() -> list[type]:
    """The layer classes with a handler, sorted by name."""
    return sorted(_HANDLERS, key=lambda c: c.__name__)


# ----------------------------------------------------------------- helpers

def _widx(layer, var) -> int:
    for i, w in enumerate(layer.weights):
        if w is var:
            return i
    raise RuntimeError(f"weight {var.name} not found in layer {layer.name}")


def _format_axis(layer, rank: int) -> int:
    fmt = getattr(layer, "data_format", None) or "channels_last"
    return 1 if fmt == "channels_first" else rank - 1


def _act_at_zero(fn) -> float:
    if fn is None:
        return 0.0
    return float(np.asarray(fn(tf.zeros((1, 1)))).reshape(-1)[0])


def _source_zero_value(layer) -> float:
    return _act_at_zero(getattr(layer, "activation", None))


def _call_zero_value(layer) -> float:
    return float(np.asarray(layer.call(tf.zeros((1, 1)))).reshape(-1)[0])


def expand_depthwise(keep: np.ndarray, multiplier: int) -> np.ndarray:
    """Positions ``c * multiplier + m`` of the channels that stem from ``keep``."""
    keep = np.asarray(keep, dtype=np.int64)
    return (keep[:, None] * multiplier + np.arange(multiplier)).ravel()


# ------------------------------------------------------------ conv / dense

def _conv_check(layer, axis, rank):
    groups = getattr(layer, "groups", 1) or 1
    if groups != 1:
        return (f"grouped convolution (groups={groups}) is not supported; "
                "its input and output channels are tied per group")
    return None


def _kernel_prune(count_key, in_ax, out_ax):
    def prune(layer, keep_in, keep_out, ctx):
        cfg = layer.get_config()
        w = layer.get_weights()
        ki = _widx(layer, layer.kernel)
        if keep_in is not None:
            w[ki] = np.take(w[ki], keep_in, axis=in_ax)
        if keep_out is not None:
            w[ki] = np.take(w[ki], keep_out, axis=out_ax)
            cfg[count_key] = int(len(keep_out))
            if getattr(layer, "use_bias", False) and layer.bias is not None:
                bi = _widx(layer, layer.bias)
                w[bi] = w[bi][keep_out]
        return cfg, w
    return prune


def _kernel_zero(out_ax):
    def zero(layer, drop_in, drop_out):
        out = []
        if drop_out is not None and len(drop_out):
            k = layer.kernel
            out.append((_widx(layer, k), len(k.shape) + out_ax, drop_out))
            if getattr(layer, "use_bias", False) and layer.bias is not None:
                out.append((_widx(layer, layer.bias), 0, drop_out))
        return out
    return zero


def _depthwise_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = layer.get_weights()
    ki = _widx(layer, layer.depthwise_kernel)
    if keep_in is not None:
        w[ki] = np.take(w[ki], keep_in, axis=-2)
    if keep_out is not None and layer.use_bias:
        bi = _widx(layer, layer.bias)
        w[bi] = w[bi][keep_out]
    return cfg, w


def _depthwise_zero(layer, drop_in, drop_out):
    out = []
    if drop_in is not None and len(drop_in):
        k = layer.depthwise_kernel
        out.append((_widx(layer, k), len(k.shape) - 2, drop_in))
    if drop_out is not None and len(drop_out) and layer.use_bias:
        out.append((_widx(layer, layer.bias), 0, drop_out))
    return out


def _separable_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = layer.get_weights()
    di = _widx(layer, layer.depthwise_kernel)
    pi = _widx(layer, layer.pointwise_kernel)
    if keep_in is not None:
        w[di] = np.take(w[di], keep_in, axis=-2)
        rows = expand_depthwise(keep_in, layer.depth_multiplier)
        w[pi] = np.take(w[pi], rows, axis=-2)
    if keep_out is not None:
        w[pi] = np.take(w[pi], keep_out, axis=-1)
        cfg["filters"] = int(len(keep_out))
        if layer.use_bias:
            bi = _widx(layer, layer.bias)
            w[bi] = w[bi][keep_out]
    return cfg, w


def _separable_zero(layer, drop_in, drop_out):
    out = []
    if drop_out is not None and len(drop_out):
        k = layer.pointwise_kernel
        out.append((_widx(layer, k), len(k.shape) - 1, drop_out))
        if layer.use_bias:
            out.append((_widx(layer, layer.bias), 0, drop_out))
    return out


# ------------------------------------------------------------ channelwise

def _bn_axes(layer, rank):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    return sorted({a % rank for a in axes})


def _bn_axis(layer, rank):
    axes = _bn_axes(layer, rank)
    return axes[0] if len(axes) == 1 else None


def _bn_check(layer, axis, rank):
    axes = _bn_axes(layer, rank)
    if axes != [axis]:
        return (f"it normalises axis {axes} while the channels lie on axis "
                f"{axis}")
    return None


def _bn_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = layer.get_weights()
    if keep_in is not None:
        w = [v[keep_in] for v in w]
    return cfg, w


def _bn_zero(layer, drop_in, drop_out):
    if drop_in is None or not len(drop_in):
        return []
    out = []
    if layer.scale:
        out.append((_widx(layer, layer.gamma), 0, drop_in))
    else:
        out.append((_widx(layer, layer.moving_mean), 0, drop_in))
    if layer.center:
        out.append((_widx(layer, layer.beta), 0, drop_in))
    return out


def _prelu_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = layer.get_weights()
    if keep_in is not None:
        ai = _widx(layer, layer.alpha)
        ax = ctx.in_axis - 1
        if w[ai].shape[ax] > 1:
            w[ai] = np.take(w[ai], keep_in, axis=ax)
    return cfg, w


def _no_zero(layer, drop_in, drop_out):
    return []


# ------------------------------------------------------------ passthrough

def _softmax_check(layer, axis, rank):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    if axis in {a % rank for a in axes}:
        return "it normalises over the channel axis"
    return None


def _softmax_zero_value(layer):
    return "1/n (a softmax of zeros is uniform)"


def _activation_check(layer, axis, rank):
    name = getattr(layer.activation, "__name__", "")
    if name in ("softmax", "log_softmax") and axis == rank - 1:
        return f"activation {name!r} normalises over the channel axis"
    return None


def _dropout_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    ns = cfg.get("noise_shape")
    if ns is not None and keep_in is not None and ctx.in_axis is not None:
        ns = list(ns)
        if ns[ctx.in_axis] not in (None, 1):
            ns[ctx.in_axis] = int(len(keep_in))
            cfg["noise_shape"] = ns
    return cfg, layer.get_weights()


# ---------------------------------------------------------------- reshape

def _flatten_remap(layer, ids, out_shape):
    if getattr(layer, "data_format", "channels_last") == "channels_first" \
            and ids.ndim > 1:
        ids = np.moveaxis(ids, 0, -1)
    return ids.reshape(-1)


def _reshape_remap(layer, ids, out_shape):
    return ids.reshape(tuple(out_shape))


def _reshape_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    if keep_out is not None:
        shape = list(ctx.out_shape[1:])
        shape[ctx.out_axis - 1] = int(len(keep_out))
        cfg["target_shape"] = tuple(shape)
    return cfg, layer.get_weights()


def _permute_remap(layer, ids, out_shape):
    return np.transpose(ids, [d - 1 for d in layer.dims])


# -------------------------------------------------------------- recurrent

_GATES = {"SimpleRNNCell": 1, "GRUCell": 3, "LSTMCell": 4}


def _gates(cell) -> int:
    for klass in type(cell).__mro__:
        if klass.__name__ in _GATES:
            return _GATES[klass.__name__]
    raise NotImplementedError(f"unknown recurrent cell {type(cell).__name__}")


def _rnn_check(layer, axis, rank):
    cell = getattr(layer, "cell", None)
    if type(cell).__name__ not in _GATES:
        return (f"its cell {type(cell).__name__} has no known gate layout")
    if getattr(layer, "time_major", False):
        return "time_major RNNs are not supported"
    return None


def _gate_columns(keep, units, gates):
    keep = np.asarray(keep, dtype=np.int64)
    return (np.arange(gates)[:, None] * units + keep[None, :]).ravel()


def _slice_rnn(owner, cell, w, keep_in, keep_out):
    g = _gates(cell)
    ki = _widx(owner, cell.kernel)
    ri = _widx(owner, cell.recurrent_kernel)
    if keep_in is not None:
        w[ki] = w[ki][keep_in]
    if keep_out is not None:
        cols = _gate_columns(keep_out, cell.units, g)
        w[ki] = w[ki][:, cols]
        w[ri] = w[ri][keep_out][:, cols]
        if cell.use_bias:
            bi = _widx(owner, cell.bias)
            w[bi] = w[bi][..., cols]
    return w


def _zero_rnn(owner, cell, drop_out):
    if drop_out is None or not len(drop_out):
        return []
    cols = _gate_columns(drop_out, cell.units, _gates(cell))
    out = [(_widx(owner, cell.kernel), 1, cols),
           (_widx(owner, cell.recurrent_kernel), 1, cols)]
    if cell.use_bias:
        out.append((_widx(owner, cell.bias), len(cell.bias.shape) - 1, cols))
    return out


def _rnn_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = _slice_rnn(layer, layer.cell, layer.get_weights(), keep_in, keep_out)
    if keep_out is not None:
        cfg["units"] = int(len(keep_out))
    return cfg, w


def _rnn_zero(layer, drop_in, drop_out):
    return _zero_rnn(layer, layer.cell, drop_out)


def _bidi_check(layer, axis, rank):
    for sub in (layer.forward_layer, layer.backward_layer):
        reason = _rnn_check(sub, axis, rank)
        if reason is not None:
            return reason
    if layer.forward_layer.units != layer.backward_layer.units:
        return "its two directions have different units"
    return None


def _bidi_channels(layer):
    return int(layer.forward_layer.units)


def _bidi_outputs(layer, ids, out_shapes):
    seq = np.concatenate([ids, ids]) if layer.merge_mode == "concat" else ids
    n_main = 2 if layer.merge_mode is None else 1
    return [seq] * n_main + [ids] * (len(out_shapes) - n_main)


def _bidi_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = layer.get_weights()
    for sub in (layer.forward_layer, layer.backward_layer):
        w = _slice_rnn(layer, sub.cell, w, keep_in, keep_out)
    if keep_out is not None:
        for key in ("layer", "backward_layer"):
            if key in cfg:
                cfg[key] = dict(cfg[key])
                cfg[key]["config"] = dict(cfg[key]["config"],
                                          units=int(len(keep_out)))
    return cfg, w


def _bidi_zero(layer, drop_in, drop_out):
    return (_zero_rnn(layer, layer.forward_layer.cell, drop_out) +
            _zero_rnn(layer, layer.backward_layer.cell, drop_out))


def _bidi_zero_value(layer):
    return _source_zero_value(layer.forward_layer)


def _inner(layer):
    return get_handler(type(layer.layer))


def _td_check(layer, axis, rank):
    h = _inner(layer)
    if h is None or h.kind != "source" or h.outputs or h.channels:
        return (f"it wraps {type(layer.layer).__name__}; TimeDistributed is "
                "supported around Dense and convolution layers")
    if h.check is not None:
        return h.check(layer.layer, axis - 1, rank - 1)
    return None


def _td_axis(layer, rank):
    h = _inner(layer)
    if h is None or h.axis is None:
        return rank - 1
    return h.axis(layer.layer, rank - 1) + 1


def _td_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    sub = SliceContext(
        None if ctx.in_axis is None else ctx.in_axis - 1,
        None if ctx.out_axis is None else ctx.out_axis - 1,
        None if ctx.in_shape is None else ctx.in_shape[:1] + ctx.in_shape[2:],
        None if ctx.out_shape is None else
        ctx.out_shape[:1] + ctx.out_shape[2:])
    inner_cfg, w = _inner(layer).prune(layer.layer, keep_in, keep_out, sub)
    cfg["layer"] = dict(cfg["layer"], config=inner_cfg)
    return cfg, w


def _td_zero(layer, drop_in, drop_out):
    return _inner(layer).zero(layer.layer, drop_in, drop_out)


def _td_zero_value(layer):
    h = _inner(layer)
    return h.zero_value(layer.layer) if h and h.zero_value else 0.0


# ----------------------------------------------------------- registration

def _register_builtins():
    L = layers
    for cls in (L.Conv1D, L.Conv2D, L.Conv3D):
        register_handler(cls, "source", prune=_kernel_prune("filters", -2, -1),
                         zero=_kernel_zero(-1), axis=_format_axis,
                         check=_conv_check, zero_value=_source_zero_value)
    for cls in (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose):
        register_handler(cls, "source", prune=_kernel_prune("filters", -1, -2),
                         zero=_kernel_zero(-2), axis=_format_axis,
                         check=_conv_check, zero_value=_source_zero_value)
    register_handler(L.Dense, "source", prune=_kernel_prune("units", 0, 1),
                     zero=_kernel_zero(-1), axis=_format_axis,
                     zero_value=_source_zero_value)
    for cls in (L.SeparableConv1D, L.SeparableConv2D):
        register_handler(cls, "source", prune=_separable_prune,
                         zero=_separable_zero, axis=_format_axis,
                         zero_value=_source_zero_value)
    for cls in (L.DepthwiseConv1D, L.DepthwiseConv2D):
        register_handler(cls, "depthwise", prune=_depthwise_prune,
                         zero=_depthwise_zero, axis=_format_axis,
                         zero_value=_source_zero_value)
    bn_classes = [L.BatchNormalization]
    sync = getattr(getattr(L, "experimental", None), "SyncBatchNormalization",
                   None)
    if sync is not None and sync is not L.BatchNormalization:
        bn_classes.append(sync)
    for cls in bn_classes:
        register_handler(cls, "channelwise", prune=_bn_prune, zero=_bn_zero,
                         axis=_bn_axis, check=_bn_check)
    register_handler(L.PReLU, "channelwise", prune=_prelu_prune,
                     zero=_no_zero)
    for cls in (L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU):
        register_handler(cls, "passthrough", zero_value=_call_zero_value)
    register_handler(L.Activation, "passthrough", check=_activation_check,
                     zero_value=_call_zero_value)
    register_handler(L.Softmax, "passthrough", check=_softmax_check,
                     zero_value=_softmax_zero_value)
    register_handler(L.Dropout, "passthrough", prune=_dropout_prune)
    for cls in (L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
                L.ActivityRegularization, L.Identity):
        register_handler(cls, "passthrough")
    for cls in (L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D,
                L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
                L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D,
                L.GlobalMaxPooling1D, L.GlobalMaxPooling2D,
                L.GlobalMaxPooling3D, L.GlobalAveragePooling1D,
                L.GlobalAveragePooling2D, L.GlobalAveragePooling3D,
                L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping2D, L.Cropping3D,
                L.UpSampling1D, L.UpSampling2D, L.UpSampling3D,
                L.ZeroPadding1D, L.Cropping1D, L.RepeatVector):
        register_handler(cls, "passthrough", axis=_format_axis)
    for cls in (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum,
                L.Minimum):
        register_handler(cls, "merge")
    register_handler(L.Concatenate, "concat")
    for cls in (L.SimpleRNN, L.GRU, L.LSTM):
        register_handler(cls, "source", prune=_rnn_prune, zero=_rnn_zero,
                         check=_rnn_check, states=True,
                         zero_value=_source_zero_value)
    register_handler(L.Bidirectional, "source", prune=_bidi_prune,
                     zero=_bidi_zero, check=_bidi_check, states=True,
                     channels=_bidi_channels, outputs=_bidi_outputs,
                     zero_value=_bidi_zero_value)
    register_handler(L.TimeDistributed, "source", prune=_td_prune,
                     zero=_td_zero, check=_td_check, axis=_td_axis,
                     zero_value=_td_zero_value)
    register_handler(L.Flatten, "reshape", remap=_flatten_remap)
    register_handler(L.Reshape, "reshape", remap=_reshape_remap,
                     prune=_reshape_prune)
    register_handler(L.Permute, "reshape", remap=_permute_remap)


_register_builtins()
