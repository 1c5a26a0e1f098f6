"""Channel deletion and layer operations: the public surgery calls.

Each call validates its arguments, resolves the request on a
:class:`~tfprune.surgery.graph.DependencyGraph` and builds the new model in
one rebuild (:mod:`.rebuild`). The input model is never changed and shares
no layer or variable with the result.
"""
from __future__ import annotations

import numbers
from typing import Mapping

import numpy as np

from .. import _kgraph
from .._keras import check_model, keras
from .._validate import check_choice
from ..errors import InvalidParameterError
from .graph import DependencyGraph
from .rebuild import copy_compile, rebuild

__all__ = ["delete_channels", "prune_channels", "expand_plan", "Surgeon",
           "delete_layer", "insert_layer", "replace_layer", "copy_compile"]


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


def _check_node_indices(rec, node_indices, func) -> None:
    """keras-surgeon's ``node_indices``: tfprune changes every call of a
    layer at once, so only a selection of all its calls is accepted."""
    if node_indices is None:
        return
    calls = [i for i, n in enumerate(_kgraph.inbound_nodes(rec.layer))
             if any(n is m for m in rec.nodes)]
    if isinstance(node_indices, numbers.Integral) and \
            not isinstance(node_indices, bool):
        node_indices = [node_indices]
    given = list(node_indices) if isinstance(node_indices, (list, tuple,
                                                             range)) else None
    if given is None or any(not isinstance(i, numbers.Integral) or
                            isinstance(i, bool) for i in given):
        raise TypeError(
            f"{func}(): 'node_indices' must be a list of integers (indices "
            f"into the calls of layer '{rec.name}'); got {node_indices!r}.")
    stray = sorted(set(given) - set(calls))
    if stray:
        raise InvalidParameterError(
            f"{func}(): node index {stray[0]} is not a call of layer "
            f"'{rec.name}' in this model; its calls here have node indices "
            f"{calls}.")
    if sorted(set(given)) != calls:
        raise InvalidParameterError(
            f"{func}(): node_indices={sorted(set(given))} selects some of the "
            f"calls {calls} of the shared layer '{rec.name}'; tfprune changes "
            "every call of a layer at once (its calls share one set of "
            "weights). Pass node_indices=None, or all of them.")


# ------------------------------------------------------------- public API

def prune_channels(model, plan, *, copy=None):
    """Remove output channels of several layers in one rebuild.

    Channels of coupled layers (residual ``Add``, ``Multiply``, depthwise
    chains, grouped convolutions, shared layers; see
    :func:`dependency_groups`) are removed from the whole group: name one
    member, or give every member the same channels. Downstream weights lose
    the matching inputs (BatchNormalization gamma, beta and moving
    statistics, the next conv's input channels, the rows of a Dense after
    ``Flatten``, ...). Weights are sliced, never re-initialised.

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
        dtype policy), call order and compile state (a fresh optimizer from
        the same config, same loss and metrics) when ``model`` was compiled.
        Its outputs equal ``model``'s outputs with those channels zeroed (see
        :func:`tfprune.surgery.zero_channels`, which warns where they cannot);
        channels deleted from a model output are missing from it.

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


def delete_channels(model, layer, channels, node_indices=None, *, copy=None):
    """Remove output channels (filters / units) of one layer.

    Same as ``prune_channels(model, {layer: channels})``; keras-surgeon's
    call shape.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name (``"sub/layer"`` inside a nested model).
        channels: output-channel indices to remove.
        node_indices: keras-surgeon's selection of the layer's calls. tfprune
            deletes the channels at every call of a shared layer: ``None``
            (or every call's index) is accepted, a partial selection is
            refused.
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model; see :func:`prune_channels`.

    Raises:
        See :func:`prune_channels`; ValueError also for a partial
        ``node_indices``.
    """
    func = "delete_channels"
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    rec = graph.find(layer, func)
    _check_node_indices(rec, node_indices, func)
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


def _check_delete(rec, func) -> None:
    for node in rec.nodes:
        ins = _kgraph.node_inputs(node)
        outs = _kgraph.node_outputs(node)
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


def _check_layer_op(graph, rec, kind, new_layer, func, taken=()):
    """Validate one layer operation; raises ValueError/TypeError."""
    if isinstance(rec.layer, keras.layers.InputLayer):
        raise InvalidParameterError(
            f"{func}(): '{rec.name}' is an input layer; it cannot be "
            f"{kind}d.")
    if kind == "delete":
        _check_delete(rec, func)
        return
    if not isinstance(new_layer, keras.layers.Layer):
        raise TypeError(
            f"{func}(): 'new_layer' must be a tf_keras layer; got "
            f"{type(new_layer).__name__}. Build it with tp.keras.layers.")
    if any(r.layer is new_layer for r in graph.records.values()):
        raise InvalidParameterError(
            f"{func}(): 'new_layer' ({new_layer.name}) is already part of the "
            "model; pass a new layer.")
    names = {r.layer.name for r in graph.records.values()
             if r is not rec or kind == "insert"} | set(taken)
    if new_layer.name in names:
        raise InvalidParameterError(
            f"{func}(): 'new_layer' is named '{new_layer.name}', which the "
            "model already uses; give it a unique name.")
    if kind == "insert":
        for node in rec.nodes:
            n_in = len(_kgraph.node_inputs(node))
            if n_in != 1:
                raise InvalidParameterError(
                    f"{func}(): layer '{rec.name}' ({rec.class_name}) has "
                    f"{n_in} inputs; insert_layer needs a layer with one "
                    "input.")


def _layer_op(model, layer, kind, new_layer, node_indices, func):
    check_model(model, "model", func)
    graph = DependencyGraph(model)
    rec = graph.find(layer, func)
    _check_node_indices(rec, node_indices, func)
    _check_layer_op(graph, rec, kind, new_layer, func)
    return rebuild(graph, layer_ops={rec.name: (kind, new_layer)})


def delete_layer(model, layer, *, node_indices=None, copy=None):
    """Remove ``layer``: its input flows straight to its consumers.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name; every call of a shared layer is removed.
        node_indices: keras-surgeon's selection of calls; None or all of
            them (a partial selection is refused).
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model (weights of the other layers kept, call order and
        compile state carried).

    Raises:
        ValueError: the layer's input and output shapes differ, it has several
            inputs or outputs, it is an input layer, it is not in the model,
            or ``node_indices`` selects only some of its calls.
    """
    return _layer_op(model, layer, "delete", None, node_indices,
                     "delete_layer")


def insert_layer(model, layer, new_layer, *, node_indices=None, copy=None):
    """Insert ``new_layer`` before ``layer`` (on its input).

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name; a shared layer gets ``new_layer`` (one
            shared layer) before each of its calls.
        new_layer: a new tf_keras layer with a unique name; it becomes part of
            the returned model as it is (its weights, if built, are kept).
        node_indices: keras-surgeon's selection of calls; None or all of
            them (a partial selection is refused).
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model.

    Raises:
        TypeError: ``new_layer`` is not a tf_keras layer.
        ValueError: ``layer`` has several inputs, ``new_layer`` is already in
            the model or its name is taken, or a partial ``node_indices``.
    """
    return _layer_op(model, layer, "insert", new_layer, node_indices,
                     "insert_layer")


def replace_layer(model, layer, new_layer, *, node_indices=None, copy=None):
    """Replace ``layer`` by ``new_layer`` at every call of ``layer``.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: the layer or its name.
        new_layer: a new tf_keras layer (name unique in the model, or the name
            of the replaced layer); used as it is.
        node_indices: keras-surgeon's selection of calls; None or all of
            them (a partial selection is refused).
        copy: accepted for keras-surgeon compatibility and ignored.

    Returns:
        A new model.

    Raises:
        TypeError, ValueError: as :func:`insert_layer`; the rebuilt model
            raises Keras' own error when ``new_layer``'s output does not fit
            the consumers.
    """
    return _layer_op(model, layer, "replace", new_layer, node_indices,
                     "replace_layer")


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
                node_indices=None):
        """Queue an operation on ``layer``.

        Args:
            job: ``"delete_channels"``, ``"delete_layer"``, ``"insert_layer"``
                or ``"replace_layer"``.
            layer: the layer or its name.
            channels: output-channel indices (``"delete_channels"``).
            new_layer: the layer to insert or to replace with.
            node_indices: keras-surgeon's selection of the layer's calls;
                tfprune applies every job to all calls of a shared layer, so
                only None or all of its calls are accepted.

        Raises:
            ValueError: unknown job, unknown layer, a second job on the same
                layer, missing ``channels`` or ``new_layer``, a partial
                ``node_indices``.
        """
        func = "Surgeon.add_job"
        check_choice(job, _JOBS, "job", func)
        rec = self.graph.find(layer, func)
        _check_node_indices(rec, node_indices, func)
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
