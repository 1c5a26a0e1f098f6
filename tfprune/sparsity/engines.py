"""The two ways ``SequentialPruning`` reaches a level, and the training-state
helpers the callbacks share.

* :class:`TfmotEngine`: a model from ``tp.sparsity.wrap``; each level is a new
  target of its :class:`LevelSparsity` schedules, and tfmot ranks by |w|.
* :class:`ManualEngine`: a plain model; the original study's percentile
  zeroing (``docs/sections/sparsity.md``), kept at zero with a mask after
  every batch.

Both offer ``start_level``, ``apply``, ``on_batch_end``, ``achieved`` and
``stripped``.
"""
from __future__ import annotations

import numpy as np

from .._keras import keras, tf
from ..errors import InvalidParameterError
from . import masks as _masks
from .layers import kernel_vars, prunable_layer_names, wrappers
from .schedules import LevelSparsity
from .wrap import strip

__all__ = ["TfmotEngine", "ManualEngine", "init_pruning_step",
           "reset_optimizer", "require_wrappers", "state_variables"]


def init_pruning_step(model) -> None:
    """Start the wrappers' step counters (what ``UpdatePruningStep`` does)."""
    for w in wrappers(model):
        if int(w.pruning_step.numpy()) == -1:
            w.pruning_step.assign(0)


def pruning_step(model) -> int:
    ws = wrappers(model)
    return int(ws[0].pruning_step.numpy()) if ws else 0


def reset_optimizer(model) -> None:
    """Zero every variable of the model's optimizer (moments, step count)."""
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return
    variables = opt.variables
    if callable(variables) and not isinstance(variables, list):
        variables = variables()          # legacy optimizers: a method
    for v in list(variables):
        v.assign(tf.zeros(v.shape, v.dtype))


def require_wrappers(model, who) -> list:
    """The wrappers of ``model``, each with a :class:`LevelSparsity`
    schedule, or an error saying how to wrap it."""
    ws = wrappers(model)
    if not ws:
        raise InvalidParameterError(
            f"{who}: model '{model.name}' has no tfmot pruning wrappers. Wrap "
            "it before compiling: model = tp.sparsity.wrap(model); "
            "model.compile(...); then fit with this callback (or use "
            "method='manual' for SequentialPruning on a plain model).")
    for w in ws:
        if not isinstance(w.pruning_schedule, LevelSparsity):
            raise InvalidParameterError(
                f"{who}: layer '{w.name}' uses a "
                f"{type(w.pruning_schedule).__name__} schedule, whose level "
                "cannot change during training. Wrap with "
                "tp.sparsity.wrap(model) (default schedule) instead.")
    return ws


def state_variables(model) -> list:
    """The model's variables that make up a training state (weights and
    masks; not tfmot's step counters and thresholds)."""
    skip = set()
    for w in wrappers(model):
        skip.add(w.pruning_step.ref())
        for _, _, thr in w.pruning_vars:
            skip.add(thr.ref())
    return [v for v in model.weights if v.ref() not in skip]


class TfmotEngine:
    """Levels through tfmot: LevelSparsity schedules, tfmot ranks by |w|."""

    name = "tfmot"

    def __init__(self, model, who):
        self.model = model
        self.wrappers = require_wrappers(model, who)
        self.m_by_n = next((tuple(w.sparsity_m_by_n) for w in self.wrappers
                            if getattr(w, "sparsity_m_by_n", None)), None)

    def check_levels(self, levels, who):
        """m:n wrappers know two levels: dense (0.0) and ``m / n``."""
        if self.m_by_n is None:
            return
        m, n = self.m_by_n
        bad = [s for s in levels if s not in (0.0, m / n)]
        if bad:
            raise InvalidParameterError(
                f"{who}: the model is wrapped with m_by_n={self.m_by_n}, "
                f"whose only levels are 0.0 (dense) and {m / n}; got "
                f"{list(levels)}.")

    def start_level(self, sparsity, previous, frequency, ramp_steps):
        _masks.apply_masks(self.model)
        if self.m_by_n is not None:
            # tfmot sets the m:n mask when a wrapper's step reaches 1.
            for w in self.wrappers:
                w.pruning_step.assign(0 if sparsity > 0 else 1)
            return
        begin = pruning_step(self.model) + 1
        for w in self.wrappers:
            w.pruning_schedule.set_level(sparsity, begin, frequency,
                                         ramp_steps, initial_sparsity=previous)

    def apply(self):
        _masks.apply_masks(self.model)

    def on_batch_end(self):
        pass

    def achieved(self):
        return _masks.achieved_sparsity(self.model)

    def stripped(self):
        return strip(self.model, compile=False)


class ManualEngine:
    """The original's percentile zeroing on a plain model."""

    name = "manual"

    def __init__(self, model, who, layers, prune_bias, from_zeros):
        if wrappers(model):
            raise InvalidParameterError(
                f"{who}: method='manual' works on a plain model, but "
                f"'{model.name}' holds tfmot wrappers; pass "
                "tp.sparsity.strip(model) or use method='tfmot'.")
        self.model = model
        names = prunable_layer_names(model) if layers is None else list(layers)
        by_name = {la.name: la for la in model.layers}
        self.vars = {}
        for name in names:
            if name not in by_name:
                raise InvalidParameterError(
                    f"{who}: 'layers' names {name!r}, which is not a layer of "
                    f"model '{model.name}'.")
            la = by_name[name]
            vs = list(kernel_vars(la))
            if prune_bias and getattr(la, "bias", None) is not None:
                vs.append(la.bias)
            self.vars[name] = vs
        self.kernel_layers = names
        self.masks = {n: [(v.numpy() != 0 if from_zeros else
                           np.ones(v.shape, bool)).astype(np.float32)
                          for v in vs] for n, vs in self.vars.items()}
        self._tensors()

    def _tensors(self):
        self._pairs = [(v, tf.constant(m, dtype=v.dtype))
                       for n, vs in self.vars.items()
                       for v, m in zip(vs, self.masks[n])]

    def start_level(self, sparsity, previous, frequency, ramp_steps):
        values = {n: [v.numpy() for v in vs] for n, vs in self.vars.items()}
        self.masks = _masks.percentile_masks(values, self.masks, sparsity)
        self._tensors()
        self.apply()

    def apply(self):
        for v, m in self._pairs:
            v.assign(v * m)

    def on_batch_end(self):
        self.apply()

    def achieved(self):
        return _masks.achieved_sparsity(self.model, self.kernel_layers)

    def stripped(self):
        clone = keras.models.clone_model(self.model)
        clone.set_weights(self.model.get_weights())
        return clone
