"""Dependency graph over a Sequential or Functional tf_keras model.

The graph never reads or writes weights. It is assembled from three steps,
one module each (the shape of Torch-Pruning's ``dependency`` package):

* :mod:`.trace` gives every channel an id and records which ids are joined
  (residual merges, depthwise chains, grouped convolutions, shared layers)
  and which cannot be deleted (model inputs, layers without a handler);
* :mod:`.group` turns the joins into connected components and
  :class:`Group` objects;
* :mod:`.resolve` turns a request (channels of some layers) into the set of
  deleted ids, and checks that the result is a valid model.

:class:`DependencyGraph` ties them together and is what the rest of surgery
reads (through its public methods only).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _kgraph
from .._keras import check_model, keras
from ..errors import InvalidParameterError, UnsupportedLayerError
from .group import Components, Group, build_groups
from .resolve import fully_dead, resolve
from .trace import LayerRecord, TensorInfo, Trace

__all__ = ["Group", "DependencyGraph", "dependency_groups", "prunable_layers",
           "LayerRecord", "TensorInfo", "model_nodes"]

#: The model's call nodes in tf_keras' depth order (kept for callers).
model_nodes = _kgraph.model_nodes


class DependencyGraph:
    """Channel-dependency graph of ``model`` (read only; see module doc).

    Args:
        model: a built Sequential or Functional tf_keras model.
    """

    def __init__(self, model):
        check_model(model, "model", "dependency_groups")
        self.model = model
        self._trace = Trace(model)
        self.components = Components(self._trace)
        self._groups: Optional[list[Group]] = None
        self._group_of: dict[str, Group] = {}

    # ---------------------------------------------------------- accessors
    @property
    def records(self) -> dict[str, LayerRecord]:
        """Layer path -> record, model order (nested layers included)."""
        return self._trace.records

    @property
    def sequence(self) -> list:
        """``(node, record)`` pairs of every call, in trace order."""
        return self._trace.sequence

    @property
    def output_infos(self) -> list:
        """The channel ids of each model output (None: no channel axis)."""
        return self._trace.output_infos

    @property
    def size(self) -> int:
        """Number of channel ids."""
        return self._trace.n

    def record(self, layer) -> LayerRecord:
        """The record of a layer object of the model (KeyError if none)."""
        return self._trace.by_id[id(layer)]

    def io(self, node) -> tuple:
        """``(input infos, output infos)`` of a call node."""
        return self._trace.node_io[id(node)]

    def nodes(self, model) -> list:
        """The call nodes of ``model`` (the graph's model or a nested one)
        in rebuild order: every layer's calls keep their original order."""
        return self._trace.node_order[id(model)]

    def tensor_infos(self) -> list:
        """Every traced tensor's info (None for tensors without channels)."""
        return list(self._trace.tensors.values())

    def fully_dead(self, dead, info) -> bool:
        """True when every channel of the tensor ``info`` is deleted."""
        return fully_dead(dead, info)

    # ------------------------------------------------------------- groups
    def members(self) -> list[LayerRecord]:
        """Records of the layers that own deletable channels, model order."""
        return [r for r in self.records.values()
                if r.kind in ("source", "depthwise")
                and r.out_atoms is not None]

    def groups(self) -> list[Group]:
        """The coupled groups (see :func:`dependency_groups`)."""
        if self._groups is None:
            self._groups = build_groups(self.members(), self.components)
            self._group_of = {n: g for g in self._groups for n in g.layers}
        return self._groups

    def group_of(self, name) -> Optional[Group]:
        """The group of the layer path ``name``, or None."""
        self.groups()
        return self._group_of.get(name)

    # -------------------------------------------------------------- names
    def find(self, layer, func: str = "delete_channels",
             arg: str = "layer") -> LayerRecord:
        """The record of ``layer`` (a layer object, a name, or a nested
        ``"outer/inner"`` path; see :func:`tfprune._kgraph.find_layer`).

        Raises:
            ValueError: the layer is not in the model (near matches listed)
                or the name is ambiguous.
            TypeError: ``layer`` is neither a string nor a layer.
        """
        if isinstance(layer, keras.layers.Layer):
            rec = self._trace.by_id.get(id(layer))
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
        path, obj = _kgraph.find_layer(self.model, layer, func, arg)
        rec = self._trace.by_id.get(id(obj))
        if rec is None:
            raise InvalidParameterError(
                f"{func}(): layer '{path}' of model '{self.model.name}' is "
                "not connected to the model's outputs.")
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
            raise InvalidParameterError(
                f"{func}(): layer '{rec.name}' ({rec.class_name}) has no "
                "output channels of its own (it passes on its input's); "
                "delete channels of the layer that creates them"
                f"{self._producer_hint(rec)}.")
        return rec.out_atoms

    def _producer_hint(self, rec) -> str:
        infos = rec.in_infos
        if infos is None and rec.nodes and self.io(rec.nodes[0])[0]:
            infos = [self.io(rec.nodes[0])[0][0]]
        labels = self.components.labels
        for info in infos or []:
            if info is None:
                continue
            comps = set(labels[info.atoms].tolist())
            for m in self.members():
                if comps & set(labels[m.out_atoms].tolist()):
                    return f", e.g. '{m.name}'"
        return ""

    # ----------------------------------------------------------- deletion
    def resolve(self, requests, func="prune_channels") -> np.ndarray:
        """Channel ids deleted by ``requests``; see
        :func:`tfprune.surgery.resolve.resolve`."""
        return resolve(self, requests, func)


def dependency_groups(model) -> list[Group]:
    """Groups of layers whose output channels must be removed together.

    Every layer that creates channels (Conv*, Dense, SeparableConv*, ...) is
    in exactly one group; a layer with no coupling forms its own
    ``kind="single"`` group. Depthwise convolutions join the group of the
    layer that feeds them; element-wise merges (Add, Multiply, ...) join the
    groups of their inputs; a grouped convolution ties each of its groups to
    the input channels it reads. The model is not changed.

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
