"""Simulations on disk: chunked, resumable, shardable and verifiable.

A folder written by :func:`simulate_to_disk` holds

* ``manifest.json``: the :class:`SimulationConfig` (number of flights, seed,
  chunk size, integrator, tolerance, model parameters, sampling ranges);
* ``chunk_XXXXXX.npz``: rows ``[c * chunk_size, (c + 1) * chunk_size)`` of
  ``simulate(n, seed, ...)`` before duplicate removal. The bytes are a
  function of the rows only (no time stamps), so the same rows always give
  the same file;
* ``units/XXXXXX.json``: the commit record of chunk ``c``, written after its
  file: the file's SHA-256, its rows, a digest of its content, how many of
  its flights did not converge and the host and numpy version that computed
  it. A chunk without a record is recomputed on resume;
* ``units/s-shard-I-of-N.json``: written when shard ``I`` of ``N`` starts,
  naming the chunks it owns (used to say which shards are unfinished).

Shards (``shard=(i, N)``) compute disjoint, contiguous shares of the chunks
into one shared folder; each writes only its own chunk files and records, so
any number of processes or machines can fill one folder at once.
"""
from __future__ import annotations

import dataclasses
import io
import os
import platform
import warnings
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..._io import atomic_write_bytes
from ..._runstate import RunConfig, RunDir, fingerprint
from ..._validate import check_int, check_shard
from ...errors import InvalidParameterError, RunStateError
from ...utils import progress_bar
from ._model import MothParams
from ._pool import worker_pool
from .sampling import (DEFAULT_RANGES, DEFAULT_RTOL, SAMPLE_BLOCK, T_END,
                       check_ranges, common_checks, params_from)
from .simulate import (METHODS, auto_method, drop_duplicate_controls,
                       simulate_rows)

__all__ = ["SimulationConfig", "SimulationCheck", "simulate_to_disk",
           "resume_simulations", "load_simulations", "verify_simulations"]

_CHUNK = "chunk_{:06d}.npz"


def chunk_name(c: int) -> str:
    """File name of chunk ``c``."""
    return _CHUNK.format(c)


@dataclasses.dataclass(frozen=True)
class SimulationConfig(RunConfig):
    """The parameters of a simulation folder (its manifest).

    ``method`` is the integrator actually used (``"auto"`` resolved);
    ``params`` holds the :class:`MothParams` fields other than ``s``;
    ``ranges`` every sampling range as ``[low, high]``.
    """

    KIND: ClassVar[str] = "moth_simulations"
    LABELS: ClassVar[dict] = {f"ranges.{k}": k for k in DEFAULT_RANGES}

    n: int
    seed: int
    chunk_size: int
    t_end: float
    rtol: float
    method: str
    s: float
    params: dict
    ranges: dict
    sample_block: int = SAMPLE_BLOCK

    @classmethod
    def build(cls, n, seed=0, chunk_size=50_000, *, s=1.0, params=None,
              t_end=T_END, method="auto", rtol=DEFAULT_RTOL, ranges=None,
              func="SimulationConfig") -> "SimulationConfig":
        """A validated configuration from the arguments of
        :func:`simulate_to_disk`."""
        n, seed, t_end, rtol = common_checks(n, seed, t_end, rtol, method,
                                             METHODS, func)
        chunk_size = check_int(chunk_size, "chunk_size", func, min_value=1)
        full = check_ranges(ranges or {}, func)
        model = params_from(s, params, func)
        if method == "auto":
            method = auto_method(model, rtol, t_end)
        fields = model.to_dict()
        return cls(n, seed, chunk_size, t_end, rtol, method,
                   float(fields.pop("s")), fields,
                   {k: [float(lo), float(hi)] for k, (lo, hi) in full.items()})

    @classmethod
    def load(cls, path, func=None) -> tuple:
        """``(config, RunDir)`` of the simulation folder ``path``.

        Raises:
            InvalidParameterError: ``path`` is not a simulation folder.
            RunStateError: its manifest is damaged.
        """
        return cls.from_folder(path, func, "simulate_to_disk() / tfprune "
                               "moth simulate")

    @property
    def n_chunks(self) -> int:
        return -(-self.n // self.chunk_size)

    def rows(self, chunk: int) -> tuple[int, int]:
        """The rows ``[start, stop)`` of ``chunk``."""
        return (chunk * self.chunk_size,
                min((chunk + 1) * self.chunk_size, self.n))

    def model(self) -> MothParams:
        return MothParams(s=self.s, **self.params)


def _npz_bytes(columns: dict) -> bytes:
    """An ``.npz`` archive whose bytes depend on the arrays only."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, a in columns.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0,
                                                              0, 0))
            with z.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a),
                                          allow_pickle=False)
    return buf.getvalue()


def _digest(columns: dict) -> str:
    """A digest of a chunk's content (column names, dtypes, shapes, bytes)."""
    arrays = [np.asarray(list(columns))] + [np.asarray(v)
                                            for v in columns.values()]
    return fingerprint(arrays)["arrays"]


def _columns(cfg: SimulationConfig, chunk: int) -> dict:
    start, stop = cfg.rows(chunk)
    df = simulate_rows(start, stop, cfg.seed, cfg.ranges, cfg.model(),
                       cfg.rtol, cfg.t_end, cfg.method)
    return {c: df[c].to_numpy() for c in df.columns}


def _run_chunk(job):
    cfg, chunk, folder = job
    cols = _columns(cfg, chunk)
    atomic_write_bytes(Path(folder) / chunk_name(chunk), _npz_bytes(cols))
    return chunk, int((~cols["converged"]).sum()), _digest(cols)


def _recompute(job):
    cfg, chunk = job
    return chunk, _digest(_columns(cfg, chunk))


def _map(fn, jobs, workers):
    """``fn`` over ``jobs``, results as they finish; in this process when
    ``workers == 1``, else in worker processes that die with this one."""
    if workers == 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    from concurrent.futures import as_completed
    ex = worker_pool(min(workers, len(jobs)))
    try:
        for fut in as_completed([ex.submit(fn, j) for j in jobs]):
            yield fut.result()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _shard_key(i: int, n: int) -> str:
    return f"shard-{i}-of-{n}"


def _spans(chunks) -> str:
    """``chunk_000001.npz``, ``chunk_000003.npz .. chunk_000007.npz``, ..."""
    out, chunks = [], sorted(chunks)
    while chunks:
        lo = hi = chunks.pop(0)
        while chunks and chunks[0] == hi + 1:
            hi = chunks.pop(0)
        out.append(chunk_name(lo) if lo == hi else
                   f"{chunk_name(lo)} .. {chunk_name(hi)}")
    return ", ".join(out[:6]) + (", ..." if len(out) > 6 else "")


def _missing_text(rd: RunDir, cfg: SimulationConfig, missing) -> str:
    gone = set(missing)
    counts = sorted({int(u.key.split("-")[-1]) for u in rd.committed()
                     if isinstance(u.key, str) and u.key.startswith("shard-")})
    hint = ""
    for n in counts:
        open_ = [f"{i}/{n}" for i in range(n)
                 if gone & set(check_shard((i, n), cfg.n_chunks))]
        hint += (f"; unfinished with --shard i/{n} (shard=(i, {n})): "
                 + ", ".join(open_))
    return (f"{len(missing)} of {cfg.n_chunks} chunks are missing "
            f"({_spans(missing)}){hint}. Run simulate_to_disk() / tfprune "
            "moth simulate again with the same arguments (and the same "
            "shard for each unfinished shard) to finish the folder")


def _open(path, func) -> tuple[SimulationConfig, RunDir]:
    return SimulationConfig.load(path, func)


def _verified(rd: RunDir, chunk: int) -> Path:
    return rd.verify(rd.unit(chunk), chunk_name(chunk))


def _commit(rd: RunDir, cfg: SimulationConfig, chunk, failed, digest):
    # Shards may start at once on an empty folder; if another process wrote
    # a manifest with other parameters meanwhile, this refuses to commit.
    RunDir(rd.path, rd.params, rd.kind, rd.func, labels=rd.labels)
    rd.commit(chunk, files=[chunk_name(chunk)],
              state={"rows": list(cfg.rows(chunk)), "failed": failed,
                     "digest": digest, "host": platform.node(),
                     "numpy": np.__version__})


def _simulate_share(cfg, rd, share, workers, progress) -> int:
    """Compute the chunks of ``share`` that have no commit record (the
    committed ones are checked against their checksums first); returns how
    many flights of the share did not converge."""
    todo = []
    for c in share:
        if rd.has(c):
            _verified(rd, c)
        else:
            todo.append(c)
    bar = progress_bar(progress and bool(todo), len(share),
                       initial=len(share) - len(todo), desc="moth simulate",
                       unit="chunk")
    try:
        jobs = [(cfg, c, str(rd.path)) for c in todo]
        for chunk, failed, digest in _map(_run_chunk, jobs, workers):
            _commit(rd, cfg, chunk, failed, digest)
            bar.update(1)
    finally:
        bar.close()
    return sum(int(rd.unit(c).state["failed"]) for c in share)


def _run(cfg, out_dir, workers, progress, shard, func) -> Path:
    share = check_shard(shard, cfg.n_chunks, "shard", func)
    workers = check_int(workers, "workers", func, min_value=1,
                        allow_none=True) or os.cpu_count() or 1
    rd = cfg.open(out_dir, func)
    if shard is not None and not rd.has(_shard_key(*shard)):
        rd.commit(_shard_key(*shard), state={"chunks": [share.start,
                                                        share.stop]})
    failed = _simulate_share(cfg, rd, share, workers, progress)
    if failed:
        warnings.warn(f"{func}(): {failed} simulations did not converge; "
                      "they are flagged in the 'converged' column.",
                      RuntimeWarning, stacklevel=3)
    return rd.path


def simulate_to_disk(n: int, out_dir, seed: int = 0, chunk_size: int = 50_000,
                     workers: int | None = None, progress: bool = True, *,
                     s: float = 1.0, params: MothParams | None = None,
                     t_end: float = T_END, method: str = "auto",
                     rtol: float = DEFAULT_RTOL, shard=None,
                     **ranges) -> Path:
    """Simulate ``n`` flights in chunks on all cores, written as they finish.

    Each chunk becomes ``chunk_XXXXXX.npz`` in ``out_dir`` with a commit
    record naming its checksum (see the module docstring). Running again with
    the same arguments resumes: committed chunks are checked and kept, the
    others computed; other arguments are refused (``ResumeMismatchError``
    naming them). The rows are the rows of ``simulate(n, seed, ...)`` (before
    duplicate removal), bit for bit, whatever ``chunk_size``, ``workers`` and
    ``shard``.

    Args:
        n: number of simulations.
        out_dir: folder for the chunks (created if needed).
        seed: random seed.
        chunk_size: simulations per chunk.
        workers: processes (default: all cores; 1 runs in this process).
            Workers exit when this process dies.
        progress: show a progress bar over chunks.
        s, params, t_end, method, rtol, **ranges: as in :func:`simulate`.
        shard: ``(i, N)`` to compute only share ``i`` of ``N`` of the
            chunks (``range(i * C // N, (i + 1) * C // N)`` of ``C``
            chunks), e.g. one SLURM array task each; the folder is complete,
            and loadable, once every share is done.

    Returns:
        The folder; load it with :func:`load_simulations` or pass it to
        :func:`make_dataset` as ``data``; check it with
        :func:`verify_simulations`.

    Raises:
        ValueError/TypeError: bad arguments (before any simulation).
        ResumeMismatchError: the folder holds simulations with other
            parameters.
        RunStateError: a committed chunk file is damaged or missing.
    """
    func = "simulate_to_disk"
    cfg = SimulationConfig.build(n, seed, chunk_size, s=s, params=params,
                                 t_end=t_end, method=method, rtol=rtol,
                                 ranges=ranges, func=func)
    return _run(cfg, out_dir, workers, progress, shard, func)


def resume_simulations(path, workers: int | None = None,
                       progress: bool = True, shard=None) -> Path:
    """Finish the folder ``path`` (or the share ``shard`` of it) with the
    parameters its manifest records; see :func:`simulate_to_disk`."""
    func = "resume_simulations"
    cfg, _ = _open(path, func)
    return _run(cfg, path, workers, progress, shard, func)


def load_simulations(path, drop_duplicates: bool = True) -> pd.DataFrame:
    """Read a complete :func:`simulate_to_disk` folder into one frame.

    Every chunk file is checked against the checksum recorded when it was
    written.

    Raises:
        InvalidParameterError: no simulation folder, or chunks are missing
            (an unfinished run or unfinished shards: the message lists the
            missing chunks and the unfinished shards).
        RunStateError: a damaged chunk file or record (the message names the
            file and what to delete).
    """
    func = "load_simulations"
    cfg, rd = _open(path, func)
    missing = [c for c in range(cfg.n_chunks) if not rd.has(c)]
    if missing:
        raise InvalidParameterError(
            f"{func}(): {str(path)!r} is not complete: "
            f"{_missing_text(rd, cfg, missing)}.")
    frames = [pd.DataFrame(rd.load_npz(rd.unit(c), chunk_name(c)))
              for c in range(cfg.n_chunks)]
    df = pd.concat(frames, ignore_index=True)
    return drop_duplicate_controls(df) if drop_duplicates else df


@dataclasses.dataclass(frozen=True)
class SimulationCheck:
    """What :func:`verify_simulations` found.

    Attributes:
        path: the folder.
        chunks: one row per chunk: ``chunk, start, stop, committed``,
            ``intact`` (file present, checksum and content digest as
            recorded), ``recomputed`` (recomputed here),
            ``same_as_recomputed``, ``same_as_reference`` (content digest
            equal to the reference folder's; NA when not compared),
            ``host``, ``numpy`` (where it was computed).
        problems: one sentence per problem found; empty when the folder is
            complete, intact and equal to every recomputed chunk.
    """

    path: Path
    chunks: pd.DataFrame
    problems: tuple

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def missing(self) -> list:
        return self.chunks.loc[~self.chunks["committed"], "chunk"].tolist()

    def to_frame(self) -> pd.DataFrame:
        return self.chunks.copy()

    def __str__(self) -> str:
        c = self.chunks
        head = (f"{str(self.path)!r}: {int(c['committed'].sum())} of "
                f"{len(c)} chunks committed, {int(c['intact'].sum())} "
                f"intact, {int(c['recomputed'].sum())} recomputed")
        if self.ok:
            return head + "; all good."
        return head + ".\n" + "\n".join(f"- {p}" for p in self.problems)


def _intact(rd, chunk) -> tuple[bool, str | None]:
    """Is the committed ``chunk`` file as recorded (checksum and content)?"""
    try:
        unit = rd.unit(chunk)
        cols = rd.load_npz(unit, chunk_name(chunk))
    except RunStateError as e:
        return False, str(e)
    if _digest(cols) != unit.state.get("digest"):
        return False, (f"{chunk_name(chunk)}: its content does not match "
                       "the digest in its record; delete it and "
                       f"units/{chunk:06d}.json, then simulate again")
    return True, None


def _pick(chunks, recompute) -> list:
    if recompute == "all":
        return list(chunks)
    k = min(check_int(recompute, "recompute", "verify_simulations",
                      min_value=0), len(chunks))
    if k == 0:
        return []
    idx = np.unique(np.linspace(0, len(chunks) - 1, k).round().astype(int))
    return [chunks[i] for i in idx]


def _compare_reference(cfg, rd, reference, table, problems) -> None:
    ref_cfg, ref = _open(reference, "verify_simulations")
    if ref_cfg.manifest() != cfg.manifest():
        problems.append(f"the reference {str(reference)!r} was simulated "
                        "with other parameters; compare folders of the same "
                        "run only")
        return
    for row in table:
        c = row["chunk"]
        if row["committed"] and ref.has(c):
            row["same_as_reference"] = (ref.unit(c).state.get("digest") ==
                                        rd.unit(c).state.get("digest"))
            if not row["same_as_reference"]:
                problems.append(f"{chunk_name(c)} differs from the "
                                "reference folder's")


def verify_simulations(path, recompute=1, reference=None,
                       workers: int | None = 1,
                       progress: bool = False) -> SimulationCheck:
    """Check a simulation folder: complete, intact, and the same data that a
    one-machine run with the same seed produces.

    Every chunk must have a commit record, and its file the recorded
    checksum and content digest. Sameness with a one-machine run is
    established by recomputation: the rows of a chunk depend only on the
    manifest and the row indices, so ``recompute`` chunks (spread over the
    folder, first and last included; ``"all"`` for every chunk) are
    simulated again here and their content digests compared with the
    stored ones. With ``reference`` (another folder of the same parameters,
    e.g. a one-machine run), the recorded content digests of every chunk are
    compared as well.

    Args:
        path: the folder.
        recompute: number of chunks to recompute, or ``"all"``.
        reference: optional folder to compare chunk by chunk.
        workers: processes for the recomputation (``None``: all cores).
        progress: show a progress bar over the recomputed chunks.

    Returns:
        A :class:`SimulationCheck` (``.ok``, ``.problems``, ``.to_frame()``).
    """
    func = "verify_simulations"
    if recompute != "all":
        check_int(recompute, "recompute", func, min_value=0)
    workers = check_int(workers, "workers", func, min_value=1,
                        allow_none=True) or os.cpu_count() or 1
    cfg, rd = _open(path, func)
    table, problems = [], []
    for c in range(cfg.n_chunks):
        start, stop = cfg.rows(c)
        row = {"chunk": c, "start": start, "stop": stop,
               "committed": rd.has(c), "intact": False, "recomputed": False,
               "same_as_recomputed": pd.NA, "same_as_reference": pd.NA,
               "host": None, "numpy": None}
        if row["committed"]:
            row["intact"], why = _intact(rd, c)
            if why:
                problems.append(why)
            state = rd.unit(c).state
            row["host"], row["numpy"] = state.get("host"), state.get("numpy")
        table.append(row)
    missing = [r["chunk"] for r in table if not r["committed"]]
    if missing:
        problems.insert(0, _missing_text(rd, cfg, missing))
    _recompute_rows(cfg, rd, table, recompute, workers, progress, problems)
    if reference is not None:
        _compare_reference(cfg, rd, reference, table, problems)
    return SimulationCheck(rd.path, pd.DataFrame(table), tuple(problems))


def _recompute_rows(cfg, rd, table, recompute, workers, progress,
                    problems) -> None:
    chosen = _pick([r["chunk"] for r in table if r["intact"]], recompute)
    bar = progress_bar(progress and bool(chosen), len(chosen),
                       desc="recompute", unit="chunk")
    try:
        for c, digest in _map(_recompute, [(cfg, c) for c in chosen],
                              workers):
            row = table[c]
            row["recomputed"] = True
            row["same_as_recomputed"] = (digest ==
                                         rd.unit(c).state.get("digest"))
            if not row["same_as_recomputed"]:
                problems.append(
                    f"{chunk_name(c)} differs from its recomputation here "
                    f"(it was computed on {row['host']!r} with numpy "
                    f"{row['numpy']}; this is {platform.node()!r} with numpy "
                    f"{np.__version__}): different CPUs or numpy builds can "
                    "round differently; recompute it here to make the folder "
                    "uniform")
            bar.update(1)
    finally:
        bar.close()
