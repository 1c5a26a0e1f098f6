"""The built-in FLOP rules: one per tf_keras layer class.

Each applies the per-op rules of ``tf.compat.v1.profiler``
(``tensorflow/python/profiler/internal/flops_registry.py`` and the Conv,
Depthwise and BiasAdd rules in ``nn_ops.py``) to the ops tf_keras lowers the
layer to, so that the sum over a model equals :func:`profiler_flops`. A TF
function called on symbolic tensors (``TFOpLambda``) is traced once per
signature and its ops counted with the profiler's registry.
"""
from __future__ import annotations

from .._kgraph import (SlicingOpLambda, TFOpLambda, applications_layer,
                       fused_layer_norm)
from .._keras import keras
from .profiler import function_flops
from .rules import (LayerCost, activation_cost, add_costs,
                    bias_adds, call_rule_for, conv_positions, n_of, prod,
                    rule_for, spatial)

layers = keras.layers

__all__: list = []


def _conv_dims(layer, ins, outs):
    """``(x, y, in_spatial, c_in, out_spatial, c_out, window)`` of a conv
    call: input and output shapes, their spatial sizes and channels, and
    the kernel window size."""
    x, y = ins[0], outs[0]
    in_sp, c_in = spatial(x, layer.data_format)
    out_sp, c_out = spatial(y, layer.data_format)
    return x, y, in_sp, c_in, out_sp, c_out, prod(layer.kernel_size)


@rule_for(layers.Conv1D, layers.Conv2D, layers.Conv3D)
def _conv(layer, ins, outs):
    x, y, in_sp, c_in, out_sp, c_out, k = _conv_dims(layer, ins, outs)
    per_position = k * (c_in // layer.groups)
    macs = n_of(y) * per_position
    positions = conv_positions(layer, in_sp, out_sp)
    conv_flops = 2 * y[0] * positions * c_out * per_position
    note = ""
    if layer.groups > 1:
        note = ("grouped conv: the raw TF profiler does not see it (tf_keras "
                "runs it in a separate XLA function) and loses the shapes "
                "after it; profiler_flops(model, inline_grouped=True) counts "
                "it")
    elif positions != prod(out_sp):
        note = ("dilated conv: FLOPs over the space-to-batch padded "
                "positions, as the profiler counts them")
    own = LayerCost(macs, conv_flops + bias_adds(layer, y), note=note)
    return add_costs(own, activation_cost(layer.activation, y))


@rule_for(getattr(layers, "DepthwiseConv1D", None), layers.DepthwiseConv2D)
def _depthwise(layer, ins, outs):
    x, y, in_sp, c_in, out_sp, _, k = _conv_dims(layer, ins, outs)
    macs = n_of(y) * k
    positions = conv_positions(layer, in_sp, out_sp)
    flops = 2 * y[0] * positions * c_in * layer.depth_multiplier * k
    own = LayerCost(macs, flops + bias_adds(layer, y))
    return add_costs(own, activation_cost(layer.activation, y))


@rule_for(layers.SeparableConv1D, layers.SeparableConv2D)
def _separable(layer, ins, outs):
    x, y, in_sp, c_in, out_sp, _, k = _conv_dims(layer, ins, outs)
    mid = c_in * layer.depth_multiplier
    dw_macs = y[0] * prod(out_sp) * mid * k
    pw_macs = n_of(y) * mid
    positions = conv_positions(layer, in_sp, out_sp)
    flops = 2 * y[0] * positions * mid * k + 2 * pw_macs
    own = LayerCost(dw_macs + pw_macs, flops + bias_adds(layer, y))
    return add_costs(own, activation_cost(layer.activation, y))


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


@rule_for(layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
def _conv_transpose(layer, ins, outs):
    x, y, in_sp, c_in, out_sp, c_out, k = _conv_dims(layer, ins, outs)
    macs = x[0] * prod(in_sp) * c_in * k * c_out
    kernel_size = k * c_out * c_in
    # The profiler's Conv2DBackpropInput rule, float division and all.
    conv_flops = int(2 * n_of(y) * kernel_size /
                     (c_out * prod(layer.strides)))
    note = ""
    extra = 0
    if len(layer.kernel_size) != 2:
        extra = _deconv_shape_flops(layer)
    if len(layer.kernel_size) == 3:
        note = ("Conv3DBackpropInputV2 has no profiler rule (the profiler "
                "counts only the bias adds)")
    if any(r != 1 for r in layer.dilation_rate):
        note = "dilated transposed conv: approximate"
    own = LayerCost(macs, conv_flops + extra + bias_adds(layer, y), note=note)
    return add_costs(own, activation_cost(layer.activation, y))


@rule_for(layers.Dense)
def _dense(layer, ins, outs):
    x, y = ins[0], outs[0]
    macs = n_of(y) * x[-1]
    own = LayerCost(macs, 2 * macs + bias_adds(layer, y))
    return add_costs(own, activation_cost(layer.activation, y))


@rule_for(layers.BatchNormalization)
def _batchnorm(layer, ins, outs):
    y = outs[0]
    if getattr(layer, "fused", False):
        return LayerCost(note="fused BatchNorm: the TF profiler has no rule "
                              "for FusedBatchNormV3 and counts 0")
    channels = n_of(layer.moving_variance.shape)
    return LayerCost(flops=2 * n_of(y) + (5 + bool(layer.scale)) * channels)


#: Non-fused LayerNormalization (``tf.nn.moments`` then
#: ``tf.nn.batch_normalization``): FLOPs per output element and per
#: normalised group, by (scale, center).
_LN_UNFUSED = {(True, True): (9, 3), (True, False): (8, 4),
               (False, True): (7, 4), (False, False): (6, 5)}


@rule_for(layers.LayerNormalization)
def _layernorm(layer, ins, outs):
    y = outs[0]
    e = n_of(y)
    scale, center = layer.gamma is not None, layer.beta is not None
    if fused_layer_norm(layer):
        # fused_batch_norm has no profiler rule; then * gamma and + beta
        return LayerCost(flops=(scale + center) * e)
    per_element, per_group = _LN_UNFUSED[(scale, center)]
    groups = e // prod(y[a] for a in layer.axis)
    return LayerCost(flops=per_element * e + per_group * groups)


@rule_for(layers.Normalization)
def _normalization(layer, ins, outs):
    # (x - mean) / maximum(sqrt(variance), eps): Sub, RealDiv per element,
    # Maximum per variance entry (Sqrt has no profiler rule)
    return LayerCost(flops=2 * n_of(outs[0]) +
                     n_of(tuple(layer.variance.shape)))


@rule_for(applications_layer("convnext", "LayerScale"))
def _layer_scale(layer, ins, outs):
    return LayerCost(flops=n_of(outs[0]))  # x * gamma


@rule_for(applications_layer("inception_resnet_v2", "CustomScaleLayer"))
def _scaled_sum(layer, ins, outs):
    return LayerCost(flops=n_of(ins[1]) + n_of(outs[0]))  # x + r * scale


@call_rule_for(TFOpLambda)
def _tf_function(layer, node, ins, outs):
    return LayerCost(flops=function_flops(layer, node, ins))


@call_rule_for(SlicingOpLambda)
def _tf_slicing(layer, node, ins, outs):
    return LayerCost(flops=function_flops(layer, node, ins))


@rule_for(layers.MaxPooling1D, layers.MaxPooling2D, layers.AveragePooling1D,
       layers.AveragePooling2D)
def _pool(layer, ins, outs):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return LayerCost(note="channels_first pooling: the TF profiler "
                              "supports only NHWC and counts 0")
    return LayerCost(flops=prod(layer.pool_size) * n_of(outs[0]))


@rule_for(layers.MaxPooling3D, layers.AveragePooling3D)
def _pool3d(layer, ins, outs):
    return LayerCost(note="3-D pooling: the TF profiler has no rule for "
                          "MaxPool3D/AvgPool3D and counts 0")


@rule_for(layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D,
       layers.GlobalAveragePooling3D)
def _gap(layer, ins, outs):
    return LayerCost(flops=n_of(ins[0]))


@rule_for(layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D,
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
        flops += n_of(shape)
    return flops


@rule_for(layers.Add, layers.Multiply, layers.Maximum, layers.Minimum,
       layers.Subtract)
def _merge(layer, ins, outs):
    return LayerCost(flops=_chain(ins))


@rule_for(layers.Average)
def _average(layer, ins, outs):
    return LayerCost(flops=_chain(ins) + n_of(outs[0]))


@rule_for(layers.Activation)
def _activation_layer(layer, ins, outs):
    return activation_cost(layer.activation, outs[0])


@rule_for(layers.ReLU)
def _relu(layer, ins, outs):
    e = n_of(outs[0])
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


@rule_for(layers.ELU)
def _elu(layer, ins, outs):
    return LayerCost(flops=0 if float(layer.alpha) == 1 else 2 * n_of(outs[0]))


@rule_for(layers.ThresholdedReLU)
def _thresholded_relu(layer, ins, outs):
    return LayerCost(flops=2 * n_of(outs[0]))


@rule_for(layers.PReLU)
def _prelu(layer, ins, outs):
    return LayerCost(flops=3 * n_of(outs[0]) + n_of(layer.alpha.shape))


@rule_for(layers.Softmax)
def _softmax(layer, ins, outs):
    y = outs[0]
    axis = layer.axis
    if isinstance(axis, int):
        # A non-last axis is transposed to the end; the permutation is
        # computed with scalar ops the profiler counts (2, or 5 for a
        # negative axis).
        if axis in (-1, len(y) - 1):
            return LayerCost(flops=5 * n_of(y))
        return LayerCost(flops=5 * n_of(y) + (2 if axis >= 0 else 5))
    # Several axes: exp(x - reduce_logsumexp(x, axes)).
    reduced = n_of(y) // prod(y[a] for a in axis)
    return LayerCost(flops=3 * n_of(y) + reduced)


@rule_for(layers.Rescaling, layers.Masking)
def _two_per_element(layer, ins, outs):
    return LayerCost(flops=2 * n_of(outs[0]))


@rule_for(layers.UnitNormalization)
def _unit_norm(layer, ins, outs):
    y = outs[0]
    axes = [layer.axis] if isinstance(layer.axis, int) else layer.axis
    reduced = n_of(y) // prod(y[a] for a in axes)
    return LayerCost(flops=3 * n_of(y) + 2 * reduced)


@rule_for(layers.UpSampling2D)
def _upsampling2d(layer, ins, outs):
    return LayerCost(flops=2)  # the new size: a Mul on a 2-vector


_ZERO_LAYERS = tuple(getattr(layers, n, None) for n in (
    "InputLayer", "Flatten", "Reshape", "Permute", "RepeatVector", "Dropout",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "ActivityRegularization", "Identity", "Cropping1D", "Cropping2D",
    "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Concatenate", "Embedding", "UpSampling1D", "UpSampling3D", "LeakyReLU")
    ) + (applications_layer("convnext", "StochasticDepth"),)


@rule_for(*_ZERO_LAYERS)
def _zero(layer, ins, outs):
    return LayerCost()
