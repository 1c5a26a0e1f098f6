"""Quantization that keeps the pruned zeros: tfmot's pruning-preserving QAT.

Plain quantization-aware training would let pruned weights drift away from
zero; tfmot's ``Default8BitPrunePreserveQuantizeScheme`` keeps every exact
zero of a stripped sparse model while the 8-bit fake-quantized model is
fine-tuned. The result converts to an int8 TFLite file without
representative data (``tp.export.to_tflite(model, path, quantize="int8")``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._keras import check_model, compile_like, keras
from .._validate import check_dataset, check_int, check_xy
from ..errors import InvalidParameterError, UnsupportedLayerError
from ..utils import set_seed
from .wrap import is_wrapped, strip

__all__ = ["quantize_aware", "kept_sparsity"]


def _kernels(model) -> dict:
    """``{variable name: value}`` of every kernel (weights named *kernel)."""
    return {v.name: v.numpy() for v in model.weights
            if v.name.split("/")[-1].split(":")[0].endswith("kernel")}


def kept_sparsity(before, after, data=None) -> pd.DataFrame:
    """Did ``after`` keep every exact zero of ``before``'s kernels, and what
    did it cost?

    Kernels are matched by variable name (a quantization-aware model keeps
    the names of the layers it wraps).

    Args:
        before: the sparse model (stripped).
        after: the model derived from it (quantization-aware, fine-tuned).
        data: ``(x, y)``: both models are evaluated on it with ``after``'s
            compiled loss and metrics; the results are in
            ``attrs["evaluation"]`` (a frame with rows ``before``,
            ``after``).

    Returns:
        pandas.DataFrame, one row per kernel of ``before``: ``weight, size,
        zeros_before, zeros_after, kept`` (the zero fractions, and True when
        every zero of ``before`` is still exactly zero in ``after``).

    Raises:
        TypeError: either is not a tf_keras graph model.
        InvalidParameterError: a kernel of ``before`` is missing in
            ``after``, or ``data`` is given and ``after`` is not compiled.
    """
    func = "kept_sparsity"
    check_model(before, "before", func)
    check_model(after, "after", func)
    a, b = _kernels(before), _kernels(after)
    rows = []
    for name, w in a.items():
        if name not in b or b[name].shape != w.shape:
            raise InvalidParameterError(
                f"{func}(): kernel {name!r} of '{before.name}' has no "
                f"counterpart of shape {w.shape} in '{after.name}'; pass the "
                "model 'after' was made from.")
        zero = w == 0
        rows.append({"weight": name, "size": int(w.size),
                     "zeros_before": float(zero.mean()),
                     "zeros_after": float((b[name] == 0).mean()),
                     "kept": bool(np.all(b[name][zero] == 0))})
    out = pd.DataFrame(rows, columns=["weight", "size", "zeros_before",
                                      "zeros_after", "kept"])
    if data is not None:
        out.attrs["evaluation"] = _evaluate_both(before, after, data, func)
    return out


def _evaluate_both(before, after, data, func):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{func}(): 'data' must be an (x, y) pair; got "
                        f"{type(data).__name__}.")
    x, y = check_xy(data[0], data[1], "data", func)
    if getattr(after, "compiled_loss", None) is None:
        raise InvalidParameterError(
            f"{func}(): 'after' ({after.name}) is not compiled, so there is "
            "no loss to evaluate 'data' with; compile it first.")
    ref = keras.models.clone_model(before)
    ref.set_weights(before.get_weights())
    compile_like(ref, after)
    rows = [m.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)
            for m in (ref, after)]
    return pd.DataFrame(rows, index=["before", "after"])


def _apply_scheme(model, func):
    import tensorflow_model_optimization as tfmot
    q = tfmot.quantization.keras
    try:
        annotated = q.quantize_annotate_model(model)
        return q.quantize_apply(
            annotated,
            tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UnsupportedLayerError(
            f"{func}(): tfmot cannot make model '{model.name}' "
            f"quantization-aware ({first[:300]}). Its 8-bit scheme supports "
            "the built-in Dense, Conv, DepthwiseConv, BatchNormalization, "
            "pooling and activation layers.") from e


def quantize_aware(model, train=None, val=None, epochs=1, batch_size=128,
                   optimizer=None, loss=None, metrics=None, seed=0,
                   verbose=0):
    """A pruning-preserving quantization-aware copy of a sparse model.

    The copy is tfmot's 8-bit QAT model under the prune-preserving scheme:
    fine-tuning it keeps every exact zero. With ``train`` it is fine-tuned
    for ``epochs`` epochs (compiled like ``model``, with a fresh optimizer,
    unless ``loss`` is given), and a warning is raised if a zero was lost.
    Check with :func:`kept_sparsity`; export with
    ``tp.export.to_tflite(qat, "m.tflite", quantize="int8")``.

    Args:
        model: a sparse ``tp.keras`` model; tfmot pruning wrappers are
            stripped first. Not changed.
        train: ``(x, y)`` or a batched ``tf.data.Dataset`` to fine-tune on
            (None: return the untrained QAT model).
        val: validation data for the fine-tuning.
        epochs: fine-tuning epochs.
        batch_size: for ``(x, y)`` data.
        optimizer, loss, metrics: compile settings (default: those of
            ``model``).
        seed: seed of the fine-tuning.
        verbose: ``fit`` verbosity.

    Returns:
        The quantization-aware tf_keras model (compiled when ``model`` was,
        or when ``loss`` is given).

    Raises:
        TypeError: not a tf_keras graph model.
        InvalidParameterError: ``train`` without a way to compile (the
            model is not compiled and no ``loss``), bad data or epochs.
        UnsupportedLayerError: a layer tfmot's 8-bit scheme cannot wrap.
    """
    func = "quantize_aware"
    check_model(model, "model", func)
    epochs = check_int(epochs, "epochs", func, min_value=1)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    compiled = getattr(model, "compiled_loss", None) is not None
    if train is not None:
        train = check_dataset(train, "train", func, model=model)
        val = check_dataset(val, "val", func, model=model, allow_none=True)
        if loss is None and not compiled:
            raise InvalidParameterError(
                f"{func}(): fine-tuning needs a loss: compile '{model.name}' "
                "first or pass loss=... (and optimizer=...).")
    sparse = strip(model, compile=False) if is_wrapped(model) else model
    qat = _apply_scheme(sparse, func)
    if loss is not None:
        qat.compile(optimizer=optimizer or keras.optimizers.Adam(1e-4),
                    loss=loss, metrics=metrics)
    elif compiled:
        compile_like(qat, model, optimizer=optimizer)
    if train is None:
        return qat
    set_seed(seed)
    kw = {"epochs": epochs, "verbose": verbose, "validation_data": val}
    if isinstance(train, tuple):
        qat.fit(*train, batch_size=batch_size, **kw)
    else:
        qat.fit(train, **kw)
    lost = kept_sparsity(sparse, qat)
    lost = list(lost.loc[~lost["kept"], "weight"])
    if lost:
        warnings.warn(f"{func}(): pruned zeros of {', '.join(lost)} became "
                      "non-zero during fine-tuning.", RuntimeWarning,
                      stacklevel=2)
    return qat
