"""Resolving a deletion: which channel ids a request removes, and whether
the result is a valid model.

A request names channels of some layers; every id joined to a requested one
goes too (the other members of a coupled group lose the same channels; a
grouped convolution loses whole groups, so asking for one channel of a group
deletes the group). A layer whose whole input is deleted disappears with its
outputs (whole-branch removal), which is allowed only where the branch ends
in a ``Concatenate`` that keeps other inputs.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["resolve", "fully_dead", "short"]


def short(idx, n=12) -> str:
    """A list of indices for an error message, cut after ``n``."""
    idx = list(map(int, idx))
    if len(idx) > n:
        return str(idx[:n])[:-1] + ", ...]"
    return str(idx)


def fully_dead(dead, info) -> bool:
    """True when every channel of the tensor ``info`` is deleted."""
    return (dead is not None and info is not None and len(info.atoms) > 0
            and bool(dead[info.atoms].all()))


def _check_consistent(graph, requests, dead, func) -> None:
    """Each requested layer loses what its own request implies (a grouped
    convolution's whole groups included) and nothing more."""
    labels = graph.components.labels
    for rec, pos in requests:
        own = np.zeros(graph.components.count, dtype=bool)
        own[labels[rec.out_atoms[pos]]] = True
        wanted = np.flatnonzero(own[labels[rec.out_atoms]])
        got = np.flatnonzero(dead[rec.out_atoms])
        if np.array_equal(got, wanted):
            continue
        g = graph.group_of(rec.name)
        extra = sorted(set(got.tolist()) - set(wanted.tolist()))
        raise InvalidParameterError(
            f"{func}(): the channels asked for layer '{rec.name}' "
            f"({short(pos)}) are inconsistent with its coupled group "
            f"{list(g.layers) if g else [rec.name]} ({g.kind if g else ''}"
            f"): the other requests also remove channels {short(extra)} "
            "from it. Ask for the same channels in every member of a group, "
            "or name only one member.")


def _check_blocked(graph, requests, dead_comp, func) -> None:
    comps = graph.components
    hit = np.flatnonzero(dead_comp & (comps.block >= 0))
    if not len(hit):
        return
    msg, err = comps.reasons[int(comps.block[hit].min())]
    who = ", ".join(f"'{r.name}'" for r, _ in requests)
    g = graph.group_of(requests[0][0].name) if requests else None
    gtxt = f" (group {list(g.layers)}, {g.kind})" if g else ""
    raise err(f"{func}(): deleting the requested channels of {who}"
              f"{gtxt} is not possible: a deleted channel {msg}.")


def resolve(graph, requests, func="prune_channels") -> np.ndarray:
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
    labels = graph.components.labels
    dead_comp = np.zeros(graph.components.count, dtype=bool)
    for rec, pos in requests:
        dead_comp[labels[graph.channels_of(rec, func)[pos]]] = True
    dead = dead_comp[labels]
    _check_consistent(graph, requests, dead, func)
    _check_blocked(graph, requests, dead_comp, func)
    if any(fully_dead(dead, i) for i in graph.tensor_infos()):
        dead_comp = _cascade(graph, dead_comp)
        dead = dead_comp[labels]
        _check_branches(graph, dead, requests, func)
    return dead


def _cascade(graph, dead_comp) -> np.ndarray:
    """A layer whose whole input is deleted disappears too: its outputs
    are deleted (whole-branch removal, up to a Concatenate)."""
    labels = graph.components.labels
    changed = True
    while changed:
        changed = False
        dead = dead_comp[labels]
        for node, rec in graph.sequence:
            if rec.kind in ("merge", "concat", "model", "opaque"):
                continue
            ins, outs = graph.io(node)
            if not ins or not fully_dead(dead, ins[0]):
                continue
            for b in outs:
                if b is not None and not dead[b.atoms].all():
                    dead_comp[labels[b.atoms]] = True
                    dead = dead_comp[labels]
                    changed = True
    return dead_comp


def _branch_ends_ok(rec, ins, outs, full, dead) -> bool:
    if rec.kind == "concat" and not all(full) and ins[0] is not None and \
            outs[0] is not None and \
            len(outs[0].atoms) == sum(len(i.atoms) for i in ins):
        return True
    return rec.kind not in ("opaque", "model", "concat") and bool(outs) and \
        all(fully_dead(dead, o) for o in outs)


def _check_branches(graph, dead, requests, func) -> None:
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

    for node, rec in graph.sequence:
        ins, outs = graph.io(node)
        full = [fully_dead(dead, i) for i in ins]
        if any(full) and not _branch_ends_ok(rec, ins, outs, full, dead):
            fail(f"layer '{rec.name}' ({rec.class_name})")
    for info in graph.output_infos:
        if fully_dead(dead, info):
            fail("a model output")
    for rec in graph.records.values():
        if rec.kind == "model":
            for info in rec.out_infos or []:
                if fully_dead(dead, info):
                    fail(f"an output of nested model '{rec.name}'")
