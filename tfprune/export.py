"""Deployable files: TFLite export, checked against the Keras model.

``to_tflite`` strips tfmot pruning wrappers, converts (float, dynamic-range,
float16 or full-integer int8 quantization, optionally with the converter's
sparse encoding of pruned weights), writes the file atomically and runs it
once against the Keras model: a float file must match within a stated
relative tolerance; a quantized one reports how much the outputs, and the
accuracy or MSE on validation data, moved. ``deploy_table`` is what a flow
calls at its end: export, then one row per artifact with params, FLOPs, file
sizes and measured latency.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import _tflite
from ._io import atomic_write_bytes, ensure_dir
from ._keras import check_model
from ._validate import (check_choice, check_float, check_input_fits,
                        check_int, check_type, check_xy)
from .errors import InvalidParameterError

__all__ = ["to_tflite", "TFLiteExport", "deploy_table", "render_deploy",
           "QUANTIZE",
           "FLOAT_TOLERANCE", "DEPLOY_COLUMNS"]

#: The ``quantize`` values of :func:`to_tflite`.
QUANTIZE = _tflite.QUANTIZE
#: Largest relative output difference of a float export (max |TFLite -
#: Keras| over max |Keras|) that counts as a match.
FLOAT_TOLERANCE = 1e-5
#: Columns of :func:`deploy_table`.
DEPLOY_COLUMNS = ("artifact", "runtime", "params", "flops", "bytes",
                  "gzip_bytes", "latency_ms_median", "latency_ms_iqr")

_CHECK_SAMPLES = 512
_CHECK_BATCH = 64


@dataclass(frozen=True)
class TFLiteExport:
    """What :func:`to_tflite` wrote and how the file compares with Keras.

    Usable wherever a path is (``os.fspath(result)``).

    Attributes:
        path: the ``.tflite`` file.
        bytes: its size.
        gzip_bytes: the size of a zip (deflate) archive of it (tfmot's
            measure; pruned zeros compress).
        quantize: ``None``, ``"dynamic"``, ``"float16"`` or ``"int8"``.
        sparse: written with the converter's sparse encoding.
        interpreter: ``"ai_edge_litert"`` or ``"tf.lite"`` (ran the check).
        max_rel_error: max |TFLite - Keras| / max |Keras| over the check
            inputs (None when not checked).
        tolerance: the float tolerance (None for quantized files).
        matches: ``max_rel_error <= tolerance`` for float files, else None.
        metric: ``"accuracy"`` or ``"mse"`` on ``validation_data`` (None
            without it).
        metric_keras, metric_tflite: that metric for each model.
    """

    path: Path
    bytes: int
    gzip_bytes: int
    quantize: str | None
    sparse: bool
    interpreter: str
    max_rel_error: float | None = None
    tolerance: float | None = None
    matches: bool | None = None
    metric: str | None = None
    metric_keras: float | None = None
    metric_tflite: float | None = None

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def metric_change(self) -> float | None:
        """``metric_tflite - metric_keras`` (None without validation data)."""
        if self.metric is None:
            return None
        return self.metric_tflite - self.metric_keras

    def to_frame(self) -> pd.DataFrame:
        """One row with every attribute and ``metric_change``."""
        row = asdict(self)
        row["path"] = str(self.path)
        row["metric_change"] = self.metric_change
        return pd.DataFrame([row])


# --------------------------------------------------------------- arguments

def _check_path(path, func) -> Path:
    check_type(path, (str, os.PathLike), "path", func, "a str or path")
    p = Path(path).expanduser()
    if p.suffix != ".tflite":
        raise InvalidParameterError(
            f"{func}(): 'path' must be a file name ending in .tflite; got "
            f"{str(p)!r}.")
    if p.is_dir():
        raise InvalidParameterError(
            f"{func}(): 'path' {str(p)!r} is a folder; give a file name "
            "ending in .tflite.")
    ensure_dir(p.parent if str(p.parent) else ".", "path (its folder)", func)
    if p.exists() and not os.access(p, os.W_OK):
        raise InvalidParameterError(
            f"{func}(): 'path' {str(p)!r} exists and is not writable; choose "
            "a file you can write to.")
    return p


def _inputs_of(data, name, model, func):
    """The input array of ``data`` (an array, or ``(x, y)``)."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = data[0]
    x = np.asarray(data, dtype=np.float32)
    if x.ndim == 0 or len(x) == 0:
        raise InvalidParameterError(
            f"{func}(): '{name}' must be a non-empty array of model inputs "
            f"(or an (x, y) pair); got shape {x.shape}.")
    check_input_fits(model, x, name, func)
    return x


def _check_options(model, quantize, representative_data, validation_data,
                   sparse, func):
    check_choice(quantize, QUANTIZE, "quantize", func)
    if sparse and quantize in ("dynamic", "int8"):
        raise InvalidParameterError(
            f"{func}(): sparse=True with quantize={quantize!r} is refused: "
            "with TensorFlow 2.21's converter the sparse encoding of 8-bit "
            "weights gives wrong outputs (int8) or a file the interpreter "
            "cannot load (dynamic). Use sparse=True with quantize=None or "
            "'float16', or quantize without sparse (the zeros still "
            "compress).")
    if quantize == "int8" and representative_data is None and \
            not _tflite.is_quantize_aware(model):
        raise InvalidParameterError(
            f"{func}(): quantize='int8' needs representative_data: a few "
            "hundred typical inputs (an array or an (x, y) pair) to "
            "calibrate the activation ranges (a quantization-aware model "
            "from tp.sparsity.quantize_aware carries its own).")
    rep = _inputs_of(representative_data, "representative_data", model, func)
    val = None
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and
                len(validation_data) == 2):
            raise TypeError(f"{func}(): 'validation_data' must be an (x, y) "
                            f"pair; got {type(validation_data).__name__}.")
        x, y = check_xy(*validation_data, "validation_data", func)
        val = (_inputs_of(x, "validation_data", model, func), y)
    return rep, val


def _plain(model, func):
    """The model without tfmot pruning wrappers (a stripped copy)."""
    check_model(model, "model", func)
    if _tflite.is_quantize_aware(model):
        return model
    from .sparsity import is_wrapped, strip
    return strip(model, compile=False) if is_wrapped(model) else model


# ------------------------------------------------------------------- check

def _predict_tflite(content, xs, batch=_CHECK_BATCH):
    runner = _tflite.Runner(content, batch)
    n = len(xs[0])
    parts = []
    for start in range(0, n, batch):
        chunk = [x[start:start + batch] for x in xs]
        real = len(chunk[0])
        if real < batch:
            chunk = [np.concatenate([c, np.zeros((batch - real,) + c.shape[1:],
                                                 c.dtype)]) for c in chunk]
        parts.append([o[:real] for o in runner.run(chunk)])
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]


def _predict_keras(model, xs):
    out = model.predict(xs[0] if len(xs) == 1 else xs, batch_size=256,
                        verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


def _metric(y, pred):
    """``("accuracy", value)`` for class labels or one-hot targets, else
    ``("mse", value)``."""
    y = np.asarray(y)
    classes = pred.shape[-1] if pred.ndim > 1 else 1
    labels = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    one_hot = (y.ndim == 2 and y.shape == pred.shape and classes > 1 and
               np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))
    if classes > 1 and (labels or one_hot):
        truth = y if labels else y.argmax(axis=1)
        return "accuracy", float(np.mean(pred.argmax(axis=-1) == truth))
    return "mse", float(np.mean((pred.reshape(y.shape) - y) ** 2))


def _check_inputs(model, rep, val):
    if val is not None:
        return [val[0][:_CHECK_SAMPLES]]
    if rep is not None:
        return [rep[:_CHECK_SAMPLES]]
    rng = np.random.default_rng(0)
    return [rng.standard_normal((_CHECK_SAMPLES,) + tuple(t.shape)[1:])
            .astype(np.float32) for t in model.inputs]


def _compare_outputs(plain, content, quantize, rep, val, tolerance):
    if len(plain.inputs) > 1 or len(plain.outputs) > 1:
        return {}
    xs = _check_inputs(plain, rep, val)
    keras_out = _predict_keras(plain, xs)[0]
    lite_out = _predict_tflite(content, xs)[0]
    scale = max(float(np.max(np.abs(keras_out))), 1e-12)
    err = float(np.max(np.abs(lite_out - keras_out))) / scale
    out = {"max_rel_error": err}
    if quantize is None:
        out.update(tolerance=tolerance, matches=err <= tolerance)
    if val is not None:
        x, y = val
        name, k = _metric(y, _predict_keras(plain, [x])[0])
        _, t = _metric(y, _predict_tflite(content, [x])[0])
        out.update(metric=name, metric_keras=k, metric_tflite=t)
    return out


# ------------------------------------------------------------------ public

def to_tflite(model, path, quantize=None, representative_data=None,
              sparse=False, validation_data=None, check=True,
              tolerance=FLOAT_TOLERANCE, calibration_samples=200
              ) -> TFLiteExport:
    """Write ``model`` as a TFLite file, checked against the Keras model.

    tfmot pruning wrappers are stripped first (pruned weights become exact
    zeros); a quantization-aware model from ``tp.sparsity.quantize_aware``
    is converted with its learned ranges. The file is written to a
    temporary name and renamed, so ``path`` never holds half a file. The
    model is not changed.

    Example::

        out = tp.export.to_tflite(model, "model.tflite", quantize="int8",
                                  representative_data=x_train[:200],
                                  validation_data=(x_val, y_val))
        print(out.bytes, out.gzip_bytes, out.metric_change)

    Args:
        model: a Sequential/Functional ``tp.keras`` model.
        path: the file to write, ending in ``.tflite``.
        quantize: None (float32), ``"dynamic"`` (int8 weights),
            ``"float16"`` (float16 weights) or ``"int8"`` (integer-only ops
            with int8 input and output: full-integer quantization).
        representative_data: inputs (array or ``(x, y)``) that calibrate
            ``"int8"``; the first ``calibration_samples`` are used.
        sparse: let the converter store pruned weights in a sparse format
            (unstructured pruning; smaller files, sparse kernels where the
            runtime has them); float32 and float16 files only.
        validation_data: ``(x, y)``: accuracy (labels or one-hot targets) or
            MSE of both models on it is reported.
        check: run the file once against the Keras model.
        tolerance: relative tolerance of a float file (``FLOAT_TOLERANCE``);
            a larger difference warns.
        calibration_samples: how many representative inputs to use.

    Returns:
        TFLiteExport (path-like): path, sizes and the check's numbers.

    Raises:
        TypeError: a Keras 3, subclassed or non-model ``model``, or a
            ``path`` that is not a str or path.
        InvalidParameterError: an unknown ``quantize``, ``"int8"`` without
            representative data, ``sparse`` with 8-bit weights, a path that
            does not end in ``.tflite`` or cannot be written, data that does
            not fit the model.
    """
    func = "to_tflite"
    check_model(model, "model", func)
    p = _check_path(path, func)
    rep, val = _check_options(model, quantize, representative_data,
                              validation_data, sparse, func)
    tolerance = check_float(tolerance, "tolerance", func, 0.0)
    calibration_samples = check_int(calibration_samples,
                                    "calibration_samples", func, min_value=1)
    plain = _plain(model, func)
    content = _tflite.convert(plain, quantize, rep, bool(sparse),
                              calibration_samples)
    atomic_write_bytes(p, content)
    from .report import gzip_size
    checked = (_compare_outputs(plain, content, quantize, rep, val, tolerance)
               if check else {})
    result = TFLiteExport(path=p, bytes=len(content),
                          gzip_bytes=gzip_size(content), quantize=quantize,
                          sparse=bool(sparse),
                          interpreter=_tflite.runtime_name(), **checked)
    if result.matches is False:
        warnings.warn(
            f"{func}(): the TFLite file's outputs differ from the Keras "
            f"model's by {result.max_rel_error:.2e} (relative), more than "
            f"the tolerance {tolerance:.0e}.", RuntimeWarning, stacklevel=2)
    return result


def deploy_table(model, path, quantize=None, representative_data=None,
                 sparse=False, validation_data=None, reference=None,
                 batch_size=1, repeats=10, warmup=2) -> pd.DataFrame:
    """Export ``model`` to TFLite and tabulate every artifact side by side.

    What a flow calls at its end (the demo's summary, ``--export tflite``):
    rows ``reference`` (the unpruned Keras model, when given), ``keras``
    (``model``, stripped) and ``tflite`` (the written file), timed in the
    same interleaved rounds (TensorFlow for the Keras rows, the TFLite
    interpreter for the file). Sizes of Keras rows are those of their HDF5
    file without optimizer.

    Args:
        model: the model to deploy (pruned; wrappers are stripped).
        path: the ``.tflite`` file to write.
        quantize, representative_data, sparse, validation_data: as
            :func:`to_tflite`.
        reference: the original model, for a before/after table.
        batch_size: the batch the FLOPs and latencies are for.
        repeats, warmup: timing settings (``tp.report.measure``).

    Returns:
        pandas.DataFrame with columns ``artifact, runtime, params, flops,
        bytes, gzip_bytes, latency_ms_median, latency_ms_iqr``;
        ``attrs["export"]`` holds the :class:`TFLiteExport`.

    Raises:
        as :func:`to_tflite`, and for ``reference`` as ``model``.
    """
    from . import report
    func = "deploy_table"
    check_model(model, "model", func)
    if reference is not None:
        check_model(reference, "reference", func)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    exported = to_tflite(model, path, quantize, representative_data, sparse,
                         validation_data)
    plain = _plain(model, func)
    keras_rows = {"keras": plain}
    if reference is not None:
        keras_rows = {"reference": _plain(reference, func), "keras": plain}
    timed = report.measure_models(
        dict(keras_rows, tflite=exported), batch_size, "tf", repeats, warmup)
    timed = timed.set_index("model")
    rows = []
    for name, m in keras_rows.items():
        data = report.size.keras_bytes(m)
        rows.append({"artifact": name, "params": m.count_params(),
                     "flops": report.count_flops(m, batch_size),
                     "bytes": len(data), "gzip_bytes": report.gzip_size(data)})
    rows.append({"artifact": "tflite" + (f" ({quantize})" if quantize else
                                         ""),
                 "params": plain.count_params(),
                 "flops": report.count_flops(plain, batch_size),
                 "bytes": exported.bytes, "gzip_bytes": exported.gzip_bytes})
    for row, name in zip(rows, list(keras_rows) + ["tflite"]):
        row.update(runtime=timed.at[name, "runtime"],
                   latency_ms_median=timed.at[name, "latency_ms_median"],
                   latency_ms_iqr=timed.at[name, "latency_ms_iqr"])
    out = pd.DataFrame(rows, columns=list(DEPLOY_COLUMNS))
    out.attrs.update(export=exported, batch_size=batch_size,
                     **{k: v for k, v in timed.attrs.items()})
    return out


def _size(n) -> str:
    n = float(n)
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def render_deploy(table) -> str:
    """Console text of a :func:`deploy_table`: one line per artifact and the
    export check."""
    rows = [["artifact", "runtime", "params", "FLOPs", "size", "gzip size",
             "latency ms (IQR)"]]
    for r in table.itertuples(index=False):
        rows.append([r.artifact, r.runtime, f"{r.params:,}", f"{r.flops:,}",
                     _size(r.bytes), _size(r.gzip_bytes),
                     f"{r.latency_ms_median:.3g} ({r.latency_ms_iqr:.2g})"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    ex = table.attrs.get("export")
    batch = table.attrs.get("batch_size", 1)
    lines.append(f"FLOPs and latency at batch {batch}; gzip size as tfmot's "
                 "guide measures it (zip, deflate).")
    if ex is not None:
        lines.append(_check_line(ex))
    return "\n".join(lines)


def _check_line(ex) -> str:
    parts = [f"{ex.path} written ({ex.interpreter} ran the check)"]
    if ex.matches is not None:
        parts.append(f"outputs {'match' if ex.matches else 'DO NOT match'} "
                     f"Keras: max relative difference {ex.max_rel_error:.1e}"
                     f" (tolerance {ex.tolerance:.0e})")
    elif ex.max_rel_error is not None:
        parts.append(f"max relative output difference {ex.max_rel_error:.2g}")
    if ex.metric is not None:
        parts.append(f"{ex.metric} {ex.metric_keras:.4g} (Keras) -> "
                     f"{ex.metric_tflite:.4g} (TFLite), change "
                     f"{ex.metric_change:+.2g}")
    return "; ".join(parts) + "."
