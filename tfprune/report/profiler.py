"""TensorFlow's own profiler: the cross-check of ``count_flops``, and the
profiler's per-op rules applied to one TF function call.

Everything that touches TensorFlow's profiler internals lives here.
"""
from __future__ import annotations

import numpy as np

from .. import _kgraph
from .._keras import check_model, keras, tf
from .._validate import check_int
from ..errors import InvalidParameterError
from .size import refuse_wrapped
from .walk import all_layers, fix_shape, known

__all__ = ["profiler_flops", "function_flops"]

_FUNCTION_FLOPS: dict = {}


def _graph_constant(value):
    if isinstance(value, (tf.Tensor, tf.Variable)) and \
            hasattr(value, "numpy"):
        return value.numpy()
    return value


def _key(value):
    if isinstance(value, np.ndarray):
        return ("array", value.shape, str(value.dtype), value.tobytes())
    return repr(value)


def function_flops(layer, node, in_shapes) -> int:
    """Profiler FLOPs of one call of a ``TFOpLambda``-style layer: its TF
    function is traced on placeholders of the call's static shapes (batch
    included) and every op is counted with ``tf.compat.v1.profiler``'s
    registry, as the profiler counts the model. Cached per signature."""
    from tensorflow.python.framework import ops as tf_ops

    ids = _kgraph.node_input_ids(node)
    dtypes = [t.dtype for t in _kgraph.node_inputs(node)]
    consts = []
    _kgraph.call_arguments(node, dict.fromkeys(ids),
                           lambda v: consts.append(_graph_constant(v)) or v)
    key = (layer.get_config().get("function"), tuple(map(tuple, in_shapes)),
           tuple(str(d) for d in dtypes), tuple(_key(c) for c in consts))
    if key in _FUNCTION_FLOPS:
        return _FUNCTION_FLOPS[key]
    graph = tf.Graph()
    with graph.as_default():
        holders = {t: tf.compat.v1.placeholder(d, list(s))
                   for t, d, s in zip(ids, dtypes, in_shapes)}
        args, kwargs = _kgraph.call_arguments(node, holders, _graph_constant)
        layer.call(*args, **kwargs)
    total = 0
    for op in graph.get_operations():
        stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
        total += int(stats.value or 0)
    _FUNCTION_FLOPS[key] = total
    return total


def _input_specs(model, batch, func):
    specs = []
    for t in model.inputs:
        shape = fix_shape(t.shape, batch)
        if not known(shape):
            raise InvalidParameterError(
                f"{func}(): model input {t.name!r} has shape {tuple(t.shape)};"
                " the profiler needs every dimension but the batch. Rebuild "
                "the model with a fixed input shape.")
        specs.append(tf.TensorSpec(list(shape), t.dtype))
    return specs


def _grouped_visible(model):
    """A private copy of ``model`` whose grouped convolutions trace as one
    plain convolution op each (the profiler then sees them)."""
    grouped = [la for la in all_layers(model)
               if getattr(la, "groups", 1) and getattr(la, "groups", 1) > 1]
    if not grouped:
        return model
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for la in all_layers(copy):
        if getattr(la, "groups", 1) and getattr(la, "groups", 1) > 1:
            _kgraph.see_grouped_convolution(la)
    return copy


def profiler_flops(model, batch_size=1, *, inline_grouped=False) -> int:
    """Ask TensorFlow's own profiler for the model's inference FLOPs.

    Traces ``tf.function(model)`` (``training=False``) to a concrete function
    with a fixed batch, freezes the variables to constants and returns
    ``total_float_ops`` of ``tf.compat.v1.profiler`` with the float-operation
    options. Slow (seconds for a ResNet-50); use it to cross-check
    :func:`count_flops`. For tfmot-wrapped models the graph also multiplies
    every kernel by its mask: strip the wrappers first.

    tf_keras runs a grouped convolution (``Conv2D(groups=g)``) in a separately
    compiled function; the raw profiler counts 0 for it **and loses the
    shapes of everything after it** (RegNet: an eighth of the true count).
    ``inline_grouped=True`` traces a private copy whose grouped convolutions
    are one plain convolution op each, which the profiler counts with its
    Conv2D rule (2 per multiply-add).

    Args:
        model: a built Sequential or Functional ``tp.keras`` model.
        batch_size: the batch to trace with.
        inline_grouped: make grouped convolutions visible to the profiler.

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
    specs = _input_specs(model, batch, func)
    if inline_grouped:
        model = _grouped_visible(model)
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
