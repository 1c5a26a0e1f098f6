"""Atomic writes and resumable run folders for long jobs.

Every long run (sequential pruning, sensitivity sweeps, Monte Carlo, data
generation) writes through these helpers: a file is written to a temporary
name in the same folder and renamed into place, so a crash never leaves a
half-written result, and a run folder carries a ``manifest.json`` of the
parameters so that a resume with other parameters is refused.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InvalidParameterError, ResumeMismatchError

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json", "atomic_write_csv", "atomic_save_npz",
           "atomic_save_model", "read_json", "ensure_dir", "RunDir"]


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
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


def _json_default(o):
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
        path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


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


def _normalise(obj):
    return json.loads(json.dumps(obj, sort_keys=True, default=_json_default))


class RunDir:
    """A resumable run folder: ``manifest.json`` holds the run's parameters.

    Opening a folder that already has a manifest with different parameters
    raises ``ResumeMismatchError`` naming the first differing key, so a resume
    never mixes two runs. ``done``/``mark_done`` record finished units of work
    (levels, layers, chunks) in ``progress.json``.
    """

    def __init__(self, path, params: dict, kind: str, func=None):
        self.path = ensure_dir(path, "run_dir", func)
        self.kind = kind
        manifest = {"kind": kind, "params": _normalise(params)}
        mpath = self.path / "manifest.json"
        if mpath.exists():
            old = read_json(mpath)
            if old != manifest:
                diff = _first_difference(old, manifest)
                raise ResumeMismatchError(
                    f"{func + '(): ' if func else ''}run folder "
                    f"{str(self.path)!r} holds a {old.get('kind')!r} run with "
                    f"other parameters ({diff}); use a new folder or the "
                    "original parameters to resume.")
        else:
            atomic_write_json(mpath, manifest)
        self.params = manifest["params"]

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.json"

    def done(self) -> list:
        if self.progress_path.exists():
            return read_json(self.progress_path)["done"]
        return []

    def mark_done(self, key) -> None:
        done = self.done()
        if key not in done:
            done.append(key)
        atomic_write_json(self.progress_path, {"done": done})

    def file(self, name: str) -> Path:
        return self.path / name


def _first_difference(a, b, prefix=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k),
                                         f"{prefix}{k}.")
    return f"{prefix.rstrip('.')}: {a!r} != {b!r}"
