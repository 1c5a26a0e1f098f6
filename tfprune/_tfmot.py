"""The one door to tensorflow-model-optimization (tfmot).

tfprune needs a few tfmot objects that tfmot does not export (the pruning
wrapper class, the registry of prunable layers); every tfprune module takes
them, and tfmot's public ones, from here, so a tfmot upgrade touches this
file only. Importing it imports tfmot (after :mod:`tfprune._keras` has chosen
Keras 2), so modules that do not prune never pay for it.
"""
from __future__ import annotations

import importlib

# Keras 2 first: tfmot imports tf.keras.
from ._keras import keras  # noqa: F401

from tensorflow_model_optimization.sparsity.keras import (  # noqa: E402
    ConstantSparsity, PolynomialDecay, PrunableLayer, PruningSchedule,
    PruningSummaries, UpdatePruningStep, prune_scope)

_PRIVATE = "tensorflow_model_optimization.python.core.sparsity.keras"
_registry = importlib.import_module(f"{_PRIVATE}.prune_registry")
_wrapper = importlib.import_module(f"{_PRIVATE}.pruning_wrapper")

__all__ = ["PruneLowMagnitude", "ConstantSparsity", "PolynomialDecay",
           "PrunableLayer", "PruningSchedule", "PruningSummaries",
           "UpdatePruningStep", "prune_scope", "registry_weight_names"]

#: tfmot's ``prune_low_magnitude`` wrapper class (not exported by tfmot).
PruneLowMagnitude = _wrapper.PruneLowMagnitude


def registry_weight_names(layer) -> list[str] | None:
    """Names of the weights tfmot's built-in registry prunes in ``layer``:
    a list (``["<rnn>"]`` for a recurrent layer, whose cells tfmot handles),
    or None when the registry does not support the layer."""
    if not _registry.PruneRegistry.supports(layer):
        return None
    if layer.__class__ in _registry.PruneRegistry._LAYERS_WEIGHTS_MAP:
        return list(_registry.PruneRegistry._weight_names(layer))
    return ["<rnn>"]
