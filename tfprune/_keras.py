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

__all__ = ["keras", "tf", "check_model", "is_keras3_model", "is_compiled",
           "compile_args", "compile_like"]

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


def is_compiled(model) -> bool:
    """True when ``model`` has been compiled with a loss and an optimizer."""
    return bool(getattr(model, "_is_compiled", False)) and getattr(
        model, "optimizer", None) is not None


def _fresh(obj):
    """A new instance of a Keras loss/metric object (so that two models, or
    a model and a ``tf.distribute`` replica, never share a metric's state);
    names and plain functions as they are."""
    if isinstance(obj, (keras.metrics.Metric, keras.losses.Loss)):
        try:
            return type(obj).from_config(obj.get_config())
        except Exception:  # noqa: BLE001 - a custom object without a config
            return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_fresh(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _fresh(v) for k, v in obj.items()}
    return obj


def compile_args(like) -> dict:
    """The ``compile`` arguments ``like`` was compiled with, with fresh loss
    and metric objects and a fresh optimizer of the same class and config.
    Empty for a model that was never compiled. Call it inside the strategy
    scope the new model is built in (:func:`compile_like` does)."""
    if not is_compiled(like):
        return {}
    args = like._get_compile_args()
    opt = args["optimizer"]
    spe = getattr(like, "_steps_per_execution", None)
    return {"optimizer": type(opt).from_config(opt.get_config()),
            "loss": _fresh(args["loss"]),
            "metrics": _fresh(args["metrics"]),
            "weighted_metrics": _fresh(args["weighted_metrics"]),
            "loss_weights": args["loss_weights"],
            "run_eagerly": getattr(like, "_run_eagerly", None),
            "steps_per_execution": int(spe.numpy()) if spe is not None else 1,
            "jit_compile": getattr(like, "_jit_compile", None)}


def compile_like(model, like, strategy=None, optimizer=None, **overrides):
    """Compile ``model`` as ``like`` was compiled: the same loss, metrics
    (fresh ``Metric`` objects), loss weights and execution options, and a
    fresh optimizer of the same class and configuration (or ``optimizer``).
    Everything is created inside ``strategy.scope()`` when a strategy is
    given, else inside the current scope, so training under
    ``tf.distribute`` works with metric objects. ``overrides`` replace
    single compile arguments. Returns ``model``; a no-op when ``like`` was
    never compiled and nothing is overridden."""
    import contextlib
    scope = strategy.scope() if strategy is not None else \
        contextlib.nullcontext()
    with scope:
        args = compile_args(like)
        if not args and not overrides and optimizer is None:
            return model
        if optimizer is not None:
            args["optimizer"] = optimizer
        args.update(overrides)
        model.compile(**args)
    return model
