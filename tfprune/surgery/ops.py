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

__all__ = ["delete_channels", "prune_channels", "expand_plan", "Surgeon"]


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
    if len(uniq) == n:
        raise InvalidParameterError(
            f"{func}(): cannot delete all {n} channels of layer '{name}'; "
            "keep at least one (or delete the layer).")
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

    def __init__(self, graph, dead=None, zero=None):
        self.g = graph
        self.dead = dead
        self.zero = zero or {}
        self.new: dict[str, object] = {}
        self.pending: dict[str, tuple] = {}
        self.assign: list = []

    def kept(self, info):
        if info is None or self.dead is None:
            return None
        d = self.dead[info.atoms]
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
            layer = self.layer_for(node, [tensors[t] for t in
                                          node.flat_input_ids])
            args, kwargs = _map_args(node, tensors)
            outs = layer(*args, **kwargs)
            self._after_call(node.layer)
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

    def _sequential(self, model, in_shapes):
        new = keras.Sequential(name=model.name)
        il, _ = self._input_layer(model.inputs[0],
                                  in_shapes[0] if in_shapes else None)
        new.add(il)
        for node in self.g.node_order[id(model)]:
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


def rebuild(graph, dead=None, zero=None):
    """New model from ``graph`` with the channels in ``dead`` removed and the
    weight slices in ``zero`` (``{layer: [(weight_index, axis, idx)]}``)
    set to 0; compile state is carried over."""
    new = _Rebuilder(graph, dead, zero).build()
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


_JOBS = ("delete_channels",)


class Surgeon:
    """Collects jobs and applies them in one rebuild (keras-surgeon's shape).

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        copy: accepted for keras-surgeon compatibility and ignored.

    Example:
        >>> surgeon = tp.surgery.Surgeon(model)
        >>> surgeon.add_job("delete_channels", "conv1", channels=[0, 1])
        >>> surgeon.add_job("delete_channels", model.get_layer("conv2"),
        ...                 channels=[5])
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
            job: ``"delete_channels"``.
            layer: the layer or its name.
            channels: output-channel indices (for ``"delete_channels"``).
            new_layer, node_names: reserved for keras-surgeon's layer jobs.

        Raises:
            ValueError: unknown job, unknown layer, a second job on the same
                layer, or missing ``channels``.
        """
        func = "Surgeon.add_job"
        check_choice(job, _JOBS, "job", func)
        rec = self.graph.find(layer, func)
        if any(r.name == rec.name for _, r, _ in self._jobs):
            raise InvalidParameterError(
                f"{func}(): layer '{rec.name}' already has a job; give all its "
                "channels in one 'delete_channels' job.")
        if channels is None:
            raise InvalidParameterError(
                f"{func}(): job 'delete_channels' needs 'channels'.")
        n = len(self.graph.channels_of(rec, func))
        pos = _positions(channels, n, rec.name, func)
        self._jobs.append((job, rec, {"channels": pos}))

    def operate(self):
        """Apply every queued job in one rebuild and return the new model."""
        func = "Surgeon.operate"
        reqs = [(rec, kw["channels"]) for job, rec, kw in self._jobs
                if job == "delete_channels" and len(kw["channels"])]
        dead = self.graph.resolve(reqs, func) if reqs else None
        return rebuild(self.graph, dead)
