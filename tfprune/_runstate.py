"""Run state of every long, resumable run: one manifest, one fingerprint, one
commit point per finished unit.

A run folder holds

* ``manifest.json``: the run kind and its parameters (argument names as the
  user wrote them, data, models and callables as fingerprints). Opening a
  folder with other parameters raises :class:`ResumeMismatchError` naming
  every differing argument.
* ``units/<key>.json``: one *commit record* per finished unit of work (a
  level, a layer, a chunk, a seed), written atomically **after** the unit's
  files. It names those files with their SHA-256 checksums and carries the
  unit's small state (history rows, callback state). A unit without a record
  did not happen: a crash before the record is written redoes that unit, a
  crash after it loses nothing. Records are one file per unit, so processes
  that share a folder (shards) never overwrite each other's progress.

Resuming reads weights, state and history from the same committed unit, and
every file is checked against its recorded checksum when it is read back: a
damaged or truncated file is a :class:`RunStateError` naming the file and the
fix, never a raw ``JSONDecodeError``/``BadZipFile`` and never a silent
resume.

What :func:`fingerprint` hashes:

* numpy arrays (and lists/tuples/dicts of them): dtype, shape and every byte;
* a ``tf.data.Dataset``: its ``element_spec``, its cardinality and the first
  :data:`DATASET_ELEMENTS` elements, read twice; a dataset whose leading
  elements differ between two reads (unseeded shuffling or augmentation), or
  that cannot be read, is refused: pass ``(x, y)`` arrays or give the data a
  name with :func:`named`;
* a tf_keras model: its architecture (``to_json``) and weights;
* a callable (``build_fn``, ``compile_fn``, ``evaluate_fn``): its qualified
  name, a hash of its source code (its bytecode when there is no source),
  its default arguments and the values its closure captured (a changed
  learning rate inside a ``compile_fn`` is seen); ``functools.partial``
  objects add their bound arguments;
* a Keras loss, metric, optimizer or any object with ``get_config``: its
  class and configuration;
* anything else JSON can hold: its JSON text.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import re
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np

from ._io import (atomic_write_json, ensure_dir, json_default, read_json)
from .errors import InvalidParameterError, ResumeMismatchError, RunStateError

__all__ = ["FORMAT", "DATASET_ELEMENTS", "fingerprint", "named",
           "compile_fingerprint", "file_checksum", "RunConfig", "Unit",
           "RunDir"]

FORMAT = 2
DATASET_ELEMENTS = 8

_NAMES: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()
_NAMES_BY_ID: dict[int, str] = {}


# --------------------------------------------------------------------------
# fingerprints

def named(data, name: str):
    """Give ``data`` (e.g. a ``tf.data.Dataset``) a name that stands for its
    content in run manifests, instead of a content hash. Returns ``data``
    itself. Use a name that changes whenever the data changes
    (``"imagenet-train-v2"``)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"named(): 'name' must be a non-empty string; got {name!r}.")
    try:
        _NAMES[data] = name
    except TypeError:  # not weak-referenceable
        _NAMES_BY_ID[id(data)] = name
    return data


def _name_of(obj):
    try:
        if obj in _NAMES:
            return _NAMES[obj]
    except TypeError:
        pass
    return _NAMES_BY_ID.get(id(obj))


def _hash_array(h, a) -> None:
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    if a.dtype == object:
        h.update(repr(a.tolist()).encode())
    else:
        h.update(a.data)


def _is_dataset(obj) -> bool:
    return hasattr(obj, "element_spec") and hasattr(obj, "take")


def _is_model(obj) -> bool:
    return hasattr(obj, "get_weights") and hasattr(obj, "layers")


def _dataset_digest(ds, name, func):
    import tensorflow as tf

    def leading():
        h = hashlib.sha256()
        for element in ds.take(DATASET_ELEMENTS):
            for t in tf.nest.flatten(element):
                _hash_array(h, np.asarray(t))
        return h.hexdigest()

    fix = (f"pass '{name}' as (x, y) numpy arrays, or name the dataset with "
           f"tp.data.named(dataset, 'my-data-v1') so that the run folder "
           "records the name instead of the content")
    where = f"{func}(): " if func else ""
    try:
        first, second = leading(), leading()
    except Exception as e:  # noqa: BLE001 - any failure means: unreadable
        raise InvalidParameterError(
            f"{where}'{name}' is a tf.data.Dataset that cannot be read to "
            f"fingerprint it for run_dir ({type(e).__name__}: {e}); {fix}."
        ) from e
    if first != second:
        raise InvalidParameterError(
            f"{where}'{name}' is a tf.data.Dataset whose first elements "
            "change from one read to the next (unseeded shuffling or random "
            f"augmentation), so a resumed run could not tell whether it is "
            f"the same data; {fix}, or seed its shuffling.")
    card = int(ds.cardinality().numpy())
    return {"element_spec": repr(ds.element_spec), "cardinality": card,
            "leading": first}


def _callable_digest(fn) -> dict:
    if isinstance(fn, functools.partial):
        return {"partial": _callable_digest(fn.func),
                "args": [fingerprint(a) for a in fn.args],
                "kwargs": {k: fingerprint(v)
                           for k, v in sorted(fn.keywords.items())}}
    target = getattr(fn, "__func__", fn)
    if not (inspect.isfunction(target) or inspect.isclass(target)
            or inspect.ismethod(target)):
        target = type(fn)
    qual = f"{getattr(target, '__module__', '?')}." \
           f"{getattr(target, '__qualname__', type(target).__name__)}"
    try:
        code = inspect.getsource(target).encode()
    except (OSError, TypeError):
        co = getattr(target, "__code__", None)
        code = (co.co_code + repr(co.co_consts).encode()
                if co is not None else qual.encode())
    out = {"callable": qual, "code": hashlib.sha256(code).hexdigest()[:16]}
    bound = _bound_values(target)
    if bound:
        out["values"] = bound
    return out


def _bound_values(fn) -> dict:
    """Default arguments and the values a closure captured: a changed
    learning rate inside a ``compile_fn`` changes the fingerprint."""
    out = {}
    if getattr(fn, "__defaults__", None):
        out["defaults"] = [_value(v) for v in fn.__defaults__]
    if getattr(fn, "__kwdefaults__", None):
        out["kwdefaults"] = {k: _value(v)
                             for k, v in sorted(fn.__kwdefaults__.items())}
    cells = getattr(fn, "__closure__", None) or ()
    names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
    captured = {}
    for name, cell in zip(names, cells):
        try:
            captured[name] = _value(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    if captured:
        out["closure"] = captured
    return out


def _value(v):
    """A captured value's fingerprint; modules and opaque objects by type."""
    if inspect.ismodule(v):
        return f"module {v.__name__}"
    if isinstance(v, (bool, int, float, str, type(None), np.ndarray, list,
                      tuple, dict, Path)) or hasattr(v, "get_config") or \
            callable(v) or _is_dataset(v):
        try:
            return fingerprint(v)
        except Exception:  # noqa: BLE001 - unreadable: by type only
            pass
    return type(v).__qualname__


def fingerprint(obj, name: str = "data", func: str | None = None):
    """A JSON-able fingerprint of ``obj`` for a run manifest (see the module
    docstring for what is hashed). Equal content gives an equal
    fingerprint in every process.

    Raises:
        InvalidParameterError: for a ``tf.data.Dataset`` that cannot be
            fingerprinted (the message says how to pass arrays or a name).
    """
    label = _name_of(obj)
    if label is not None:
        return {"name": label}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        h = hashlib.sha256()
        _hash_array(h, obj)
        return {"array": h.hexdigest()[:24]}
    if _is_dataset(obj):
        return {"dataset": _dataset_digest(obj, name, func)}
    if _is_model(obj):
        h = hashlib.sha256()
        try:
            h.update(obj.to_json().encode())
        except Exception:  # noqa: BLE001 - custom layers without a config
            h.update(repr([(type(layer).__name__, layer.name)
                           for layer in obj.layers]).encode())
        for w in obj.get_weights():
            _hash_array(h, w)
        return {"model": h.hexdigest()[:24]}
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(a, np.ndarray) or hasattr(a, "__array__")
                       for a in obj):
            h = hashlib.sha256()
            for a in obj:
                _hash_array(h, np.asarray(a))
            return {"arrays": h.hexdigest()[:24], "n": len(obj)}
        return [fingerprint(o, name, func) for o in obj]
    if isinstance(obj, dict):
        return {str(k): fingerprint(v, f"{name}[{k!r}]", func)
                for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "get_config") and not inspect.isclass(obj) \
            and not inspect.isroutine(obj):
        try:
            return {"config": _normalise(obj.get_config()),
                    "class": type(obj).__qualname__}
        except Exception:  # noqa: BLE001 - a config that is not JSON
            pass
    if callable(obj):
        return _callable_digest(obj)
    if dataclasses.is_dataclass(obj):
        return _normalise(dataclasses.asdict(obj))
    if hasattr(obj, "__array__"):
        return fingerprint(np.asarray(obj), name, func)
    return repr(obj)


def compile_fingerprint(model) -> dict:
    """What ``model`` was compiled with (optimizer, loss, metrics, loss
    weights, each by class and configuration) for a run manifest; empty for
    a model that was never compiled."""
    from ._keras import compile_args
    args = compile_args(model)
    return fingerprint({k: args[k] for k in (
        "optimizer", "loss", "metrics", "weighted_metrics", "loss_weights")
        if k in args})


def file_checksum(path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _normalise(obj):
    return json.loads(json.dumps(obj, sort_keys=True, default=json_default))


# --------------------------------------------------------------------------
# configs

@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Base of the frozen parameter set of one run kind.

    A subclass declares the run's parameters as fields (validated in
    ``__post_init__``), names the run kind in ``KIND`` and, where a field is
    derived from what the user typed, maps it to the user's term in
    ``LABELS``. ``manifest()`` is what the run folder stores.
    """

    KIND: ClassVar[str] = "run"
    LABELS: ClassVar[dict] = {}

    def _set(self, **values) -> None:
        """Store normalised values from ``__post_init__`` (the dataclass
        is frozen)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def manifest(self) -> dict:
        return _normalise({f.name: getattr(self, f.name)
                           for f in dataclasses.fields(self)})

    def open(self, run_dir, func: str | None = None, **fingerprints
             ) -> "RunDir":
        """Open (or create) ``run_dir`` for this configuration; keyword
        arguments are the run's fingerprinted inputs (data, model, ...)."""
        params = dict(self.manifest())
        params.update(_normalise(fingerprints))
        return RunDir(run_dir, params, self.KIND, func, labels=self.LABELS)

    @classmethod
    def from_folder(cls, path, func: str | None = None,
                    writer: str | None = None) -> tuple:
        """``(config, RunDir)`` of an existing run folder, opened with the
        parameters (and fingerprints) it records: for loaders, which read a
        folder without parameters of their own.

        Raises:
            InvalidParameterError: ``path`` holds no run of this kind
                (``writer`` names what writes one, for the message).
            RunStateError: its manifest is damaged.
        """
        where = f"{func}(): " if func else ""
        fix = f"give a folder written by {writer or cls.KIND}"
        mpath = Path(path) / "manifest.json"
        if not mpath.exists():
            raise InvalidParameterError(
                f"{where}{str(path)!r} has no manifest.json; {fix}.")
        try:
            manifest = read_json(mpath)
            kind, params = manifest.get("kind"), manifest["params"]
            if kind == cls.KIND:
                config = cls(**{f.name: params[f.name]
                                for f in dataclasses.fields(cls)})
        except (OSError, ValueError, KeyError, TypeError,
                AttributeError) as e:
            raise RunStateError(
                f"{where}run folder {str(path)!r}: manifest.json is damaged "
                f"({type(e).__name__}: {e}); move the folder away and run "
                "again.") from e
        if kind != cls.KIND:
            raise InvalidParameterError(
                f"{where}{str(path)!r} holds a {kind!r} run, not a "
                f"{cls.KIND!r} run; {fix}.")
        return config, RunDir(path, params, cls.KIND, func,
                              labels=cls.LABELS)


# --------------------------------------------------------------------------
# run folders

@dataclasses.dataclass(frozen=True)
class Unit:
    """One committed unit: its key, its files (name -> SHA-256) and its
    state (a JSON dict)."""

    key: Any
    files: dict
    state: dict


def _key_sort(key):
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def _record_name(key) -> str:
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise TypeError(f"a unit key must be an int or a str; got {key!r}")
    text = f"{key:06d}" if isinstance(key, int) else \
        "s-" + re.sub(r"[^A-Za-z0-9._-]", lambda m: f"%{ord(m.group()):02x}",
                      key)
    return text + ".json"


def _differences(old: dict, new: dict, prefix="") -> list:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and not (
                set(a) & {"array", "arrays", "model", "dataset", "code"}):
            out.extend(_differences(a, b, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", a, b))
    return out


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class RunDir:
    """A resumable run folder (see the module docstring).

    Args:
        path: the folder (created if needed).
        params: the run's parameters and fingerprints (JSON-able).
        kind: the run kind (``"sequential_prune"``, ...).
        func: the public function, for error messages.
        labels: ``{parameter: user term}`` for parameters whose name in the
            manifest is not the name the user typed.
        chief: False on the non-chief workers of a multi-worker run: they
            read the committed units of ``path`` (a shared folder) but write
            nothing there; their unit files go to a private temporary folder
            that is deleted with this object, and ``commit`` records nothing
            (as TensorFlow's multi-worker guide prescribes for checkpoints).

    Raises:
        ResumeMismatchError: the folder holds a run of another kind or with
            other parameters (every differing parameter is named, in the
            user's terms; ``.differences`` holds ``(key, folder, now)``).
        RunStateError: a damaged manifest.
    """

    def __init__(self, path, params: dict, kind: str, func=None, *,
                 labels: dict | None = None, chief: bool = True):
        self.func = func
        self.chief = bool(chief)
        self.path = ensure_dir(path, "run_dir", func) if chief else Path(path)
        self._out = self.path
        if not chief:
            self._out = Path(tempfile.mkdtemp(prefix="tfprune-worker-"))
            weakref.finalize(self, shutil.rmtree, str(self._out), True)
        self.kind = kind
        self.labels = dict(labels or {})
        self.params = _normalise(params)
        manifest = {"format": FORMAT, "kind": kind, "params": self.params}
        mpath = self.path / "manifest.json"
        if mpath.exists():
            self._check(self._json(mpath, what="manifest"), manifest)
        elif chief:
            atomic_write_json(mpath, manifest)
        if chief:
            (self.path / "units").mkdir(exist_ok=True)

    # -- errors -------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.func}(): " if self.func else ""

    def _damaged(self, name, why, fix=None) -> RunStateError:
        fix = fix or ("delete that file to redo its unit (or delete the "
                      "whole folder to start over), then run again")
        return RunStateError(
            f"{self._where()}run folder {str(self.path)!r}: {name} is "
            f"damaged ({why}); {fix}.")

    def _json(self, path: Path, what: str):
        try:
            return read_json(path)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            fix = ("delete the folder (or move it away) and run again"
                   if what == "manifest" else None)
            raise self._damaged(str(path.relative_to(self.path)),
                                f"{type(e).__name__}: {e}", fix) from e

    def _check(self, old, manifest) -> None:
        if not isinstance(old, dict) or "params" not in old:
            raise self._damaged("manifest.json", "not a tfprune manifest",
                                "use a new folder")
        if old.get("format") != FORMAT:
            raise ResumeMismatchError(
                f"{self._where()}run folder {str(self.path)!r} was written "
                "by another version of tfprune (run-folder format "
                f"{old.get('format', 1)}, this version writes {FORMAT}); use "
                "a new folder.")
        if old.get("kind") != manifest["kind"]:
            raise ResumeMismatchError(
                f"{self._where()}run folder {str(self.path)!r} holds a "
                f"{old.get('kind')!r} run, not a {manifest['kind']!r} run; "
                "use a new folder.")
        diffs = [(self.labels.get(k, self.labels.get(k.split(".")[0], k)),
                  a, b) for k, a, b in
                 _differences(old["params"], manifest["params"])]
        if diffs:
            text = "; ".join(f"{k}: {_short(a)} in the folder, {_short(b)} "
                             "now" for k, a, b in diffs)
            err = ResumeMismatchError(
                f"{self._where()}run folder {str(self.path)!r} holds a run "
                f"with other parameters ({text}); resume with the folder's "
                "parameters or use a new folder.")
            err.differences = diffs
            raise err

    # -- units --------------------------------------------------------------
    def file(self, name: str) -> Path:
        """Where this process writes the file ``name`` (the run folder; a
        private temporary folder on a non-chief worker)."""
        return self._out / name

    def _record_path(self, key) -> Path:
        return self.path / "units" / _record_name(key)

    def committed(self) -> list[Unit]:
        """Every committed unit, in key order (ints numerically)."""
        units = []
        for p in sorted((self.path / "units").glob("*.json")):
            rec = self._json(p, what="record")
            if not isinstance(rec, dict) or not {"key", "files",
                                                 "state"} <= set(rec):
                raise self._damaged(f"units/{p.name}", "not a commit record")
            units.append(Unit(rec["key"], rec["files"], rec["state"]))
        return sorted(units, key=lambda u: _key_sort(u.key))

    def keys(self) -> list:
        return [u.key for u in self.committed()]

    def has(self, key) -> bool:
        return self._record_path(key).exists()

    def unit(self, key) -> Unit:
        path = self._record_path(key)
        if not path.exists():
            raise KeyError(key)
        rec = self._json(path, what="record")
        return Unit(rec["key"], rec["files"], rec["state"])

    def last(self) -> Unit | None:
        units = self.committed()
        return units[-1] if units else None

    def commit(self, key, files: Iterable[str] = (), state: dict | None =
               None, drop: Iterable[str] = ()) -> Unit:
        """Record ``key`` as finished. Call it after the unit's ``files``
        (names in this folder) are written; their checksums are taken now.
        ``drop`` names files of earlier units that are no longer needed;
        they are deleted after the record is written."""
        sums = {}
        for name in files:
            path = self.file(name)
            if not path.exists():
                raise RuntimeError(f"commit({key!r}): {name} was not written")
            sums[name] = file_checksum(path)
        unit = Unit(key, sums, _normalise(state or {}))
        if not self.chief:
            return unit
        atomic_write_json(self._record_path(key), dataclasses.asdict(unit))
        for name in drop:
            if name not in sums:
                self.file(name).unlink(missing_ok=True)
        return unit

    def verify(self, unit: Unit, name: str) -> Path:
        """The path of ``unit``'s file ``name`` after checking it against
        its recorded checksum."""
        path = self.path / name
        if name not in unit.files:
            raise self._damaged(name, f"unit {unit.key!r} does not name it")
        if not path.exists():
            raise self._damaged(name, "the file is missing",
                                f"delete units/{_record_name(unit.key)} to "
                                "redo that unit, then run again")
        if file_checksum(path) != unit.files[name]:
            raise self._damaged(
                name, "its content does not match the checksum recorded "
                "when it was written", f"delete it and units/"
                f"{_record_name(unit.key)} to redo that unit, then run "
                "again")
        return path

    def load_npz(self, unit: Unit, name: str) -> dict:
        """``{array name: array}`` of a committed ``.npz`` file, verified."""
        path = self.verify(unit, name)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as e:  # noqa: BLE001 - BadZipFile, ValueError, ...
            raise self._damaged(name, f"{type(e).__name__}: {e}") from e

    # -- compatibility with the format-1 helpers ---------------------------
    def done(self) -> list:
        return self.keys()

    def mark_done(self, key) -> None:
        self.commit(key)
