"""Monte Carlo: train and sequentially prune many networks at once
(``docs/sections/ensemble.md``).

Level 0 trains the dense networks; level ``j >= 1`` prunes every network to
``sparsities[j-1]`` and retrains. After each level every network is
evaluated on the full train, validation and test sets and, with a run
folder, the level is committed: its state file first, then one commit
record holding the level's table rows. A later call with the same folder and
parameters resumes after the last committed level, from that level's own
state file. ``shard=(i, N)`` trains only share ``i`` of ``N`` of the
networks (each with its own seed, whatever the sharding);
:func:`merge_runs` joins the shards' folders into the result of one
unsharded run.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .._io import atomic_save_npz, atomic_write_csv
from .._keras import tf
from .._runstate import RunDir, fingerprint
from .._validate import check_finite, renamed
from ..errors import InvalidParameterError, RunStateError
from ..utils import ensure_device, progress_bar
from .config import MOTH_INPUTS, MOTH_OUTPUTS, MOTH_SPARSITIES, MonteCarloConfig
from .prune import prune_ensemble
from .records import LevelRecord, frames
from .results import MonteCarloResult
from .stack import StackedMLP
from .train import EnsembleTrainer

__all__ = ["monte_carlo", "load_run", "merge_runs", "MOTH_SPARSITIES",
           "MOTH_INPUTS", "MOTH_OUTPUTS"]


def _split(data, func):
    """(train, val, test-or-None) from a MothDataset-like object or tuple."""
    if hasattr(data, "train") and hasattr(data, "val"):
        return data.train, data.val, getattr(data, "test", None)
    if isinstance(data, dict) and {"train", "val"} <= set(data):
        return data["train"], data["val"], data.get("test")
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and all(
            isinstance(d, (tuple, list)) and len(d) == 2 for d in data):
        return data[0], data[1], data[2] if len(data) == 3 else None
    raise InvalidParameterError(
        f"{func}(): 'data' must have .train/.val[/.test] (x, y) splits (e.g. "
        "tp.data.moth.make_dataset(...)) or be a tuple (train, val[, test]) "
        f"of (x, y) tuples; got {type(data).__name__}.")


def _arrays(split, name, func, like=None):
    """A split as float32 ``(x, y)``, 2-D, finite (after the cast: values
    beyond float32's range are refused too) and as wide as ``like``."""
    if not (isinstance(split, (tuple, list)) and len(split) == 2):
        raise InvalidParameterError(
            f"{func}(): '{name}' must be an (x, y) tuple of arrays; got "
            f"{type(split).__name__}.")
    with np.errstate(over="ignore"):  # overflow to inf is refused below
        x, y = (np.asarray(a, np.float32) for a in split)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or not len(x):
        raise InvalidParameterError(
            f"{func}(): '{name}' x and y must be 2-D (n, features) with the "
            f"same n >= 1 rows; got x{x.shape}, y{y.shape}.")
    if like is not None and (x.shape[1], y.shape[1]) != like:
        raise InvalidParameterError(
            f"{func}(): '{name}' has {x.shape[1]} inputs and {y.shape[1]} "
            f"outputs; the training split has {like[0]} and {like[1]}.")
    check_finite(x, f"{name} x", func)
    check_finite(y, f"{name} y", func)
    return x, y


def _splits(data, func):
    train, val, test = _split(data, func)
    train = _arrays(train, "train", func)
    like = (train[0].shape[1], train[1].shape[1])
    val = _arrays(val, "val", func, like)
    test = _arrays(test, "test", func, like) if test is not None else None
    return train, val, test


class _Run:
    """One Monte Carlo run (or shard): its networks, optimiser, records and
    run folder; each method is one step of :func:`monte_carlo`."""

    def __init__(self, cfg: MonteCarloConfig, rd: RunDir | None,
                 strategy=None):
        self.cfg, self.rd = cfg, rd
        seeds = cfg.network_seeds
        self.ens = StackedMLP(
            len(cfg.networks), inputs=cfg.inputs, hidden=tuple(cfg.hidden),
            outputs=cfg.outputs, activation=cfg.activation, init=cfg.init,
            init_std=cfg.init_std, seeds=[seeds[k] for k in cfg.networks],
            strategy=strategy)
        self.trainer = EnsembleTrainer(self.ens,
                                       learning_rate=cfg.learning_rate,
                                       batch_size=cfg.batch_size)
        self.rule, self.dense_rule = cfg.rules()
        self.records: list[LevelRecord] = []
        self.snap_levels = np.full(self.ens.n_networks, -1, np.int64)
        self.snap_weights = [np.zeros(v.shape, np.float32) for pair in zip(
            self.ens.kernels, self.ens.biases) for v in pair]
        self.level_weights: dict = {}

    # ----------------------------------------------------------- run folder
    def resume(self) -> int:
        """Load the last committed level; returns the next level to train
        (``n_levels`` when the run is finished)."""
        if self.rd is None:
            return 0
        units = [u for u in self.rd.committed() if isinstance(u.key, int)]
        if not units:
            return 0
        keys = [u.key for u in units]
        if keys != list(range(len(keys))):
            raise RunStateError(
                f"run folder {str(self.rd.path)!r}: the commit records of "
                f"levels {sorted(set(range(max(keys) + 1)) - set(keys))} "
                "are missing while later ones exist; delete the folder and "
                "run again.")
        last = units[-1]
        z = self.rd.load_npz(last, _state_name(last.key))
        self.ens.set_state({k[5:]: v for k, v in z.items()
                            if k.startswith("ens__")})
        self.trainer.set_state({k[5:]: v for k, v in z.items()
                                if k.startswith("opt__")})
        self.snap_levels[:] = z["snap_levels"]
        for i, w in enumerate(self.snap_weights):
            w[...] = z[f"snap__{i}"]
        self.records = [LevelRecord.from_state(u.state) for u in units]
        if self.cfg.keep_levels:
            self.level_weights = {u.key: _level_loader(self.rd, u)
                                  for u in units}
        return self.cfg.n_levels if self.records[-1].last else last.key + 1

    def _commit(self, record: LevelRecord) -> None:
        rd, level = self.rd, record.level
        files = []
        if self.cfg.keep_levels:
            atomic_save_npz(rd.file(_level_name(level)), **{
                f"w{i}": w for i, w in enumerate(self.level_weights[level])})
            files.append(_level_name(level))
        arrays = {f"ens__{k}": (v.astype(bool) if "mask" in k else v)
                  for k, v in self.ens.get_state().items()}
        arrays.update({f"opt__{k}": v
                       for k, v in self.trainer.get_state().items()})
        arrays["snap_levels"] = self.snap_levels
        arrays.update({f"snap__{i}": w
                       for i, w in enumerate(self.snap_weights)})
        atomic_save_npz(rd.file(_state_name(level)), **arrays)
        files.append(_state_name(level))
        rd.commit(level, files=files, state=record.to_state(),
                  drop=[_state_name(k) for k in range(level)])

    def write_tables(self) -> None:
        """history/layers/connections CSVs of the committed levels (a
        convenience copy; resuming reads the commit records)."""
        if self.rd is None:
            return
        hist, lay, con = self.frames()
        atomic_write_csv(self.rd.file("history.csv"), hist)
        atomic_write_csv(self.rd.file("layers.csv"), lay)
        atomic_write_csv(self.rd.file("connections.csv"), con)

    # ------------------------------------------------------------- training
    def train(self, splits, progress: bool) -> None:
        cfg = self.cfg
        tensors = [None if s is None else
                   (tf.constant(s[0]), tf.constant(s[1])) for s in splits]
        start = self.resume()
        failures = _trailing_failures(self.records, cfg)
        outer = progress_bar(progress and start < cfg.n_levels, cfg.n_levels,
                             initial=start, desc="levels", unit="level")
        try:
            for level in range(start, cfg.n_levels):
                record = self._level(level, tensors, failures, progress)
                failures = 0 if record.passed(cfg.column, cfg.threshold
                                              ).any() else failures + 1
                self.records.append(record)
                if self.rd is not None:
                    self._commit(record)
                    self.write_tables()
                outer.update(1)
                if record.last:
                    break
        finally:
            outer.close()
        self.write_tables()

    def _level(self, level, tensors, failures, progress) -> LevelRecord:
        cfg, ens, trainer = self.cfg, self.ens, self.trainer
        tr, va, te = tensors
        t0 = time.perf_counter()
        target = 0.0 if level == 0 else cfg.sparsities[level - 1]
        if level > 0:
            bias = (cfg.bias_sparsities[level - 1] if cfg.bias_sparsities
                    else target)
            prune_ensemble(ens, target, prune_bias=cfg.prune_bias,
                           bias_sparsity=bias, layers=cfg.prune_layers,
                           off_by_one=cfg.off_by_one,
                           optimizer=trainer.optimizer)
        cap = (cfg.dense_max_batches or cfg.max_batches) if level == 0 \
            else cfg.max_batches
        log = trainer.train_level(
            tr, va, max_batches=cap,
            early_stopping=self.dense_rule if level == 0 else self.rule,
            progress=progress, desc=f"level {level} ({100 * target:.0f} %)")
        losses = {"train_loss": trainer.evaluate(tr, cfg.eval_batch_size),
                  "val_loss": trainer.evaluate(va, cfg.eval_batch_size),
                  "test_loss": (trainer.evaluate(te, cfg.eval_batch_size)
                                if te is not None else
                                np.full(ens.n_networks, np.nan))}
        passed = losses[cfg.column] <= cfg.threshold
        masked = _masked(ens)
        for w, cur in zip(self.snap_weights, masked):
            w[passed] = cur[passed]
        self.snap_levels[passed] = level
        if cfg.keep_levels:
            self.level_weights[level] = masked
        stop = cfg.stop_after_failures and not passed.any() and \
            failures + 1 >= cfg.stop_after_failures
        return LevelRecord.measure(
            ens, list(cfg.networks), level, target, log, losses,
            time.perf_counter() - t0,
            last=bool(stop) or level == cfg.n_levels - 1)

    # --------------------------------------------------------------- result
    def frames(self):
        cfg = self.cfg
        return frames(self.records, cfg.widths, self.ens.layer_names,
                      cfg.input_names, cfg.output_names)

    def result(self) -> MonteCarloResult:
        hist, lay, con = self.frames()
        return MonteCarloResult(
            history=hist, layers=lay, connections=con,
            config=self.cfg.result_config(), ensemble=self.ens,
            snapshot_levels=self.snap_levels,
            snapshot_weights=self.snap_weights,
            level_weights=self.level_weights)


def _state_name(level: int) -> str:
    return f"state_{level:02d}.npz"


def _level_name(level: int) -> str:
    return f"level_{level:02d}.npz"


def _masked(ens):
    out = []
    for w, b, wm, bm in zip(ens.kernels, ens.biases, ens.kernel_masks,
                            ens.bias_masks):
        out += [(w * wm).numpy(), (b * bm).numpy()]
    return out


def _level_loader(rd, unit):
    def load():
        z = rd.load_npz(unit, _level_name(unit.key))
        return [z[f"w{i}"] for i in range(len(z))]
    return load


def _trailing_failures(records, cfg) -> int:
    count = 0
    for r in reversed(records):
        if r.passed(cfg.column, cfg.threshold).any():
            break
        count += 1
    return count


@renamed(prune_biases="prune_bias")
def monte_carlo(data, n_networks: int = 100,
                hidden: Sequence[int] = (400, 400, 400, 16),
                sparsities: Sequence[float] = MOTH_SPARSITIES, *,
                activation: str = "tanh", init: str = "normal",
                init_std: float = 0.2, batch_size: int = 128,
                learning_rate: float = 5e-4, max_batches: int | None = None,
                dense_max_batches: int | None = None,
                early_stopping="ratio", dense_early_stopping="same",
                prune_bias: bool = False,
                bias_sparsities: Sequence[float] | None = None,
                prune_layers: Sequence[int] | None = None,
                off_by_one: bool = False, threshold: float = 1e-3,
                column: str = "train_loss", eval_batch_size: int = 1024,
                stop_after_failures: int | None = None, seed: int = 0,
                seeds: Sequence[int] | None = None, shard=None,
                run_dir=None, keep_levels: bool = False, strategy=None,
                input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None,
                progress: bool = True) -> MonteCarloResult:
    """Train ``n_networks`` MLPs together and prune them level by level.

    All networks share the minibatches (in order from the training split,
    from batch 0 at each level) and differ only by their seeded initial
    weights; each stops when its own early-stopping rule fires and is pruned
    by exact-count layer-wise magnitude over its surviving weights (masks
    only shrink). A network's training does not depend on the others (bit
    for bit on CPU), which is what ``shard`` relies on.

    Args:
        data: ``tp.data.moth.make_dataset(...)`` (``.train``, ``.val`` and
            optionally ``.test`` ``(x, y)`` splits) or ``(train, val[,
            test])``; x (n, inputs), y (n, outputs), finite in float32.
        n_networks, hidden: networks and hidden widths (tanh; linear output).
        sparsities: strictly increasing pruning levels in [0, 1).
        activation, init, init_std: hidden activation; ``"normal"``
            (N(0, ``init_std``), the protocol), ``"glorot_uniform"`` or
            ``"glorot_normal"``.
        batch_size, learning_rate: minibatch size; Adam's rate (> 0), its
            state kept across levels.
        max_batches, dense_max_batches: caps per pruning level (``None``: one
            pass over the training split) and for the dense level 0.
        early_stopping, dense_early_stopping: ``"ratio"`` (the protocol's),
            ``"patience"``, ``None`` or a rule object (RatioStopping,
            PatienceStopping); the dense level's ``"same"`` by default.
        prune_bias, bias_sparsities: also prune biases (each vector its own
            threshold) at these levels (default ``sparsities``);
            ``prune_biases`` is the deprecated old name.
        prune_layers: 0-based indices of the layers to prune (default all).
        off_by_one: prune ``floor(c*n) + 1`` entries as the original did.
        threshold, column: the sparsest good level has ``column <=
            threshold``; ``eval_batch_size`` for the full-set losses.
        stop_after_failures: end the run after this many consecutive levels
            with no passing network (``None``: all levels); not with shards.
        seed, seeds: network ``k`` uses ``derive_seed(seed, k)``, or
            ``seeds[k]``.
        shard: ``(i, N)``: train only networks ``[i * n // N, (i + 1) * n //
            N)``, with the seeds they have in the whole run; give each shard
            its own ``run_dir`` and join them with :func:`merge_runs`.
        run_dir: run folder; resumes a run of the same parameters and data
            after its last committed level, refuses any other.
        keep_levels: keep every level's weights, to export any level.
        strategy: a ``tf.distribute.Strategy`` splitting each minibatch.
        input_names, output_names: unit names in the connection tables.
        progress: show progress bars.

    Returns:
        A :class:`~tfprune.ensemble.MonteCarloResult`.

    Raises:
        ValueError/TypeError: bad parameters or data, before any training.
        ResumeMismatchError: ``run_dir`` holds a run with other parameters.
        RunStateError: a damaged file in ``run_dir``.
        tf.errors.ResourceExhaustedError: out of memory (with a hint).
    """
    params = {k: v for k, v in locals().items() if k not in (
        "data", "run_dir", "strategy", "progress")}
    return _monte_carlo(data, params, run_dir, strategy, progress)


def _monte_carlo(data, params, run_dir, strategy, progress):
    """:func:`monte_carlo`'s steps: check, configure, open, train."""
    f = "monte_carlo"
    splits = _splits(data, f)
    cfg = MonteCarloConfig.build(f, inputs=splits[0][0].shape[1],
                                 outputs=splits[0][1].shape[1], **params)
    if cfg.column == "test_loss" and splits[2] is None:
        raise InvalidParameterError(
            f"{f}(): column='test_loss' needs a test split in 'data'.")
    ensure_device()
    rd = None if run_dir is None else cfg.open(
        run_dir, f, data={k: fingerprint(s) for k, s in
                          zip(("train", "val", "test"), splits)})
    run = _Run(cfg, rd, strategy)
    run.train(splits, progress)
    return run.result()


def _open_run(path, func):
    """``(config, RunDir)`` of the Monte Carlo run folder ``path``."""
    return MonteCarloConfig.from_folder(
        path, func, "monte_carlo(run_dir=...) (tfprune moth montecarlo: "
        "OUT/run)")


def load_run(run_dir, strategy=None) -> MonteCarloResult:
    """The result of a finished run folder, read back (every file checked
    against its checksum); the same result the run returned.

    Raises:
        InvalidParameterError: not a Monte Carlo run folder, or the run is
            not finished (the message says how many levels are committed).
    """
    f = "load_run"
    cfg, rd = _open_run(run_dir, f)
    run = _Run(cfg, rd, strategy)
    if run.resume() < cfg.n_levels:
        raise InvalidParameterError(
            f"{f}(): the run in {str(run_dir)!r} is not finished "
            f"({len(run.records)} of {cfg.n_levels} levels committed); run "
            "monte_carlo (tfprune moth montecarlo) again with the same "
            "arguments to finish it.")
    return run.result()


def _check_shards(runs, func):
    """Same run, every shard once; returns the runs in shard order."""
    first_path, first = runs[0][0], runs[0][1]
    base, data = first.cfg.unsharded(), first.rd.params.get("data")
    for path, run in runs[1:]:
        if run.cfg.unsharded() != base or run.rd.params.get("data") != data:
            raise InvalidParameterError(
                f"{func}(): {str(path)!r} is not a shard of the same run as "
                f"{str(first_path)!r} (other parameters or data); merge "
                "only the shards of one run.")
    counts = {1 if r.cfg.shard is None else r.cfg.shard[1] for _, r in runs}
    index = sorted(0 if r.cfg.shard is None else r.cfg.shard[0]
                   for _, r in runs)
    n = counts.pop() if len(counts) == 1 else None
    if n is None or index != list(range(n)):
        have = ", ".join(f"{r.cfg.shard[0]}/{r.cfg.shard[1]}" if r.cfg.shard
                         else "unsharded" for _, r in runs)
        missing = sorted(set(range(n)) - set(index)) if n else []
        raise InvalidParameterError(
            f"{func}(): the folders hold shards {have}; a merge needs every "
            "shard i/N of one N exactly once"
            + (f" (missing: {', '.join(f'{i}/{n}' for i in missing)})"
               if missing else "") + ".")
    return [r for _, r in sorted(runs, key=lambda pr: pr[1].cfg.networks.start)]


def merge_runs(run_dirs, strategy=None) -> MonteCarloResult:
    """Join the finished shards of one Monte Carlo run (the run folders of
    ``monte_carlo(..., shard=(i, N), run_dir=...)``, ``i = 0 .. N-1``) into
    the result an unsharded run gives: the same tables (``seconds`` aside,
    each shard's own timing), masks, snapshots and weights, bit for bit on
    CPU.

    Raises:
        InvalidParameterError: a folder is not a shard of the same run, a
            shard is missing or given twice, or a shard is unfinished.
    """
    f = "merge_runs"
    if isinstance(run_dirs, (str, bytes)) or not run_dirs:
        raise InvalidParameterError(
            f"{f}(): 'run_dirs' must be a non-empty list of run folders; got "
            f"{run_dirs!r}.")
    runs = []
    for path in run_dirs:
        cfg, rd = _open_run(path, f)
        run = _Run(cfg, rd, strategy)
        if run.resume() < cfg.n_levels:
            raise InvalidParameterError(
                f"{f}(): {str(path)!r} is unfinished ({len(run.records)} of "
                f"{cfg.n_levels} levels committed); finish that shard first.")
        runs.append((path, run))
    runs = _check_shards(runs, f)
    return _joined(runs, runs[0].cfg.unsharded(), strategy)


def _joined(runs, cfg, strategy) -> MonteCarloResult:
    levels = sorted({r.level for run in runs for r in run.records})
    records = [LevelRecord.join([r for run in runs for r in run.records
                                 if r.level == lv]) for lv in levels]
    whole = _Run(cfg, None, strategy)
    states = [run.ens.get_state() for run in runs]
    whole.ens.set_state({k: np.concatenate([s[k] for s in states])
                         for k in states[0]})
    whole.records = records
    whole.snap_levels = np.concatenate([run.snap_levels for run in runs])
    whole.snap_weights = [np.concatenate(ws) for ws in zip(
        *(run.snap_weights for run in runs))]
    if cfg.keep_levels:
        whole.level_weights = {lv: _joined_level(runs, lv) for lv in levels}
    return whole.result()


def _joined_level(runs, level):
    def load():
        parts = [run.level_weights[level] for run in runs]
        parts = [p() if callable(p) else p for p in parts]
        return [np.concatenate(ws) for ws in zip(*parts)]
    return load
