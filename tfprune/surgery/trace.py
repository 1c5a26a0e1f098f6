"""Tracing a model's channels: every channel gets an id (an *atom*).

The trace walks the model's call graph once (nested sub-models included,
their layers named ``"outer/inner"``), never touching weights:

* a layer that creates channels (``"source"`` handlers: Conv*, Dense, ...)
  gets a fresh block of ids, one per output channel; model inputs get
  blocks too;
* layers that keep channels (BN, activations, pooling, element-wise TF
  functions) pass the ids on; ``Flatten``/``Reshape``/``Permute`` move them
  (a conv channel becomes the strided rows ``h*W*C + c`` of the flattened
  vector); ``Concatenate`` stacks them with offsets; depthwise convolutions
  repeat them ``multiplier`` times;
* element-wise merges (Add, Multiply, ``x + y`` on tensors, ...), a layer
  called at several places and a grouped convolution (per group: its input
  and its output channels) *join* ids.

The joins (edges), the ids that cannot be deleted (with the reason) and the
coupling tags are the trace's result; :mod:`.group` turns them into groups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import _kgraph
from .._keras import keras, tf
from ..errors import InvalidParameterError, UnsupportedLayerError
from . import handlers as _handlers
from .builtin_handlers import channel_constant

__all__ = ["TensorInfo", "LayerRecord", "Trace"]


@dataclass
class TensorInfo:
    """Channel ids of one tensor along its channel axis."""
    atoms: np.ndarray
    axis: int
    shape: tuple


@dataclass
class LayerRecord:
    """One layer of the (possibly nested) model, as the trace sees it.

    Attributes:
        name: the layer's path (``"outer/inner"`` inside nested models).
        layer: the layer object.
        handler: its surgery handler, or None.
        kind: the handler's kind, ``"model"`` for a nested graph model or
            ``"opaque"`` (channels cannot pass; ``reason`` says why).
        nodes: its call nodes in this model, in call order.
        in_infos: the inputs of its first call.
        out_atoms: the channel ids it owns (source and depthwise layers).
        out_infos: a nested model's outputs.
    """
    name: str
    layer: object
    handler: Optional[_handlers.Handler]
    kind: str
    reason: Optional[str] = None
    index: int = 0
    nodes: list = field(default_factory=list)
    in_infos: Optional[list] = None
    out_atoms: Optional[np.ndarray] = None
    out_infos: Optional[list] = None

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__


def _shape(kt) -> tuple:
    try:
        return tuple(kt.shape.as_list())
    except (AttributeError, ValueError):
        return ()


def _static(shape) -> bool:
    return len(shape) >= 1 and all(isinstance(d, int) for d in shape[1:])


def _channel_shape(shape) -> bool:
    return len(shape) >= 2 and isinstance(shape[-1], int)


class Trace:
    """The channel ids of ``model`` (see the module doc).

    Attributes:
        records: layer path -> :class:`LayerRecord`, model order.
        node_io: ``id(node)`` -> ``(input infos, output infos)``.
        node_order: ``id(model)`` -> its call nodes in rebuild order.
        sequence: ``(node, record)`` pairs in trace order (nested included).
        output_infos: the model outputs' infos.
        n: number of ids; edges, blocked, tags: the raw result.
    """

    def __init__(self, model):
        self.model = model
        self.records: dict[str, LayerRecord] = {}
        self.tensors: dict[str, Optional[TensorInfo]] = {}
        self.node_io: dict[int, tuple] = {}
        self.node_order: dict[int, list] = {}
        self.sequence: list[tuple] = []
        self.by_id: dict[int, LayerRecord] = {}
        self.n = 0
        self.edges: list[tuple[np.ndarray, np.ndarray]] = []
        self.blocked: list[tuple[np.ndarray, str, type]] = []
        self.tags: list[tuple[np.ndarray, str]] = []
        infos = [self._input_info(kt, _kgraph.producer(kt).name)
                 for kt in model.inputs]
        self.output_infos = self._trace(model, "", infos)

    # ------------------------------------------------------------ atoms
    def _block(self, n: int) -> np.ndarray:
        atoms = np.arange(self.n, self.n + n, dtype=np.int64)
        self.n += n
        return atoms

    def _join(self, a: np.ndarray, b: np.ndarray, tag: str) -> None:
        self.edges.append((a, b))
        self.tags.append((a, tag))

    def _input_info(self, kt, name) -> Optional[TensorInfo]:
        shape = _shape(kt)
        if not _channel_shape(shape):
            return None
        atoms = self._block(shape[-1])
        self.blocked.append((atoms, f"reaches the model input '{name}', "
                             "whose channels cannot be removed",
                             InvalidParameterError))
        return TensorInfo(atoms, len(shape) - 1, shape)

    def _record(self, layer, prefix) -> LayerRecord:
        rec = self.by_id.get(id(layer))
        if rec is not None:
            return rec
        handler = _handlers.get_handler(type(layer))
        reason = None
        if _kgraph.is_graph_model(layer):
            kind = "model"
        elif isinstance(layer, keras.Model):
            kind, reason = "opaque", "a subclassed model has no readable graph"
        elif handler is None:
            kind = "opaque"
            reason = ("which has no surgery handler; register one with "
                      f"tp.surgery.register_handler({type(layer).__name__}, "
                      "...)")
        else:
            kind = handler.kind
        rec = LayerRecord(prefix + layer.name, layer, handler, kind, reason,
                          index=len(self.records))
        self.records[rec.name] = rec
        self.by_id[id(layer)] = rec
        return rec

    # ------------------------------------------------------------ walking
    def _trace(self, model, prefix, in_infos) -> list:
        for kt, info in zip(model.inputs, in_infos):
            self.tensors[_kgraph.tensor_id(kt)] = info
        order = []
        for node in _kgraph.call_order(model):
            if any(t not in self.tensors
                   for t in _kgraph.node_input_ids(node)):
                continue
            order.append(node)
            self._trace_node(node, prefix)
        self.node_order[id(model)] = order
        return [self.tensors.get(_kgraph.tensor_id(kt))
                for kt in model.outputs]

    def _trace_node(self, node, prefix) -> None:
        rec = self._record(node.layer, prefix)
        ins = [self.tensors[t] for t in _kgraph.node_input_ids(node)]
        out_kts = _kgraph.node_outputs(node)
        first = not rec.nodes
        rec.nodes.append(node)
        self.sequence.append((node, rec))
        if rec.kind == "model":
            outs = self._nested(rec, ins, first)
        else:
            outs = self._propagate(rec, node, ins, out_kts, first)
        for kt, info in zip(out_kts, outs):
            self.tensors[_kgraph.tensor_id(kt)] = info
        self.node_io[id(node)] = (ins, outs)

    def _propagate(self, rec, node, ins, out_kts, first) -> list:
        kind = rec.kind
        if kind == "opaque":
            return self._opaque(rec, ins, out_kts)
        out_shapes = [_shape(kt) for kt in out_kts]
        if kind in ("merge", "concat"):
            return self._merge(rec, ins, out_kts, out_shapes)
        if kind == "source":
            return self._source(rec, ins, out_kts, out_shapes, first)
        if kind == "elementwise":
            return self._elementwise(rec, node, ins, out_kts, out_shapes)
        if not ins or ins[0] is None:
            if kind in ("channelwise", "depthwise"):
                return self._opaque(rec, ins, out_kts)
            return [None] * len(out_kts)
        if kind == "reshape":
            return self._reshape(rec, ins, out_kts, out_shapes, first)
        return self._single(rec, ins, out_kts, out_shapes, first)

    # -------------------------------------------------------------- kinds
    def _opaque(self, rec, ins, out_kts, reason=None) -> list:
        if reason is not None and rec.kind != "opaque":
            rec.kind, rec.reason = "opaque", reason
            if rec.out_atoms is not None:
                self.blocked.append((rec.out_atoms,
                                     self._why(rec, "comes from"),
                                     UnsupportedLayerError))
            for info in rec.in_infos or []:
                if info is not None:
                    self.blocked.append((info.atoms, self._why(rec, "reaches"),
                                         UnsupportedLayerError))
        for info in ins:
            if info is not None:
                self.blocked.append((info.atoms, self._why(rec, "reaches"),
                                     UnsupportedLayerError))
        outs = []
        for kt in out_kts:
            shape = _shape(kt)
            if _channel_shape(shape):
                atoms = self._block(shape[-1])
                self.blocked.append((atoms, self._why(rec, "comes from"),
                                     UnsupportedLayerError))
                outs.append(TensorInfo(atoms, len(shape) - 1, shape))
            else:
                outs.append(None)
        return outs

    @staticmethod
    def _why(rec, verb) -> str:
        return (f"{verb} layer '{rec.name}' ({rec.class_name}), "
                f"{rec.reason}")

    def _share(self, rec, ins, first, tag="shared") -> bool:
        """Join the inputs of repeated calls of a layer whose config or
        weights depend on its channels. False when they cannot line up."""
        if first:
            rec.in_infos = list(ins)
            return True
        if rec.handler is not None and rec.handler.prune is None \
                and rec.kind in ("passthrough", "reshape", "merge", "concat",
                                 "elementwise"):
            return True
        old = rec.in_infos or []
        if len(old) != len(ins):
            return False
        for a, b in zip(old, ins):
            if (a is None) != (b is None):
                return False
            if a is not None:
                if len(a.atoms) != len(b.atoms):
                    return False
                self._join(a.atoms, b.atoms, tag)
        return True

    def _source_input(self, rec, a):
        """A reason why a source layer cannot read ``a``, or None; input
        channels on another axis are blocked (its own channels stay)."""
        h, layer = rec.handler, rec.layer
        rank = len(a.shape)
        ax = h.axis(layer, rank) if h.axis else rank - 1
        reason = h.check(layer, ax, rank) if h.check else None
        if reason is None and ax != a.axis:
            self.blocked.append((
                a.atoms, f"reaches layer '{rec.name}' ({rec.class_name}) on "
                f"axis {a.axis}, while it reads its channels on axis {ax}",
                UnsupportedLayerError))
        return reason

    def _source(self, rec, ins, out_kts, out_shapes, first) -> list:
        h, layer = rec.handler, rec.layer
        a = ins[0] if ins else None
        if a is not None:
            reason = self._source_input(rec, a)
        elif h.check is not None and len(out_shapes[0]) >= 2:
            rank = len(out_shapes[0])
            reason = h.check(layer, h.axis(layer, rank) if h.axis
                             else rank - 1, rank)
        else:
            reason = None
        if reason is None and not self._share(rec, ins, first):
            reason = "it is called on inputs with different channel counts"
        if reason is not None:
            return self._opaque(rec, ins, out_kts, reason)
        shape = out_shapes[0]
        oax = h.axis(layer, len(shape)) if h.axis else len(shape) - 1
        if rec.out_atoms is None:
            n = h.channels(layer) if h.channels else shape[oax]
            if not isinstance(n, int):
                return self._opaque(rec, ins, out_kts,
                                    "its channel count is not static")
            rec.out_atoms = self._block(n)
            locked = h.locked(layer) if h.locked is not None else None
            if locked is not None:
                self.blocked.append((rec.out_atoms, f"comes from layer "
                                     f"'{rec.name}' ({rec.class_name}), "
                                     f"{locked}", InvalidParameterError))
            reason = self._tie_groups(rec, a)
            if reason is not None:
                return self._opaque(rec, ins, out_kts, reason)
        return self._source_outputs(rec, ins, out_kts, out_shapes)

    def _tie_groups(self, rec, a):
        """A grouped convolution: per group, its input and output channels
        become one unit. Returns a reason when they cannot be tied."""
        h = rec.handler
        g = h.groups(rec.layer) if h.groups is not None else 1
        if g <= 1:
            return None
        out = rec.out_atoms
        if a is None or len(a.atoms) % g or len(out) % g:
            return (f"its {g} groups do not divide its input and output "
                    "channels")
        unit = np.concatenate([a.atoms.reshape(g, -1), out.reshape(g, -1)],
                              axis=1)
        head = np.repeat(unit[:, :1], unit.shape[1] - 1, axis=1)
        self._join(head.ravel(), unit[:, 1:].ravel(), "grouped")
        return None

    def _source_outputs(self, rec, ins, out_kts, out_shapes) -> list:
        h, layer, block = rec.handler, rec.layer, rec.out_atoms
        if h.states:
            for extra in ins[1:]:
                if extra is None:
                    continue
                if len(extra.atoms) != len(block):
                    return self._opaque(rec, ins, out_kts, "its state "
                                        "inputs do not match its units")
                self._join(extra.atoms, block, "state")
        if h.outputs is not None:
            maps = list(h.outputs(layer, block, out_shapes))
        elif h.states:
            maps = [block if len(sh) >= 2 and sh[-1] == len(block)
                    else None for sh in out_shapes]
        else:
            maps = [block] + [None] * (len(out_kts) - 1)
        outs = []
        for m, sh in zip(maps, out_shapes):
            ax = h.axis(layer, len(sh)) if h.axis else len(sh) - 1
            if m is None or len(sh) < 2:
                outs.append(None)
            elif sh[ax] != len(m):
                return self._opaque(rec, ins, out_kts, "its output "
                                    "shape does not match its channels")
            else:
                outs.append(TensorInfo(m, ax, sh))
        return outs

    @staticmethod
    def _out_axis(ax, rank, shape):
        if len(shape) == rank:
            return ax
        if ax == rank - 1:
            return len(shape) - 1
        return 1 if ax == 1 else None

    def _single(self, rec, ins, out_kts, out_shapes, first) -> list:
        """channelwise, depthwise and passthrough layers."""
        kind, h, layer, a = rec.kind, rec.handler, rec.layer, ins[0]
        rank, ax = len(a.shape), a.axis
        reason = h.check(layer, ax, rank) if h.check is not None else None
        if reason is None and h.axis is not None and \
                h.axis(layer, rank) != ax:
            reason = (f"it works on axis {h.axis(layer, rank)} while the "
                      f"channels lie on axis {ax}")
        shape = out_shapes[0]
        oax = self._out_axis(ax, rank, shape)
        if reason is None and oax is None:
            reason = "it changes the rank"
        if reason is not None:
            return self._opaque(rec, ins, out_kts, reason)
        atoms = a.atoms
        if kind == "depthwise":
            atoms = np.repeat(a.atoms, layer.depth_multiplier)
            self.tags.append((a.atoms, "depthwise"))
        if len(shape) <= oax or shape[oax] != len(atoms):
            return self._opaque(rec, ins, out_kts,
                                "it changes the channel count")
        if kind != "passthrough" or (h.prune is not None):
            if not self._share(rec, ins, first):
                return self._opaque(rec, ins, out_kts, "it is called on "
                                    "inputs with different channel counts")
        if kind == "depthwise" and rec.out_atoms is None:
            rec.out_atoms = atoms
        return [TensorInfo(atoms, oax, shape)] + [None] * (len(out_kts) - 1)

    def _constants_reason(self, node, ax, rank, n):
        """Why the constant arguments of an element-wise call cannot follow
        its channels, or None."""
        args, kwargs = _kgraph.node_tensors(node)
        for v in tf.nest.flatten((args, kwargs)):
            if isinstance(v, (str, bytes, bool)) or v is None or \
                    _kgraph.is_symbolic(v):
                continue
            size = channel_constant(v, ax, rank)
            if size not in (1, n):
                return (f"a constant argument has {size} values along the "
                        f"channel axis, which has {n} channels")
        return None

    def _elementwise(self, rec, node, ins, out_kts, out_shapes) -> list:
        h, layer = rec.handler, rec.layer
        if not ins or any(i is None for i in ins):
            return self._opaque(rec, ins, out_kts, "some of its tensor "
                                "inputs have no channel axis")
        a, shape = ins[0], out_shapes[0]
        rank = len(shape)
        reason = h.check(layer, a.axis, rank) if h.check is not None else None
        if reason is None and any(len(i.shape) != rank for i in ins):
            reason = "it broadcasts tensors of different ranks"
        if reason is None:
            reason = self._constants_reason(node, a.axis, rank, len(a.atoms))
        if reason is not None:
            return self._opaque(rec, ins, out_kts, reason)
        if len(ins) > 1:
            fn = str(layer.get_config().get("function", "elementwise"))
            return self._merge(rec, ins, out_kts, out_shapes,
                               tag=fn.rsplit(".", 1)[-1])
        if shape[a.axis] != len(a.atoms):
            return self._opaque(rec, ins, out_kts,
                                "it changes the channel count")
        return [TensorInfo(a.atoms, a.axis, shape)]

    def _merge(self, rec, ins, out_kts, out_shapes, tag=None) -> list:
        if not ins or any(i is None for i in ins):
            return self._opaque(rec, ins, out_kts, "some of its inputs have "
                                "no channel axis")
        rank, ax = len(ins[0].shape), ins[0].axis
        if any(len(i.shape) != rank or i.axis != ax for i in ins):
            return self._opaque(rec, ins, out_kts, "its inputs have their "
                                "channels on different axes")
        shape = out_shapes[0]
        if rec.kind == "concat" and rec.layer.axis % rank == ax:
            return [TensorInfo(np.concatenate([i.atoms for i in ins]), ax,
                               shape)]
        n = max(len(i.atoms) for i in ins)
        full = [i for i in ins if len(i.atoms) == n]
        if any(len(i.atoms) not in (1, n) for i in ins):
            return self._opaque(rec, ins, out_kts, "its inputs have "
                                "different channel counts")
        tag = tag or type(rec.layer).__name__.lower()
        for other in full[1:]:
            self._join(full[0].atoms, other.atoms, tag)
        if len(full) == 1:
            self.tags.append((full[0].atoms, tag))
        for i in ins:
            if len(i.atoms) == 1 and n > 1:
                self.blocked.append((i.atoms, f"is broadcast by layer "
                                     f"'{rec.name}' ({rec.class_name})",
                                     InvalidParameterError))
        return [TensorInfo(full[0].atoms, ax, shape)]

    def _reshape(self, rec, ins, out_kts, out_shapes, first) -> list:
        a = ins[0]
        shape = out_shapes[0]
        if not (_static(a.shape) and _static(shape)):
            return self._opaque(rec, ins, out_kts, "its shapes are not static")
        per = [1] * (len(a.shape) - 1)
        per[a.axis - 1] = len(a.atoms)
        ids = np.broadcast_to(a.atoms.reshape(per), tuple(a.shape[1:]))
        ids = np.asarray(rec.handler.remap(rec.layer, ids, tuple(shape[1:])))
        for cand in [ids.ndim - 1] + list(range(ids.ndim - 1)):
            line = np.moveaxis(ids, cand, -1).reshape(-1, ids.shape[cand])
            if (line == line[:1]).all():
                if not self._share(rec, ins, first):
                    return self._opaque(rec, ins, out_kts, "it is called on "
                                        "inputs with different shapes")
                return [TensorInfo(np.ascontiguousarray(line[0]), cand + 1,
                                   shape)]
        return self._opaque(rec, ins, out_kts, "it mixes channels with other "
                            "axes")

    def _nested(self, rec, ins, first) -> list:
        inner = rec.layer
        if first:
            rec.in_infos = list(ins)
            rec.out_infos = self._trace(inner, rec.name + "/", ins)
            return list(rec.out_infos)
        if not self._share(rec, ins, first):
            for info in ins:
                if info is not None:
                    self.blocked.append((
                        info.atoms, f"reaches model '{rec.name}', which is "
                        "called on inputs with different channel counts",
                        InvalidParameterError))
        return list(rec.out_infos)
