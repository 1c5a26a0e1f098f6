"""The rebuild: one new model for a resolved deletion.

The rebuild walks the original call graph once, in an order that keeps
every layer's calls in their original order (a shared layer keeps its node
indices, the model its output order). Every layer is created anew from its
config (resized by its handler where channels changed), called on the new
tensors, and given its (sliced) weights in a single ``batch_set_value`` at
the end. The input model is never changed and shares no layer or variable
with the result.
"""
from __future__ import annotations

import numpy as np

from .. import _kgraph
from .._keras import keras, tf
from ..errors import UnsupportedLayerError
from .builtin_handlers import slice_constant
from .handlers import SliceContext

__all__ = ["rebuild", "copy_compile"]


class _Rebuilder:
    """Builds the new model for a resolved deletion (``dead``: bool per
    channel id, or None), optional zeroed weight slices and layer
    operations."""

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

    @staticmethod
    def _input_layer(kt, shape):
        cfg = _kgraph.producer(kt).get_config()
        if shape is not None:
            cfg["batch_input_shape"] = tuple(shape)
        layer = keras.layers.InputLayer.from_config(cfg)
        return layer, _kgraph.input_layer_tensor(layer)

    def model(self, model, in_shapes):
        if isinstance(model, keras.Sequential):
            return self._sequential(model, in_shapes)
        tensors = {}
        new_inputs = []
        for i, kt in enumerate(model.inputs):
            _, t = self._input_layer(kt, in_shapes[i] if in_shapes else None)
            tensors[_kgraph.tensor_id(kt)] = t
            new_inputs.append(t)
        for node in self.g.nodes(model):
            outs = self._call_node(node, tensors)
            for x_id, y in zip(_kgraph.node_output_ids(node),
                               tf.nest.flatten(outs)):
                tensors[x_id] = y
        outputs = [tensors[_kgraph.tensor_id(kt)] for kt in model.outputs]
        new = keras.Model(
            tf.nest.pack_sequence_as(_kgraph.nested_inputs(model), new_inputs),
            tf.nest.pack_sequence_as(_kgraph.nested_outputs(model), outputs),
            name=model.name)
        if not model.trainable:
            new.trainable = False
        return new

    def _gone(self, info) -> bool:
        return self.g.fully_dead(self.dead, info)

    def _arguments(self, node, rec, tensors):
        """The call arguments of ``node`` on the new tensors; constants with
        one value per channel lose the deleted channels."""
        convert = None
        if rec.kind == "elementwise":
            outs = self.g.io(node)[1]
            keep = self.kept(outs[0]) if outs else None
            if keep is not None:
                ax, rank = outs[0].axis, len(outs[0].shape)

                def convert(v):
                    return slice_constant(v, keep, ax, rank)
        return _kgraph.call_arguments(node, tensors, convert)

    def _call_node(self, node, tensors):
        """Call the rebuilt layer of ``node`` on the new tensors; None for
        every output of a removed branch."""
        ins, outs = self.g.io(node)
        n_out = len(_kgraph.node_output_ids(node))
        if outs and all(self._gone(o) for o in outs if o is not None) and \
                any(o is not None for o in outs):
            return [None] * n_out
        rec = self.g.record(node.layer)
        op = self.ops.get(rec.name)
        if op is not None:
            return self._layer_op(node, op, tensors)
        in_ids = _kgraph.node_input_ids(node)
        if rec.kind == "concat" and any(self._gone(i) for i in ins):
            live = [tensors[t] for t, i in zip(in_ids, ins)
                    if not self._gone(i)]
            if len(live) == 1:
                return [live[0]]
            layer = self.layer_for(node, live)
            out = layer(live, **_kgraph.node_tensors(node)[1])
            self._after_call(node.layer)
            return out
        layer = self.layer_for(node, [tensors[t] for t in in_ids])
        args, kwargs = self._arguments(node, rec, tensors)
        out = layer(*args, **kwargs)
        self._after_call(node.layer)
        return out

    def _layer_op(self, node, op, tensors):
        kind, new_layer = op
        first = tensors[_kgraph.node_input_ids(node)[0]]
        if kind == "delete":
            return [first]
        args, kwargs = _kgraph.call_arguments(node, tensors)
        if kind == "replace":
            return new_layer(*args, **kwargs)
        x = new_layer(first)
        layer = self.layer_for(node, [x])
        out = layer(x, **kwargs)
        self._after_call(node.layer)
        return out

    def _sequential(self, model, in_shapes):
        new = keras.Sequential(name=model.name)
        il, _ = self._input_layer(model.inputs[0],
                                  in_shapes[0] if in_shapes else None)
        new.add(il)
        for node in self.g.nodes(model):
            op = self.ops.get(self.g.record(node.layer).name)
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

    def _config_and_weights(self, rec, node):
        """The (resized) config and weights of ``rec``'s new layer."""
        layer = rec.layer
        ins, outs = self.g.io(node)
        keep_in = self.kept(ins[0]) if ins else None
        if rec.kind == "source" and rec.out_atoms is not None:
            keep_out = self._kept_ids(rec.out_atoms)
        else:
            keep_out = self.kept(outs[0]) if outs else None
        if keep_in is None and keep_out is None:
            return layer.get_config(), layer.get_weights()
        if rec.kind == "opaque" or rec.handler is None:
            raise UnsupportedLayerError(
                f"layer '{rec.name}' ({rec.class_name}) would lose channels "
                f"but has no surgery handler: {rec.reason}.")
        if rec.handler.prune is None:
            cfg, w = layer.get_config(), layer.get_weights()
        else:
            a = ins[0] if ins else None
            b = outs[0] if outs else None
            ctx = SliceContext(a.axis if a else None, b.axis if b else None,
                               a.shape if a else None, b.shape if b else None)
            cfg, w = rec.handler.prune(layer, keep_in, keep_out, ctx)
        if keep_in is not None:
            cfg.pop("batch_input_shape", None)
        return cfg, w

    def _zeroed(self, name, w):
        for wi, ax, idx in self.zero.get(name, ()):
            w = list(w)
            arr = np.array(w[wi], copy=True)
            sl = [slice(None)] * arr.ndim
            sl[ax] = np.asarray(idx)
            arr[tuple(sl)] = 0
            w[wi] = arr
        return w

    def layer_for(self, node, new_ins):
        rec = self.g.record(node.layer)
        if rec.name in self.new:
            return self.new[rec.name]
        if rec.kind == "model":
            shapes = [tuple(t.shape) for t in new_ins]
            nl = self.model(rec.layer, shapes)
            self.new[rec.name] = nl
            return nl
        cfg, w = self._config_and_weights(rec, node)
        w = self._zeroed(rec.name, w)
        try:
            nl = type(rec.layer).from_config(cfg)
        except Exception as exc:  # name the layer the config belongs to
            raise type(exc)(f"could not rebuild layer '{rec.name}' "
                            f"({rec.class_name}) from its config: {exc}"
                            ) from exc
        self.new[rec.name] = nl
        self.pending[rec.name] = (nl, w)
        return nl

    def _after_call(self, layer):
        rec = self.g.record(layer)
        item = self.pending.pop(rec.name, None)
        if item is None:
            return
        nl, w = item
        if len(nl.weights) != len(w):
            raise RuntimeError(
                f"layer '{rec.name}' ({rec.class_name}) was rebuilt with "
                f"{len(nl.weights)} weights but its handler returned "
                f"{len(w)}.")
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
    args = _kgraph.compile_state(src)
    if args is None:
        return
    opt = args["optimizer"]
    opt = type(opt).from_config(opt.get_config())
    dst.compile(optimizer=opt, loss=_copy_obj(args["loss"]),
                metrics=_copy_obj(args["metrics"]),
                weighted_metrics=_copy_obj(args["weighted_metrics"]),
                loss_weights=args["loss_weights"],
                run_eagerly=args["run_eagerly"],
                steps_per_execution=args["steps_per_execution"],
                jit_compile=args["jit_compile"])


def rebuild(graph, dead=None, zero=None, layer_ops=None):
    """New model from ``graph`` with the channels in ``dead`` removed, the
    weight slices in ``zero`` (``{layer: [(weight_index, axis, idx)]}``)
    set to 0 and the layer operations ``{layer: (kind, new_layer)}``
    applied; compile state is carried over."""
    new = _Rebuilder(graph, dead, zero, layer_ops).build()
    copy_compile(graph.model, new)
    return new
