"""Size on disk, measured the way tfmot's pruning guide measures it.

The guide saves the stripped Keras model as HDF5 without the optimizer, and
compares the sizes of zip (deflate) archives of that file and of the TFLite
file: zeros compress, so unstructured sparsity shows up in the compressed
size, not in the raw one. ``bytes`` is the file's size, ``gzip_bytes`` the
size of that archive (made in memory, no temporary zip file).
"""
from __future__ import annotations

import io
import os
import tempfile
import zipfile

import pandas as pd

from .. import _tflite
from .._keras import check_model
from .._validate import check_choice, check_type
from ..errors import InvalidParameterError
from .rules import is_prune_wrapper
from .walk import all_layers

__all__ = ["keras_bytes", "gzip_size", "size_on_disk", "FORMATS",
           "SIZE_COLUMNS"]

#: The artifacts :func:`size_on_disk` can write.
FORMATS = ("keras", "tflite")
#: Columns of :func:`size_on_disk`.
SIZE_COLUMNS = ("format", "bytes", "gzip_bytes")


def refuse_wrapped(model, arg, func,
                   why="a deployed model has none") -> None:
    """Raise when ``model`` still holds tfmot pruning wrappers (sizes,
    latencies and profiles are those of the stripped model)."""
    wrapped = [la.name for la in all_layers(model) if is_prune_wrapper(la)]
    if wrapped:
        raise InvalidParameterError(
            f"{func}(): '{arg}' ({model.name}) holds tfmot pruning wrappers "
            f"({', '.join(wrapped[:3])}{', ...' if len(wrapped) > 3 else ''})"
            f"; {why}. Strip them first: tp.sparsity.strip(model) (or "
            "tfmot.sparsity.keras.strip_pruning(model)).")


def keras_bytes(model) -> bytes:
    """The model saved as HDF5 without its optimizer (the tfmot guide's
    ``save_model(..., include_optimizer=False)``), as bytes."""
    with tempfile.TemporaryDirectory() as tmp, _tflite.quiet():
        path = os.path.join(tmp, "model.h5")
        model.save(path, include_optimizer=False)
        with open(path, "rb") as f:
            return f.read()


def gzip_size(data) -> int:
    """Bytes of a zip (deflate) archive holding ``data``, as the tfmot guide's
    ``get_gzipped_model_size``.

    Args:
        data: the file's content (``bytes``) or its path.

    Returns:
        int.

    Raises:
        TypeError: ``data`` is neither bytes nor a path.
    """
    check_type(data, (bytes, bytearray, memoryview, str, os.PathLike), "data",
               "gzip_size", "bytes or a path")
    name = "model"
    if not isinstance(data, (bytes, bytearray, memoryview)):
        name = os.path.basename(os.fspath(data))
        with open(data, "rb") as f:
            data = f.read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, bytes(data))
    return len(buf.getvalue())


def size_on_disk(model, formats=FORMATS, sparse=False) -> pd.DataFrame:
    """Raw and compressed size of the model's deployable files.

    Nothing is written outside a temporary folder and the model is not
    changed. The TFLite file is the float one; ``tp.export.to_tflite``
    writes quantized files and reports the same two sizes for them.

    Args:
        model: a plain (stripped) Sequential/Functional ``tp.keras`` model.
        formats: any of ``"keras"`` (HDF5, no optimizer) and ``"tflite"``.
        sparse: TFLite sparse encoding of pruned weights.

    Returns:
        pandas.DataFrame with columns ``format, bytes, gzip_bytes``, one row
        per format.

    Raises:
        TypeError: not a tf_keras graph model.
        InvalidParameterError: an unknown format, or a model that still
            holds pruning wrappers.
    """
    func = "size_on_disk"
    check_model(model, "model", func)
    refuse_wrapped(model, "model", func)
    if isinstance(formats, str):
        formats = (formats,)
    formats = [check_choice(f, FORMATS, "formats", func) for f in formats]
    rows = []
    for fmt in formats:
        if fmt == "keras":
            data = keras_bytes(model)
        else:
            data = _tflite.convert(model, sparse=bool(sparse))
        rows.append({"format": fmt, "bytes": len(data),
                     "gzip_bytes": gzip_size(data)})
    return pd.DataFrame(rows, columns=list(SIZE_COLUMNS))
