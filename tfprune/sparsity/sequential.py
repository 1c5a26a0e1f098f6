"""``sequential_prune``: the moth study's level-by-level pruning, resumable.

A thin driver over :class:`SequentialPruning`: it wraps a copy of the
caller's compiled model, then runs one ``fit`` per level with the callback in
``pause_between_levels`` mode, re-seeding before each level with
``derive_seed(seed, level)``. Because each level starts from the committed
weights of the previous one, a fresh optimizer state and its own seed, a run
killed at any point resumes from its ``run_dir`` to the identical history.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from .._keras import check_model, compile_like, is_compiled, keras, tf
from .._runstate import fingerprint
from .._tfmot import PruningSummaries
from .._validate import (check_choice, check_dataset, check_float, check_int,
                         check_type)
from ..errors import InvalidParameterError
from ..utils import derive_seed, ensure_device, progress_bar, set_seed
from .callbacks import SequentialPruning, _history_frame
from .config import Config, compile_fingerprint
from .layers import is_wrapped, set_layer_weights
from .schedules import check_levels
from .store import LevelStore
from .wrap import check_m_by_n, wrap

__all__ = ["sequential_prune", "find_sparsest", "SequentialResult",
           "SequentialConfig"]


@dataclass(frozen=True)
class SequentialResult:
    """What :func:`sequential_prune` returns.

    Attributes:
        history: one row per level: ``level, sparsity, achieved, train_loss,
            val_loss, epochs, best_epoch, cum_epochs, converged, time_s``,
            for a chain of Dense layers ``dead_outputs`` (outputs with no
            path from any input) and ``dead_units`` (see
            ``tp.sparsity.connectivity``), the other compiled metrics
            (``train_*``, ``val_*``) and the achieved sparsity of each
            pruned layer (``achieved_<layer>``).
        run_dir: the run folder, if any.
        time_s: wall time of this call (levels loaded from a run folder
            excluded).
    """

    history: pd.DataFrame
    run_dir: Path | None = None
    time_s: float = 0.0
    _template: object = field(default=None, repr=False)
    _weights: dict = field(default_factory=dict, repr=False)
    _store: object = field(default=None, repr=False)

    def model_at(self, i: int):
        """Stripped model of level ``i`` (row ``i`` of ``history``): a plain
        tf_keras model whose pruned weights are exact zeros (uncompiled)."""
        i = check_int(i, "i", "SequentialResult.model_at", min_value=0,
                      max_value=len(self.history) - 1)
        weights = self._weights.get(i)
        if weights is None and self._store is not None:
            weights = self._store.weights(i)
        if weights is None:
            raise InvalidParameterError(
                f"SequentialResult.model_at(): no weights for level {i}.")
        clone = keras.models.clone_model(self._template)
        set_layer_weights(clone, weights)
        return clone

    def to_frame(self) -> pd.DataFrame:
        """The history (one row per level)."""
        return self.history.copy()


@dataclass(frozen=True)
class SequentialConfig(Config):
    """The parameters of one :func:`sequential_prune` run, validated once;
    the manifest of its ``run_dir``.

    Attributes:
        sparsities, max_epochs, patience: see :func:`sequential_prune`.
        min_delta, monitor: early-stopping settings.
        method: ``"tfmot"`` or ``"manual"`` (the original's percentile
            zeroing of kernels and biases).
        layers: layer names to prune (default: every Dense/Conv kernel).
        prune_bias: prune biases too (tfmot method).
        output_rate: sparsity multiplier of the output layer (0.5 = half).
        layer_rates: ``{layer: multiplier}`` for other layers.
        schedule: ``"constant"`` (tfmot ConstantSparsity at each level) or
            ``"polynomial"`` (PolynomialDecay from the previous level over
            ``ramp_epochs`` epochs).
        frequency: 0 = each level's mask is fixed after its first step;
            k = re-rank every k steps (tfmot's behaviour; the original used
            100).
        batch_size: for ``(x, y)`` data.
        seed: base seed; level i trains with ``derive_seed(seed, i)``.
        evaluate_train: evaluate each level's best weights on ``train`` for
            ``train_loss`` (the find-sparsest rule's value); else the running
            training loss of the best epoch.
        reset_optimizer: fresh optimizer state at each level (as the
            original, which recompiled at each level). With False a resumed
            run starts its next level with a fresh optimizer state.
        m_by_n: ``(m, n)`` structured sparsity through tfmot (see
            ``tp.sparsity.wrap``); the levels are then 0.0 and ``m / n``.
    """

    KIND: ClassVar[str] = "sequential_prune"
    FUNC: ClassVar[str] = "sequential_prune"
    LABELS: ClassVar[dict] = {"model": "model (its architecture and weights)"}

    sparsities: tuple
    max_epochs: int = 500
    patience: int = 2
    min_delta: float = 1e-5
    monitor: str = "val_loss"
    method: str = "tfmot"
    layers: tuple | None = None
    prune_bias: bool = False
    output_rate: float = 1.0
    layer_rates: dict | None = None
    schedule: str = "constant"
    ramp_epochs: int = 2
    frequency: int = 0
    batch_size: int = 128
    seed: int = 0
    evaluate_train: bool = True
    reset_optimizer: bool = True
    m_by_n: tuple | None = None

    def __post_init__(self):
        f = self.FUNC
        method = check_choice(self.method, ("tfmot", "manual"), "method", f)
        m_by_n = check_m_by_n(self.m_by_n, f)
        if m_by_n is not None and method != "tfmot":
            raise InvalidParameterError(
                f"{f}(): m_by_n works through tfmot; use method='tfmot'.")
        schedule = check_choice(self.schedule, ("constant", "polynomial"),
                                "schedule", f)
        frequency = check_int(self.frequency, "frequency", f, min_value=0)
        if method == "manual" and (schedule != "constant" or frequency):
            raise InvalidParameterError(
                f"{f}(): schedule='polynomial' and frequency apply to "
                "method='tfmot' only.")
        if self.layer_rates is not None:
            check_type(self.layer_rates, dict, "layer_rates", f)
        layers = self.layers
        if isinstance(layers, str):
            layers = [layers]
        self._set(
            sparsities=tuple(check_levels(self.sparsities, "sparsities", f)),
            max_epochs=check_int(self.max_epochs, "max_epochs", f,
                                 min_value=1),
            patience=check_int(self.patience, "patience", f, min_value=0),
            min_delta=check_float(self.min_delta, "min_delta", f, 0.0),
            monitor=check_type(self.monitor, str, "monitor", f),
            layers=None if layers is None else tuple(layers),
            prune_bias=check_type(self.prune_bias, bool, "prune_bias", f),
            output_rate=check_float(self.output_rate, "output_rate", f,
                                    0.0, 1.0),
            ramp_epochs=check_int(self.ramp_epochs, "ramp_epochs", f,
                                  min_value=1),
            batch_size=check_int(self.batch_size, "batch_size", f,
                                 min_value=1),
            seed=check_int(self.seed, "seed", f, min_value=0),
            evaluate_train=bool(self.evaluate_train),
            reset_optimizer=bool(self.reset_optimizer), m_by_n=m_by_n)

    def callback(self, store, train_data) -> SequentialPruning:
        """The :class:`SequentialPruning` that runs these levels."""
        manual = self.method == "manual"
        cb = SequentialPruning(
            list(self.sparsities), monitor=self.monitor,
            patience=self.patience, min_delta=self.min_delta,
            max_epochs=self.max_epochs, method=self.method,
            frequency=0 if manual else self.frequency,
            ramp_epochs=self.ramp_epochs if self.schedule == "polynomial"
            else 0,
            reset_optimizer=self.reset_optimizer,
            train_data=train_data if self.evaluate_train else None,
            pause_between_levels=True, keep_weights=True,
            layers=self.layers if manual else None,
            prune_bias=True if manual else self.prune_bias)
        cb._store = store
        return cb


def _check_plain_compiled(model, func):
    check_model(model, "model", func)
    if not is_compiled(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' is not compiled; call "
            "model.compile(optimizer, loss, metrics) first (a fresh optimizer "
            "of the same configuration is used for the pruned copy).")
    if is_wrapped(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' already holds pruning wrappers; "
            "pass the plain model (tp.sparsity.strip(model)).")


def _check_strategy(strategy, func):
    if strategy is not None:
        check_type(strategy, tf.distribute.Strategy, "strategy", func,
                   "a tf.distribute.Strategy")


def _scope(strategy):
    return strategy.scope() if strategy is not None else \
        contextlib.nullcontext()


def working_model(model, cfg, strategy=None, func="sequential_prune"):
    """A copy of ``model`` to train: wrapped for tfmot, compiled like it.
    Checks ``cfg``'s layer choices against the model (before any run
    folder is opened)."""
    if cfg.method == "manual" and cfg.layers is not None:
        names = [la.name for la in model.layers]
        for name in cfg.layers:
            if name not in names:
                raise InvalidParameterError(
                    f"{func}(): 'layers' names {name!r}, which is not a "
                    f"layer of model '{model.name}'; its layers are {names}.")
    with _scope(strategy):
        base = keras.models.clone_model(model)
        base.set_weights(model.get_weights())
        work = base
        if cfg.method == "tfmot":
            work = wrap(base, sparsity=0.0,
                        layers=None if cfg.layers is None else
                        list(cfg.layers),
                        prune_bias=cfg.prune_bias,
                        output_rate=cfg.output_rate,
                        layer_rates=cfg.layer_rates, frequency=0,
                        compile=False, m_by_n=cfg.m_by_n)
        compile_like(work, model)
    return work


def _open_store(run_dir, cfg, model, train, val, func):
    if run_dir is None:
        return None
    rd = cfg.open(run_dir, func, model=fingerprint(model, "model"),
                  compile=compile_fingerprint(model),
                  train=fingerprint(train, "train", func),
                  val=fingerprint(val, "val", func))
    return LevelStore(rd)


def _fit_levels(work, cb, train, val, cfg, strategy, extra, progress,
                verbose, func):
    """One ``fit`` per level until the callback has finished them all."""
    fit_kw = {"validation_data": val, "epochs": cfg.max_epochs,
              "verbose": verbose, "callbacks": [cb] + list(extra)}
    if isinstance(train, tf.data.Dataset):
        fit_args = (train,)
    else:
        fit_args = train
        fit_kw["batch_size"] = cfg.batch_size
    bar = progress_bar(progress, len(cfg.sparsities), initial=cb.level,
                       desc=func, unit="level")
    try:
        while not cb.finished:
            i = cb.level
            set_seed(derive_seed(cfg.seed, i))
            with _scope(strategy):
                work.fit(*fit_args, **fit_kw)
            if cb.level == i:
                raise RuntimeError(
                    f"{func}(): level {i} did not finish within one fit "
                    "call; this is a bug.")
            row = cb.rows[-1]
            bar.set_postfix({"sparsity": f"{row['sparsity']:.2f}",
                             "val_loss": f"{row['val_loss']:.3g}"},
                            refresh=False)
            bar.update(1)
    finally:
        bar.close()


def sequential_prune(model, train, val, sparsities, max_epochs=500,
                     patience=2, run_dir=None, *, min_delta=1e-5,
                     monitor="val_loss", method="tfmot", layers=None,
                     prune_bias=False, output_rate=1.0, layer_rates=None,
                     schedule="constant", ramp_epochs=2, frequency=0,
                     batch_size=128, seed=0, strategy=None,
                     evaluate_train=True, reset_optimizer=True,
                     tensorboard_dir=None, callbacks=None, progress=True,
                     verbose=0, m_by_n=None) -> SequentialResult:
    """Prune level by level, retraining each level to convergence.

    For each level: prune (tfmot ``prune_low_magnitude``, by magnitude, per
    layer) to the level, retrain until ``monitor`` stops improving by
    ``min_delta`` for ``patience`` epochs (at most ``max_epochs``), keep the
    level's best weights, record it, and go on from there.

    Args:
        model: a COMPILED plain tf_keras model (its loss, metrics and
            optimizer configuration are used; the model is not changed).
        train, val: ``(x, y)`` arrays or batched ``tf.data.Dataset``s.
        sparsities: strictly increasing levels in [0, 1); include 0.0 first
            to train the dense network as level 0 (``MOTH_LEVELS`` holds the
            moth study's 17 levels).
        max_epochs, patience: at most ``max_epochs`` epochs per level; a
            level ends after ``patience`` epochs without improvement.
        run_dir: folder for a resumable run: each finished level commits its
            stripped weights and the callback state; calling again with the
            same folder resumes after the last committed level. It records
            the run's parameters and fingerprints the model (architecture
            and weights), its compile arguments and the data; a call that
            differs in any of them is refused, naming it.
        min_delta, monitor, method, layers, prune_bias, output_rate,
            layer_rates, schedule, ramp_epochs, frequency, batch_size, seed,
            evaluate_train, reset_optimizer, m_by_n: the run's other
            parameters (see :class:`SequentialConfig`).
        strategy: a ``tf.distribute`` strategy to train under.
        tensorboard_dir: write tfmot ``PruningSummaries`` there.
        callbacks: extra Keras callbacks for every level's ``fit``.
        progress, verbose: tqdm bar over levels; ``fit`` verbosity.

    Returns:
        SequentialResult with ``.history`` and ``.model_at(i)``.

    Raises:
        InvalidParameterError: bad levels or other values, non-finite data,
            data that does not fit the model, a model that is not compiled
            or is already wrapped.
        ResumeMismatchError: ``run_dir`` holds a run with other arguments.
        RunStateError: a damaged file in ``run_dir`` (named).
        UnsupportedLayerError: a layer tfmot cannot wrap (named).
    """
    func = "sequential_prune"
    t_start = time.perf_counter()
    _check_plain_compiled(model, func)
    cfg = SequentialConfig(
        sparsities, max_epochs=max_epochs, patience=patience,
        min_delta=min_delta, monitor=monitor, method=method, layers=layers,
        prune_bias=prune_bias, output_rate=output_rate,
        layer_rates=layer_rates, schedule=schedule, ramp_epochs=ramp_epochs,
        frequency=frequency, batch_size=batch_size, seed=seed,
        evaluate_train=evaluate_train, reset_optimizer=reset_optimizer,
        m_by_n=m_by_n)
    _check_strategy(strategy, func)
    train = check_dataset(train, "train", func, model=model)
    val = check_dataset(val, "val", func, model=model)
    ensure_device()
    work = working_model(model, cfg, strategy, func)
    store = _open_store(run_dir, cfg, model, train, val, func)
    cb = cfg.callback(store, train)
    cb.resume(work)
    extra = list(callbacks or [])
    if tensorboard_dir is not None and cfg.method == "tfmot":
        extra.append(PruningSummaries(log_dir=str(tensorboard_dir)))
    _fit_levels(work, cb, train, val, cfg, strategy, extra, progress,
                verbose, func)
    return SequentialResult(history=_history_frame(cb.rows),
                            run_dir=None if store is None else store.path,
                            time_s=time.perf_counter() - t_start,
                            _template=keras.models.clone_model(model),
                            _weights=dict(cb._weights), _store=store)


def find_sparsest(history, threshold=1e-3, column="train_loss",
                  skip_dead=False):
    """The most pruned level whose ``column`` is at most ``threshold``.

    The moth study's rule (``docs/sections/sparsity.md``, Methods): the
    LAST level with loss <= threshold, even when the loss curve is not
    monotone.

    A level at which an output has no path from any input left
    (``dead_outputs > 0``) predicts that output as a constant. By default
    such a level may still be chosen (the study's rule looks at the loss
    only), but never silently: a ``RuntimeWarning`` names it, and the row
    carries its ``dead_outputs`` count. ``skip_dead=True`` considers only
    levels where every output is still connected.

    Args:
        history: a history DataFrame (or a ``SequentialResult``).
        threshold: the loss threshold (1e-3 in scaled MSE units).
        column: the loss column to compare.
        skip_dead: leave out levels with ``dead_outputs > 0``.

    Returns:
        The row (``pandas.Series``) of that level, or None when no level is
        under the threshold.

    Raises:
        InvalidParameterError: a missing column (``dead_outputs`` is needed
            for ``skip_dead=True``).
    """
    func = "find_sparsest"
    if isinstance(history, SequentialResult):
        history = history.history
    check_type(history, pd.DataFrame, "history", func,
               "a pandas DataFrame (SequentialResult.history)")
    threshold = check_float(threshold, "threshold", func, 0.0, None,
                            min_inclusive=False)
    skip_dead = check_type(skip_dead, bool, "skip_dead", func)
    needed = [column, "sparsity"] + (["dead_outputs"] if skip_dead else [])
    for col in needed:
        if col not in history.columns:
            raise InvalidParameterError(
                f"{func}(): history has no column {col!r}; its columns are "
                f"{list(history.columns)}.")
    ok = history[history[column] <= threshold]
    if skip_dead:
        ok = ok[ok["dead_outputs"] == 0]
    if ok.empty:
        return None
    row = ok.loc[ok["sparsity"].idxmax()]
    dead = row.get("dead_outputs", 0)
    if pd.notna(dead) and dead > 0:
        warnings.warn(
            f"{func}(): the chosen level (sparsity {row['sparsity']:g}, "
            f"{column} {row[column]:.3g}) has {int(dead)} output(s) with no "
            "path from any input: they predict a constant. Pass "
            "skip_dead=True to choose among fully connected levels only.",
            RuntimeWarning, stacklevel=2)
    return row
