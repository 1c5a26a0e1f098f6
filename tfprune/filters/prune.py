"""One-shot (parallel) filter pruning: rank on the original weights, then
remove every selected channel in a single surgery rebuild
(``docs/sections/filters.md``, "Parallel pruning")."""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from .._keras import check_model, compile_like, keras
from ..errors import InvalidParameterError
from .criteria import (filter_matrix, get_criterion, layer_by_name,
                       n_to_prune, select)

__all__ = ["Unit", "prunable_units", "plan_channels", "prune",
           "apply_channels"]

@dataclasses.dataclass(frozen=True)
class Unit:
    """What one sensitivity row / plan entry prunes: a layer, or a
    dependency group whose layers share their output channels.

    Attributes:
        name: the name used in tables and plans (the first member, or the
            layer name the user asked for).
        members: names of the layers whose output channels are removed
            together (one for a plain layer).
    """

    name: str
    members: tuple

    @property
    def is_group(self) -> bool:
        return len(self.members) > 1


def _surgery():
    from .. import surgery
    return surgery


def _groups(model):
    """Surgery's dependency groups as (names, prunable, reaches_output)."""
    return [(tuple(g.layers), bool(g.prunable), bool(g.reaches_output))
            for g in _surgery().dependency_groups(model)]


def prunable_units(model, layers=None, groups=True, func="prunable_units"
                   ) -> list[Unit]:
    """The units a sensitivity sweep or a plan can prune.

    Default: every prunable Conv/Dense layer (``tp.surgery.prunable_layers``)
    except the ones that produce a model output; with ``groups=True`` a layer
    coupled to others (residual ``Add`` chains, ...) becomes one unit with
    its whole dependency group.

    Args:
        model: a tf_keras Sequential/Functional model.
        layers: names (or layer objects) to restrict to; ``None`` for all.
        groups: prune coupled layers together (otherwise coupled layers are
            left out).

    Returns:
        list of :class:`Unit` in model order.

    Raises:
        ValueError: for an unknown, non-prunable or output layer in
            ``layers``.
    """
    check_model(model, "model", func)
    groups_ = _groups(model)
    cand = [g for g in groups_ if g[1] and not g[2]
            and (groups or len(g[0]) == 1)]
    if layers is None:
        return [Unit(g[0][0], g[0]) for g in cand]
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = [layers]
    where = {n: g for g in groups_ for n in g[0]}
    ok = [n for g in cand for n in g[0]]
    names = {l.name for l in model.layers}
    units, taken = [], set()
    for n in layers:
        n = n if isinstance(n, str) else n.name
        g = where.get(n)
        if g is None or g not in cand:
            if n not in names:
                why = "no such layer"
            elif g is None:
                why = "it has no prunable output channels"
            elif g[2]:
                why = "its channels reach the model output"
            elif not g[1]:
                why = "surgery cannot remove its channels"
            else:
                why = ("it shares its channels with "
                       f"{', '.join(m for m in g[0] if m != n)}; use "
                       "groups=True to prune them together")
            raise InvalidParameterError(
                f"{func}(): layer {n!r} of model {model.name!r} cannot be "
                f"pruned ({why}); prunable layers: {', '.join(ok)}.")
        if n in taken:
            continue
        units.append(Unit(n, g[0]))
        taken.update(g[0])
    return units


def _count(value, n, name, func):
    if isinstance(value, bool):
        raise TypeError(f"{func}(): plan[{name!r}] must be a ratio in "
                        f"[0, 1) or a count; got {value!r}.")
    if isinstance(value, numbers.Integral):
        k = int(value)
        if not 0 <= k < n:
            raise InvalidParameterError(
                f"{func}(): plan[{name!r}] = {k} filters, but layer {name!r} "
                f"has {n}; a count must be in [0, {n - 1}] (keep at least "
                "one filter).")
        return k
    if isinstance(value, numbers.Real):
        r = float(value)
        if not 0.0 <= r < 1.0:
            raise InvalidParameterError(
                f"{func}(): plan[{name!r}] = {r} must be a ratio in [0, 1) "
                "(or an integer count of filters).")
        return n_to_prune(n, r)
    raise TypeError(f"{func}(): plan[{name!r}] must be a ratio in [0, 1) or "
                    f"an integer count; got {type(value).__name__}.")


def plan_channels(model, plan, method="dscore", *, x=None, batch_size=256,
                  **kw) -> dict:
    """The channels ``prune`` would remove: layer name -> sorted indices.

    Every ranking uses the original weights (one-shot). A plan entry for a
    member of a dependency group applies to the whole group (ranked on the
    sum of the members' scores) and every member gets the same indices.

    Args:
        model: a tf_keras Sequential/Functional model.
        plan: dict layer name -> ratio (float in [0, 1), ``k = floor(n *
            ratio)``) or count (int). Zero entries are skipped.
        method: criterion name or callable (see ``tp.filters.select``).
        x, batch_size: input data for data criteria (``apoz``, ...).
        **kw: passed to the criterion (``seed`` for ``random``).

    Returns:
        dict layer name -> sorted ``np.ndarray`` of channel indices.

    Raises:
        ValueError: for an unknown layer or a bad ratio/count, two entries
            of one dependency group, a keyword the criterion does not take,
            or a data criterion without ``x``.
    """
    func = "plan_channels"
    check_model(model, "model", func)
    if not isinstance(plan, dict):
        raise TypeError(f"{func}(): 'plan' must be a dict layer name -> "
                        f"ratio or count; got {type(plan).__name__}.")
    crit = get_criterion(method, func)
    crit.check_inputs(kw, model, x, func)
    groups_ = _groups(model)
    names = {l.name for l in model.layers} | {n for g in groups_
                                              for n in g[0]}
    by_layer = {n: g[0] for g in groups_ for n in g[0] if len(g[0]) > 1}
    out = {}
    for name, value in plan.items():
        if not isinstance(name, str) or name not in names:
            raise InvalidParameterError(
                f"{func}(): plan key {name!r} is not a layer of model "
                f"{model.name!r}.")
        unit = Unit(name, tuple(by_layer.get(name, (name,))))
        layers = [layer_by_name(model, m) for m in unit.members]
        n = filter_matrix(layers[0], func).shape[1]
        k = _count(value, n, name, func)
        if k == 0:
            continue
        already = [m for m in unit.members if m in out]
        if already:
            raise InvalidParameterError(
                f"{func}(): plan names both {name!r} and {already[0]!r}, "
                "which share their channels (one dependency group); give "
                "one entry per group.")
        idx = select(layers if unit.is_group else layers[0], k, crit,
                     model=model, x=x, batch_size=batch_size, **kw)
        for m in unit.members:
            out[m] = idx
    return out


def prune(model, plan, method="dscore", *, x=None, batch_size=256, **kw
          ) -> keras.Model:
    """One-shot physical pruning of many layers in one rebuild.

    The input model is not changed. Rankings are all computed on the
    original weights, so layer ``l+1``'s ranking still sees the input
    channels layer ``l`` loses (the paper's parallel pruning).

    Args:
        model: a tf_keras Sequential/Functional model.
        plan: dict layer name -> ratio in [0, 1) or integer count, e.g. the
            output of ``tp.sensitivity.plan``.
        method: criterion name or callable.
        x, batch_size: input data for data criteria.
        **kw: passed to the criterion.

    Returns:
        A new, smaller model (compiled like the input when it was compiled).

    Example:
        >>> small = tp.filters.prune(model, {"conv1": 0.5, "conv2": 16})
    """
    return apply_channels(model, plan_channels(
        model, plan, method, x=x, batch_size=batch_size, **kw))


def apply_channels(model, channels) -> keras.Model:
    """Remove ``channels`` (layer name -> indices, as :func:`plan_channels`
    returns them) in one surgery rebuild; an empty plan gives a copy. The
    result is compiled like ``model`` when it was compiled."""
    if not channels:
        new = keras.models.clone_model(model)
        new.set_weights(model.get_weights())
        return compile_like(new, model)
    return _surgery().prune_channels(
        model, {k: np.asarray(v) for k, v in channels.items()})
