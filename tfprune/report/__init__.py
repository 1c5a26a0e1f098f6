"""Parameter, MAC and FLOP reports for tf_keras models, computed from shapes.

``count_flops`` uses the TensorFlow profiler's convention: **2 FLOPs per
multiply-add plus the bias adds**, and, like the profiler, it also counts the
element-wise arithmetic of a few other layers. It applies, layer by layer, the
per-op rules that ``tf.compat.v1.profiler`` applies to the ops tf_keras lowers
the layer to (``tensorflow/python/profiler/internal/flops_registry.py`` and the
Conv/Depthwise/BiasAdd rules in ``nn_ops.py``). On models made of Conv, Dense,
Depthwise, Separable, pooling, BatchNormalization, merge layers and the common
activations the result equals :func:`profiler_flops` exactly, without tracing,
freezing or profiling a graph.

What each layer counts (``E`` = output elements including the batch,
``K`` = kernel window size, ``C_in`` input channels):

=============================  ==============================================
layer                          FLOPs
=============================  ==============================================
Conv1D/2D/3D                   2·E·K·C_in/groups + E (bias) + activation
DepthwiseConv1D/2D             2·E·K + E (bias) + activation
SeparableConv1D/2D             depthwise 2·E_dw·K + pointwise 2·E·C_in·dm + E
Conv1D/2D/3DTranspose          ⌊2·E·K·C_in/prod(strides)⌋ + E (the profiler's
                               Conv2DBackpropInput rule) + shape arithmetic
Dense (any input rank)         2·E·d_in + E (bias) + activation
BatchNormalization             fused (4-D/5-D input): 0, as the profiler
                               (FusedBatchNormV3 has no rule); otherwise
                               2·E + (5 + scale)·C
LayerNormalization             E per scale/center (fused kernel itself: 0)
Max/AveragePooling1D/2D        pool window · E (channels_last; 0 otherwise)
Max/AveragePooling3D           0, as the profiler (no MaxPool3D rule)
GlobalAveragePooling           input elements (Mean); GlobalMaxPooling: 0
Add/Multiply/Max/Min (n in)    (n-1)·E; Subtract: E; Average: n·E
Softmax                        5·E
ReLU / tanh / sigmoid / ELU    0 (the profiler has no rule for them);
                               gelu 4·E, hard_sigmoid 4·E, swish 2·E,
                               mish E, PReLU 3·E + alpha size, ReLU with a
                               threshold / max_value ≠ 6 / slope: 2·E per part
Flatten, Reshape, Dropout,     0
Concatenate, padding, Embedding
=============================  ==============================================

Where the profiler misses multiply-adds that do run (grouped convolutions,
which tf_keras runs in a separate function, and ``Conv3DTranspose``, whose
``Conv3DBackpropInputV2`` op has no rule) ``count_flops`` still counts them and
the ``note`` column of :func:`layer_table` says so. A layer type without a
rule is counted as 0 with ``counted=False`` and a warning; add a rule with
:func:`register_layer`. ``macs`` counts only the multiply-accumulates of the
weight layers (Conv/Dense families), the number most pruning papers quote.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .._keras import check_model, keras, tf
from .._validate import check_int
from ..errors import InvalidParameterError

__all__ = ["count_params", "count_flops", "count_macs", "layer_table",
           "compare", "render", "profiler_flops", "load_model",
           "register_layer", "LayerCost", "COLUMNS", "UNIT",
           "measure", "measure_models", "measure_speedup", "size_on_disk",
           "gzip_size"]

#: The first columns of :func:`layer_table`, in this order.
COLUMNS = ("layer", "type", "output_shape", "params", "macs", "flops",
           "sparsity")
#: Extra columns of :func:`layer_table`, after :data:`COLUMNS`.
EXTRA_COLUMNS = ("trainable_params", "counted", "note")
#: The unit every report names.
UNIT = "FLOPs (2 per MAC + bias adds)"

layers = keras.layers


@dataclass
class LayerCost:
    """The cost of one call of one layer (batch included)."""
    macs: int = 0
    flops: int = 0
    counted: bool = True
    note: str = ""


@dataclass
class _Row:
    layer: object
    name: str
    type: str
    output_shape: object = None
    macs: int = 0
    flops: int = 0
    counted: bool = True
    notes: list = field(default_factory=list)
    calls: int = 0


# --------------------------------------------------------------------- rules

_RULES: dict[type, Callable] = {}


def register_layer(layer_cls: type, rule: Callable | None = None):
    """Register how to count a layer class (usable as a decorator).

    Lookup walks the class's MRO, so a subclass of ``Conv2D`` is counted as a
    ``Conv2D`` unless it has its own rule.

    Args:
        layer_cls: a ``tp.keras.layers.Layer`` subclass.
        rule: ``rule(layer, input_shapes, output_shapes) -> LayerCost`` where
            shapes are lists of int tuples including the batch dimension.

    Returns:
        ``rule`` (or a decorator when ``rule`` is None).

    Raises:
        TypeError: if ``layer_cls`` is not a Keras layer class or ``rule`` is
            not callable.
    """
    if not (isinstance(layer_cls, type) and
            issubclass(layer_cls, layers.Layer)):
        raise TypeError("register_layer(): 'layer_cls' must be a tf_keras "
                        f"Layer subclass; got {layer_cls!r}.")

    def deco(fn):
        if not callable(fn):
            raise TypeError("register_layer(): 'rule' must be callable; got "
                            f"{type(fn).__name__}.")
        _RULES[layer_cls] = fn
        return fn

    return deco if rule is None else deco(rule)


def _rule(*classes):
    def deco(fn):
        for cls in classes:
            if cls is not None:
                _RULES[cls] = fn
        return fn
    return deco


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _n(shape) -> int:
    return _prod(shape)


_ZERO_ACTIVATIONS = {"linear", "relu", "elu", "selu", "sigmoid", "tanh",
                     "softplus", "softsign", "exponential", "relu6",
                     "leaky_relu", "hard_tanh"}
_ACTIVATION_COST = {"softmax": 5, "gelu": 4, "hard_sigmoid": 4, "swish": 2,
                    "silu": 2, "mish": 1}


def _activation(fn, shape) -> LayerCost:
    """Profiler FLOPs of a Keras activation function on a tensor of ``shape``."""
    if fn is None:
        return LayerCost()
    name = getattr(fn, "__name__", type(fn).__name__)
    if name in _ZERO_ACTIVATIONS:
        return LayerCost()
    if name in _ACTIVATION_COST:
        return LayerCost(flops=_ACTIVATION_COST[name] * _n(shape))
    return LayerCost(counted=False,
                     note=f"activation {name!r} not counted (0)")


def _add(*costs) -> LayerCost:
    out = LayerCost()
    notes = []
    for c in costs:
        out.macs += c.macs
        out.flops += c.flops
        out.counted = out.counted and c.counted
        if c.note:
            notes.append(c.note)
    out.note = "; ".join(notes)
    return out


def _spatial(shape, data_format):
    if data_format == "channels_first":
        return tuple(shape[2:]), shape[1]
    return tuple(shape[1:-1]), shape[-1]


def _s2b_positions(in_spatial, kernel, rate, padding):
    """Output positions of a dilated conv run through space-to-batch.

    tf.nn.convolution runs a dilated convolution as SpaceToBatchND -> VALID
    conv -> BatchToSpaceND, and the profiler counts the conv on the padded
    space-to-batch tensor (``with_space_to_batch`` in nn_ops.py).
    """
    positions = 1
    for size, k, r in zip(in_spatial, kernel, rate):
        if padding == "same":
            dilated = k + (k - 1) * (r - 1)
            start = (dilated - 1) // 2
            end = dilated - 1 - start
        else:
            start = end = 0
        full = size + start + end
        end += (r - full % r) % r
        padded = (size + start + end) // r
        positions *= r * (padded - k + 1)
    return positions


def _conv_positions(layer, in_spatial, out_spatial):
    rate = tuple(layer.dilation_rate)
    if all(r == 1 for r in rate):
        return _prod(out_spatial)
    padding = layer.padding
    in_spatial = list(in_spatial)
    if padding == "causal":
        in_spatial[0] += (layer.kernel_size[0] - 1) * rate[0]
        padding = "valid"
    return _s2b_positions(in_spatial, layer.kernel_size, rate, padding)


def _bias(layer, out_shape):
    return _n(out_shape) if getattr(layer, "use_bias", False) else 0


@_rule(layers.Conv1D, layers.Conv2D, layers.Conv3D)
def _conv(layer, ins, outs):
    x, y = ins[0], outs[0]
    in_sp, c_in = _spatial(x, layer.data_format)
    out_sp, c_out = _spatial(y, layer.data_format)
    k = _prod(layer.kernel_size)
    per_position = k * (c_in // layer.groups)
    macs = _n(y) * per_position
    note = ""
    if layer.groups > 1:
        conv_flops = 2 * macs
        note = ("grouped conv: the TF profiler does not see it (tf_keras runs "
                "it in a separate function) and reports 0")
    else:
        positions = _conv_positions(layer, in_sp, out_sp)
        conv_flops = 2 * y[0] * positions * c_out * per_position
        if positions != _prod(out_sp):
            note = ("dilated conv: FLOPs over the space-to-batch padded "
                    "positions, as the profiler counts them")
    own = LayerCost(macs, conv_flops + _bias(layer, y), note=note)
    return _add(own, _activation(layer.activation, y))


@_rule(getattr(layers, "DepthwiseConv1D", None), layers.DepthwiseConv2D)
def _depthwise(layer, ins, outs):
    x, y = ins[0], outs[0]
    in_sp, c_in = _spatial(x, layer.data_format)
    out_sp, _ = _spatial(y, layer.data_format)
    k = _prod(layer.kernel_size)
    macs = _n(y) * k
    positions = _conv_positions(layer, in_sp, out_sp)
    flops = 2 * y[0] * positions * c_in * layer.depth_multiplier * k
    own = LayerCost(macs, flops + _bias(layer, y))
    return _add(own, _activation(layer.activation, y))


@_rule(layers.SeparableConv1D, layers.SeparableConv2D)
def _separable(layer, ins, outs):
    x, y = ins[0], outs[0]
    in_sp, c_in = _spatial(x, layer.data_format)
    out_sp, _ = _spatial(y, layer.data_format)
    k = _prod(layer.kernel_size)
    mid = c_in * layer.depth_multiplier
    dw_macs = y[0] * _prod(out_sp) * mid * k
    pw_macs = _n(y) * mid
    positions = _conv_positions(layer, in_sp, out_sp)
    flops = 2 * y[0] * positions * mid * k + 2 * pw_macs
    own = LayerCost(dw_macs + pw_macs, flops + _bias(layer, y))
    return _add(own, _activation(layer.activation, y))


def _deconv_shape_flops(layer):
    # Conv1DTranspose/Conv3DTranspose compute the output length from
    # tf.shape(inputs) with scalar tensor ops, which the profiler counts.
    per_dim = []
    op = layer.output_padding
    for i in range(len(layer.kernel_size)):
        if op is not None:
            per_dim.append(5)
        elif layer.padding == "same":
            per_dim.append(1)
        else:
            per_dim.append(2)
    return sum(per_dim)


@_rule(layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
def _conv_transpose(layer, ins, outs):
    x, y = ins[0], outs[0]
    in_sp, c_in = _spatial(x, layer.data_format)
    out_sp, c_out = _spatial(y, layer.data_format)
    k = _prod(layer.kernel_size)
    macs = x[0] * _prod(in_sp) * c_in * k * c_out
    kernel_size = k * c_out * c_in
    # The profiler's Conv2DBackpropInput rule, float division and all.
    conv_flops = int(2 * _n(y) * kernel_size /
                     (c_out * _prod(layer.strides)))
    note = ""
    extra = 0
    if len(layer.kernel_size) != 2:
        extra = _deconv_shape_flops(layer)
    if len(layer.kernel_size) == 3:
        note = ("Conv3DBackpropInputV2 has no profiler rule (the profiler "
                "counts only the bias adds)")
    if any(r != 1 for r in layer.dilation_rate):
        note = "dilated transposed conv: approximate"
    own = LayerCost(macs, conv_flops + extra + _bias(layer, y), note=note)
    return _add(own, _activation(layer.activation, y))


@_rule(layers.Dense)
def _dense(layer, ins, outs):
    x, y = ins[0], outs[0]
    macs = _n(y) * x[-1]
    own = LayerCost(macs, 2 * macs + _bias(layer, y))
    return _add(own, _activation(layer.activation, y))


@_rule(layers.BatchNormalization)
def _batchnorm(layer, ins, outs):
    y = outs[0]
    if getattr(layer, "fused", False):
        return LayerCost(note="fused BatchNorm: the TF profiler has no rule "
                              "for FusedBatchNormV3 and counts 0")
    channels = _n(layer.moving_variance.shape)
    return LayerCost(flops=2 * _n(y) + (5 + bool(layer.scale)) * channels)


@_rule(layers.LayerNormalization)
def _layernorm(layer, ins, outs):
    y = outs[0]
    flops = (bool(layer.scale) + bool(layer.center)) * _n(y)
    if getattr(layer, "_fused", True):
        return LayerCost(flops=flops)
    return LayerCost(flops=flops, note="non-fused LayerNormalization: "
                     "approximate (moments not counted)")


@_rule(layers.MaxPooling1D, layers.MaxPooling2D, layers.AveragePooling1D,
       layers.AveragePooling2D)
def _pool(layer, ins, outs):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return LayerCost(note="channels_first pooling: the TF profiler "
                              "supports only NHWC and counts 0")
    return LayerCost(flops=_prod(layer.pool_size) * _n(outs[0]))


@_rule(layers.MaxPooling3D, layers.AveragePooling3D)
def _pool3d(layer, ins, outs):
    return LayerCost(note="3-D pooling: the TF profiler has no rule for "
                          "MaxPool3D/AvgPool3D and counts 0")


@_rule(layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D,
       layers.GlobalAveragePooling3D)
def _gap(layer, ins, outs):
    return LayerCost(flops=_n(ins[0]))


@_rule(layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D,
       layers.GlobalMaxPooling3D)
def _gmp(layer, ins, outs):
    return LayerCost(note="global max pooling: the TF profiler has no rule "
                          "for Max and counts 0")


def _broadcast(a, b):
    a, b = tuple(a), tuple(b)
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    return tuple(max(i, j) for i, j in zip(a, b))


def _chain(ins):
    flops, shape = 0, ins[0]
    for s in ins[1:]:
        shape = _broadcast(shape, s)
        flops += _n(shape)
    return flops


@_rule(layers.Add, layers.Multiply, layers.Maximum, layers.Minimum,
       layers.Subtract)
def _merge(layer, ins, outs):
    return LayerCost(flops=_chain(ins))


@_rule(layers.Average)
def _average(layer, ins, outs):
    return LayerCost(flops=_chain(ins) + _n(outs[0]))


@_rule(layers.Activation)
def _activation_layer(layer, ins, outs):
    return _activation(layer.activation, outs[0])


@_rule(layers.ReLU)
def _relu(layer, ins, outs):
    e = _n(outs[0])
    alpha = float(layer.negative_slope)
    threshold = float(layer.threshold)
    max_value = layer.max_value
    max_value = None if max_value is None else float(max_value)
    if alpha != 0 and max_value is None and threshold == 0:
        return LayerCost()
    flops = 0
    if alpha != 0:
        flops += 2 * e if threshold != 0 else e
    clip = max_value is not None
    if threshold != 0:
        flops += 2 * e
    elif max_value == 6:
        clip = False
    if clip:
        flops += 2 * e
    if alpha != 0:
        flops += 2 * e
    return LayerCost(flops=flops)


@_rule(layers.ELU)
def _elu(layer, ins, outs):
    return LayerCost(flops=0 if float(layer.alpha) == 1 else 2 * _n(outs[0]))


@_rule(layers.ThresholdedReLU)
def _thresholded_relu(layer, ins, outs):
    return LayerCost(flops=2 * _n(outs[0]))


@_rule(layers.PReLU)
def _prelu(layer, ins, outs):
    return LayerCost(flops=3 * _n(outs[0]) + _n(layer.alpha.shape))


@_rule(layers.Softmax)
def _softmax(layer, ins, outs):
    y = outs[0]
    axis = layer.axis
    if isinstance(axis, int):
        # A non-last axis is transposed to the end; the permutation is
        # computed with scalar ops the profiler counts (2, or 5 for a
        # negative axis).
        if axis in (-1, len(y) - 1):
            return LayerCost(flops=5 * _n(y))
        return LayerCost(flops=5 * _n(y) + (2 if axis >= 0 else 5))
    # Several axes: exp(x - reduce_logsumexp(x, axes)).
    reduced = _n(y) // _prod(y[a] for a in axis)
    return LayerCost(flops=3 * _n(y) + reduced)


@_rule(layers.Rescaling, layers.Masking)
def _two_per_element(layer, ins, outs):
    return LayerCost(flops=2 * _n(outs[0]))


@_rule(layers.UnitNormalization)
def _unit_norm(layer, ins, outs):
    y = outs[0]
    axes = [layer.axis] if isinstance(layer.axis, int) else layer.axis
    reduced = _n(y) // _prod(y[a] for a in axes)
    return LayerCost(flops=3 * _n(y) + 2 * reduced)


@_rule(layers.UpSampling2D)
def _upsampling2d(layer, ins, outs):
    return LayerCost(flops=2)  # the new size: a Mul on a 2-vector


_ZERO_LAYERS = tuple(getattr(layers, n, None) for n in (
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "Identity", "Cropping1D", "Cropping2D",
    "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Concatenate", "Embedding", "UpSampling1D", "UpSampling3D", "LeakyReLU"))


@_rule(*_ZERO_LAYERS)
def _zero(layer, ins, outs):
    return LayerCost()


def _find_rule(layer):
    for cls in type(layer).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule
    return None


def _is_prune_wrapper(layer):
    return (isinstance(layer, layers.Wrapper) and any(
        c.__name__ == "PruneLowMagnitude" for c in type(layer).__mro__))


def _unwrap(layer):
    return layer.layer if _is_prune_wrapper(layer) else layer


def _layer_cost(layer, ins, outs) -> LayerCost:
    inner = _unwrap(layer)
    if any(s is None or any(d is None for d in s) for s in ins + outs):
        return LayerCost(counted=False, note="shape not fully known; not "
                         "counted (0)")
    rule = _find_rule(inner)
    if rule is None:
        return LayerCost(counted=False, note=(
            f"no FLOP rule for {type(inner).__name__}: not counted (0); add "
            "one with tp.report.register_layer"))
    try:
        cost = rule(inner, ins, outs)
    except (AttributeError, TypeError, ValueError, IndexError) as e:
        return LayerCost(counted=False, note=(
            f"{type(inner).__name__} not counted (0): {e}"))
    if inner is not layer:
        cost.note = "; ".join(filter(None, ["tfmot pruning wrapper (params "
                                            "include mask, threshold, step)",
                                            cost.note]))
    return cost


# ----------------------------------------------------------------- graph walk

def _fix(shape, batch):
    # Dimension 0 of every tensor of a Keras graph is the batch.
    dims = list(shape)
    if dims:
        dims[0] = batch
    return tuple(None if d is None else int(d) for d in dims)


def _known(shape):
    return shape is not None and all(d is not None for d in shape)


def _flat(x):
    return tf.nest.flatten(x)


def _rows_for(model, prefix, rows, top):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _rows_for(layer, f"{prefix}{layer.name}/", rows, False)
            continue
        if isinstance(layer, layers.InputLayer) and not top:
            continue
        inner = _unwrap(layer)
        rows[id(layer)] = _Row(layer, prefix + inner.name,
                               type(inner).__name__)


def _walk(model, in_shapes, batch, rows):
    """Propagate shapes through ``model``'s graph and add each call's cost."""
    shapes = {}
    for t, s in zip(model.inputs, in_shapes):
        shapes[id(t)] = s
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            out_t = _flat(node.outputs)
            if node.is_input:
                row = rows.get(id(layer))
                if row is not None:
                    row.output_shape = shapes.get(id(out_t[0]),
                                                  _fix(out_t[0].shape, batch))
                continue
            ins = [shapes.get(id(t)) or _fix(t.shape, batch)
                   for t in _flat(node.keras_inputs)]
            if isinstance(layer, keras.Model):
                outs = _walk(layer, ins, batch, rows)
            else:
                outs = [_fix(t.shape, batch) for t in out_t]
                if not all(_known(s) for s in outs) and all(
                        _known(s) for s in ins):
                    outs = _infer(layer, ins, outs)
                cost = _layer_cost(layer, ins, outs)
                row = rows.get(id(layer))
                if row is not None:
                    row.calls += 1
                    row.macs += int(cost.macs)
                    row.flops += int(cost.flops)
                    row.counted = row.counted and cost.counted
                    if cost.note and cost.note not in row.notes:
                        row.notes.append(cost.note)
                    if row.output_shape is None:
                        row.output_shape = (outs[0] if len(outs) == 1
                                            else list(outs))
            for t, s in zip(out_t, outs):
                shapes[id(t)] = s
    return [shapes.get(id(t)) or _fix(t.shape, batch) for t in model.outputs]


def _infer(layer, ins, static):
    try:
        arg = ins[0] if len(ins) == 1 else ins
        out = layer.compute_output_shape(
            tf.TensorShape(arg) if len(ins) == 1 else
            [tf.TensorShape(s) for s in ins])
    except Exception:  # noqa: BLE001  (any layer may refuse)
        return static
    if isinstance(out, (list, tuple)) and out and not isinstance(
            out, tf.TensorShape) and isinstance(out[0], (tf.TensorShape,
                                                        list, tuple)):
        return [tuple(tf.TensorShape(o).as_list()) for o in out]
    return [tuple(tf.TensorShape(out).as_list())]


def _analyse(model, batch_size, func):
    check_model(model, "model", func)
    batch = check_int(batch_size, "batch_size", func, min_value=1)
    in_shapes = [_fix(t.shape, batch) for t in model.inputs]
    for t, s in zip(model.inputs, in_shapes):
        if not _known(s):
            raise InvalidParameterError(
                f"{func}(): model {model.name!r} input {t.name!r} has shape "
                f"{tuple(t.shape)}; counting FLOPs needs every dimension but "
                "the batch. Rebuild the model with a fixed input shape, e.g. "
                "tp.keras.Input((32, 32, 3)).")
    rows: dict[int, _Row] = {}
    _rows_for(model, "", rows, True)
    _walk(model, in_shapes, batch, rows)
    return list(rows.values())


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _warn_uncounted(rows, func):
    missing = sorted({r.type for r in rows if not r.counted})
    if missing:
        warnings.warn(f"{func}(): FLOPs of {', '.join(missing)} layers are "
                      "not counted (0); see layer_table(model)['note'].",
                      stacklevel=3)


# ------------------------------------------------------------------ public API

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
    of the layers listed in the module docstring. The model is not changed.

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
    rows = _analyse(model, batch_size, "count_flops")
    _warn_uncounted(rows, "count_flops")
    return int(sum(r.flops for r in rows))


def _human(n):
    for factor, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= factor:
            return f"{n / factor:.3f} {unit}FLOPs"
    return f"{n} FLOPs"


def count_macs(model, batch_size=1) -> int:
    """Multiply-accumulates of the Conv/Dense-family layers (see module doc)."""
    rows = _analyse(model, batch_size, "count_macs")
    return int(sum(r.macs for r in rows))


_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings",
            "gamma")


def _zeros(layer):
    """(exact zeros, size) of the layer's kernels; kernel * mask if wrapped.

    Kernels are ``kernel``, ``depthwise_kernel``, ``pointwise_kernel``,
    ``embeddings`` and, for normalization layers, the scale ``gamma``.
    """
    arrays = []
    if _is_prune_wrapper(layer) and getattr(layer, "pruning_vars", None):
        arrays = [w.numpy() * m.numpy() for w, m, _ in layer.pruning_vars]
    else:
        inner = _unwrap(layer)
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
    rows = _analyse(model, batch_size, "layer_table")
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
            "trainable_params": int(sum(_n(w.shape) for w in
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
        "sparsity_before": _total_sparsity(a),
        "sparsity_after": _total_sparsity(b)})
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


def _total_sparsity(table):
    if "sparsity" in table.attrs:
        return table.attrs["sparsity"]
    s = table["sparsity"]
    w = table["params"].where(s.notna(), 0)
    if w.sum() == 0:
        return float("nan")
    # Weighted by each layer's parameter count (an approximation for layers
    # whose kernels are only part of their weights).
    return float((s.fillna(0) * w).sum() / w.sum())


# --------------------------------------------------------------------- files

def load_model(path):
    """Load a saved tf_keras model (``.h5``, ``.keras`` or SavedModel folder)
    for reporting, without compiling it.

    Models saved with tfmot pruning wrappers load inside tfmot's
    ``prune_scope``.

    Args:
        path: file or folder written by ``model.save(...)`` from ``tp.keras``.

    Returns:
        the ``tp.keras`` model.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a readable tf_keras model (e.g. saved by
            Keras 3, or not a model file at all).
    """
    import os

    func = "load_model"
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{func}(): 'path' must be a str or path; got "
                        f"{type(path).__name__}.")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{func}(): no such file or folder: {path!r}.")
    try:
        try:
            return keras.models.load_model(path, compile=False)
        except (ValueError, TypeError) as e:
            if "PruneLowMagnitude" not in str(e):
                raise
            from .._tfmot import prune_scope
            with prune_scope():
                return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (h5py, JSON and Keras errors)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InvalidParameterError(
            f"{func}(): cannot read {path!r} as a tf_keras model "
            f"({type(e).__name__}: {first[:200]}). Save the model from "
            "tp.keras / tf_keras with model.save('model.h5') or "
            "model.save('model.keras'); files written by Keras 3 cannot be "
            "read by tf_keras.") from e


# ------------------------------------------------------------------ profiler

def profiler_flops(model, batch_size=1) -> int:
    """Ask TensorFlow's own profiler for the model's inference FLOPs.

    Traces ``tf.function(model)`` (``training=False``) to a concrete function
    with a fixed batch, freezes the variables to constants and returns
    ``total_float_ops`` of ``tf.compat.v1.profiler`` with the float-operation
    options. Slow (seconds for a ResNet-50); use it to cross-check
    :func:`count_flops`. For tfmot-wrapped models the graph also multiplies
    every kernel by its mask: strip the wrappers first.

    Args:
        model: a built Sequential or Functional ``tp.keras`` model.
        batch_size: the batch to trace with.

    Returns:
        int: the profiler's ``total_float_ops``.

    Raises:
        TypeError, ValueError: as :func:`count_flops`.
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    func = "profiler_flops"
    check_model(model, "model", func)
    batch = check_int(batch_size, "batch_size", func, min_value=1)
    refuse_wrapped(model, "model", func, why="their graph assigns kernel * "
                   "mask and cannot be frozen")
    specs = []
    for t in model.inputs:
        shape = _fix(t.shape, batch)
        if not _known(shape):
            raise InvalidParameterError(
                f"{func}(): model input {t.name!r} has shape {tuple(t.shape)};"
                " the profiler needs every dimension but the batch. Rebuild "
                "the model with a fixed input shape.")
        specs.append(tf.TensorSpec(list(shape), t.dtype))

    if len(specs) == 1:
        fn = tf.function(lambda x: model(x, training=False))
    else:
        fn = tf.function(lambda *xs: model(list(xs), training=False))
    concrete = fn.get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
        options=options)
    return int(info.total_float_ops)


# ------------------------------------------------------------------- render

def _fmt_int(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{int(v):,}"


def _fmt_pct(v, digits=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.{digits}f}%"


def _fmt_red(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.1f}%"


def _fmt_shape(s):
    if s is None:
        return "-"
    if isinstance(s, list):
        return ", ".join(_fmt_shape(x) for x in s)
    return "(" + ", ".join("?" if d is None else str(d) for d in s) + ")"


def _grid(headers, rows, right):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if right[i] else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    sep = "  ".join("-" * w for w in widths)
    return [line(headers), sep] + [line(r) for r in rows[:-1]] + (
        [sep, line(rows[-1])] if rows else [])


def render(table_or_model, batch_size=1, title=None) -> str:
    """A console rendering of a report: aligned columns, thousands separators,
    totals and the unit ("FLOPs (2 per MAC + bias adds)").

    Args:
        table_or_model: a ``tp.keras`` model, a :func:`layer_table` frame or a
            :func:`compare` frame.
        batch_size: used only when a model is given.
        title: first line (default: the model name).

    Returns:
        str (no trailing newline).

    Raises:
        TypeError: for anything else.
    """
    obj = table_or_model
    if not isinstance(obj, pd.DataFrame):
        check_model(obj, "table_or_model", "render")
        obj = layer_table(obj, batch_size)
    if "params_before" in obj.columns:
        return _render_compare(obj, title)
    if not set(COLUMNS) <= set(obj.columns):
        raise TypeError("render(): 'table_or_model' must be a model, a "
                        "layer_table() or a compare() DataFrame; got a frame "
                        f"with columns {list(obj.columns)}.")
    return _render_table(obj, title)


def _render_table(t, title):
    batch = t.attrs.get("batch_size", 1)
    rows = []
    for r in t.itertuples(index=False):
        flops = _fmt_int(r.flops) + ("" if getattr(r, "counted", True)
                                     else " *")
        rows.append([r.layer, r.type, _fmt_shape(r.output_shape),
                     _fmt_int(r.params), _fmt_int(r.macs), flops,
                     _fmt_pct(r.sparsity)])
    params = t.attrs.get("params", int(t["params"].sum()))
    macs = int(t["macs"].sum())
    flops = int(t["flops"].sum())
    zero = _total_sparsity(t) if len(t) else float("nan")
    rows.append(["TOTAL", "", "", _fmt_int(params), _fmt_int(macs),
                 _fmt_int(flops), _fmt_pct(zero)])
    headers = ["layer", "type", "output shape", "params", "MACs", UNIT,
               "zeros"]
    right = [False, False, False, True, True, True, True]
    name = title or f"Model: {t.attrs.get('model', '')}".rstrip(": ")
    lines = [name] + _grid(headers, rows, right)
    lines.append(f"Totals: {params:,} params, {macs:,} MACs, {flops:,} "
                 f"FLOPs ({_human(flops)}; 2 per MAC + bias adds; "
                 f"batch {batch}).")
    if "counted" in t.columns:
        missing = list(t.loc[~t["counted"].astype(bool), "layer"])
        if missing:
            lines.append("* not counted (0 FLOPs): " + _names(missing))
    if "note" in t.columns:
        by_note: dict[str, list] = {}
        for name, note in zip(t["layer"], t["note"]):
            for part in filter(None, str(note or "").split("; ")):
                by_note.setdefault(part, []).append(name)
        for note, names in by_note.items():
            lines.append(f"Note: {_names(names)}: {note}.")
    return "\n".join(lines)


def _names(names, limit=4):
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit - 1])}, ... ({len(names)} layers)"


def _render_compare(t, title):
    rows = []
    for r in t.itertuples(index=False):
        rows.append([r.layer, str(r.type or ""), _fmt_int(r.params_before),
                     _fmt_int(r.params_after),
                     _fmt_red(r.params_reduction_pct),
                     _fmt_int(r.flops_before), _fmt_int(r.flops_after),
                     _fmt_red(r.flops_reduction_pct)])
    headers = ["layer", "type", "params before", "params after",
               "params -%", "FLOPs before", "FLOPs after", "FLOPs -%"]
    right = [False, False] + [True] * 6
    lines = [title or "Before / after"] + _grid(headers, rows, right)
    comp, speed = t.attrs.get("compression"), t.attrs.get("speedup")
    if comp is not None:
        lines.append(f"Compression {comp:.2f}x (params), theoretical speed-up"
                     f" {speed:.2f}x; {UNIT}, batch "
                     f"{t.attrs.get('batch_size', 1)}.")
    if measured_summary(t):
        lines.append(measured_summary(t))
    return "\n".join(lines)


from .measure import (add_measured, measure, measure_models,  # noqa: E402
                      measure_speedup, measured_summary)
from .size import gzip_size, refuse_wrapped, size_on_disk  # noqa: E402
