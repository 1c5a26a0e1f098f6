"""Channel deletion: one rebuild of the whole model for any number of layers.

The rebuild walks the original call graph once. Every layer is created anew
from its config (resized by its handler where channels changed), called on
the new tensors, and given its (sliced) weights in a single
``batch_set_value`` at the end. The input model is never changed and shares
no layer or variable with the result.
"""
from __future__ import annotations

import numbers
from typing import Mapping

import numpy as np

from .._keras import check_model, keras, tf
from .._validate import check_choice
from ..errors import InvalidParameterError, UnsupportedLayerError
from .graph import DependencyGraph, _tid
from .handlers import SliceContext

__all__ = ["delete_channels", "prune_channels", "expand_plan", "Surgeon",
           "delete_layer", "insert_layer", "replace_layer"]


# ------------------------------------------------------------- validation

def _positions(channels, n: int, name: str, func: str) -> np.ndarray:
    """Sorted unique channel positions in ``[0, n)``; negatives count from
    the end."""
    if isinstance(channels, (str, bytes)) or channels is None:
        raise TypeError(f"{func}(): channels of layer '{name}' must be a "
                        f"sequence of integers; got {channels!r}.")
    if isinstance(channels, numbers.Integral) and not isinstance(channels,
                                                                 bool):
        channels = [channels]
    arr = np.asarray(list(channels) if not isinstance(channels, np.ndarray)
                     else channels)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype,
                                                               np.integer):
        raise TypeError(
            f"{func}(): channels of layer '{name}' must be a 1-D sequence of "
            f"integers; got {np.asarray(channels).tolist()!r} "
            f"(dtype {arr.dtype}).")
    arr = arr.astype(np.int64)
    bad = arr[(arr < -n) | (arr >= n)]
    if len(bad):
        raise InvalidParameterError(
            f"{func}(): channel index {int(bad[0])} is out of range for layer "
            f"'{name}', which has {n} output channels (valid: 0..{n - 1}, or "
            f"-{n}..-1 counting from the end).")
    arr = np.where(arr < 0, arr + n, arr)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise InvalidParameterError(
            f"{func}(): duplicate channel indices for layer '{name}': "
            f"{uniq[counts > 1].tolist()}; list each channel once.")
    return uniq


def _requests(graph, plan, func):
    if not isinstance(plan, Mapping):
        raise TypeError(f"{func}(): 'plan' must be a dict mapping layer "
                        f"names to channel indices; got {type(plan).__name__}.")
    out = []
    seen = {}
    for key, channels in plan.items():
        rec = graph.find(key, func, "plan")
        if rec.name in seen:
            raise InvalidParameterError(
                f"{func}(): layer '{rec.name}' appears twice in 'plan' (as "
                f"{seen[rec.name]!r} and {key!r}); merge its channels.")
        seen[rec.name] = key
        atoms = graph.channels_of(rec, func)
        pos = _positions(channels, len(atoms), rec.name, func)
        if len(pos):
            out.append((rec, pos))
    return out


def _resolve(graph, plan, func):
    reqs = _requests(graph, plan, func)
    if not reqs:
        return None
    return graph.resolve(reqs, func)


# ---------------------------------------------------------------- rebuild

def _map_args(node, tensors):
    if node._single_positional_tensor_passed:
        return (tensors[node.flat_input_ids[0]],), {}
    flat = list(node._flat_arguments)
    for kt_id, idx in node._keras_inputs_ids_and_indices:
        flat[idx] = tensors[kt_id]
    args, kwargs = tf.nest.pack_sequence_as(
        (node.call_args, node.call_kwargs.values()), flat)
    return args, dict(zip(node.call_kwargs.keys(), kwargs))


class _Rebuilder:
    """Builds the new model for a resolved deletion (``dead``: bool per
    channel id, or None) and optional zeroed weight slices."""

    def __init__(self, graph, dead=None, zero=None, layer_ops=None):
        self.g = graph
        self.dead = dead
        self.zero = zero or {}
        self.ops = layer_ops or {}
        self.new: dict[str, object] = {}
        self.pending: dict[str, tuple] = {}
        self.assign: list = []

    def kept(self, info):
        return None if info is None else self._kept_ids(info.atoms)

    def _kept_ids(self, atoms):
        if self.dead is None:
            return None
        d = self.dead[atoms]
        if not d.any():
            return None
        return np.flatnonzero(~d)

    def build(self):
        new = self.model(self.g.model, None)
        if self.assign:
            keras.backend.batch_set_value(self.assign)
        return new

    def _input_layer(self, kt, shape):
        cfg = kt._keras_history.layer.get_config()
        if shape is not None:
            cfg["batch_input_shape"] = tuple(shape)
        layer = keras.layers.InputLayer.from_config(cfg)
        return layer, tf.nest.flatten(layer._inbound_nodes[0].outputs)[0]

    def model(self, model, in_shapes):
        if isinstance(model, keras.Sequential):
            return self._sequential(model, in_shapes)
        tensors = {}
        new_inputs = []
        for i, kt in enumerate(model.inputs):
            _, t = self._input_layer(kt, in_shapes[i] if in_shapes else None)
            tensors[_tid(kt)] = t
            new_inputs.append(t)
        for node in self.g.node_order[id(model)]:
            outs = self._call_node(node, tensors)
            for x_id, y in zip(node.flat_output_ids, tf.nest.flatten(outs)):
                tensors[x_id] = y
        outputs = [tensors[_tid(kt)] for kt in model.outputs]
        new = keras.Model(
            tf.nest.pack_sequence_as(model._nested_inputs, new_inputs),
            tf.nest.pack_sequence_as(model._nested_outputs, outputs),
            name=model.name)
        if not model.trainable:
            new.trainable = False
        return new

    def _gone(self, info) -> bool:
        return self.g.fully_dead(self.dead, info)

    def _call_node(self, node, tensors):
        """Call the rebuilt layer of ``node`` on the new tensors; None for
        every output of a removed branch."""
        ins, outs = self.g.node_io[id(node)]
        n_out = len(node.flat_output_ids)
        if outs and all(self._gone(o) for o in outs if o is not None) and \
                any(o is not None for o in outs):
            return [None] * n_out
        rec = self.g._by_id[id(node.layer)]
        op = self.ops.get(rec.name)
        if op is not None:
            return self._layer_op(node, op, tensors)
        if rec.kind == "concat" and any(self._gone(i) for i in ins):
            live = [tensors[t] for t, i in zip(node.flat_input_ids, ins)
                    if not self._gone(i)]
            if len(live) == 1:
                return [live[0]]
            layer = self.layer_for(node, live)
            out = layer(live, **dict(node.call_kwargs))
            self._after_call(node.layer)
            return out
        layer = self.layer_for(node, [tensors[t] for t in
                                      node.flat_input_ids])
        args, kwargs = _map_args(node, tensors)
        out = layer(*args, **kwargs)
        self._after_call(node.layer)
        return out

    def _layer_op(self, node, op, tensors):
        kind, new_layer = op
        args, kwargs = _map_args(node, tensors)
        if kind == "delete":
            return [tensors[node.flat_input_ids[0]]]
        if kind == "replace":
            return new_layer(*args, **kwargs)
        x = new_layer(tensors[node.flat_input_ids[0]])
        layer = self.layer_for(node, [x])
        out = layer(x, **kwargs)
        self._after_call(node.layer)
        return out

    def _sequential(self, model, in_shapes):
        new = keras.Sequential(name=model.name)
        il, _ = self._input_layer(model.inputs[0],
                                  in_shapes[0] if in_shapes else None)
        new.add(il)
        for node in self.g.node_order[id(model)]:
            op = self.ops.get(self.g._by_id[id(node.layer)].name)
            if op is not None:
                kind, new_layer = op
                if kind != "delete":
                    new.add(new_layer)
                if kind != "insert":
                    continue
            layer = self.layer_for(node, [new.outputs[0]])
            new.add(layer)
            self._after_call(node.layer)
        if not model.trainable:
            new.trainable = False
        return new

    def layer_for(self, node, new_ins):
        rec = self.g._by_id[id(node.layer)]
        if rec.name in self.new:
            return self.new[rec.name]
        layer = rec.layer
        if rec.kind == "model":
            shapes = [tuple(t.shape) for t in new_ins]
            nl = self.model(layer, shapes)
            self.new[rec.name] = nl
            return nl
        ins, outs = self.g.node_io[id(node)]
        keep_in = self.kept(ins[0]) if ins else None
        if rec.kind == "source" and rec.out_atoms is not None:
            keep_out = self._kept_ids(rec.out_atoms)
        else:
            keep_out = self.kept(outs[0]) if outs else None
        if keep_in is None and keep_out is None:
            cfg, w = layer.get_config(), layer.get_weights()
        elif rec.kind == "opaque" or rec.handler is None:
            raise UnsupportedLayerError(
                f"layer '{rec.name}' ({rec.class_name}) would lose channels "
                f"but has no surgery handler: {rec.reason}.")
        elif rec.handler.prune is None:
            cfg, w = layer.get_config(), layer.get_weights()
        else:
            a = ins[0] if ins else None
            b = outs[0] if outs else None
            ctx = SliceContext(a.axis if a else None, b.axis if b else None,
                               a.shape if a else None, b.shape if b else None)
            cfg, w = rec.handler.prune(layer, keep_in, keep_out, ctx)
        if keep_in is not None:
            cfg.pop("batch_input_shape", None)
        for wi, ax, idx in self.zero.get(rec.name, ()):
            w = list(w)
            arr = np.array(w[wi], copy=True)
            sl = [slice(None)] * arr.ndim
            sl[ax] = np.asarray(idx)
            arr[tuple(sl)] = 0
            w[wi] = arr
        try:
            nl = type(layer).from_config(cfg)
        except Exception as exc:  # name the layer the config belongs to
            raise type(exc)(f"could not rebuild layer '{rec.name}' "
                            f"({rec.class_name}) from its config: {exc}"
                            ) from exc
        self.new[rec.name] = nl
        self.pending[rec.name] = (nl, w)
        return nl

    def _after_call(self, layer):
        rec = self.g._by_id[id(layer)]
        item = self.pending.pop(rec.name, None)
        if item is None:
            return
        nl, w = item
        if len(nl.weights) != len(w):
            raise RuntimeError(
                f"layer '{rec.name}' ({rec.class_name}) was rebuilt with "
                f"{len(nl.weights)} weights but its handler returned {len(w)}.")
        for var, val in zip(nl.weights, w):
            if tuple(var.shape) != tuple(np.shape(val)):
                raise RuntimeError(
                    f"layer '{rec.name}' ({rec.class_name}): weight "
                    f"{var.name} has shape {tuple(var.shape)} after the "
                    f"rebuild but the handler returned {np.shape(val)}.")
            self.assign.append((var, val))


def _copy_obj(obj):
    if isinstance(obj, (list, tuple)):
        return type(obj)(_copy_obj(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _copy_obj(v) for k, v in obj.items()}
    if isinstance(obj, (keras.losses.Loss, keras.metrics.Metric)):
        try:
            return type(obj).from_config(obj.get_config())
        except Exception:  # a custom object without a usable config
            return obj
    return obj


def copy_compile(src, dst) -> None:
    """Compile ``dst`` like ``src`` (a fresh optimizer from the same config,
    the same loss, metrics, loss weights and execution options). Nothing
    happens when ``src`` is not compiled. Optimizer slots are not copied."""
    if not getattr(src, "_is_compiled", False) or \
            getattr(src, "optimizer", None) is None:
        return
    args = src._get_compile_args()
    opt = args["optimizer"]
    opt = type(opt).from_config(opt.get_config())
    spe = getattr(src, "_steps_per_execution", None)
    dst.compile(optimizer=opt, loss=_copy_obj(args["loss"]),
                metrics=_copy_obj(args["metrics"]),
                weighted_metrics=_copy_obj(args["weighted_metrics"]),
                loss_weights=args["loss_weights"],
                run_eagerly=getattr(src, "_run_eagerly", None),
                steps_per_execution=int(spe.numpy()) if spe is not None else 1,
                jit_compile=getattr(src, "_jit_compile", None))


def rebuild(graph, dead=None, zero=None, layer_ops=None):
    """New model from ``graph`` with the channels in ``dead`` removed, the
    weight slices in ``zero`` (``{layer: [(weight_index, axis, idx)]}``)
    set to 0 and the layer operations ``{layer: (kind, new_layer)}``
    applied; compile state is carried over."""
    new = _Rebuilder(graph, dead, zero, layer_ops).build()
    copy_compile(graph.model, new)
    return new


# ------------------------------------------------------------- public API

def prune_channels(model, plan, *, copy=None):
    """Remove output channels of several layers in one rebuild.

    Channels of coupled layers (residual ``Add``, ``Multiply``, depthwise
    chains, shared layers; see :func:`dependency_groups`) are removed from the
    whole group: name one member, or give every member the same channels.
    Downstream weights lose the matching inputs (BatchNormalization gamma,
    beta and moving statistics, the next conv's input channels, the rows of a
    Dense after ``Flatten``, ...). Weights are sliced, never re-initialised.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        plan: dict mapping a layer name (``"sub/layer"`` inside a nested
            model) or layer object to the output-channel indices to remove
            (negative indices count from the end).
        copy: accepted for keras-surgeon compatibility and ignored: the result
            never shares layers or weights with ``model``.

    Returns:
        A new model of the same type (Sequential stays Sequential) with the
        same layer names, configs (regularizers, constraints, trainable flags,
        dtype policy), and compile state (a fresh optimizer from the same
        config, same loss and metrics) when ``model`` was compiled. Its
        outputs equal ``model``'s outputs with those channels zeroed (see
        :func:`tfprune.surgery.zero_channels`); channels deleted from a model
        output are missing from it.

    Raises:
        TypeError: not a Sequential/Functional tf_keras model, or channels
            that are not integers.
        ValueError: unknown layer name (near matches listed), channel index out
            of range, duplicates, all channels of a layer, inconsistent
            requests within a coupled group (the group is named), or channels
            that reach a model input.
        NotImplementedError: a deleted channel reaches a layer without a
            surgery handler (the layer and its class are named).

    Example:
        >>> pruned = tp.surgery.prune_channels(model, {"conv1": [0, 3],
        ...                                             "conv2": range(8)})
    """
    func = "prune_channels"
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    dead = _resolve(graph, plan, func)
    return rebuild(graph, dead)


def delete_channels(model, layer, channels, *, copy=None):
    """Remove output channels (filters / units) of one layer.

    Same as ``prune_channels(model, {layer: channels})``; keras-surgeon's
    call shape.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name (``"sub/layer"`` inside a nested model).
        channels: output-channel indices to remove.
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model; see :func:`prune_channels`.

    Raises:
        See :func:`prune_channels`.
    """
    func = "delete_channels"
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    rec = graph.find(layer, func)
    dead = _resolve(graph, {rec.name: channels}, func)
    return rebuild(graph, dead)


def expand_plan(model, plan) -> dict:
    """The channels each layer actually loses for ``plan``.

    Coupled groups are expanded: naming one member of a residual group
    returns the same channels for every member.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        plan: as in :func:`prune_channels`.

    Returns:
        dict layer name -> sorted ``np.ndarray`` of output-channel indices,
        for every layer that owns channels (Conv*, Dense, depthwise, ...)
        and loses at least one.

    Raises:
        As :func:`prune_channels`.
    """
    func = "expand_plan"
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    dead = _resolve(graph, plan, func)
    out = {}
    if dead is None:
        return out
    for rec in graph.members():
        idx = np.flatnonzero(dead[rec.out_atoms])
        if len(idx):
            out[rec.name] = idx
    return out


def _check_layer_op(graph, rec, kind, new_layer, func, taken=()):
    """Validate one layer operation; raises ValueError/TypeError."""
    if isinstance(rec.layer, keras.layers.InputLayer):
        raise InvalidParameterError(
            f"{func}(): '{rec.name}' is an input layer; it cannot be "
            f"{kind}d.")
    if kind == "delete":
        for node in rec.nodes:
            ins = node.keras_inputs
            outs = tf.nest.flatten(node.outputs)
            if len(ins) != 1 or len(outs) != 1:
                raise InvalidParameterError(
                    f"{func}(): layer '{rec.name}' ({rec.class_name}) has "
                    f"{len(ins)} inputs and {len(outs)} outputs; only a layer "
                    "with one input and one output can be deleted.")
            a, b = tuple(ins[0].shape), tuple(outs[0].shape)
            if a != b:
                raise InvalidParameterError(
                    f"{func}(): cannot delete layer '{rec.name}' "
                    f"({rec.class_name}): its input shape {a} differs from "
                    f"its output shape {b}, so its consumers would not fit. "
                    "Replace it with replace_layer() instead.")
        return
    if not isinstance(new_layer, keras.layers.Layer):
        raise TypeError(
            f"{func}(): 'new_layer' must be a tf_keras layer; got "
            f"{type(new_layer).__name__}. Build it with tp.keras.layers.")
    if id(new_layer) in graph._by_id:
        raise InvalidParameterError(
            f"{func}(): 'new_layer' ({new_layer.name}) is already part of the "
            "model; pass a new layer.")
    names = {r.name.rsplit("/", 1)[-1] for r in graph.records.values()
             if r is not rec or kind == "insert"} | set(taken)
    if new_layer.name in names:
        raise InvalidParameterError(
            f"{func}(): 'new_layer' is named '{new_layer.name}', which the "
            "model already uses; give it a unique name.")
    if kind == "insert":
        for node in rec.nodes:
            if len(node.keras_inputs) != 1:
                raise InvalidParameterError(
                    f"{func}(): layer '{rec.name}' ({rec.class_name}) has "
                    f"{len(node.keras_inputs)} inputs; insert_layer needs a "
                    "layer with one input.")


def _layer_op(model, layer, kind, new_layer, func):
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    rec = graph.find(layer, func)
    _check_layer_op(graph, rec, kind, new_layer, func)
    return rebuild(graph, layer_ops={rec.name: (kind, new_layer)})


def delete_layer(model, layer, *, copy=None):
    """Remove ``layer``: its input flows straight to its consumers.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name; every call of a shared layer is removed.
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model (weights of the other layers kept, compile state carried).

    Raises:
        ValueError: the layer's input and output shapes differ, it has several
            inputs or outputs, it is an input layer, or it is not in the model.
    """
    return _layer_op(model, layer, "delete", None, "delete_layer")


def insert_layer(model, layer, new_layer, *, copy=None):
    """Insert ``new_layer`` before ``layer`` (on its input).

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name; a shared layer gets ``new_layer`` (one
            shared layer) before each of its calls.
        new_layer: a new tf_keras layer with a unique name; it becomes part of
            the returned model as it is (its weights, if built, are kept).
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model.

    Raises:
        TypeError: ``new_layer`` is not a tf_keras layer.
        ValueError: ``layer`` has several inputs, ``new_layer`` is already in
            the model or its name is taken.
    """
    return _layer_op(model, layer, "insert", new_layer, "insert_layer")


def replace_layer(model, layer, new_layer, *, copy=None):
    """Replace ``layer`` by ``new_layer`` at every call of ``layer``.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name.
        new_layer: a new tf_keras layer (name unique in the model, or the name
            of the replaced layer); used as it is.
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model.

    Raises:
        TypeError, ValueError: as :func:`insert_layer`; the rebuilt model
            raises Keras' own error when ``new_layer``'s output does not fit
            the consumers.
    """
    return _layer_op(model, layer, "replace", new_layer, "replace_layer")


_JOBS = ("delete_channels", "delete_layer", "insert_layer", "replace_layer")


class Surgeon:
    """Collects jobs and applies them together (keras-surgeon's shape).

    Channel jobs are applied in one rebuild; layer jobs (delete / insert /
    replace a layer) in one rebuild before them, so that a mix costs two.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        copy: accepted for keras-surgeon compatibility and ignored.

    Example:
        >>> surgeon = tp.surgery.Surgeon(model)
        >>> surgeon.add_job("delete_channels", "conv1", channels=[0, 1])
        >>> surgeon.add_job("insert_layer", "conv2",
        ...                 new_layer=tp.keras.layers.Dropout(0.2, name="d"))
        >>> new_model = surgeon.operate()
    """

    def __init__(self, model, copy=None):
        check_model(model, "model", "Surgeon")
        self.model = model
        self._graph = None
        self._jobs: list[tuple[str, object, dict]] = []

    @property
    def graph(self) -> DependencyGraph:
        if self._graph is None:
            self._graph = DependencyGraph(self.model)
        return self._graph

    def add_job(self, job, layer, *, channels=None, new_layer=None,
                node_names=None):
        """Queue an operation on ``layer``.

        Args:
            job: ``"delete_channels"``, ``"delete_layer"``, ``"insert_layer"``
                or ``"replace_layer"``.
            layer: the layer or its name.
            channels: output-channel indices (``"delete_channels"``).
            new_layer: the layer to insert or to replace with.
            node_names: unused; accepted for keras-surgeon compatibility.

        Raises:
            ValueError: unknown job, unknown layer, a second job on the same
                layer, missing ``channels`` or ``new_layer``.
        """
        func = "Surgeon.add_job"
        check_choice(job, _JOBS, "job", func)
        rec = self.graph.find(layer, func)
        if any(r.name == rec.name for _, r, _ in self._jobs):
            raise InvalidParameterError(
                f"{func}(): layer '{rec.name}' already has a job; give all its "
                "channels in one 'delete_channels' job, and at most one layer "
                "job per layer.")
        if job == "delete_channels":
            if channels is None:
                raise InvalidParameterError(
                    f"{func}(): job 'delete_channels' needs 'channels'.")
            n = len(self.graph.channels_of(rec, func))
            pos = _positions(channels, n, rec.name, func)
            self._jobs.append((job, rec, {"channels": pos}))
            return
        kind = job.split("_")[0]
        if kind != "delete" and new_layer is None:
            raise InvalidParameterError(
                f"{func}(): job {job!r} needs 'new_layer'.")
        taken = [kw["new_layer"].name for _, _, kw in self._jobs
                 if kw.get("new_layer") is not None]
        _check_layer_op(self.graph, rec, kind, new_layer, func, taken)
        self._jobs.append((job, rec, {"new_layer": new_layer}))

    def operate(self):
        """Apply every queued job and return the new model."""
        func = "Surgeon.operate"
        ops = {rec.name: (job.split("_")[0], kw["new_layer"])
               for job, rec, kw in self._jobs if job != "delete_channels"}
        reqs = [(rec, kw["channels"]) for job, rec, kw in self._jobs
                if job == "delete_channels" and len(kw["channels"])]
        if not ops:
            dead = self.graph.resolve(reqs, func) if reqs else None
            return rebuild(self.graph, dead)
        model = rebuild(self.graph, layer_ops=ops)
        if not reqs:
            return model
        graph = DependencyGraph(model)
        plan = {rec.name: pos for rec, pos in reqs}
        return rebuild(graph, _resolve(graph, plan, func))
