"""tfprune: pruning toolkit for Keras 2 (tf_keras) networks.

Unstructured magnitude pruning on tfmot (``tp.sparsity``), Monte Carlo over
many networks (``tp.ensemble``), the moth flight-controller study
(``tp.data.moth``), and structured filter pruning with physical channel
removal (``tp.filters``, ``tp.sensitivity``, ``tp.surgery``) with FLOP and
parameter reports (``tp.report``).

Importing tfprune sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first
imported; build models with ``tp.keras`` (the ``tf_keras`` package).
"""
from ._keras import keras  # noqa: F401  (must come first: selects Keras 2)
from . import errors  # noqa: F401

__version__ = "0.1.0"

_SUBMODULES = ("models", "data", "report", "surgery", "filters", "demo",
               "sensitivity", "sparsity", "ensemble", "plots", "cli", "utils",
               "export")


def __getattr__(name):
    # Subpackages load on first use so that `import tfprune` stays light and
    # a user importing only the simulator never pays for tfmot.
    if name in _SUBMODULES:
        import importlib
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tfprune' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
