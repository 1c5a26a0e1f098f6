"""The handlers of the tf_keras layers surgery supports (registered on
import of :mod:`tfprune.surgery.handlers`; see there for the contract)."""
from __future__ import annotations

import numpy as np

from .. import _kgraph
from .._keras import keras, tf
from .handlers import SliceContext, get_handler, lookup, register_handler

layers = keras.layers

__all__ = ["expand_depthwise", "ELEMENTWISE_FUNCTIONS", "channel_constant",
           "slice_constant"]


# ----------------------------------------------------------------- helpers

def _widx(layer, var) -> int:
    for i, w in enumerate(layer.weights):
        if w is var:
            return i
    raise RuntimeError(f"weight {var.name} not found in layer {layer.name}")


def _format_axis(layer, rank: int) -> int:
    fmt = getattr(layer, "data_format", None) or "channels_last"
    return 1 if fmt == "channels_first" else rank - 1


def _last_axis(layer, rank: int) -> int:
    return rank - 1


def _act_at_zero(fn) -> float:
    if fn is None:
        return 0.0
    return float(np.asarray(fn(tf.zeros((1, 1)))).reshape(-1)[0])


def _source_zero_value(layer) -> float:
    return _act_at_zero(getattr(layer, "activation", None))


def _call_zero_value(layer) -> float:
    return float(np.asarray(layer.call(tf.zeros((1, 1)))).reshape(-1)[0])


def _numpy(var) -> np.ndarray:
    return np.asarray(var.numpy() if hasattr(var, "numpy") else var)


def expand_depthwise(keep: np.ndarray, multiplier: int) -> np.ndarray:
    """Positions ``c * multiplier + m`` of the channels that stem from
    ``keep``."""
    keep = np.asarray(keep, dtype=np.int64)
    return (keep[:, None] * multiplier + np.arange(multiplier)).ravel()


_NORMALISING = ("softmax", "log_softmax")


def _activation_name(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "")


# ------------------------------------------------------------ conv / dense

def _source_locked(layer):
    name = _activation_name(layer)
    if name in _NORMALISING:
        return (f"its activation {name!r} normalises over its output "
                "channels, so deleting one changes the others")
    return None


def _conv_groups(layer) -> int:
    return int(getattr(layer, "groups", 1) or 1)


def _slice_bias(layer, w, keep_out):
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        bi = _widx(layer, layer.bias)
        w[bi] = w[bi][keep_out]


def _kernel_prune(count_key, in_ax, out_ax):
    def prune(layer, keep_in, keep_out, ctx):
        cfg = layer.get_config()
        w = layer.get_weights()
        ki = _widx(layer, layer.kernel)
        groups = _conv_groups(layer)
        if keep_in is not None and groups == 1:
            w[ki] = np.take(w[ki], keep_in, axis=in_ax)
        if keep_out is not None:
            w[ki] = np.take(w[ki], keep_out, axis=out_ax)
            cfg[count_key] = int(len(keep_out))
            if groups > 1:  # whole groups go: the per-group width stays
                per_group = layer.filters // groups
                cfg["groups"] = int(len(keep_out) // per_group)
            _slice_bias(layer, w, keep_out)
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


def _any(idx) -> bool:
    return idx is not None and len(idx) > 0


def _depthwise_zero(layer, drop_in, drop_out):
    out = []
    if _any(drop_in):
        k = layer.depthwise_kernel
        out.append((_widx(layer, k), len(k.shape) - 2, drop_in))
    if _any(drop_out) and layer.use_bias:
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
        _slice_bias(layer, w, keep_out)
    return cfg, w


def _separable_zero(layer, drop_in, drop_out):
    if not _any(drop_out):
        return []
    k = layer.pointwise_kernel
    return [(_widx(layer, k), len(k.shape) - 1, drop_out)] + (
        [(_widx(layer, layer.bias), 0, drop_out)] if layer.use_bias else [])


# ----------------------------------------------------------------- kernels

def _kernel_last(layer):
    return _numpy(layer.kernel)


def _kernel_transposed(layer):
    return np.moveaxis(_numpy(layer.kernel), -2, -1)


def _kernel_depthwise(layer):
    k = _numpy(layer.depthwise_kernel)        # (..., c_in, multiplier)
    return k.reshape(k.shape[:-2] + (-1,))


def _kernel_separable(layer):
    return _numpy(layer.pointwise_kernel)


def _rnn_kernel(cell):
    g = _gates(cell)
    both = np.concatenate([_numpy(cell.kernel),
                           _numpy(cell.recurrent_kernel)], axis=0)
    return both.reshape(both.shape[0], g, cell.units)


def _kernel_rnn(layer):
    return _rnn_kernel(layer.cell)


def _kernel_bidi(layer):
    return np.concatenate([_rnn_kernel(layer.forward_layer.cell),
                           _rnn_kernel(layer.backward_layer.cell)], axis=0)


def _kernel_td(layer):
    return _inner(layer).kernel(layer.layer)


# ------------------------------------------------------------ channelwise

def _bn_axes(layer, rank):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) \
        else [layer.axis]
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
    if not _any(drop_in):
        return []
    out = []
    if layer.scale:
        out.append((_widx(layer, layer.gamma), 0, drop_in))
    else:
        out.append((_widx(layer, layer.moving_mean), 0, drop_in))
    if layer.center:
        out.append((_widx(layer, layer.beta), 0, drop_in))
    return out


def _bn_resets(layer) -> bool:
    return bool(layer.scale)


def _ln_zero(layer, drop_in, drop_out):
    if not _any(drop_in):
        return []
    return [(_widx(layer, v), 0, drop_in) for v in (layer.gamma, layer.beta)
            if v is not None]


def _ln_resets(layer) -> bool:
    return layer.gamma is not None


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


def _scale_prune(layer, keep_in, keep_out, ctx):
    cfg = layer.get_config()
    w = layer.get_weights()
    if keep_in is not None:
        w = [v[keep_in] for v in w]
        cfg["projection_dim"] = int(len(keep_in))
    return cfg, w


def _scale_zero(layer, drop_in, drop_out):
    if not _any(drop_in):
        return []
    return [(_widx(layer, layer.gamma), 0, drop_in)]


def _always(layer) -> bool:
    return True


# ------------------------------------------------------------ passthrough

def _softmax_check(layer, axis, rank):
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) \
        else [layer.axis]
    if axis in {a % rank for a in axes}:
        return "it normalises over the channel axis"
    return None


def _softmax_zero_value(layer):
    return "1/n (a softmax of zeros is uniform)"


def _activation_check(layer, axis, rank):
    name = _activation_name(layer)
    if name in _NORMALISING and axis == rank - 1:
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


def _rescaling_check(layer, axis, rank):
    for key in ("scale", "offset"):
        if np.size(getattr(layer, key)) != 1:
            return f"its {key} has one value per channel"
    return None


def _rescaling_zero_value(layer) -> float:
    return float(np.asarray(layer.offset).reshape(-1)[0])


# ------------------------------------------------------------ elementwise

#: TF functions (``TFOpLambda`` names) that map tensors element by element;
#: True marks a product (0 wherever one factor is 0).
ELEMENTWISE_FUNCTIONS = dict.fromkeys((
    "__operators__.add", "math.add", "math.subtract", "math.truediv",
    "math.divide", "math.maximum", "math.minimum", "math.pow",
    "math.squared_difference", "math.negative", "math.abs", "math.square",
    "math.sqrt", "math.rsqrt", "math.exp", "math.log", "math.reciprocal",
    "math.sign", "math.erf", "math.sigmoid", "math.tanh", "math.softplus",
    "math.log_sigmoid", "nn.relu", "nn.relu6", "nn.elu", "nn.selu",
    "nn.silu", "nn.swish", "nn.gelu", "nn.softplus", "nn.softsign",
    "nn.leaky_relu", "clip_by_value", "identity", "cast"), False)
ELEMENTWISE_FUNCTIONS.update({"math.multiply": True,
                              "math.multiply_no_nan": True})


def _function(layer) -> str:
    return str(layer.get_config().get("function", ""))


def _elementwise_check(layer, axis, rank):
    name = _function(layer)
    if name not in ELEMENTWISE_FUNCTIONS:
        return (f"the TF function {name!r} is not a channel-preserving "
                "element-wise function")
    return None


def channel_constant(value, axis: int, rank: int) -> int:
    """The size along the channel ``axis`` of a constant argument of an
    element-wise call whose output has ``rank`` dimensions (numpy
    broadcasting aligns shapes on the right); 1 for a scalar."""
    shape = np.shape(value)
    pos = axis - (rank - len(shape))
    return int(shape[pos]) if 0 <= pos < len(shape) else 1


def slice_constant(value, keep, axis: int, rank: int):
    """``value`` with only the ``keep`` channels when it has one value per
    channel (see :func:`channel_constant`), else ``value`` unchanged."""
    if isinstance(value, (str, bytes, bool)) or value is None or \
            channel_constant(value, axis, rank) <= 1:
        return value
    arr = np.asarray(value)
    out = np.take(arr, keep, axis=axis - (rank - arr.ndim))
    return tf.constant(out, dtype=value.dtype) if tf.is_tensor(value) \
        else out


def _elementwise_product(layer) -> bool:
    return ELEMENTWISE_FUNCTIONS.get(_function(layer), False)


def _multiply_product(layer) -> bool:
    return True


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

#: Gate blocks in the kernel of each recurrent cell class (exact class).
_GATES = {layers.SimpleRNNCell: 1, layers.GRUCell: 3, layers.LSTMCell: 4}


def _gates(cell) -> int:
    gates = lookup(_GATES, cell)
    if gates is None:
        raise NotImplementedError(
            f"unknown recurrent cell {type(cell).__name__}")
    return gates


def _rnn_check(layer, axis, rank):
    cell = getattr(layer, "cell", None)
    if lookup(_GATES, cell) is None:
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
    if h.groups is not None and h.groups(layer.layer) > 1:
        return "it wraps a grouped convolution"
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

def _register_sources():
    L = layers
    common = dict(axis=_format_axis, locked=_source_locked,
                  zero_value=_source_zero_value)
    for cls in (L.Conv1D, L.Conv2D, L.Conv3D):
        register_handler(cls, "source", prune=_kernel_prune("filters", -2, -1),
                         zero=_kernel_zero(-1), groups=_conv_groups,
                         kernel=_kernel_last, **common)
    for cls in (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose):
        register_handler(cls, "source", prune=_kernel_prune("filters", -1, -2),
                         zero=_kernel_zero(-2), kernel=_kernel_transposed,
                         **common)
    register_handler(L.Dense, "source", prune=_kernel_prune("units", 0, 1),
                     zero=_kernel_zero(-1), kernel=_kernel_last, **common)
    for cls in (L.SeparableConv1D, L.SeparableConv2D):
        register_handler(cls, "source", prune=_separable_prune,
                         zero=_separable_zero, kernel=_kernel_separable,
                         **common)
    for cls in (L.DepthwiseConv1D, L.DepthwiseConv2D):
        register_handler(cls, "depthwise", prune=_depthwise_prune,
                         zero=_depthwise_zero, axis=_format_axis,
                         zero_value=_source_zero_value,
                         kernel=_kernel_depthwise)


def _register_recurrent():
    L = layers
    for cls in (L.SimpleRNN, L.GRU, L.LSTM):
        register_handler(cls, "source", prune=_rnn_prune, zero=_rnn_zero,
                         check=_rnn_check, states=True, kernel=_kernel_rnn,
                         zero_value=_source_zero_value)
    register_handler(L.Bidirectional, "source", prune=_bidi_prune,
                     zero=_bidi_zero, check=_bidi_check, states=True,
                     channels=_bidi_channels, outputs=_bidi_outputs,
                     zero_value=_bidi_zero_value, kernel=_kernel_bidi)
    register_handler(L.TimeDistributed, "source", prune=_td_prune,
                     zero=_td_zero, check=_td_check, axis=_td_axis,
                     zero_value=_td_zero_value, kernel=_kernel_td)


def _register_channelwise():
    L = layers
    bn_classes = [L.BatchNormalization]
    sync = getattr(getattr(L, "experimental", None), "SyncBatchNormalization",
                   None)
    if sync is not None and sync is not L.BatchNormalization:
        bn_classes.append(sync)
    for cls in bn_classes:
        register_handler(cls, "channelwise", prune=_bn_prune, zero=_bn_zero,
                         axis=_bn_axis, check=_bn_check, resets=_bn_resets,
                         pointwise=True)
    register_handler(L.LayerNormalization, "channelwise", prune=_bn_prune,
                     zero=_ln_zero, axis=_bn_axis, check=_bn_check,
                     resets=_ln_resets, normalizes=True)
    register_handler(L.PReLU, "channelwise", prune=_prelu_prune,
                     zero=_no_zero, pointwise=True, activation=True)
    scale = _kgraph.applications_layer("convnext", "LayerScale")
    if scale is not None:
        register_handler(scale, "channelwise", prune=_scale_prune,
                         zero=_scale_zero, axis=_last_axis, resets=_always,
                         pointwise=True)


def _register_passthrough():
    L = layers
    for cls in (L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU):
        register_handler(cls, "passthrough", zero_value=_call_zero_value,
                         pointwise=True, activation=True)
    register_handler(L.Activation, "passthrough", check=_activation_check,
                     zero_value=_call_zero_value, pointwise=True,
                     activation=True)
    register_handler(L.Softmax, "passthrough", check=_softmax_check,
                     zero_value=_softmax_zero_value, activation=True)
    register_handler(L.Dropout, "passthrough", prune=_dropout_prune,
                     pointwise=True)
    depth = _kgraph.applications_layer("convnext", "StochasticDepth")
    for cls in (L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
                L.ActivityRegularization, L.Identity, L.SpatialDropout1D,
                L.SpatialDropout2D, L.SpatialDropout3D, depth):
        if cls is not None:
            register_handler(cls, "passthrough", pointwise=True)
    register_handler(L.Rescaling, "passthrough", check=_rescaling_check,
                     zero_value=_rescaling_zero_value, pointwise=True)
    for cls in (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
                L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D,
                L.GlobalMaxPooling1D, L.GlobalMaxPooling2D,
                L.GlobalMaxPooling3D, L.GlobalAveragePooling1D,
                L.GlobalAveragePooling2D, L.GlobalAveragePooling3D,
                L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping2D, L.Cropping3D,
                L.UpSampling1D, L.UpSampling2D, L.UpSampling3D,
                L.ZeroPadding1D, L.Cropping1D, L.RepeatVector):
        register_handler(cls, "passthrough", axis=_format_axis)


def _register_merges():
    L = layers
    for cls in (L.Add, L.Subtract, L.Average, L.Maximum, L.Minimum):
        register_handler(cls, "merge")
    register_handler(L.Multiply, "merge", product=_multiply_product)
    scale_sum = _kgraph.applications_layer("inception_resnet_v2",
                                           "CustomScaleLayer")
    if scale_sum is not None:  # x + r * scale
        register_handler(scale_sum, "merge")
    register_handler(L.Concatenate, "concat")
    if _kgraph.TFOpLambda is not None:
        register_handler(_kgraph.TFOpLambda, "elementwise",
                         check=_elementwise_check, pointwise=True,
                         product=_elementwise_product)
    register_handler(L.Flatten, "reshape", remap=_flatten_remap)
    register_handler(L.Reshape, "reshape", remap=_reshape_remap,
                     prune=_reshape_prune)
    register_handler(L.Permute, "reshape", remap=_permute_remap)


_register_sources()
_register_recurrent()
_register_channelwise()
_register_passthrough()
_register_merges()
