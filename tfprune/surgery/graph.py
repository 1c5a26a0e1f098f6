"""Dependency graph over a Sequential or Functional tf_keras model.

The graph never reads or writes weights. It walks the model's call graph
(nested sub-models included, their layers named ``"outer/inner"``) and gives
every channel a *channel id*:

* a layer that creates channels (``"source"`` handlers: Conv*, Dense, ...)
  gets a fresh block of ids, one per output channel; model inputs get
  blocks too;
* layers that keep channels (BN, activations, pooling) pass the ids on;
  ``Flatten``/``Reshape``/``Permute`` move them (a conv channel becomes the
  strided rows ``h*W*C + c`` of the flattened vector); ``Concatenate`` stacks
  them with offsets; depthwise convolutions repeat them ``multiplier`` times;
* element-wise merges (Add, Subtract, Multiply, Average, Maximum, Minimum)
  and a layer called at several places *join* the ids they line up.

Joined ids form one component: deleting one channel deletes the whole
component, in every layer it reaches. Components that reach a model input
or a layer without a handler cannot be deleted.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._keras import check_model, keras, tf
from ..errors import InvalidParameterError, UnsupportedLayerError
from . import handlers as _handlers

__all__ = ["Group", "DependencyGraph", "dependency_groups", "prunable_layers"]


@dataclass(frozen=True)
class Group:
    """Layers whose output channels must be removed together.

    Attributes:
        layers: names of the layers that own the group's channels, in model
            order: layers that create channels (Conv*, Dense, ...) and the
            depthwise convolutions whose channels follow them. Layers of nested
            models are named ``"submodel/layer"``.
        kind: how they are coupled: ``"single"`` (one layer, no coupling), or
            the coupling layers joined with ``+``, e.g. ``"add"``,
            ``"depthwise"``, ``"add+depthwise"``, ``"multiply"``,
            ``"concatenate"`` (along a non-channel axis), ``"shared"`` (a
            layer called at several places).
        channels: number of channels that can be removed independently (for
            an Add group: the channel count of each member).
        prunable: False when some channels of the group reach a model input
            or a layer surgery cannot handle; ``reason`` says which.
        reason: why the group is not prunable, else None.
        reaches_output: True when the channels reach a model output
            (deleting them changes the output shape).
    """
    layers: tuple[str, ...]
    kind: str
    channels: int
    prunable: bool = True
    reason: Optional[str] = None
    reaches_output: bool = False

    def __contains__(self, name) -> bool:
        return name in self.layers

    @property
    def coupled(self) -> bool:
        """True when more than one layer owns the channels."""
        return len(self.layers) > 1


@dataclass
class TensorInfo:
    """Channel ids of one tensor along its channel axis."""
    atoms: np.ndarray
    axis: int
    shape: tuple


@dataclass
class LayerRecord:
    """One layer of the (possibly nested) model, as the graph sees it."""
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


def _tid(kt) -> str:
    return str(id(kt))


def _shape(kt) -> tuple:
    try:
        return tuple(kt.shape.as_list())
    except (AttributeError, ValueError):
        return ()


def _static(shape) -> bool:
    return len(shape) >= 1 and all(isinstance(d, int) for d in shape[1:])


def _is_graph_model(layer) -> bool:
    return isinstance(layer, keras.Model) and (
        isinstance(layer, keras.Sequential) or
        getattr(layer, "_is_graph_network", False))


def model_nodes(model) -> list:
    """The model's call nodes (input nodes excluded) in execution order."""
    out = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if not node.is_input:
                out.append(node)
    return out


class DependencyGraph:
    """Channel-dependency graph of ``model`` (read only; see module doc).

    Args:
        model: a built Sequential or Functional tf_keras model.
    """

    def __init__(self, model):
        check_model(model, "model", "dependency_groups")
        self.model = model
        self.records: dict[str, LayerRecord] = {}
        self.tensors: dict[str, Optional[TensorInfo]] = {}
        self.node_io: dict[int, tuple] = {}
        self.node_order: dict[int, list] = {}
        self.sequence: list[tuple] = []
        self._by_id: dict[int, LayerRecord] = {}
        self._n = 0
        self._edges: list[tuple[np.ndarray, np.ndarray]] = []
        self._blocked: list[tuple[np.ndarray, str, type]] = []
        self._tags: list[tuple[np.ndarray, str]] = []
        infos = []
        for kt in model.inputs:
            il = kt._keras_history.layer
            infos.append(self._input_info(kt, il.name))
        self.output_infos = self._trace(model, "", infos)
        self._finalize()

    # ------------------------------------------------------------ tracing
    def _block(self, n: int) -> np.ndarray:
        atoms = np.arange(self._n, self._n + n, dtype=np.int64)
        self._n += n
        return atoms

    def _join(self, a: np.ndarray, b: np.ndarray, tag: str) -> None:
        self._edges.append((a, b))
        self._tags.append((a, tag))

    def _input_info(self, kt, name) -> Optional[TensorInfo]:
        shape = _shape(kt)
        if len(shape) < 2 or not isinstance(shape[-1], int):
            return None
        atoms = self._block(shape[-1])
        self._blocked.append((atoms, f"reaches the model input '{name}', "
                              "whose channels cannot be removed",
                              InvalidParameterError))
        return TensorInfo(atoms, len(shape) - 1, shape)

    def _record(self, layer, prefix) -> LayerRecord:
        rec = self._by_id.get(id(layer))
        if rec is not None:
            return rec
        name = prefix + layer.name
        handler = _handlers.get_handler(type(layer))
        reason = None
        if _is_graph_model(layer):
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
        rec = LayerRecord(name, layer, handler, kind, reason,
                          index=len(self.records))
        self.records[name] = rec
        self._by_id[id(layer)] = rec
        return rec

    def _trace(self, model, prefix, in_infos) -> list:
        for kt, info in zip(model.inputs, in_infos):
            self.tensors[_tid(kt)] = info
        order = []
        for node in model_nodes(model):
            if any(t not in self.tensors for t in node.flat_input_ids):
                continue
            order.append(node)
            self._trace_node(node, prefix)
        self.node_order[id(model)] = order
        return [self.tensors.get(_tid(kt)) for kt in model.outputs]

    def _trace_node(self, node, prefix) -> None:
        rec = self._record(node.layer, prefix)
        ins = [self.tensors[t] for t in node.flat_input_ids]
        out_kts = tf.nest.flatten(node.outputs)
        first = not rec.nodes
        rec.nodes.append(node)
        self.sequence.append((node, rec))
        if rec.kind == "model":
            outs = self._nested(rec, ins, first)
        else:
            outs = self._propagate(rec, ins, out_kts, first)
        for kt, info in zip(out_kts, outs):
            self.tensors[_tid(kt)] = info
        self.node_io[id(node)] = (ins, outs)

    def _opaque(self, rec, ins, out_kts, reason=None) -> list:
        if reason is not None and rec.kind != "opaque":
            rec.kind, rec.reason = "opaque", reason
            if rec.out_atoms is not None:
                self._blocked.append((rec.out_atoms,
                                      self._why(rec, "comes from"),
                                      UnsupportedLayerError))
            for info in rec.in_infos or []:
                if info is not None:
                    self._blocked.append((info.atoms, self._why(rec, "reaches"),
                                          UnsupportedLayerError))
        for info in ins:
            if info is not None:
                self._blocked.append((info.atoms, self._why(rec, "reaches"),
                                      UnsupportedLayerError))
        outs = []
        for kt in out_kts:
            shape = _shape(kt)
            if len(shape) >= 2 and isinstance(shape[-1], int):
                atoms = self._block(shape[-1])
                self._blocked.append((atoms, self._why(rec, "comes from"),
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
                and rec.kind in ("passthrough", "reshape", "merge", "concat"):
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

    def _propagate(self, rec, ins, out_kts, first) -> list:
        kind, h, layer = rec.kind, rec.handler, rec.layer
        if kind == "opaque":
            return self._opaque(rec, ins, out_kts)
        out_shapes = [_shape(kt) for kt in out_kts]
        a = ins[0] if ins else None
        if kind in ("merge", "concat"):
            return self._merge(rec, ins, out_kts, out_shapes)
        if kind == "source":
            if a is not None:
                rank = len(a.shape)
                ax = h.axis(layer, rank) if h.axis else rank - 1
                reason = h.check(layer, ax, rank) if h.check else None
                if reason is not None:
                    return self._opaque(rec, ins, out_kts, reason)
                if ax != a.axis:
                    # it reads its input on another axis: those channels
                    # cannot be deleted, its own output channels still can
                    self._blocked.append((
                        a.atoms, f"reaches layer '{rec.name}' "
                        f"({rec.class_name}) on axis {a.axis}, while it "
                        f"reads its channels on axis {ax}",
                        UnsupportedLayerError))
            elif h.check is not None and len(out_shapes[0]) >= 2:
                rank = len(out_shapes[0])
                reason = h.check(layer, h.axis(layer, rank) if h.axis
                                 else rank - 1, rank)
                if reason is not None:
                    return self._opaque(rec, ins, out_kts, reason)
            if not self._share(rec, ins, first):
                return self._opaque(rec, ins, out_kts, "it is called on "
                                    "inputs with different channel counts")
            shape = out_shapes[0]
            oax = h.axis(layer, len(shape)) if h.axis else len(shape) - 1
            if rec.out_atoms is None:
                n = h.channels(layer) if h.channels else shape[oax]
                if not isinstance(n, int):
                    return self._opaque(rec, ins, out_kts,
                                        "its channel count is not static")
                rec.out_atoms = self._block(n)
            block = rec.out_atoms
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
        if a is None:
            if kind in ("channelwise", "depthwise"):
                return self._opaque(rec, ins, out_kts)
            return [None] * len(out_kts)
        rank = len(a.shape)
        if kind == "reshape":
            return self._reshape(rec, ins, out_kts, out_shapes, first)
        ax = a.axis
        reason = h.check(layer, ax, rank) if h.check is not None else None
        if reason is None and h.axis is not None and \
                h.axis(layer, rank) != ax:
            reason = (f"it works on axis {h.axis(layer, rank)} while the "
                      f"channels lie on axis {ax}")
        if reason is not None:
            return self._opaque(rec, ins, out_kts, reason)
        shape = out_shapes[0]
        if len(shape) == rank:
            oax = ax
        elif ax == rank - 1:
            oax = len(shape) - 1
        elif ax == 1:
            oax = 1
        else:
            return self._opaque(rec, ins, out_kts, "it changes the rank")
        atoms = a.atoms
        if kind == "depthwise":
            atoms = np.repeat(a.atoms, layer.depth_multiplier)
            self._tags.append((a.atoms, "depthwise"))
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

    def _merge(self, rec, ins, out_kts, out_shapes) -> list:
        if not ins or any(i is None for i in ins):
            return self._opaque(rec, ins, out_kts, "some of its inputs have "
                                "no channel axis")
        rank, ax = len(ins[0].shape), ins[0].axis
        if any(len(i.shape) != rank or i.axis != ax for i in ins):
            return self._opaque(rec, ins, out_kts, "its inputs have their "
                                "channels on different axes")
        shape = out_shapes[0]
        if rec.kind == "concat":
            cax = rec.layer.axis % rank
            if cax == ax:
                atoms = np.concatenate([i.atoms for i in ins])
                return [TensorInfo(atoms, ax, shape)]
        n = max(len(i.atoms) for i in ins)
        full = [i for i in ins if len(i.atoms) == n]
        if any(len(i.atoms) not in (1, n) for i in ins):
            return self._opaque(rec, ins, out_kts, "its inputs have "
                                "different channel counts")
        tag = type(rec.layer).__name__.lower()
        for other in full[1:]:
            self._join(full[0].atoms, other.atoms, tag)
        if len(full) == 1:
            self._tags.append((full[0].atoms, tag))
        for i in ins:
            if len(i.atoms) == 1 and n > 1:
                self._blocked.append((i.atoms, f"is broadcast by layer "
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
                    self._blocked.append((
                        info.atoms, f"reaches model '{rec.name}', which is "
                        "called on inputs with different channel counts",
                        InvalidParameterError))
        return list(rec.out_infos)

    # ------------------------------------------------------------- result
    def _finalize(self) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        n = self._n
        if self._edges:
            a = np.concatenate([e[0] for e in self._edges])
            b = np.concatenate([e[1] for e in self._edges])
        else:
            a = b = np.zeros(0, dtype=np.int64)
        adj = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)),
                         shape=(n, n))
        ncomp, labels = connected_components(adj, directed=False)
        self.labels = labels.astype(np.int64)
        self.ncomp = ncomp
        self._block_msg: list[tuple[str, type]] = []
        self.comp_block = np.full(ncomp, -1, dtype=np.int64)
        for atoms, msg, err in self._blocked:
            comps = self.labels[atoms]
            free = comps[self.comp_block[comps] < 0]
            if len(free):
                self.comp_block[free] = len(self._block_msg)
                self._block_msg.append((msg, err))
        self.comp_tags: dict[int, set] = {}
        for atoms, tag in self._tags:
            for c in np.unique(self.labels[atoms]):
                self.comp_tags.setdefault(int(c), set()).add(tag)
        self.comp_output = np.zeros(ncomp, dtype=bool)
        for info in self.output_infos:
            if info is not None:
                self.comp_output[self.labels[info.atoms]] = True
        self._groups = None
        self._names = None

    def members(self) -> list[LayerRecord]:
        """Records of the layers that own deletable channels, model order."""
        return [r for r in self.records.values()
                if r.kind in ("source", "depthwise") and r.out_atoms is not None]

    def groups(self) -> list[Group]:
        """The coupled groups (see :func:`dependency_groups`)."""
        if self._groups is not None:
            return self._groups
        members = self.members()
        parent = list(range(len(members)))

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        owner: dict[int, int] = {}
        comps_of = []
        for i, rec in enumerate(members):
            comps = np.unique(self.labels[rec.out_atoms])
            comps_of.append(comps)
            for c in comps.tolist():
                j = owner.setdefault(c, i)
                if j != i:
                    ri, rj = find(i), find(j)
                    if ri != rj:
                        parent[max(ri, rj)] = min(ri, rj)
        by_root: dict[int, list[int]] = {}
        for i in range(len(members)):
            by_root.setdefault(find(i), []).append(i)
        groups = []
        self._group_of: dict[str, Group] = {}
        for root in sorted(by_root):
            idx = by_root[root]
            comps = np.unique(np.concatenate([comps_of[i] for i in idx]))
            tags = set()
            for c in comps.tolist():
                tags |= self.comp_tags.get(c, set())
            names = tuple(members[i].name for i in idx)
            kind = "+".join(sorted(tags)) or (
                "single" if len(names) == 1 else "coupled")
            blocked = self.comp_block[comps]
            blocked = blocked[blocked >= 0]
            reason = None
            if len(blocked):
                reason = self._block_msg[int(blocked.min())][0]
            g = Group(names, kind, int(len(comps)), reason is None, reason,
                      bool(self.comp_output[comps].any()))
            groups.append(g)
            for nm in names:
                self._group_of[nm] = g
        self._groups = groups
        return groups

    def group_of(self, name) -> Optional[Group]:
        self.groups()
        return self._group_of.get(name)

    # -------------------------------------------------------------- names
    def _name_index(self) -> dict:
        if self._names is None:
            names: dict[str, Optional[LayerRecord]] = {}
            for rec in self.records.values():
                names[rec.name] = rec
            for rec in self.records.values():
                bare = rec.name.rsplit("/", 1)[-1]
                if bare != rec.name:
                    if bare in names and names[bare] is not rec:
                        if names[bare] is not None and "/" not in \
                                names[bare].name:
                            continue
                        names[bare] = None
                    else:
                        names[bare] = rec
            self._names = names
        return self._names

    def find(self, layer, func: str = "delete_channels",
             arg: str = "layer") -> LayerRecord:
        """The record of ``layer`` (a layer object, a name, or a nested
        ``"outer/inner"`` name).

        Raises:
            ValueError: the layer is not in the model; lists near matches.
            TypeError: ``layer`` is neither a string nor a layer.
        """
        if isinstance(layer, keras.layers.Layer):
            rec = self._by_id.get(id(layer))
            if rec is None:
                raise InvalidParameterError(
                    f"{func}(): '{arg}' is layer '{layer.name}' "
                    f"({type(layer).__name__}), which is not part of model "
                    f"'{self.model.name}'. Pass a layer of this model or its "
                    "name.")
            return rec
        if not isinstance(layer, str):
            raise TypeError(f"{func}(): '{arg}' must be a layer name or a "
                            f"layer; got {type(layer).__name__}.")
        names = self._name_index()
        rec = names.get(layer, False)
        if rec is None:
            full = [r.name for r in self.records.values()
                    if r.name.rsplit("/", 1)[-1] == layer]
            raise InvalidParameterError(
                f"{func}(): layer name '{layer}' is ambiguous in model "
                f"'{self.model.name}'; use one of {full}.")
        if rec is False:
            near = difflib.get_close_matches(layer, list(names), n=5,
                                             cutoff=0.5)
            hint = (f" Did you mean {', '.join(repr(n) for n in near)}?"
                    if near else "")
            raise InvalidParameterError(
                f"{func}(): model '{self.model.name}' has no layer named "
                f"'{layer}'.{hint}")
        return rec

    def channels_of(self, rec, func="delete_channels") -> np.ndarray:
        """Channel ids of the output channels of ``rec`` (a member).

        Raises:
            NotImplementedError: the layer has no handler.
            ValueError: the layer owns no channels of its own.
        """
        if rec.kind == "opaque":
            raise UnsupportedLayerError(
                f"{func}(): cannot delete channels of layer '{rec.name}' "
                f"({rec.class_name}): {rec.reason}.")
        if rec.out_atoms is None:
            src = self._producer_hint(rec)
            raise InvalidParameterError(
                f"{func}(): layer '{rec.name}' ({rec.class_name}) has no "
                "output channels of its own (it passes on its input's); "
                f"delete channels of the layer that creates them{src}.")
        return rec.out_atoms

    def _producer_hint(self, rec) -> str:
        for info in rec.in_infos or ([self.node_io[id(rec.nodes[0])][0][0]]
                                     if rec.nodes and
                                     self.node_io[id(rec.nodes[0])][0]
                                     else []):
            if info is None:
                continue
            comps = set(self.labels[info.atoms].tolist())
            for m in self.members():
                if comps & set(self.labels[m.out_atoms].tolist()):
                    return f", e.g. '{m.name}'"
        return ""

    # ----------------------------------------------------------- deletion
    def resolve(self, requests, func="prune_channels") -> np.ndarray:
        """Channel ids deleted by ``requests`` (pairs ``(record, positions)``
        with validated, sorted, unique positions), as a boolean mask over ids.

        Every channel joined to a requested one goes too (the whole coupled
        group loses the same channels).

        Raises:
            ValueError: inconsistent requests within a group, a channel that
                reaches a model input, or a layer left without channels.
            NotImplementedError: a deleted channel reaches a layer without a
                handler.
        """
        dead_comp = np.zeros(self.ncomp, dtype=bool)
        for rec, pos in requests:
            dead_comp[self.labels[self.channels_of(rec, func)[pos]]] = True
        dead = dead_comp[self.labels]
        for rec, pos in requests:
            got = np.flatnonzero(dead[rec.out_atoms])
            if not np.array_equal(got, pos):
                g = self.group_of(rec.name)
                extra = sorted(set(got.tolist()) - set(pos.tolist()))
                raise InvalidParameterError(
                    f"{func}(): the channels asked for layer '{rec.name}' "
                    f"({_short(pos)}) are inconsistent with its coupled group "
                    f"{list(g.layers) if g else [rec.name]} ({g.kind if g else ''}"
                    f"): the other requests also remove channels "
                    f"{_short(extra)} from it. Ask for the same channels in "
                    "every member of a group, or name only one member.")
        hit = np.flatnonzero(dead_comp & (self.comp_block >= 0))
        if len(hit):
            msg, err = self._block_msg[int(self.comp_block[hit].min())]
            who = ", ".join(f"'{r.name}'" for r, _ in requests)
            g = self.group_of(requests[0][0].name) if requests else None
            gtxt = f" (group {list(g.layers)}, {g.kind})" if g else ""
            raise err(f"{func}(): deleting the requested channels of {who}"
                      f"{gtxt} is not possible: a deleted channel {msg}.")
        if self._any_full(dead):
            dead_comp = self._cascade(dead_comp)
            dead = dead_comp[self.labels]
            self._check_branches(dead, requests, func)
        return dead

    def fully_dead(self, dead, info) -> bool:
        """True when every channel of the tensor ``info`` is deleted."""
        return (dead is not None and info is not None and len(info.atoms) > 0
                and bool(dead[info.atoms].all()))

    def _any_full(self, dead) -> bool:
        return any(self.fully_dead(dead, i) for i in self.tensors.values())

    def _cascade(self, dead_comp) -> np.ndarray:
        """A layer whose whole input is deleted disappears too: its outputs
        are deleted (whole-branch removal, up to a Concatenate)."""
        changed = True
        while changed:
            changed = False
            dead = dead_comp[self.labels]
            for node, rec in self.sequence:
                if rec.kind in ("merge", "concat", "model", "opaque"):
                    continue
                ins, outs = self.node_io[id(node)]
                if not ins or not self.fully_dead(dead, ins[0]):
                    continue
                for b in outs:
                    if b is not None and not dead[b.atoms].all():
                        dead_comp[self.labels[b.atoms]] = True
                        dead = dead_comp[self.labels]
                        changed = True
        return dead_comp

    def _check_branches(self, dead, requests, func) -> None:
        """Whole tensors may vanish only into a Concatenate that keeps
        another input; never at a model output or any other layer."""
        gone = [r.name for r, _ in requests
                if r.out_atoms is not None and dead[r.out_atoms].all()]
        head = (f"deleting every channel of layer '{gone[0]}'" if gone else
                "the deletion removes every channel of a tensor, which")

        def fail(where):
            raise InvalidParameterError(
                f"{func}(): {head} is only possible where that branch ends in "
                f"a Concatenate with other inputs; here it reaches {where}. "
                "Keep at least one channel.")

        for node, rec in self.sequence:
            ins, outs = self.node_io[id(node)]
            full = [self.fully_dead(dead, i) for i in ins]
            if not any(full):
                continue
            if rec.kind == "concat" and not all(full) and \
                    ins[0] is not None and outs[0] is not None and \
                    len(outs[0].atoms) == sum(len(i.atoms) for i in ins):
                continue
            if rec.kind not in ("opaque", "model", "concat") and outs and \
                    all(self.fully_dead(dead, o) for o in outs):
                continue
            fail(f"layer '{rec.name}' ({rec.class_name})")
        for info in self.output_infos:
            if self.fully_dead(dead, info):
                fail("a model output")
        for rec in self.records.values():
            if rec.kind == "model":
                for info in rec.out_infos or []:
                    if self.fully_dead(dead, info):
                        fail(f"an output of nested model '{rec.name}'")


def _short(idx, n=12) -> str:
    idx = list(map(int, idx))
    if len(idx) > n:
        return str(idx[:n])[:-1] + ", ...]"
    return str(idx)


def dependency_groups(model) -> list[Group]:
    """Groups of layers whose output channels must be removed together.

    Every layer that creates channels (Conv*, Dense, SeparableConv*, ...) is
    in exactly one group; a layer with no coupling forms its own
    ``kind="single"`` group. Depthwise convolutions join the group of the layer
    that feeds them; element-wise merges (Add, Multiply, ...) join the groups of
    their inputs. The model is not changed.

    Args:
        model: a built Sequential or Functional tf_keras model (nested models
            are walked; their layers are named ``"submodel/layer"``).

    Returns:
        list of :class:`Group`, in model order.

    Raises:
        TypeError: not a Sequential/Functional tf_keras model.

    Example:
        >>> groups = tp.surgery.dependency_groups(tp.models.resnet_cifar(20))
        >>> [g.layers for g in groups if g.coupled][0][:2]
        ('conv1', 'stage1_block1_conv2')
    """
    return DependencyGraph(model).groups()


def prunable_layers(model, coupled: bool = True) -> list[str]:
    """Names of the layers whose output channels surgery can delete.

    Args:
        model: a built Sequential or Functional tf_keras model.
        coupled: include layers of coupled groups (deleting from one of them
            removes the same channels from the whole group); False keeps
            only single, uncoupled layers.

    Returns:
        list of layer names in model order (model outputs included).
    """
    out = []
    for g in DependencyGraph(model).groups():
        if g.prunable and (coupled or not g.coupled):
            out.extend(g.layers)
    return out
