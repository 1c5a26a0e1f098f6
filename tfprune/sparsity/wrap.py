"""Wrap a tf_keras model with tfmot pruning wrappers, and strip them again.

Both functions return NEW models: the caller's model (and its variables) is
never touched. The clone keeps the layer names of the input; each pruned
layer ``x`` becomes tfmot's ``prune_low_magnitude_x`` wrapper around a copy of
``x``. When the input model was compiled, the output is compiled with the same
loss and metrics and a fresh optimizer of the same configuration.
"""
from __future__ import annotations

from .._keras import check_model, compile_like, keras
from .._tfmot import (ConstantSparsity, PolynomialDecay, PruneLowMagnitude,
                      PruningSchedule)
from .._validate import check_float, check_int, check_type
from ..errors import InvalidParameterError, UnsupportedLayerError
from . import layers as _layers
from .layers import (inner_name, is_wrapped, layer_rates,
                     output_layer_names,
                     prunable_layer_names, prunable_weight_names, wrappers)
from .masks import set_masks
from .schedules import LevelSparsity

__all__ = ["wrap", "strip", "is_wrapped", "wrappers", "prunable_layer_names",
           "output_layer_names", "layer_rates",
           "PruneLowMagnitude", "PruneLowMagnitudeBias"]


@keras.utils.register_keras_serializable(package="tfprune",
                                         name="PruneLowMagnitudeBias")
class PruneLowMagnitudeBias(PruneLowMagnitude):
    """tfmot's wrapper that prunes the inner layer's bias with its kernel.

    A class of its own rather than a patched ``get_prunable_weights``, so the
    choice survives ``model.save`` and loading. The wrapper keeps tfmot's
    layer name, ``prune_low_magnitude_<layer>``.
    """

    def __init__(self, layer, **kwargs):
        if not getattr(layer, "use_bias", False):
            raise UnsupportedLayerError(
                f"layer '{getattr(layer, 'name', layer)}' has no bias to "
                "prune; wrap it without prune_bias.")
        layer.get_prunable_weights = lambda: [layer.kernel, layer.bias]
        super().__init__(layer, **kwargs)
        self._name = f"prune_low_magnitude_{layer.name}"

    def build(self, input_shape):
        # tfmot names every mask 'mask' and every threshold 'threshold',
        # which HDF5 files cannot hold twice: the bias's get a 'bias_' prefix.
        seen = set()
        add_weight = self.add_weight

        def renaming_add_weight(name, *args, **kwargs):
            if name in seen:
                name = "bias_" + name
            seen.add(name)
            return add_weight(name, *args, **kwargs)

        self.add_weight = renaming_add_weight
        try:
            super().build(input_shape)
        finally:
            del self.add_weight


def _select(model, layers, func):
    all_names = [la.name for la in model.layers]
    by_name = {la.name: la for la in model.layers}
    for la in model.layers:
        if isinstance(la, keras.Model):
            raise UnsupportedLayerError(
                f"{func}(): layer '{la.name}' is a nested model "
                f"({type(la).__name__}); tfmot cannot wrap the layers inside "
                "it through the outer model. Rebuild the model flat (call "
                "the inner layers directly on the outer tensors).")
    if layers is None:
        chosen = []
        for la in model.layers:
            if isinstance(la, keras.layers.InputLayer) or not la.weights:
                continue
            names = prunable_weight_names(la)
            if names is None:
                raise UnsupportedLayerError(
                    f"{func}(): layer '{la.name}' ({type(la).__name__}) has "
                    "weights but tfmot's prune_low_magnitude cannot wrap it. "
                    "Leave it out with layers=[...] (the names to prune), or "
                    "give the layer class a get_prunable_weights() method "
                    "(tfmot PrunableLayer).")
            if names:
                chosen.append(la.name)
        if not chosen:
            raise InvalidParameterError(
                f"{func}(): model '{model.name}' has no layer with prunable "
                "weights (Dense, Conv, Embedding, ...).")
        return chosen
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = [layers]
    check_type(layers, (list, tuple), "layers", func,
               "a list of layer names (or None for every prunable layer)")
    chosen = []
    for item in layers:
        name = item.name if isinstance(item, keras.layers.Layer) else item
        if name not in by_name:
            raise InvalidParameterError(
                f"{func}(): 'layers' names {name!r}, which is not a layer of "
                f"model '{model.name}'; its layers are {all_names}.")
        la = by_name[name]
        names = prunable_weight_names(la)
        if names is None:
            raise UnsupportedLayerError(
                f"{func}(): layer '{name}' ({type(la).__name__}) cannot be "
                "wrapped by tfmot's prune_low_magnitude; remove it from "
                "'layers' or give its class a get_prunable_weights() method.")
        if not names:
            raise InvalidParameterError(
                f"{func}(): layer '{name}' ({type(la).__name__}) has no "
                "prunable weights; remove it from 'layers'.")
        if name not in chosen:
            chosen.append(name)
    return chosen


def _schedule_for(schedule, sparsity, rate, frequency, begin_step, func):
    if schedule is None:
        return LevelSparsity(sparsity, begin_step=begin_step,
                             frequency=frequency, scale=max(rate, 1e-9))
    if isinstance(schedule, LevelSparsity):
        cfg = dict(schedule.get_config()["config"])
        cfg["scale"] = max(cfg["scale"] * rate, 1e-9)
        return LevelSparsity(**cfg)
    if rate == 1.0:
        return schedule
    cfg = schedule.get_config()["config"]
    if isinstance(schedule, ConstantSparsity):
        cfg = dict(cfg, target_sparsity=cfg["target_sparsity"] * rate)
        return ConstantSparsity(**cfg)
    if isinstance(schedule, PolynomialDecay):
        cfg = dict(cfg, initial_sparsity=cfg["initial_sparsity"] * rate,
                   final_sparsity=cfg["final_sparsity"] * rate)
        return PolynomialDecay(**cfg)
    raise InvalidParameterError(
        f"{func}(): a per-layer rate ({rate}) cannot be applied to a "
        f"{type(schedule).__name__}; use output_rate=1.0 or a ConstantSparsity"
        "/PolynomialDecay/LevelSparsity schedule.")


def _check_plain(model, func):
    check_model(model, "model", func)
    if is_wrapped(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' already holds pruning wrappers "
            f"({wrappers(model)[0].name}, ...); strip it first with "
            "tp.sparsity.strip(model).")


def _copy_weights(model, clone):
    """Copy every layer's weights of ``model`` into its (wrapped) copy."""
    by_name = {inner_name(la): la for la in clone.layers}
    for la in model.layers:
        if la.weights and la.name in by_name:
            by_name[la.name].set_weights(la.get_weights())


def _copy_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def check_m_by_n(m_by_n, func="wrap"):
    """``None`` or ``(m, n)``: ``m`` zeros in every ``n`` consecutive weights,
    ``0 < m < n``."""
    if m_by_n is None:
        return None
    if not (isinstance(m_by_n, (tuple, list)) and len(m_by_n) == 2):
        raise TypeError(f"{func}(): 'm_by_n' must be a pair of integers "
                        f"(m zeros in every n weights), e.g. (2, 4); got "
                        f"{m_by_n!r}.")
    m = check_int(m_by_n[0], "m_by_n[0]", func, min_value=1)
    n = check_int(m_by_n[1], "m_by_n[1]", func, min_value=2)
    if m >= n:
        raise InvalidParameterError(
            f"{func}(): 'm_by_n' must have m < n (m zeros in every n "
            f"weights); got {tuple(m_by_n)!r}.")
    return m, n


def _m_by_n_for(model, targets, m_by_n, other_masks, func):
    """The checked ``m_by_n`` of :func:`wrap`: tfmot's m:n masks exist for
    rank-2 and rank-4 kernels only, and replace any other mask."""
    m_by_n = check_m_by_n(m_by_n, func)
    if m_by_n is None:
        return None
    if other_masks:
        raise InvalidParameterError(
            f"{func}(): m_by_n={m_by_n} prunes kernels with tfmot's m:n "
            "pattern; it cannot be combined with prune_bias or masks.")
    by_name = {la.name: la for la in model.layers}
    for name in targets:
        la = by_name[name]
        for attr in _layers.prunable_weight_names(la) or []:
            w = getattr(la, attr, None)
            if w is not None and len(w.shape) not in (2, 4):
                raise UnsupportedLayerError(
                    f"{func}(): layer '{name}' ({type(la).__name__}) has a "
                    f"{attr} of shape {tuple(w.shape)}; m:n sparsity works "
                    "on rank-2 (Dense) and rank-4 (Conv2D, DepthwiseConv2D) "
                    "kernels. Leave it out with layers=[...].")
    return m_by_n


def _check_schedule(schedule, func):
    if schedule is not None and not isinstance(schedule, PruningSchedule):
        raise TypeError(
            f"{func}(): 'schedule' must be a tfmot PruningSchedule "
            "(ConstantSparsity, PolynomialDecay) or tp.sparsity.LevelSparsity;"
            f" got {type(schedule).__name__}.")


def wrap(model, sparsity=0.5, schedule=None, layers=None, prune_bias=False,
         output_rate=1.0, layer_rates=None, frequency=1, begin_step=1,
         masks=None, compile=True, m_by_n=None):
    """Return a copy of ``model`` with tfmot ``prune_low_magnitude`` wrappers.

    By default every layer with a prunable kernel (Dense, Conv, ...) is
    wrapped with a :class:`LevelSparsity` schedule, which prunes to
    ``sparsity`` at step ``begin_step`` and re-prunes every ``frequency``
    steps (tfmot's ``ConstantSparsity(sparsity, begin_step=0, frequency=1)``
    with the defaults; ``frequency=0`` keeps the first mask). Train the
    result with ``tfmot.sparsity.keras.UpdatePruningStep()`` or one of the
    ``tp.sparsity`` callbacks, which do the same.

    Args:
        model: a built Sequential/Functional tf_keras model (not changed).
        sparsity: target fraction of zeros per layer, in [0, 1).
        schedule: a tfmot ``PruningSchedule`` (``ConstantSparsity``,
            ``PolynomialDecay``, ``LevelSparsity``) instead of the default.
        layers: names (or layer objects) of the layers to prune; None prunes
            every layer that has a prunable kernel.
        prune_bias: prune the biases too (each with its own threshold), for
            layers with a ``kernel`` and a bias; kept by ``model.save``.
        output_rate: sparsity multiplier of the output layer (0.5: the
            lottery-ticket papers' half rate).
        layer_rates: ``{layer_name: multiplier}`` for other layers.
        frequency: re-pruning period in steps for the default schedule.
        begin_step: first pruning step (>= 1) of the default schedule, or -1
            for masks set only from outside (``set_masks``).
        masks: ``{layer_name: [mask, ...]}`` to install (schedules frozen).
        compile: compile the copy like ``model`` (fresh optimizer) when
            ``model`` was compiled.
        m_by_n: ``(m, n)``, e.g. ``(2, 4)``: tfmot's m:n sparsity (``m``
            zeros in every ``n`` consecutive input-channel weights), set at
            the first training step and kept; ``sparsity`` and ``schedule``
            do not apply. Rank-2/4 kernels only (docs/sections/deploy.md).

    Returns:
        A new tf_keras model holding the wrappers (weights copied).

    Raises:
        TypeError: Keras 3, subclassed or non-model input.
        UnsupportedLayerError: a layer tfmot cannot wrap (the message names
            it and says how to leave it out), or a nested model.
        InvalidParameterError: bad sparsity, layer name or rate.
    """
    func = "wrap"
    _check_plain(model, func)
    sparsity = check_float(sparsity, "sparsity", func, 0.0, 1.0,
                           max_inclusive=False)
    _check_schedule(schedule, func)
    frequency = check_int(frequency, "frequency", func, min_value=0)
    begin_step = check_int(begin_step, "begin_step", func, min_value=-1)
    targets = _select(model, layers, func)
    m_by_n = _m_by_n_for(model, targets, m_by_n, prune_bias or
                         masks is not None, func)
    rates = _layers.layer_rates(model, targets, output_rate, layer_rates,
                                func)
    if masks is not None:
        begin_step = -1

    def clone_fn(layer):
        new = _copy_layer(layer)
        if layer.name not in rates:
            return new
        sched = _schedule_for(schedule, sparsity, rates[layer.name],
                              frequency, begin_step, func)
        if prune_bias and getattr(layer, "use_bias", False) and hasattr(
                layer, "kernel"):
            return PruneLowMagnitudeBias(new, pruning_schedule=sched)
        return PruneLowMagnitude(new, pruning_schedule=sched,
                                 sparsity_m_by_n=m_by_n)

    clone = keras.models.clone_model(model, clone_function=clone_fn)
    _copy_weights(model, clone)
    if masks is not None:
        set_masks(clone, masks)
    if compile:
        compile_like(clone, model)
    return clone


def _masked_inner_values(wrapper):
    inner = wrapper.layer
    values = {v.ref(): v.numpy() for v in inner.weights}
    for w, m, _ in wrapper.pruning_vars:
        if w.ref() in values:
            values[w.ref()] = (values[w.ref()] * m.numpy()).astype(
                values[w.ref()].dtype)
    return [values[v.ref()] for v in inner.weights]


def strip(model, compile=True):
    """Return a plain copy of a wrapped model, with the masks applied.

    Pruned weights are exact zeros in the copy. The copy shares no variable
    with ``model``, so training ``model`` further does not change it.

    Args:
        model: a tf_keras model, wrapped or not (not changed).
        compile: compile the copy like ``model`` (fresh optimizer).

    Returns:
        A new tf_keras model with the original layer names.
    """
    check_model(model, "model", "strip")

    def clone_fn(layer):
        if isinstance(layer, PruneLowMagnitude):
            return _copy_layer(layer.layer)
        return _copy_layer(layer)

    clone = keras.models.clone_model(model, clone_function=clone_fn)
    by_name = {la.name: la for la in clone.layers}
    for la in model.layers:
        if isinstance(la, PruneLowMagnitude):
            by_name[la.layer.name].set_weights(_masked_inner_values(la))
        elif la.weights and la.name in by_name:
            by_name[la.name].set_weights(la.get_weights())
    if compile:
        compile_like(clone, model)
    return clone

