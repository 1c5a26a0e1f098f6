"""The one place that decides which Keras tfprune builds and accepts models with.

tfmot works only with Keras 2, so tfprune uses ``tf_keras`` and sets
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is first imported (so that
``tf.keras`` resolves to the same Keras 2 for users who import tfprune first).
No other tfprune module imports ``tf_keras`` directly: they use ``keras`` from
here.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from .errors import ModelTypeError  # noqa: E402

__all__ = ["keras", "tf", "check_model", "is_keras3_model"]

_FIX = ("Build the model with tfprune.keras (the tf_keras package), e.g. "
        "`import tfprune as tp; layers = tp.keras.layers`, or load a saved "
        "model with tp.keras.models.load_model(...).")


def is_keras3_model(obj) -> bool:
    """True for a Keras 3 layer or model (the ``keras`` package, not tf_keras)."""
    module = type(obj).__module__ or ""
    return module == "keras" or module.startswith("keras.")


def check_model(model, arg: str = "model", func: str | None = None,
                built: bool = True):
    """Validate that ``model`` is a graph (Sequential/Functional) tf_keras model.

    Raises:
        TypeError: for a Keras 3 model, a subclassed model or a non-model, with
            the fix in the message.
        ValueError: when ``built`` is required and the model has no input shape.
    """
    where = f"{func}(): " if func else ""
    if isinstance(model, keras.Model):
        if not (isinstance(model, keras.Sequential) or
                getattr(model, "_is_graph_network", False)):
            raise ModelTypeError(
                f"{where}argument '{arg}' is a subclassed model "
                f"({type(model).__name__}); tfprune needs a Sequential or "
                "Functional tf_keras model whose graph it can read. Rewrite "
                "call() as a Functional model built from tp.keras.Input.")
        if built and not model.built:
            from .errors import InvalidParameterError
            raise InvalidParameterError(
                f"{where}argument '{arg}' ({model.name}) is not built; give "
                "the first layer an input_shape or call model.build(shape).")
        return model
    if is_keras3_model(model):
        raise ModelTypeError(
            f"{where}argument '{arg}' is a Keras 3 object "
            f"({type(model).__module__}.{type(model).__name__}); tfprune "
            f"works with Keras 2 (tf_keras) because tfmot does. {_FIX}")
    raise ModelTypeError(
        f"{where}argument '{arg}' must be a tf_keras Model, got "
        f"{type(model).__name__}. {_FIX}")
