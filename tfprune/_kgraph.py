"""The one place that reads tf_keras graph internals.

tfprune walks a model's call graph (surgery, reports, masking). The call
graph lives in private tf_keras attributes (``_inbound_nodes``,
``_keras_history``, ``_nodes_by_depth``, ``Node`` internals, the compile
arguments); every such access goes through this module, so a tf_keras
upgrade touches one file. It also holds the one nested-layer lookup
(:func:`find_layer`) the whole package uses.

Names: a layer inside a nested model is named by its *path*,
``"outer/inner"``. Layer names may themselves contain ``/``
(keras.applications' DenseNet uses ``conv1/conv``), so :func:`find_layer`
tries a real name first and a nested path second, and refuses a name that
means both.
"""
from __future__ import annotations

import difflib
import heapq

from ._keras import keras, tf
from .errors import InvalidParameterError

__all__ = ["find_layer", "top_layer", "layer_paths", "is_graph_model",
           "model_nodes", "call_order", "tensor_id", "is_symbolic",
           "node_input_ids", "node_output_ids", "node_outputs", "node_inputs",
           "node_tensors", "call_arguments", "inbound_nodes",
           "producer", "input_layer_tensor",
           "nested_inputs", "nested_outputs", "compile_state",
           "applications_layer", "fused_layer_norm",
           "see_grouped_convolution", "TFOpLambda", "SlicingOpLambda"]


def _internal(path: str):
    """An object of tf_keras' private ``src`` tree by attribute path (the
    modules are loaded with tf_keras), or None when this version lacks it."""
    obj = keras
    for part in ("src." + path).split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


#: tf_keras' layers wrapping a TF function called on symbolic tensors.
TFOpLambda = _internal("layers.core.tf_op_layer.TFOpLambda")
SlicingOpLambda = _internal("layers.core.tf_op_layer.SlicingOpLambda")


# ------------------------------------------------------------------- models

def is_graph_model(layer) -> bool:
    """True for a Sequential or Functional model (one with a readable
    graph), False for a subclassed model or a plain layer."""
    return isinstance(layer, keras.Model) and (
        isinstance(layer, keras.Sequential) or
        bool(getattr(layer, "_is_graph_network", False)))


def nested_inputs(model):
    """The model's inputs in the structure they were given (list, dict)."""
    return model._nested_inputs


def nested_outputs(model):
    """The model's outputs in the structure they were given."""
    return model._nested_outputs


def is_symbolic(value) -> bool:
    """True for a symbolic tensor of a tf_keras graph (a KerasTensor)."""
    return hasattr(value, "_keras_history")


def producer(kt):
    """The layer that produced the symbolic tensor ``kt``."""
    return kt._keras_history.layer


def input_layer_tensor(layer):
    """The symbolic tensor an ``InputLayer`` creates."""
    return tf.nest.flatten(layer._inbound_nodes[0].outputs)[0]


# -------------------------------------------------------------------- nodes

def tensor_id(kt) -> str:
    """The key tf_keras uses for a symbolic tensor in its node records."""
    return str(id(kt))


def node_input_ids(node) -> list:
    """Keys of the symbolic tensors a call node consumes, in order."""
    return list(node.flat_input_ids)


def node_output_ids(node) -> list:
    """Keys of the symbolic tensors a call node produces, in order."""
    return list(node.flat_output_ids)


def node_outputs(node) -> list:
    """The symbolic tensors a call node produces, flattened."""
    return tf.nest.flatten(node.outputs)


def node_inputs(node) -> list:
    """The symbolic tensors a call node consumes, flattened."""
    return list(node.keras_inputs)


def inbound_nodes(layer) -> list:
    """Every call node of ``layer`` (in any model), in call order."""
    return list(layer._inbound_nodes)


def model_nodes(model) -> list:
    """The model's call nodes (input nodes excluded), inputs to outputs, in
    tf_keras' depth order."""
    out = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if not node.is_input:
                out.append(node)
    return out


def call_order(model) -> list:
    """The model's call nodes in an order that runs every layer's calls in
    their original order (so a shared layer rebuilt from it keeps its node
    indices), ties broken by tf_keras' depth order."""
    nodes = model_nodes(model)
    rank = {id(n): i for i, n in enumerate(nodes)}
    made = {}
    for n in nodes:
        for t in node_output_ids(n):
            made[t] = n
    after: dict[int, list] = {id(n): [] for n in nodes}
    need = {id(n): 0 for n in nodes}

    def edge(a, b):
        after[id(a)].append(b)
        need[id(b)] += 1

    for n in nodes:
        for t in set(node_input_ids(n)):
            if t in made:
                edge(made[t], n)
        calls = [c for c in n.layer._inbound_nodes if id(c) in rank]
        i = calls.index(n)
        if i + 1 < len(calls):
            edge(n, calls[i + 1])
    ready = [(rank[id(n)], n) for n in nodes if not need[id(n)]]
    heapq.heapify(ready)
    out = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for m in after[id(n)]:
            need[id(m)] -= 1
            if not need[id(m)]:
                heapq.heappush(ready, (rank[id(m)], m))
    return out if len(out) == len(nodes) else nodes


def node_tensors(node):
    """``(args, kwargs)`` of a call node with its symbolic tensors as they
    were passed (constants included)."""
    return node.call_args, dict(node.call_kwargs)


def call_arguments(node, tensors: dict, convert=None):
    """``(args, kwargs)`` to call ``node``'s layer again.

    Args:
        node: a call node.
        tensors: maps :func:`tensor_id` of each consumed symbolic tensor to
            the value that replaces it.
        convert: optional ``f(value) -> value`` applied to every argument
            that is not a consumed tensor (constants, flags).
    """
    if node._single_positional_tensor_passed and convert is None:
        return (tensors[node.flat_input_ids[0]],), {}
    flat = list(node._flat_arguments)
    taken = set()
    for kt_id, idx in node._keras_inputs_ids_and_indices:
        flat[idx] = tensors[kt_id]
        taken.add(idx)
    if convert is not None:
        flat = [v if i in taken else convert(v) for i, v in enumerate(flat)]
    args, kwargs = tf.nest.pack_sequence_as(
        (node.call_args, node.call_kwargs.values()), flat)
    return args, dict(zip(node.call_kwargs.keys(), kwargs))


# ------------------------------------------------------------------ compile

def compile_state(model) -> dict | None:
    """The arguments ``model`` was compiled with (``optimizer``, ``loss``,
    ``metrics``, ``weighted_metrics``, ``loss_weights``, ``run_eagerly``,
    ``steps_per_execution``, ``jit_compile``), or None when it is not
    compiled."""
    if not getattr(model, "_is_compiled", False) or \
            getattr(model, "optimizer", None) is None:
        return None
    args = dict(model._get_compile_args())
    spe = getattr(model, "_steps_per_execution", None)
    args.update(run_eagerly=getattr(model, "_run_eagerly", None),
                steps_per_execution=int(spe.numpy()) if spe is not None
                else 1,
                jit_compile=getattr(model, "_jit_compile", None))
    return args


# ------------------------------------------------------------ layer state

def fused_layer_norm(layer) -> bool:
    """True when a built LayerNormalization runs tf_keras' fused kernel
    (float32, epsilon >= 1.001e-5, normalised axes last and contiguous)."""
    return bool(getattr(layer, "_fused", False))


def see_grouped_convolution(layer) -> None:
    """Make a grouped convolution run its plain convolution op instead of
    tf_keras' separately compiled XLA function, so that a traced graph holds
    one ``Conv2D`` op with known shapes. Only for private copies: it changes
    ``layer``."""
    layer._jit_compiled_convolution_op = layer.convolution_op


# ------------------------------------------------------- application layers

def applications_layer(module: str, name: str):
    """A layer class that keras.applications defines but does not export
    (e.g. ``("convnext", "LayerScale")``), or None when it is absent."""
    return _internal(f"applications.{module}.{name}")


# ------------------------------------------------------------------- lookup

def layer_paths(model, prefix: str = ""):
    """Yield ``(path, layer)`` for every layer of ``model`` and of the graph
    models nested in it (a nested model itself included), in model order."""
    for layer in model.layers:
        path = prefix + layer.name
        yield path, layer
        if is_graph_model(layer):
            yield from layer_paths(layer, path + "/")


def _nested_matches(model, name):
    out = []
    for layer in model.layers:
        head = layer.name + "/"
        if is_graph_model(layer) and name.startswith(head):
            rest = name[len(head):]
            out.extend((head + p, la) for p, la in _all_matches(layer, rest))
    return out


def _all_matches(model, name):
    real = [(la.name, la) for la in model.layers if la.name == name]
    return real + _nested_matches(model, name)


def find_layer(model, name, func: str | None = None, arg: str = "layer"):
    """The layer of ``model`` called ``name``, and its path.

    ``name`` is looked up as a real layer name of ``model`` first (names may
    contain ``/``), then as a nested path ``"outer/inner"`` (``outer`` a
    graph model inside ``model``; ``inner`` looked up the same way inside
    it), then as the real name of a layer inside nested models when only
    one has it.

    Args:
        model: a Sequential or Functional tf_keras model.
        name: the layer name or path.
        func, arg: the public function and argument, for error messages.

    Returns:
        ``(path, layer)``.

    Raises:
        ValueError: no such layer (near matches are listed), or ``name``
            matches both a real name and a nested path (or several nested
            layers).
    """
    where = f"{func}(): " if func else ""
    found = _all_matches(model, name)
    if not found:
        found = [(p, la) for p, la in layer_paths(model)
                 if "/" in p and la.name == name]
        if len(found) > 1:
            raise InvalidParameterError(
                f"{where}{arg} '{name}' is ambiguous in model "
                f"'{model.name}': layers {[p for p, _ in found]} have that "
                "name inside nested models; give the full path.")
    if len(found) > 1:
        raise InvalidParameterError(
            f"{where}{arg} '{name}' is ambiguous in model '{model.name}': it "
            f"names both the layer {found[0][0]!r} and the nested layer "
            f"{found[1][0]!r}; rename one of them.")
    if not found:
        paths = [p for p, _ in layer_paths(model)]
        near = difflib.get_close_matches(name, paths, n=5, cutoff=0.5)
        hint = (f" Did you mean {', '.join(repr(n) for n in near)}?"
                if near else "")
        raise InvalidParameterError(
            f"{where}model '{model.name}' has no layer named '{name}'.{hint}")
    return found[0]


def top_layer(model, name, func: str | None = None):
    """The layer of ``model`` itself (not of a nested model) that is, or
    holds, the layer ``name`` (looked up as in :func:`find_layer`)."""
    path, layer = find_layer(model, name, func)
    for top in model.layers:
        if top is layer:
            return top
        if is_graph_model(top) and path.startswith(top.name + "/") and any(
                la is layer for _, la in layer_paths(top)):
            return top
    return layer
