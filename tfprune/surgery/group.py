"""Groups: the layers whose output channels must be removed together.

Joined channel ids (see :mod:`.trace`) form connected components; deleting
one id deletes its whole component, in every layer it reaches. A component
that reaches a model input or a layer surgery cannot handle is blocked. A
:class:`Group` collects the layers owning channels of the same components.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["Group", "Components", "build_groups"]


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
            ``"concatenate"`` (along a non-channel axis), ``"grouped"`` (a
            grouped convolution ties its input and output channels per
            group), ``"shared"`` (a layer called at several places).
        channels: number of channels that can be removed independently (for
            an Add group: the channel count of each member; for a grouped
            convolution: its number of groups).
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


class Components:
    """Connected components of a trace's joined ids.

    Attributes:
        labels: component of every id.
        count: number of components.
        block: per component, the index of its first blocking reason in
            ``reasons`` (-1: free).
        reasons: ``(message, error class)`` pairs.
        tags: component -> coupling tags.
        output: per component, True when it reaches a model output.
    """

    def __init__(self, trace):
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        n = trace.n
        if trace.edges:
            a = np.concatenate([e[0] for e in trace.edges])
            b = np.concatenate([e[1] for e in trace.edges])
        else:
            a = b = np.zeros(0, dtype=np.int64)
        adj = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)),
                         shape=(n, n))
        count, labels = connected_components(adj, directed=False)
        self.labels = labels.astype(np.int64)
        self.count = count
        self.reasons: list[tuple[str, type]] = []
        self.block = np.full(count, -1, dtype=np.int64)
        for atoms, msg, err in trace.blocked:
            comps = self.labels[atoms]
            free = comps[self.block[comps] < 0]
            if len(free):
                self.block[free] = len(self.reasons)
                self.reasons.append((msg, err))
        self.tags: dict[int, set] = {}
        for atoms, tag in trace.tags:
            for c in np.unique(self.labels[atoms]):
                self.tags.setdefault(int(c), set()).add(tag)
        self.output = np.zeros(count, dtype=bool)
        for info in trace.output_infos:
            if info is not None:
                self.output[self.labels[info.atoms]] = True


def _union(members, labels) -> tuple[list, list]:
    """Union-find over members sharing a component: (roots, comps)."""
    parent = list(range(len(members)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[int, int] = {}
    comps_of = []
    for i, rec in enumerate(members):
        comps = np.unique(labels[rec.out_atoms])
        comps_of.append(comps)
        for c in comps.tolist():
            j = owner.setdefault(c, i)
            if j != i:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(members))], comps_of


def build_groups(members, comps: Components) -> list[Group]:
    """The groups of ``members`` (records owning channels, model order)."""
    roots, comps_of = _union(members, comps.labels)
    by_root: dict[int, list[int]] = {}
    for i, root in enumerate(roots):
        by_root.setdefault(root, []).append(i)
    groups = []
    for root in sorted(by_root):
        idx = by_root[root]
        cs = np.unique(np.concatenate([comps_of[i] for i in idx]))
        tags = set()
        for c in cs.tolist():
            tags |= comps.tags.get(c, set())
        names = tuple(members[i].name for i in idx)
        kind = "+".join(sorted(tags)) or (
            "single" if len(names) == 1 else "coupled")
        blocked = comps.block[cs]
        blocked = blocked[blocked >= 0]
        reason = None
        if len(blocked):
            reason = comps.reasons[int(blocked.min())][0]
        groups.append(Group(names, kind, int(len(cs)), reason is None,
                            reason, bool(comps.output[cs].any())))
    return groups
