"""Physical channel removal for tf_keras models (``tp.surgery``).

* :func:`dependency_groups` / :func:`prunable_layers`: which layers' channels
  must go together (residual ``Add``, ``Multiply``, depthwise chains, grouped
  convolutions, shared layers), read from the model's graph (``graph.py``,
  built from ``trace.py``, ``group.py`` and ``resolve.py``).
* :func:`delete_channels`, :func:`prune_channels`, :class:`Surgeon`: remove
  channels of any number of layers in one rebuild (``ops.py``,
  ``rebuild.py``); layer classes are handled through a registry keyed by
  exact class (:func:`register_handler`, ``handlers.py``; the built-in
  handlers in ``builtin_handlers.py``).
* :func:`zeroing_spec`, :func:`zero_channels`: the masking that equals a
  deletion, for sweeps without rebuilds (``masking.py``).
* :func:`layer_facts`, :func:`output_kernel`, :func:`channel_axis`,
  :func:`activation_chain`, :func:`activation_layer`, :func:`rankable`,
  :func:`maps_zero_to_zero`:
  per-layer-type facts read from the handler registry (``facts.py``).
* ``tp.surgery.identify``: APoZ activation statistics.
"""
from . import builtin_handlers  # noqa: F401  (registers the built-ins)
from .facts import (LayerFacts, activation_chain, activation_layer,
                    activation_tensors, channel_axis, layer_facts,
                    maps_zero_to_zero, output_kernel, rankable)
from .graph import DependencyGraph, Group, dependency_groups, prunable_layers
from .handlers import (Handler, SliceContext, get_handler, register_handler,
                       registered_layers, unregister_handler)
from .masking import (ZeroSlice, apply_zeroing, get_layer, zero_channels,
                      zeroing_spec)
from .ops import (Surgeon, delete_channels, delete_layer, expand_plan,
                  insert_layer, prune_channels, replace_layer)

__all__ = ["delete_channels", "prune_channels", "expand_plan", "Surgeon",
           "delete_layer", "insert_layer", "replace_layer",
           "dependency_groups", "prunable_layers", "Group", "DependencyGraph",
           "register_handler", "unregister_handler", "get_handler",
           "registered_layers", "Handler", "SliceContext", "zeroing_spec",
           "zero_channels", "apply_zeroing", "get_layer", "ZeroSlice",
           "LayerFacts", "layer_facts", "output_kernel", "channel_axis",
           "rankable", "maps_zero_to_zero", "activation_chain",
           "activation_layer",
           "activation_tensors", "identify"]


def __getattr__(name):
    if name == "identify":
        import importlib
        module = importlib.import_module(f"{__name__}.identify")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tfprune.surgery' has no attribute {name!r}")
