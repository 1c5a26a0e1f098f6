"""Physical channel removal for tf_keras models (``tp.surgery``).

* :func:`dependency_groups` / :func:`prunable_layers`: which layers' channels
  must go together (residual ``Add``, ``Multiply``, depthwise chains, shared
  layers), read from the model's graph (``graph.py``).
* :func:`delete_channels`, :func:`prune_channels`, :class:`Surgeon`: remove
  channels of any number of layers in one rebuild (``ops.py``); layer classes
  are handled through a registry keyed by exact class
  (:func:`register_handler`, ``handlers.py``).
* :func:`zeroing_spec`, :func:`zero_channels`: the masking that equals a
  deletion, for sweeps without rebuilds (``masking.py``).
* ``tp.surgery.identify``: APoZ activation statistics.
"""
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
           "identify"]


def __getattr__(name):
    if name == "identify":
        import importlib
        module = importlib.import_module(f"{__name__}.identify")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tfprune.surgery' has no attribute {name!r}")
