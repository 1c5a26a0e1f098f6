"""Atomic writes for long jobs and their artifacts.

Every file tfprune writes goes through these helpers: it is written to a
temporary name in the same folder, flushed to disk and renamed into place, so
a crash never leaves a half-written result. Run folders (manifests, commit
records) are built on them in :mod:`tfprune._runstate`.
"""
from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InvalidParameterError

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json", "atomic_write_csv", "atomic_save_npz",
           "atomic_save_model", "save_figure", "read_json", "ensure_dir",
           "json_default"]


def ensure_dir(path, name="out_dir", func=None) -> Path:
    """Create ``path`` if needed and check it is writable, with a clear error."""
    p = Path(path).expanduser()
    where = f"{func}(): " if func else ""
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidParameterError(
            f"{where}cannot create '{name}' folder {str(p)!r} ({e.strerror}); "
            "choose a folder you can write to.") from e
    if not p.is_dir():
        raise InvalidParameterError(
            f"{where}'{name}' {str(p)!r} exists and is not a folder.")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InvalidParameterError(
            f"{where}'{name}' folder {str(p)!r} is not writable; choose a "
            "folder you can write to.")
    return p


def _open_temp(path: Path):
    """A new temporary file beside ``path``, created with mode 0o666 so that
    the process umask applies (as for a plain ``open``), without touching
    the umask itself (which is process-wide and not thread-safe)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), \
                str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def atomic_write(path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data), "wb")


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_default(o):
    """JSON encoder fallback for numpy scalars and arrays and paths."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(
        path, json.dumps(obj, indent=2, sort_keys=True, default=json_default))


def read_json(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def atomic_write_csv(path, frame, index: bool = False) -> Path:
    buf = io.StringIO()
    frame.to_csv(buf, index=index)
    return atomic_write_text(path, buf.getvalue())


def atomic_save_npz(path, **arrays) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_save_model(path, model) -> Path:
    """``model.save`` to a temp file beside ``path`` (same format, from the
    suffix: ``.keras`` or ``.h5``), then rename: never a half-written file."""
    path = Path(path)
    if path.suffix not in (".keras", ".h5"):
        raise InvalidParameterError(
            f"cannot save a model to {str(path)!r}: give a file name ending "
            "in .keras (or .h5).")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return path


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Save a matplotlib ``Figure`` atomically; the format follows the
    suffix (``.png``, ``.pdf``, ``.svg``)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())
