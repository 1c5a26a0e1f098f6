"""Monte Carlo: train and sequentially prune many networks at once
(moth.md §6-§8).

Level 0 trains the dense networks; level ``j >= 1`` prunes every network to
``sparsities[j-1]`` and retrains. After each level every network is
evaluated on the full train, validation and test sets, the run folder (if
any) gets an atomic checkpoint, and a later call with the same folder and
parameters resumes after the last finished level.
"""
from __future__ import annotations

import hashlib
import time
from typing import Sequence

import numpy as np
import pandas as pd

from ..utils import ensure_device, progress_bar
from .._io import atomic_save_npz, atomic_write_csv
from .._runstate import RunDir
from .._validate import (check_choice, check_float, check_increasing_fractions,
                         check_int, check_type)
from ..errors import InvalidParameterError
from .prune import check_layers, prune_ensemble
from .results import HISTORY_COLUMNS, MonteCarloResult
from .stack import StackedMLP
from .stopping import get_stopping
from .train import EnsembleTrainer, _as_tensors

__all__ = ["monte_carlo", "MOTH_SPARSITIES", "MOTH_INPUTS", "MOTH_OUTPUTS"]

#: The multi-network schedule of the original (18 levels, moth.md §4).
MOTH_SPARSITIES = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.90,
                   0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
#: Names of the moth controller's inputs and outputs (moth.md §2).
MOTH_INPUTS = ("phi0", "theta0", "xf", "yf", "phif", "thetaf", "xdot0",
               "ydot0", "phidot0", "thetadot0")
MOTH_OUTPUTS = ("Fx", "Fy", "tau", "xdotf", "ydotf", "phidotf", "thetadotf")

_STATE = "state.npz"
_KIND = "ensemble.monte_carlo"


def _split(data, func):
    """(train, val, test-or-None) from a MothDataset-like object or tuple."""
    if hasattr(data, "train") and hasattr(data, "val"):
        return data.train, data.val, getattr(data, "test", None)
    if isinstance(data, dict):
        return data["train"], data["val"], data.get("test")
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and all(
            isinstance(d, (tuple, list)) and len(d) == 2 for d in data):
        return data[0], data[1], data[2] if len(data) == 3 else None
    raise InvalidParameterError(
        f"{func}(): 'data' must have .train/.val[/.test] (x, y) splits (e.g. "
        "tp.data.moth.make_dataset(...)) or be a tuple (train, val[, test]) "
        f"of (x, y) tuples; got {type(data).__name__}.")


def _fingerprint(*splits) -> str:
    h = hashlib.sha1()
    for s in splits:
        if s is None:
            h.update(b"none")
            continue
        for a in s:
            a = np.ascontiguousarray(np.asarray(a, np.float32))
            h.update(str(a.shape).encode())
            step = max(1, len(a) // 4096)
            h.update(a[::step].tobytes())
    return h.hexdigest()


def _names(names, n, default, arg, func):
    if names is None:
        return [f"{default}{i}" for i in range(n)]
    check_type(names, (list, tuple), arg, func, "a list of names")
    if len(names) != n:
        raise InvalidParameterError(
            f"{func}(): '{arg}' must hold {n} names; got {len(names)}.")
    return [str(s) for s in names]


def monte_carlo(data, n_networks: int = 100,
                hidden: Sequence[int] = (400, 400, 400, 16),
                sparsities: Sequence[float] = MOTH_SPARSITIES, *,
                activation: str = "tanh", init: str = "normal",
                init_std: float = 0.2, batch_size: int = 128,
                learning_rate: float = 5e-4, max_batches: int | None = None,
                dense_max_batches: int | None = None,
                early_stopping="ratio", dense_early_stopping="same",
                prune_biases: bool = False,
                bias_sparsities: Sequence[float] | None = None,
                prune_layers: Sequence[int] | None = None,
                off_by_one: bool = False, threshold: float = 1e-3,
                column: str = "train_loss", eval_batch_size: int = 1024,
                stop_after_failures: int | None = None, seed: int = 0,
                seeds: Sequence[int] | None = None,
                run_dir=None, keep_levels: bool = False, strategy=None,
                input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None,
                progress: bool = True) -> MonteCarloResult:
    """Train ``n_networks`` MLPs together and prune them level by level.

    All networks share the minibatches (taken in order from the training
    split, restarting at batch 0 each level) and differ only by their seeded
    initial weights. Each network stops training at a level when its own
    early-stopping rule fires; each is pruned by exact-count layer-wise
    magnitude over its surviving weights, so masks only shrink.

    Args:
        data: ``tp.data.moth.make_dataset(...)`` (anything with ``.train``,
            ``.val`` and optionally ``.test`` ``(x, y)`` splits) or a tuple
            ``(train, val[, test])``; ``x`` is (n, inputs), ``y`` (n, outputs).
        n_networks: number of networks (ignored when ``seeds`` is given).
        hidden: hidden widths (tanh layers); the output layer is linear.
        sparsities: strictly increasing pruning levels in [0, 1).
        activation: hidden activation.
        init: ``"normal"`` (N(0, ``init_std``), the protocol),
            ``"glorot_uniform"`` or ``"glorot_normal"``.
        init_std: std of the ``"normal"`` init.
        batch_size: minibatch size (128 in the protocol).
        learning_rate: Adam learning rate; Adam's state carries over levels.
        max_batches: cap on batches per pruning level (``None``: one pass
            over the training split); above one pass the data wrap around.
        dense_max_batches: cap for the dense level 0 (default ``max_batches``).
        early_stopping: ``"ratio"`` (the protocol's r < 1.01 rule),
            ``"patience"``, ``None`` or a rule object
            (:class:`~tfprune.ensemble.RatioStopping`,
            :class:`~tfprune.ensemble.PatienceStopping`).
        dense_early_stopping: rule for the dense level 0; ``"same"`` uses
            ``early_stopping``. ``None`` trains the dense networks for
            ``dense_max_batches`` (the original's dense level ran its full
            cap because its stop never fired).
        prune_biases: also prune biases, each vector with its own threshold.
        bias_sparsities: bias levels (default: the same as ``sparsities``).
        prune_layers: 0-based indices of the layers to prune (default all).
        off_by_one: prune ``floor(c*n) + 1`` entries like the original code.
        threshold: loss threshold for the "sparsest good level" snapshot.
        column: loss column tested against ``threshold``.
        eval_batch_size: batch size of the full-set evaluations.
        stop_after_failures: end the run early after this many consecutive
            levels at which no network passes ``threshold`` (the later,
            sparser levels are then not trained); ``None`` runs every level
            as the protocol does.
        seed: base seed; network ``i`` uses ``derive_seed(seed, i)``.
        seeds: explicit per-network seeds.
        run_dir: folder for checkpoints and CSVs; resumes when it holds a run
            with the same parameters.
        keep_levels: keep every level's weights (in memory, and in
            ``run_dir`` as ``level_XX.npz``) so any level can be exported.
        strategy: a ``tf.distribute.Strategy``; minibatches are split across
            its replicas.
        input_names, output_names: unit names for the connection tables.
        progress: show progress bars.

    Returns:
        A :class:`~tfprune.ensemble.MonteCarloResult`.

    Raises:
        ValueError/TypeError: bad parameters or data that do not fit.
        ResumeMismatchError: ``run_dir`` holds a run with other parameters.
        tf.errors.ResourceExhaustedError: out of memory (the message suggests
            a smaller ``batch_size`` or fewer networks).
    """
    f = "monte_carlo"
    train, val, test = _split(data, f)
    ensure_device()
    x0 = np.asarray(train[0])
    y0 = np.asarray(train[1])
    if x0.ndim != 2 or y0.ndim != 2:
        raise InvalidParameterError(
            f"{f}(): training x and y must be 2-D (n, features); got "
            f"x{x0.shape}, y{y0.shape}.")
    sparsities = check_increasing_fractions(sparsities, "sparsities", f)
    if bias_sparsities is not None:
        bias_sparsities = check_increasing_fractions(
            bias_sparsities, "bias_sparsities", f)
        if len(bias_sparsities) != len(sparsities):
            raise InvalidParameterError(
                f"{f}(): 'bias_sparsities' must have one entry per level "
                f"({len(sparsities)}); got {len(bias_sparsities)}.")
    threshold = check_float(threshold, "threshold", f, min_value=0.0)
    check_choice(column, ("train_loss", "val_loss", "test_loss"), "column", f)
    if column == "test_loss" and test is None:
        raise InvalidParameterError(
            f"{f}(): column='test_loss' needs a test split in 'data'.")
    eval_batch_size = check_int(eval_batch_size, "eval_batch_size", f,
                                min_value=1)
    stop_after_failures = check_int(stop_after_failures,
                                    "stop_after_failures", f, min_value=1,
                                    allow_none=True)
    max_batches = check_int(max_batches, "max_batches", f, min_value=1,
                            allow_none=True)
    dense_max_batches = check_int(dense_max_batches, "dense_max_batches", f,
                                  min_value=1, allow_none=True)
    rule = get_stopping(early_stopping, f)
    dense_rule = rule if (isinstance(dense_early_stopping, str) and
                          dense_early_stopping == "same") else \
        get_stopping(dense_early_stopping, f)

    ens = StackedMLP(n_networks, inputs=x0.shape[1], hidden=hidden,
                     outputs=y0.shape[1], activation=activation, init=init,
                     init_std=init_std, seed=seed, seeds=seeds,
                     strategy=strategy)
    layers = check_layers(prune_layers, ens.n_layers, f)
    trainer = EnsembleTrainer(ens, learning_rate=learning_rate,
                              batch_size=batch_size)
    tr = _as_tensors(train, "train", f, ens)
    va = _as_tensors(val, "val", f, ens)
    te = _as_tensors(test, "test", f, ens) if test is not None else None
    in_names = _names(input_names, ens.inputs, "x", "input_names", f)
    out_names = _names(output_names, ens.outputs, "y", "output_names", f)

    config = {
        "n_networks": ens.n_networks, "widths": list(ens.widths),
        "activation": activation, "init": init, "init_std": init_std,
        "seed": ens.seed, "seeds": ens.seeds, "sparsities": sparsities,
        "bias_sparsities": bias_sparsities, "prune_biases": bool(prune_biases),
        "prune_layers": layers, "off_by_one": bool(off_by_one),
        "batch_size": trainer.batch_size, "learning_rate": learning_rate,
        "max_batches": max_batches, "dense_max_batches": dense_max_batches,
        "early_stopping": None if rule is None else rule.get_config(),
        "dense_early_stopping": (None if dense_rule is None
                                 else dense_rule.get_config()),
        "threshold": threshold, "column": column,
        "eval_batch_size": eval_batch_size, "keep_levels": bool(keep_levels),
        "stop_after_failures": stop_after_failures,
        "input_names": in_names, "output_names": out_names,
        "data": _fingerprint(train, val, test),
    }
    rd = RunDir(run_dir, config, _KIND, f) if run_dir is not None else None

    n_levels = len(sparsities) + 1
    rec = _Records(ens)
    snap_levels = np.full(ens.n_networks, -1, np.int64)
    snap_weights = [np.zeros(v.shape, np.float32)
                    for pair in zip(ens.kernels, ens.biases) for v in pair]
    level_weights: dict = {}
    start = 0
    if rd is not None and rd.file(_STATE).exists():
        start = _load(rd, ens, trainer, rec, snap_levels, snap_weights) + 1
        if keep_levels:
            for lv in range(start):
                level_weights[lv] = _level_loader(rd, lv, ens.n_layers)

    failures = rec.trailing_failures(column, threshold)
    if stop_after_failures and failures >= stop_after_failures:
        start = n_levels
    outer = progress_bar(progress and start < n_levels, n_levels,
                         initial=start, desc="levels", unit="level")
    try:
        for level in range(start, n_levels):
            t0 = time.perf_counter()
            target = 0.0 if level == 0 else sparsities[level - 1]
            if level > 0:
                bias_target = (bias_sparsities[level - 1] if bias_sparsities
                               else target)
                prune_ensemble(ens, target, prune_biases=prune_biases,
                               bias_sparsity=bias_target, layers=layers,
                               off_by_one=off_by_one,
                               optimizer=trainer.optimizer)
            cap = (dense_max_batches or max_batches) if level == 0 \
                else max_batches
            log = trainer.train_level(
                tr, va, max_batches=cap,
                early_stopping=dense_rule if level == 0 else rule,
                progress=progress,
                desc=f"level {level} ({100 * target:.0f} %)")
            losses = {"train_loss": trainer.evaluate(tr, eval_batch_size),
                      "val_loss": trainer.evaluate(va, eval_batch_size)}
            losses["test_loss"] = (trainer.evaluate(te, eval_batch_size)
                                   if te is not None else
                                   np.full(ens.n_networks, np.nan))
            rec.add(level, target, log, losses, in_names, out_names,
                    time.perf_counter() - t0)
            passed = losses[column] <= threshold
            if passed.any():
                snap_levels[passed] = level
                for w, cur in zip(snap_weights, _masked(ens)):
                    w[passed] = cur[passed]
            if keep_levels:
                lw = _masked(ens)
                level_weights[level] = lw
                if rd is not None:
                    atomic_save_npz(rd.file(f"level_{level:02d}.npz"),
                                    **{f"w{i}": w for i, w in enumerate(lw)})
            if rd is not None:
                _save(rd, level, ens, trainer, rec, snap_levels,
                      snap_weights)
                rec.write_csv(rd)
                rd.mark_done(level)
            outer.update(1)
            failures = 0 if passed.any() else failures + 1
            if stop_after_failures and failures >= stop_after_failures:
                break
    finally:
        outer.close()
    hist, lay, con = rec.frames()
    return MonteCarloResult(history=hist, layers=lay, connections=con,
                            config=config, ensemble=ens,
                            snapshot_levels=snap_levels,
                            snapshot_weights=snap_weights,
                            level_weights=level_weights)


def _masked(ens):
    out = []
    for w, b, wm, bm in zip(ens.kernels, ens.biases, ens.kernel_masks,
                            ens.bias_masks):
        out += [(w * wm).numpy(), (b * bm).numpy()]
    return out


def _level_loader(rd, level, n_layers):
    def load():
        with np.load(rd.file(f"level_{level:02d}.npz")) as z:
            return [z[f"w{i}"] for i in range(2 * n_layers)]
    return load


class _Records:
    """Accumulates the result tables as column arrays (checkpoint-friendly)."""

    def __init__(self, ens):
        self.ens = ens
        self.hist: dict[str, list] = {c: [] for c in HISTORY_COLUMNS}
        self.hist["seconds"] = []
        self.layers: dict[str, list] = {c: [] for c in (
            "network", "level", "layer", "kept", "total", "fraction")}
        self.conn: dict[str, list] = {c: [] for c in (
            "network", "level", "kind", "unit", "name", "kept", "total",
            "fraction")}

    def add(self, level, target, log, losses, in_names, out_names, seconds):
        ens = self.ens
        n = ens.n_networks
        masks = [m.numpy() for m in ens.kernel_masks]
        bmasks = [m.numpy() for m in ens.bias_masks]
        kept_l = np.stack([m.reshape(n, -1).sum(axis=1, dtype=np.int64)
                           for m in masks], 1)
        tot_l = np.array([int(np.prod(m.shape[1:])) for m in masks])
        kept = kept_l.sum(axis=1)
        btot = sum(int(np.prod(m.shape[1:])) for m in bmasks)
        bkept = sum(m.reshape(n, -1).sum(axis=1) for m in bmasks)
        h = self.hist
        h["network"] += list(range(n))
        h["seed"] += [s if s is not None else -1 for s in ens.seeds]
        h["level"] += [level] * n
        h["sparsity"] += [float(target)] * n
        h["kernel_sparsity"] += list(1.0 - kept / float(tot_l.sum()))
        h["kept_weights"] += list(kept.astype(int))
        h["total_weights"] += [int(tot_l.sum())] * n
        h["bias_sparsity"] += list(1.0 - np.asarray(bkept, float) / btot)
        for c in ("train_loss", "val_loss", "test_loss"):
            h[c] += list(np.asarray(losses[c], float))
        h["batches"] += list(np.asarray(log.batches, int))
        h["stopped"] += list(np.asarray(log.stopped, bool))
        h["seconds"] += [float(seconds)] * n
        names = ens.layer_names
        for l in range(len(masks)):
            self.layers["network"] += list(range(n))
            self.layers["level"] += [level] * n
            self.layers["layer"] += [names[l]] * n
            self.layers["kept"] += list(kept_l[:, l].astype(int))
            self.layers["total"] += [int(tot_l[l])] * n
            self.layers["fraction"] += list(kept_l[:, l] / tot_l[l])
        first = masks[0].sum(axis=2, dtype=np.int64)   # (N, inputs)
        last = masks[-1].sum(axis=1, dtype=np.int64)   # (N, outputs)
        for kind, counts, names_, total in (
                ("input", first, in_names, masks[0].shape[2]),
                ("output", last, out_names, masks[-1].shape[1])):
            units = counts.shape[1]
            c = self.conn
            c["network"] += list(np.repeat(np.arange(n), units))
            c["level"] += [level] * (n * units)
            c["kind"] += [kind] * (n * units)
            c["unit"] += list(np.tile(np.arange(units), n))
            c["name"] += list(names_) * n
            c["kept"] += list(counts.reshape(-1).astype(int))
            c["total"] += [int(total)] * (n * units)
            c["fraction"] += list(counts.reshape(-1) / total)

    def trailing_failures(self, column, threshold) -> int:
        """Number of last levels at which no network passed."""
        levels = np.asarray(self.hist["level"], int)
        loss = np.asarray(self.hist[column], float)
        count = 0
        for lv in sorted(set(levels.tolist()), reverse=True):
            if (loss[levels == lv] <= threshold).any():
                break
            count += 1
        return count

    def frames(self):
        hist = pd.DataFrame(self.hist)
        hist = hist.astype({"network": int, "seed": "int64", "level": int,
                            "kept_weights": int, "total_weights": int,
                            "batches": int, "stopped": bool,
                            "kernel_sparsity": float, "bias_sparsity": float,
                            "train_loss": float, "val_loss": float,
                            "test_loss": float})
        lay = pd.DataFrame(self.layers).astype(
            {"network": int, "level": int, "kept": int, "total": int,
             "fraction": float})
        con = pd.DataFrame(self.conn).astype(
            {"network": int, "level": int, "unit": int, "kept": int,
             "total": int, "fraction": float})
        return hist, lay, con

    def arrays(self) -> dict:
        out = {}
        for prefix, d in (("hist", self.hist), ("layers", self.layers),
                          ("conn", self.conn)):
            for k, v in d.items():
                out[f"{prefix}__{k}"] = np.asarray(v)
        return out

    def load(self, z) -> None:
        for prefix, d in (("hist", self.hist), ("layers", self.layers),
                          ("conn", self.conn)):
            for k in d:
                d[k] = z[f"{prefix}__{k}"].tolist()

    def write_csv(self, rd) -> None:
        hist, lay, con = self.frames()
        atomic_write_csv(rd.file("history.csv"), hist)
        atomic_write_csv(rd.file("layers.csv"), lay)
        atomic_write_csv(rd.file("connections.csv"), con)


def _save(rd, level, ens, trainer, rec, snap_levels, snap_weights):
    arrays = {"level": np.asarray(level)}
    arrays.update({f"ens__{k}": (v.astype(bool) if "mask" in k else v)
                   for k, v in ens.get_state().items()})
    arrays.update({f"opt__{k}": v for k, v in trainer.get_state().items()})
    arrays.update(rec.arrays())
    arrays["snap_levels"] = snap_levels
    arrays.update({f"snap__{i}": w for i, w in enumerate(snap_weights)})
    atomic_save_npz(rd.file(_STATE), **arrays)


def _load(rd, ens, trainer, rec, snap_levels, snap_weights) -> int:
    with np.load(rd.file(_STATE)) as z:
        ens.set_state({k[5:]: z[k] for k in z.files if k.startswith("ens__")})
        trainer.set_state({k[5:]: z[k] for k in z.files
                           if k.startswith("opt__")})
        rec.load(z)
        snap_levels[:] = z["snap_levels"]
        for i, w in enumerate(snap_weights):
            w[...] = z[f"snap__{i}"]
        return int(z["level"])
