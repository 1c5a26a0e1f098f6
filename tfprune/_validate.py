"""Parameter checks used once at each public boundary.

Every failure raises ``InvalidParameterError`` (a ``ValueError``) or
``ModelTypeError``/``TypeError`` with the message
"<func>(): '<name>' must be <what>; got <value>."
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import warnings
from typing import Iterable, Sequence

import numpy as np

from .errors import InvalidParameterError, RenamedArgumentError

__all__ = ["check_int", "check_float", "check_choice", "check_fraction",
           "check_increasing_fractions", "check_type", "check_xy",
           "check_finite", "check_input_fits", "check_targets",
           "check_dataset", "check_shard", "renamed", "check_no_kwargs"]


def _fail(func, name, what, value, fix=""):
    where = f"{func}(): " if func else ""
    msg = f"{where}'{name}' must be {what}; got {value!r}."
    if fix:
        msg += " " + fix
    raise InvalidParameterError(msg)


def check_type(value, types, name, func=None, what=None):
    """Raise ``TypeError`` when ``value`` is not an instance of ``types``."""
    if not isinstance(value, types):
        where = f"{func}(): " if func else ""
        if what is None:
            tt = types if isinstance(types, tuple) else (types,)
            what = " or ".join(t.__name__ for t in tt)
        raise TypeError(f"{where}'{name}' must be {what}; got "
                        f"{type(value).__name__}.")
    return value


def check_int(value, name, func=None, min_value=None, max_value=None,
              allow_none=False):
    """An integer (not bool) within [min_value, max_value]."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        where = f"{func}(): " if func else ""
        raise TypeError(f"{where}'{name}' must be an integer; got "
                        f"{type(value).__name__} {value!r}.")
    value = int(value)
    if min_value is not None and value < min_value:
        _fail(func, name, f"an integer >= {min_value}", value)
    if max_value is not None and value > max_value:
        _fail(func, name, f"an integer <= {max_value}", value)
    return value


def check_float(value, name, func=None, min_value=None, max_value=None,
                min_inclusive=True, max_inclusive=True, allow_none=False):
    """A finite real number within the given bounds."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        where = f"{func}(): " if func else ""
        raise TypeError(f"{where}'{name}' must be a number; got "
                        f"{type(value).__name__} {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        _fail(func, name, "a finite number", value)
    lo_ok = (min_value is None or value > min_value or
             (min_inclusive and value == min_value))
    hi_ok = (max_value is None or value < max_value or
             (max_inclusive and value == max_value))
    if not (lo_ok and hi_ok):
        lo = "-inf" if min_value is None else min_value
        hi = "inf" if max_value is None else max_value
        lb = "[" if min_inclusive else "("
        rb = "]" if max_inclusive else ")"
        _fail(func, name, f"in {lb}{lo}, {hi}{rb}", value)
    return value


def check_fraction(value, name, func=None, allow_one=False, allow_zero=True):
    """A fraction in [0, 1) (or [0, 1] with ``allow_one``)."""
    return check_float(value, name, func, 0.0, 1.0, min_inclusive=allow_zero,
                       max_inclusive=allow_one)


def check_choice(value, choices: Iterable, name, func=None):
    """One of ``choices``; the error lists them."""
    choices = list(choices)
    if value not in choices:
        _fail(func, name, "one of " + ", ".join(repr(c) for c in choices),
              value)
    return value


def check_increasing_fractions(values, name, func=None, allow_one=False
                               ) -> list[float]:
    """A non-empty, strictly increasing sequence of fractions in [0, 1)."""
    if isinstance(values, (str, bytes)) or not isinstance(
            values, (Sequence, np.ndarray)):
        raise TypeError(f"{func + '(): ' if func else ''}'{name}' must be a "
                        f"sequence of fractions; got {type(values).__name__}.")
    out = [check_fraction(v, f"{name}[{i}]", func, allow_one=allow_one)
           for i, v in enumerate(values)]
    if not out:
        _fail(func, name, "a non-empty sequence", values)
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            _fail(func, name, "strictly increasing", list(values),
                  f"Entry {i} ({out[i]}) is not above entry {i - 1} "
                  f"({out[i - 1]}); sort the levels and drop duplicates.")
    return out


def check_finite(a, name, func=None):
    """Raise ``InvalidParameterError`` when a float array holds NaN or inf,
    naming the array, the count and the first row; returns the array."""
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or a.size == 0:
        return a
    bad = ~np.isfinite(a)
    if not bad.any():
        return a
    rows = np.flatnonzero(bad.reshape(len(a), -1).any(axis=1)) \
        if a.ndim else np.array([0])
    where = f"{func}(): " if func else ""
    raise InvalidParameterError(
        f"{where}'{name}' holds {int(bad.sum())} non-finite values (NaN or "
        f"inf) in {len(rows)} row(s), the first at row {int(rows[0])}; drop "
        "or "
        "impute them before training or evaluating.")


def check_xy(x, y, name="data", func=None):
    """Arrays with a matching first dimension and finite values; returns
    them as numpy arrays."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        _fail(func, name, "(x, y) arrays with the same number of rows",
              f"x{getattr(x, 'shape', None)}, y{getattr(y, 'shape', None)}")
    if len(x) == 0:
        _fail(func, name, "non-empty arrays", f"x{x.shape}")
    check_finite(x, f"{name} x", func)
    check_finite(y, f"{name} y", func)
    return x, y


def check_input_fits(model, x, name="x", func=None):
    """Check that ``x`` (array or ``tf.data.Dataset``) fits ``model``'s input.

    Compares the per-sample shape with ``model.input_shape`` (``None`` matches
    anything) and raises ``InvalidParameterError`` naming both shapes and the
    fix, instead of letting TensorFlow fail deep inside ``fit``.
    """
    expected = model.input_shape
    if isinstance(expected, list):
        return x  # multi-input models: leave the check to Keras
    expected = tuple(expected[1:])
    if hasattr(x, "element_spec"):
        spec = x.element_spec
        if isinstance(spec, tuple):
            spec = spec[0]
        got = tuple(spec.shape)[1:] if spec.shape.rank else ()
        batched = True
    else:
        got = tuple(np.shape(x))[1:]
        batched = False
    ok = len(got) == len(expected) and all(
        e is None or g is None or e == g for e, g in zip(expected, got))
    if not ok:
        hint = ("a tf.data.Dataset must yield batches (call .batch(n))"
                if batched and len(got) + 1 == len(expected) else
                "reshape the data or build the model with "
                f"input_shape={got!r}")
        where = f"{func}(): " if func else ""
        raise InvalidParameterError(
            f"{where}'{name}' has per-sample shape {got!r} but model "
            f"'{model.name}' expects {expected!r}; {hint}.")
    return x


def _loss_name(model, loss) -> str:
    if loss is None and getattr(model, "_is_compiled", False):
        loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple, dict)):
        return ""
    if loss is None:
        return ""
    if isinstance(loss, str):
        return loss.lower()
    name = getattr(loss, "name", None) or getattr(loss, "__name__", "")
    return (str(name) + " " + type(loss).__name__).lower()


def check_targets(model, y_shape, name="y", func=None, loss=None,
                  labels=None):
    """Check targets against ``model``'s single output before training.

    ``y_shape`` is the per-sample target shape; ``labels`` (optional) the
    integer labels, for a class-count check. With a sparse categorical
    loss (or integer labels of one column and a several-unit output) the
    targets must be class indices below the output width; otherwise the
    per-sample shape must equal the output's (``(n,)`` matches ``(n, 1)``).
    Multi-output models are left to Keras.
    """
    out = model.output_shape
    if isinstance(out, list):
        return
    out = tuple(out[1:])
    got = tuple(y_shape)
    where = f"{func}(): " if func else ""
    lname = _loss_name(model, loss)
    width = out[-1] if out else 1
    sparse = "sparse" in lname or (
        not lname and width not in (None, 1)
        and got in (out[:-1], out[:-1] + (1,))
        and (labels is None or np.asarray(labels).dtype.kind in "iu"))
    if sparse:
        if got not in (out[:-1], out[:-1] + (1,)):
            raise InvalidParameterError(
                f"{where}'{name}' has per-sample shape {got!r}, but a sparse "
                f"categorical loss on model '{model.name}' (output "
                f"{out!r}) needs class indices of shape {out[:-1]!r}; pass "
                "integer labels, or one-hot targets with a categorical loss.")
        if labels is not None and width is not None and len(labels):
            lab = np.asarray(labels)
            lo, hi = lab.min(), lab.max()
            if lo < 0 or hi >= width:
                raise InvalidParameterError(
                    f"{where}'{name}' holds class labels from {lo} to {hi}, "
                    f"but model '{model.name}' has {width} outputs (classes "
                    f"0 to {width - 1}); give the model {int(hi) + 1} "
                    "outputs or remap the labels.")
        return
    ok = len(got) == len(out) and all(
        a is None or b is None or a == b for a, b in zip(got, out))
    ok = ok or (out[-1:] == (1,) and got == out[:-1])
    if not ok and width not in (None, 1) and got in (out[:-1],
                                                     out[:-1] + (1,)):
        raise InvalidParameterError(
            f"{where}'{name}' holds class indices (per-sample shape "
            f"{got!r}) but model '{model.name}' is trained with a loss that "
            f"expects one-hot targets of shape {out!r}; one-hot encode the "
            "labels (tp.keras.utils.to_categorical) or compile with "
            "SparseCategoricalCrossentropy.")
    if not ok:
        raise InvalidParameterError(
            f"{where}'{name}' has per-sample shape {got!r} but model "
            f"'{model.name}' outputs {out!r}; make the model's last layer "
            f"produce {got!r} (e.g. Dense({got[-1] if got else 1})) or give "
            "targets of the output's shape (one-hot for a categorical "
            "loss).")


def _dataset_targets(data):
    spec = data.element_spec
    if isinstance(spec, tuple) and len(spec) >= 2 and hasattr(spec[1],
                                                              "shape"):
        shape = spec[1].shape
        return tuple(shape)[1:] if shape.rank else None
    return None


def check_dataset(data, name="data", func=None, model=None, allow_none=False):
    """An ``(x, y)`` pair of arrays or a batched ``tf.data.Dataset``.

    Returns the dataset unchanged or ``(x, y)`` as numpy arrays (finite
    values checked); with ``model`` also checks that the inputs and targets
    fit it (:func:`check_input_fits`, :func:`check_targets`).
    """
    if data is None and allow_none:
        return None
    if hasattr(data, "element_spec"):
        out, x = data, data
    else:
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            where = f"{func}(): " if func else ""
            raise TypeError(f"{where}'{name}' must be an (x, y) tuple or a "
                            f"batched tf.data.Dataset; got "
                            f"{type(data).__name__}.")
        out = check_xy(data[0], data[1], name, func)
        x = out[0]
    if model is not None:
        check_input_fits(model, x, name, func)
        if isinstance(out, tuple):
            check_targets(model, out[1].shape[1:], f"{name} y", func,
                          labels=out[1] if out[1].dtype.kind in "iu"
                          else None)
        elif _dataset_targets(data) is not None:
            check_targets(model, _dataset_targets(data), f"{name} y", func)
    return out


def check_shard(shard, count: int, name="shard", func=None) -> range:
    """The share of ``count`` units (chunks, networks) that shard
    ``(i, N)`` computes: ``range(i * count // N, (i + 1) * count // N)``;
    ``None`` is the whole range. The shares of ``i = 0 .. N-1`` are
    disjoint, contiguous and cover every unit."""
    if shard is None:
        return range(count)
    if isinstance(shard, str) or not isinstance(shard, (tuple, list)) or \
            len(shard) != 2:
        _fail(func, name, "a pair (i, N) with 0 <= i < N", shard,
              "E.g. shard=(0, 4) for the first of 4 shares.")
    n = check_int(shard[1], f"{name}[1]", func, min_value=1)
    i = check_int(shard[0], f"{name}[0]", func, min_value=0,
                  max_value=n - 1)
    return range(i * count // n, (i + 1) * count // n)


def renamed(**old_to_new):
    """Decorator for keyword arguments renamed in this release: the old
    spelling keeps working for one release with a ``DeprecationWarning``
    naming the new one; giving both is an error.

    Example:
        >>> @renamed(lr="learning_rate")
        ... def retrain(model, learning_rate=1e-3): ...
    """
    def wrap(fn):
        name = fn.__qualname__.removesuffix(".__init__")
        order = list(inspect.signature(fn).parameters)

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs or new in order[:len(args)]:
                    raise RenamedArgumentError(
                        f"{name}(): got both '{new}' and its old name "
                        f"'{old}'; pass only '{new}'.")
                warnings.warn(
                    f"{name}(): '{old}' is deprecated and will be "
                    f"removed in the next release; use '{new}'.",
                    DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)
        return inner
    return wrap


def check_no_kwargs(kwargs: dict, func) -> None:
    """``TypeError`` for keywords left after :func:`renamed`, as Python
    raises for an unknown keyword argument."""
    if kwargs:
        name = sorted(kwargs)[0]
        raise TypeError(f"{func}() got an unexpected keyword argument "
                        f"{name!r}")
