"""Loading saved models for reporting."""
from __future__ import annotations

from .._keras import keras
from ..errors import InvalidParameterError

__all__ = ["load_model"]


def load_model(path):
    """Load a saved tf_keras model (``.h5``, ``.keras`` or SavedModel folder)
    for reporting, without compiling it.

    Models saved with tfmot pruning wrappers load inside tfmot's
    ``prune_scope``.

    Args:
        path: file or folder written by ``model.save(...)`` from ``tp.keras``.

    Returns:
        the ``tp.keras`` model.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a readable tf_keras model (e.g. saved by
            Keras 3, or not a model file at all).
    """
    import os

    func = "load_model"
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{func}(): 'path' must be a str or path; got "
                        f"{type(path).__name__}.")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{func}(): no such file or folder: {path!r}.")
    try:
        try:
            return keras.models.load_model(path, compile=False)
        except (ValueError, TypeError) as e:
            if "PruneLowMagnitude" not in str(e):
                raise
            import tensorflow_model_optimization as tfmot
            with tfmot.sparsity.keras.prune_scope():
                return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (h5py, JSON and Keras errors)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InvalidParameterError(
            f"{func}(): cannot read {path!r} as a tf_keras model "
            f"({type(e).__name__}: {first[:200]}). Save the model from "
            "tp.keras / tf_keras with model.save('model.h5') or "
            "model.save('model.keras'); files written by Keras 3 cannot be "
            "read by tf_keras.") from e
