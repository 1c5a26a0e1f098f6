"""What a sensitivity sweep evaluates on, and how.

:func:`eval_batches` turns arrays or a ``tf.data.Dataset`` into fixed
batches, checked once against the model (input shape, finite values,
targets against the outputs) before any evaluation; :func:`metric_fn`
turns the ``metric`` argument into ``fn(y_true, y_pred) -> float``.
"""
from __future__ import annotations

import numpy as np

from .._keras import compile_args, keras, tf
from .._validate import check_finite, check_input_fits, check_targets
from ..errors import InvalidParameterError

__all__ = ["eval_batches", "metric_fn"]


def _from_dataset(model, ds, y, batch_size, func):
    if y is not None:
        raise InvalidParameterError(
            f"{func}(): give 'y' only with array inputs; a Dataset must "
            "yield (x, y) batches.")
    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise InvalidParameterError(
            f"{func}(): the Dataset must yield (x, y) pairs; got "
            f"element_spec {spec!r}.")
    if tf.nest.flatten(spec[0])[0].shape.rank == len(model.inputs[0].shape) - 1:
        ds = ds.batch(batch_size)
    parts = [([np.asarray(t) for t in tf.nest.flatten(bx)], np.asarray(by))
             for bx, by in ds]
    if not parts:
        raise InvalidParameterError(f"{func}(): the Dataset is empty.")
    xs = [np.concatenate([p[0][j] for p in parts])
          for j in range(len(parts[0][0]))]
    return xs, np.concatenate([p[1] for p in parts])


def _from_arrays(model, x, y, func):
    if x is None or y is None:
        raise InvalidParameterError(
            f"{func}(): give evaluation data as arrays x, y or as a Dataset "
            "x of (x, y) batches.")
    xs = [np.asarray(a) for a in (x if isinstance(x, (list, tuple))
                                  else [x])]
    y = np.asarray(y)
    if len(xs) != len(model.inputs):
        raise InvalidParameterError(
            f"{func}(): model {model.name!r} has {len(model.inputs)} inputs; "
            f"got {len(xs)} arrays in 'x'.")
    for a in xs:
        if a.ndim == 0 or y.ndim == 0 or len(a) != len(y) or len(a) == 0:
            raise InvalidParameterError(
                f"{func}(): 'x' and 'y' must be non-empty with the same "
                f"number of rows; got shapes {a.shape} and {y.shape}.")
    return xs, y


def eval_batches(model, x, y, batch_size, func) -> list:
    """``[([input arrays], y), ...]`` in batches of ``batch_size``, from
    arrays ``x, y`` or a Dataset ``x`` of ``(x, y)`` (batched or not).

    Raises:
        ValueError: for missing, empty, non-finite or mismatched data,
            inputs that do not fit the model, or targets that do not fit its
            outputs (shape, or class labels beyond the output width).
    """
    if isinstance(x, tf.data.Dataset):
        xs, y = _from_dataset(model, x, y, batch_size, func)
    else:
        xs, y = _from_arrays(model, x, y, func)
    for i, a in enumerate(xs):
        check_finite(a, "x" if len(xs) == 1 else f"x[{i}]", func)
    check_finite(y, "y", func)
    if len(xs) == 1:
        check_input_fits(model, xs[0], "x", func)
    check_targets(model, y.shape[1:], "y", func,
                  labels=y if y.dtype.kind in "iu" else None)
    xs = [a.astype(np.float32) if a.dtype == np.float64 else a for a in xs]
    return [([a[i:i + batch_size] for a in xs], y[i:i + batch_size])
            for i in range(0, len(y), batch_size)]


# --------------------------------------------------------------------------
# metrics

_LOWER_IS_BETTER = ("error", "loss", "crossentropy", "hinge", "divergence",
                    "mae", "mse", "mape", "msle", "logcosh", "poisson")


def _from_metric(m):
    def fn(y_true, y_pred):
        obj = type(m).from_config(m.get_config())
        obj.update_state(y_true, y_pred)
        return float(obj.result().numpy())
    return fn


def _from_function(f):
    def fn(y_true, y_pred):
        v = f(tf.constant(y_true), tf.constant(y_pred))
        return float(np.mean(np.asarray(v)))
    return fn


def _accuracy(width, sparse):
    """Accuracy in float64 (Keras' rules: argmax, or > 0.5 for one unit)."""
    def fn(y_true, y_pred):
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true)
        if width == 1:
            hit = (y_pred.reshape(len(y_pred), -1) > 0.5) == (
                y_true.reshape(len(y_true), -1) > 0.5)
        elif sparse:
            hit = y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])
        else:
            hit = y_pred.argmax(-1) == y_true.argmax(-1)
        return float(np.mean(hit))
    return fn


def _compiled_or_keras(model, metric, func):
    """A metric the model was compiled with (by name), else Keras' own."""
    key = metric.lower()
    if key == "loss":
        loss = compile_args(model).get("loss")
        if loss is None:
            raise InvalidParameterError(
                f"{func}(): metric='loss' needs a compiled model; compile it "
                "or pass a metric callable.")
        return "loss", _from_function(keras.losses.get(loss)), False
    for m in tf.nest.flatten(compile_args(model).get("metrics") or []):
        name = m if isinstance(m, str) else getattr(
            m, "name", getattr(m, "__name__", None))
        if name == metric and not isinstance(m, str):
            fn = (_from_metric(m) if isinstance(m, keras.metrics.Metric)
                  else _from_function(m))
            return metric, fn, True
    try:
        obj = keras.metrics.get(metric)
    except ValueError:
        obj = None
    if obj is None or isinstance(obj, str):
        raise InvalidParameterError(
            f"{func}(): unknown metric {metric!r}; use 'accuracy', 'top5', "
            "'loss', a metric the model was compiled with, a Keras metric "
            "name, or a callable(y_true, y_pred) -> float.")
    higher = not any(w in key for w in _LOWER_IS_BETTER)
    if isinstance(obj, type):
        obj = obj()
    if isinstance(obj, keras.metrics.Metric):
        return metric, _from_metric(obj), higher
    return metric, _from_function(obj), higher


def metric_fn(model, metric, y_example, func):
    """``(name, fn(y_true, y_pred) -> float, higher_is_better)``.

    ``metric``: ``"accuracy"`` (sparse, categorical or binary from the
    targets), ``"top5"``, ``"loss"``, a metric the model was compiled with
    (by name), a Keras metric name or object, or ``callable(y_true,
    y_pred)``.
    """
    if isinstance(metric, keras.metrics.Metric):
        return metric.name, _from_metric(metric), True
    if callable(metric):
        def user(y_true, y_pred):
            return float(np.mean(np.asarray(metric(y_true, y_pred))))
        return getattr(metric, "__name__", type(metric).__name__), user, True
    if not isinstance(metric, str):
        raise TypeError(f"{func}(): 'metric' must be a metric name, a Keras "
                        "Metric or a callable(y_true, y_pred) -> float; got "
                        f"{type(metric).__name__}.")
    out_shape = tuple(model.outputs[0].shape[1:])
    width = out_shape[-1] if out_shape else 1
    sparse = y_example.ndim == 1 or (y_example.ndim == len(out_shape) and
                                     y_example.shape[-1] == 1 and width > 1)
    key = metric.lower()
    if key in ("accuracy", "acc"):
        return metric, _accuracy(width, sparse), True
    if key.replace("-", "_") in ("top5", "top_5", "top_5_accuracy"):
        cls = (keras.metrics.SparseTopKCategoricalAccuracy if sparse else
               keras.metrics.TopKCategoricalAccuracy)
        return metric, _from_metric(cls(k=5)), True
    return _compiled_or_keras(model, metric, func)
