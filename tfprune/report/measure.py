"""Measured inference latency: what pruning buys on a real runtime.

FLOP counts give the theoretical speed-up; these functions time the model.
TensorFlow runs a traced ``tf.function`` (``training=False``) on a fixed
batch; TFLite runs the interpreter on the converted flatbuffer (or on a
``.tflite`` file). Every configuration is warmed up, then timed in rounds:
each round times every model and batch size once, in alternating order, so
two models compared side by side see the same machine load. Each timed
sample is the mean of enough calls to last ``min_repeat_s``; the tables give
the median of the samples and their interquartile range.
"""
from __future__ import annotations

import gc
import math
import os
import time

import numpy as np
import pandas as pd

from .. import _tflite
from .._keras import check_model, tf
from .._validate import check_choice, check_float, check_int, check_type
from ..errors import InvalidParameterError
from .size import gzip_size, keras_bytes, refuse_wrapped
from .tables import count_flops

__all__ = ["measure", "measure_models", "measure_speedup", "RUNTIMES",
           "MEASURE_COLUMNS"]

#: The runtimes :func:`measure` times.
RUNTIMES = ("tf", "tflite")
#: Columns of :func:`measure`.
MEASURE_COLUMNS = ("batch_size", "runtime", "latency_ms_median",
                   "latency_ms_iqr", "samples_per_s")
#: Columns :func:`add_measured` fills in the TOTAL row of ``compare``.
MEASURED_COLUMNS = ("bytes_before", "bytes_after", "gzip_bytes_before",
                    "gzip_bytes_after", "latency_ms_before",
                    "latency_ms_after", "theoretical_speedup",
                    "measured_speedup", "speedup_ratio")


# --------------------------------------------------------------- arguments

def _check_batches(batch_sizes, func):
    if isinstance(batch_sizes, (int, np.integer)):
        batch_sizes = (batch_sizes,)
    check_type(batch_sizes, (list, tuple), "batch_sizes", func,
               "a positive integer or a sequence of them")
    if not batch_sizes:
        raise InvalidParameterError(
            f"{func}(): 'batch_sizes' must name at least one batch size; "
            "got ().")
    out = []
    for i, b in enumerate(batch_sizes):
        b = check_int(int(b) if isinstance(b, np.integer) else b,
                      f"batch_sizes[{i}]", func, min_value=1)
        if b not in out:
            out.append(b)
    return out


def _check_timing(repeats, warmup, min_repeat_s, num_threads, func):
    return (check_int(repeats, "repeats", func, min_value=1),
            check_int(warmup, "warmup", func, min_value=0),
            check_float(min_repeat_s, "min_repeat_s", func, 0.0),
            check_int(num_threads, "num_threads", func, min_value=1,
                      allow_none=True))


def _is_tflite(obj) -> bool:
    if isinstance(obj, (bytes, bytearray)):
        return True
    if isinstance(obj, (str, os.PathLike)):
        return os.fspath(obj).endswith(".tflite")
    return False


def _target(obj, name, func):
    """``(kind, payload)``: ``("keras", model)`` or ``("tflite", bytes)``."""
    if _is_tflite(obj):
        if isinstance(obj, (bytes, bytearray)):
            return "tflite", bytes(obj)
        path = os.fspath(obj)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{func}(): no such TFLite file for "
                                    f"'{name}': {path!r}.")
        with open(path, "rb") as f:
            return "tflite", f.read()
    if isinstance(obj, (str, os.PathLike)):
        raise InvalidParameterError(
            f"{func}(): '{name}' is the path {os.fspath(obj)!r}; give a "
            "tp.keras model or a .tflite file (load a Keras file with "
            "tp.report.load_model first).")
    check_model(obj, name, func)
    refuse_wrapped(obj, name, func)
    for t in obj.inputs:
        if any(d is None for d in tuple(t.shape)[1:]):
            raise InvalidParameterError(
                f"{func}(): input {t.name!r} of '{name}' has shape "
                f"{tuple(t.shape)}; timing needs every dimension but the "
                "batch. Rebuild the model with a fixed input shape.")
    return "keras", obj


# ----------------------------------------------------------------- runners

def _inputs(shapes, batch, seed):
    """Standard-normal float32 inputs (the TFLite runner quantizes them for
    an integer-only model)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch,) + tuple(s)).astype(np.float32)
            for s in shapes]


def _keras_call(model, batch, seed):
    xs = _inputs([tuple(t.shape)[1:] for t in model.inputs], batch, seed)
    specs = [tf.TensorSpec((batch,) + x.shape[1:], t.dtype)
             for x, t in zip(xs, model.inputs)]
    if len(specs) == 1:
        fn = tf.function(lambda x: model(x, training=False))
    else:
        fn = tf.function(lambda *x: model(list(x), training=False))
    concrete = fn.get_concrete_function(*specs)
    # Integer inputs (token ids) get zeros: a valid index for any vocabulary.
    tensors = [tf.zeros(x.shape, t.dtype) if t.dtype.is_integer else
               tf.constant(x, t.dtype) for x, t in zip(xs, model.inputs)]

    def call():
        for t in tf.nest.flatten(concrete(*tensors)):
            t.numpy()
    return call


def _tflite_call(content, batch, seed, num_threads):
    runner = _tflite.Runner(content, batch, num_threads)
    shapes = [tuple(d["shape"])[1:] for d in runner.inputs]
    runner.set_input(_inputs(shapes, batch, seed))
    return runner.invoke


def _time_rounds(calls: dict, repeats, warmup, min_repeat_s) -> dict:
    """Per-call seconds of each callable, ``repeats`` samples each, taken in
    interleaved rounds (order reversed every other round)."""
    number = {}
    for key, call in calls.items():
        for _ in range(warmup):
            call()
        t = time.perf_counter()
        call()
        dt = time.perf_counter() - t
        number[key] = max(1, math.ceil(min_repeat_s / max(dt, 1e-9)))
    samples = {key: [] for key in calls}
    keys = list(calls)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for key in (keys if r % 2 == 0 else keys[::-1]):
                call, n = calls[key], number[key]
                t = time.perf_counter()
                for _ in range(n):
                    call()
                samples[key].append((time.perf_counter() - t) / n)
    finally:
        if enabled:
            gc.enable()
    return samples


def _row(batch, runtime, seconds):
    s = np.asarray(seconds) * 1e3
    q25, med, q75 = np.percentile(s, [25, 50, 75])
    return {"batch_size": batch, "runtime": runtime,
            "latency_ms_median": float(med),
            "latency_ms_iqr": float(q75 - q25),
            "samples_per_s": float(batch / (med / 1e3)) if med > 0
            else math.inf}


def _measure_targets(targets: dict, batches, runtime, repeats, warmup,
                     min_repeat_s, num_threads, seed) -> pd.DataFrame:
    calls, kinds = {}, {}
    for name, (kind, payload) in targets.items():
        if kind == "keras" and runtime == "tflite":
            kind, payload = "tflite", _tflite.convert(payload)
        kinds[name] = kind
        for b in batches:
            calls[(name, b)] = (_keras_call(payload, b, seed)
                                if kind == "keras" else
                                _tflite_call(payload, b, seed, num_threads))
    samples = _time_rounds(calls, repeats, warmup, min_repeat_s)
    rows = []
    for (name, b), secs in samples.items():
        kind = kinds[name]
        row = {"model": name}
        row.update(_row(b, "tf" if kind == "keras" else "tflite", secs))
        rows.append(row)
    out = pd.DataFrame(rows, columns=["model"] + list(MEASURE_COLUMNS))
    out.attrs.update(repeats=repeats, warmup=warmup,
                     min_repeat_s=min_repeat_s, num_threads=num_threads,
                     tflite_runtime=_tflite.runtime_name(),
                     tensorflow=tf.__version__,
                     cpu_count=os.cpu_count())
    return out


# ------------------------------------------------------------------ public

def measure_models(models: dict, batch_sizes=(1, 32), runtime="tf",
                   repeats=20, warmup=2, min_repeat_s=0.01, num_threads=None,
                   seed=0) -> pd.DataFrame:
    """Time several models side by side, in interleaved rounds.

    Args:
        models: ``{name: model_or_tflite}``: ``tp.keras`` models and TFLite
            flatbuffers (a ``.tflite`` path, the result of
            ``tp.export.to_tflite`` or ``bytes``).
        batch_sizes: the batch sizes to time.
        runtime: ``"tf"`` or ``"tflite"`` for the Keras models (converted to
            a float TFLite flatbuffer); TFLite files always run on TFLite.
        repeats: timed samples per model and batch size.
        warmup: untimed calls before timing (the first traces the graph).
        min_repeat_s: each sample averages enough calls to last this long.
        num_threads: TFLite interpreter threads (None: its default).
        seed: seed of the random inputs.

    Returns:
        pandas.DataFrame with columns ``model, batch_size, runtime,
        latency_ms_median, latency_ms_iqr, samples_per_s``; ``attrs`` name
        the timing settings and the TFLite runtime.

    Raises:
        TypeError: a Keras 3, subclassed or non-model entry.
        InvalidParameterError: bad settings, an input shape with unknown
            dimensions, a model that still holds pruning wrappers.
        FileNotFoundError: a missing ``.tflite`` file.
    """
    func = "measure_models"
    check_type(models, dict, "models", func, "a dict {name: model}")
    if not models:
        raise InvalidParameterError(f"{func}(): 'models' is empty.")
    targets = {str(k): _target(v, f"models[{k!r}]", func)
               for k, v in models.items()}
    batches = _check_batches(batch_sizes, func)
    check_choice(runtime, RUNTIMES, "runtime", func)
    timing = _check_timing(repeats, warmup, min_repeat_s, num_threads, func)
    seed = check_int(seed, "seed", func, min_value=0)
    return _measure_targets(targets, batches, runtime, *timing, seed)


def measure(model, batch_sizes=(1, 32), runtime="tf", repeats=20, warmup=2,
            min_repeat_s=0.01, num_threads=None, seed=0) -> pd.DataFrame:
    """Measured latency and throughput of one model per batch size.

    Example::

        tp.report.measure(model, batch_sizes=(1, 32))
        tp.report.measure("model.tflite", batch_sizes=1)

    Args:
        model: a plain (stripped) ``tp.keras`` model, or a TFLite
            flatbuffer (``.tflite`` path or ``bytes``).
        batch_sizes, runtime, repeats, warmup, min_repeat_s, num_threads,
            seed: as :func:`measure_models`.

    Returns:
        pandas.DataFrame with columns ``batch_size, runtime,
        latency_ms_median, latency_ms_iqr, samples_per_s``, one row per
        batch size (latencies in milliseconds per batch).

    Raises:
        as :func:`measure_models`.
    """
    table = measure_models({"model": model}, batch_sizes, runtime, repeats,
                           warmup, min_repeat_s, num_threads, seed)
    out = table.drop(columns="model").reset_index(drop=True)
    out.attrs.update(table.attrs)
    return out


def measure_speedup(original, pruned, batch_sizes=(1,), runtime="tf",
                    repeats=20, warmup=2, min_repeat_s=0.01,
                    num_threads=None, seed=0) -> pd.DataFrame:
    """Measured against theoretical speed-up of a pruned model.

    Both models are timed in the same interleaved rounds; the theoretical
    speed-up is the FLOP ratio (``tp.report.count_flops``).

    Args:
        original, pruned: plain ``tp.keras`` models.
        batch_sizes, runtime, ...: as :func:`measure_models`.

    Returns:
        pandas.DataFrame, one row per batch size: ``batch_size, runtime,
        latency_ms_before, latency_ms_after, latency_ms_iqr_before,
        latency_ms_iqr_after, measured_speedup, theoretical_speedup,
        speedup_ratio`` (measured / theoretical).

    Raises:
        as :func:`measure_models`.
    """
    func = "measure_speedup"
    for name, m in (("original", original), ("pruned", pruned)):
        check_model(m, name, func)
    table = measure_models({"before": original, "after": pruned},
                           batch_sizes, runtime, repeats, warmup,
                           min_repeat_s, num_threads, seed)
    theory = count_flops(original) / max(count_flops(pruned), 1)
    return _speedup_frame(table, theory)


def _speedup_frame(table, theory):
    before = table[table["model"] == "before"].set_index("batch_size")
    after = table[table["model"] == "after"].set_index("batch_size")
    out = pd.DataFrame({
        "batch_size": before.index.astype(int),
        "runtime": before["runtime"].values,
        "latency_ms_before": before["latency_ms_median"].values,
        "latency_ms_after": after["latency_ms_median"].values,
        "latency_ms_iqr_before": before["latency_ms_iqr"].values,
        "latency_ms_iqr_after": after["latency_ms_iqr"].values})
    out["measured_speedup"] = (out["latency_ms_before"] /
                               out["latency_ms_after"])
    out["theoretical_speedup"] = float(theory)
    out["speedup_ratio"] = out["measured_speedup"] / theory
    out.attrs.update(table.attrs)
    return out


def add_measured(table, original, pruned, batch_size=1, runtime="tf",
                 repeats=20, warmup=2, min_repeat_s=0.01, num_threads=None,
                 seed=0) -> pd.DataFrame:
    """``compare``'s ``measure=True`` columns, filled in its TOTAL row (NaN
    in the other rows): ``bytes_before, bytes_after, gzip_bytes_before,
    gzip_bytes_after`` (the saved files, raw and zip-compressed),
    ``latency_ms_before, latency_ms_after`` (medians at ``batch_size``),
    ``theoretical_speedup, measured_speedup`` and ``speedup_ratio``
    (measured / theoretical).

    Sizes are those of the files of ``runtime``: the HDF5 file for ``"tf"``,
    the float TFLite file for ``"tflite"``. The other options are
    :func:`measure_models`'.
    """
    func = "compare"
    check_choice(runtime, RUNTIMES, "runtime", func)
    for name, m in (("original", original), ("pruned", pruned)):
        refuse_wrapped(m, name, func)
    if runtime == "tf":
        files = [keras_bytes(original), keras_bytes(pruned)]
        models = {"before": original, "after": pruned}
    else:
        files = [_tflite.convert(original), _tflite.convert(pruned)]
        models = {"before": files[0], "after": files[1]}
    timed = measure_models(models, (batch_size,), runtime, repeats, warmup,
                           min_repeat_s, num_threads, seed)
    theory = table.attrs["speedup"]
    speed = _speedup_frame(timed, theory).iloc[0]
    out = table.copy()
    total = out.index[out["layer"] == "TOTAL"]
    values = {"bytes_before": len(files[0]), "bytes_after": len(files[1]),
              "gzip_bytes_before": gzip_size(files[0]),
              "gzip_bytes_after": gzip_size(files[1]),
              "latency_ms_before": speed["latency_ms_before"],
              "latency_ms_after": speed["latency_ms_after"],
              "theoretical_speedup": theory,
              "measured_speedup": speed["measured_speedup"],
              "speedup_ratio": speed["speedup_ratio"]}
    for col in MEASURED_COLUMNS:
        out[col] = np.nan
        out.loc[total, col] = float(values[col])
    out.attrs.update(table.attrs)
    out.attrs.update(measured_speedup=float(speed["measured_speedup"]),
                     speedup_ratio=float(speed["speedup_ratio"]),
                     runtime=runtime, timing=timed)
    return out


def measured_summary(table) -> str | None:
    """The line ``render`` prints under a ``compare`` table that has the
    measured columns (None when it has none)."""
    if "measured_speedup" not in table.columns:
        return None
    t = table[table["layer"] == "TOTAL"].iloc[0]
    runtime = table.attrs.get("runtime", "tf")
    fmt = "HDF5" if runtime == "tf" else "TFLite"
    return (f"Measured speed-up {t['measured_speedup']:.2f}x "
            f"({runtime}, batch {table.attrs.get('batch_size', 1)}: "
            f"{t['latency_ms_before']:.3g} -> {t['latency_ms_after']:.3g} ms;"
            f" {t['speedup_ratio']:.2f} of the theoretical). {fmt} file "
            f"{_mb(t['bytes_before'])} -> {_mb(t['bytes_after'])}, "
            f"compressed {_mb(t['gzip_bytes_before'])} -> "
            f"{_mb(t['gzip_bytes_after'])}.")


def _mb(n) -> str:
    n = float(n)
    if n >= 1e6:
        return f"{n / 1e6:.2f} MB"
    return f"{n / 1e3:.1f} kB"
