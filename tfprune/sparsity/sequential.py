"""``sequential_prune``: the moth study's level-by-level pruning, resumable.

A thin driver over :class:`SequentialPruning`: it wraps a copy of the
caller's compiled model, then runs one ``fit`` per level with the callback in
``pause_between_levels`` mode, re-seeding before each level with
``derive_seed(seed, level)``. Because each level starts from the saved
weights of the previous one, a fresh optimizer state and its own seed, a run
killed between levels resumes from its ``run_dir`` to the identical history.
"""
from __future__ import annotations

import contextlib
import hashlib
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import (RunDir, atomic_save_npz, atomic_write_csv,
                   atomic_write_json, read_json)
from .._keras import check_model, keras, tf
from .._validate import (check_choice, check_float, check_int, check_type,
                         check_dataset)
from ..errors import InvalidParameterError
from ..utils import derive_seed, ensure_device, progress_bar, set_seed
from .callbacks import SequentialPruning, _history_frame
from .schedules import check_levels
from .wrap import is_wrapped, recompile_like, wrap

__all__ = ["sequential_prune", "find_sparsest", "SequentialResult"]


@dataclass
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

    def model_at(self, i: int):
        """Stripped model of level ``i`` (row ``i`` of ``history``): a plain
        tf_keras model whose pruned weights are exact zeros (uncompiled)."""
        i = check_int(i, "i", "SequentialResult.model_at", min_value=0,
                      max_value=len(self.history) - 1)
        weights = self._weights.get(i)
        if weights is None and self.run_dir is not None:
            weights = _load_level(self.run_dir, i)
        if weights is None:
            raise InvalidParameterError(
                f"SequentialResult.model_at(): no weights for level {i}.")
        clone = keras.models.clone_model(self._template)
        clone.set_weights(weights)
        return clone

    def to_frame(self) -> pd.DataFrame:
        return self.history.copy()


def _level_file(run_dir, i):
    return Path(run_dir) / f"level_{i:02d}.npz"


def _load_level(run_dir, i):
    path = _level_file(run_dir, i)
    if not path.exists():
        return None
    with np.load(path) as z:
        return [z[k] for k in sorted(z.files)]


def _fingerprint_arrays(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _data(data, name, func, model=None):
    data = check_dataset(data, name, func, model=model)
    if isinstance(data, tf.data.Dataset):
        return data, "dataset"
    return data, _fingerprint_arrays(*data)


def sequential_prune(model, train, val, sparsities, max_epochs=500,
                     patience=2, run_dir=None, *, min_delta=1e-5,
                     monitor="val_loss", method="tfmot", layers=None,
                     prune_bias=False, output_rate=1.0, layer_rates=None,
                     schedule="constant", ramp_epochs=2, frequency=0,
                     batch_size=128, seed=0, strategy=None,
                     evaluate_train=True, reset_optimizer=True,
                     tensorboard_dir=None, callbacks=None, progress=True,
                     verbose=0) -> SequentialResult:
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
        max_epochs: cap on epochs per level.
        patience: early-stopping patience per level.
        run_dir: folder for a resumable run: each finished level writes its
            stripped weights (``level_XX.npz``), the history
            (``history.csv``) and the callback state (``state.json``),
            atomically; calling again with the same folder and arguments
            resumes after the last finished level.
        min_delta, monitor: early-stopping settings.
        method: ``"tfmot"`` or ``"manual"`` (the original's percentile
            zeroing of kernels and biases, moth.md §5).
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
        strategy: a ``tf.distribute`` strategy to train under.
        evaluate_train: evaluate each level's best weights on ``train`` for
            ``train_loss`` (the find-sparsest rule's value); else the running
            training loss of the best epoch.
        reset_optimizer: fresh optimizer state at each level (as the
            original, which recompiled at each level).
        tensorboard_dir: write tfmot ``PruningSummaries`` there.
        callbacks: extra Keras callbacks for every level's ``fit``.
        progress: tqdm bar over levels.
        verbose: ``fit`` verbosity.

    Returns:
        SequentialResult with ``.history`` and ``.model_at(i)``.

    Raises:
        InvalidParameterError: bad levels, a model that is not compiled or is
            already wrapped, a run folder holding another run.
        UnsupportedLayerError: a layer tfmot cannot wrap (named).
    """
    func = "sequential_prune"
    t_start = time.perf_counter()
    check_model(model, "model", func)
    ensure_device()
    levels = check_levels(sparsities, "sparsities", func)
    if getattr(model, "optimizer", None) is None or not getattr(
            model, "compiled_loss", None):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' is not compiled; call "
            "model.compile(optimizer, loss, metrics) first (a fresh optimizer "
            "of the same configuration is used for the pruned copy).")
    if is_wrapped(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' already holds pruning wrappers; "
            "pass the plain model (tp.sparsity.strip(model)).")
    max_epochs = check_int(max_epochs, "max_epochs", func, min_value=1)
    patience = check_int(patience, "patience", func, min_value=0)
    min_delta = check_float(min_delta, "min_delta", func, 0.0)
    check_choice(method, ("tfmot", "manual"), "method", func)
    check_choice(schedule, ("constant", "polynomial"), "schedule", func)
    ramp_epochs = check_int(ramp_epochs, "ramp_epochs", func, min_value=1)
    frequency = check_int(frequency, "frequency", func, min_value=0)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    seed = check_int(seed, "seed", func, min_value=0)
    if strategy is not None:
        check_type(strategy, tf.distribute.Strategy, "strategy", func,
                   "a tf.distribute.Strategy")
    if method == "manual" and (schedule != "constant" or frequency):
        raise InvalidParameterError(
            f"{func}(): schedule='polynomial' and frequency apply to "
            "method='tfmot' only.")
    train_fit, train_fp = _data(train, "train", func, model)
    val_fit, val_fp = _data(val, "val", func, model)

    rd = None
    done = []
    state = None
    if run_dir is not None:
        params = {
            "sparsities": levels, "max_epochs": max_epochs,
            "patience": patience, "min_delta": min_delta, "monitor": monitor,
            "method": method, "layers": layers, "prune_bias": prune_bias,
            "output_rate": output_rate, "layer_rates": layer_rates,
            "schedule": schedule, "ramp_epochs": ramp_epochs,
            "frequency": frequency, "batch_size": batch_size, "seed": seed,
            "evaluate_train": evaluate_train,
            "reset_optimizer": reset_optimizer,
            "model": {"name": model.name, "params": model.count_params(),
                      "weights": _fingerprint_arrays(*model.get_weights()),
                      "optimizer": model.optimizer.get_config()},
            "data": {"train": train_fp, "val": val_fp}}
        rd = RunDir(run_dir, params, kind="sequential_prune", func=func)
        done = sorted(int(k) for k in rd.done())
        if done:
            state = read_json(rd.file("state.json"))

    def scope():
        return strategy.scope() if strategy is not None else \
            contextlib.nullcontext()

    template = keras.models.clone_model(model)
    weights = {}
    with scope():
        base = keras.models.clone_model(model)
        base.set_weights(model.get_weights())
        if done:
            last = _load_level(rd.path, done[-1])
            base.set_weights(last)
            for i in done:
                weights[i] = _load_level(rd.path, i)
        if method == "tfmot":
            work = wrap(base, sparsity=0.0, layers=layers,
                        prune_bias=prune_bias, output_rate=output_rate,
                        layer_rates=layer_rates, frequency=0, compile=False)
        else:
            work = base
        recompile_like(work, model)

    def on_level(i, row, cb):
        weights[i] = cb._weights.get(i)
        if rd is not None:
            atomic_save_npz(_level_file(rd.path, i),
                            **{f"w{j:03d}": w for j, w in
                               enumerate(weights[i])})
            atomic_write_json(rd.file("state.json"), cb.get_state())
            atomic_write_csv(rd.file("history.csv"), cb.history)
            rd.mark_done(i)

    cb = SequentialPruning(
        levels, monitor=monitor, patience=patience, min_delta=min_delta,
        on_level=on_level, max_epochs=max_epochs, method=method,
        frequency=frequency if method == "tfmot" else 0,
        ramp_epochs=ramp_epochs if schedule == "polynomial" else 0,
        reset_optimizer=reset_optimizer,
        train_data=train_fit if evaluate_train else None,
        pause_between_levels=True, keep_weights=True,
        layers=layers if method == "manual" else None,
        prune_bias=True if method == "manual" else prune_bias)
    if state is not None:
        cb.set_state(state)
    extra = list(callbacks or [])
    if tensorboard_dir is not None and method == "tfmot":
        from tensorflow_model_optimization.python.core.sparsity.keras import (
            pruning_callbacks)
        extra.append(pruning_callbacks.PruningSummaries(
            log_dir=str(tensorboard_dir)))
    fit_kw = {"validation_data": val_fit, "epochs": max_epochs,
              "verbose": verbose, "callbacks": [cb] + extra}
    if isinstance(train_fit, tf.data.Dataset):
        fit_args = (train_fit,)
    else:
        fit_args = train_fit
        fit_kw["batch_size"] = batch_size

    bar = progress_bar(progress, len(levels), initial=cb.level, desc=func,
                       unit="level")
    try:
        while not cb.finished:
            i = cb.level
            set_seed(derive_seed(seed, i))
            with scope():
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
    return SequentialResult(history=_history_frame(cb.rows),
                            run_dir=None if rd is None else rd.path,
                            time_s=time.perf_counter() - t_start,
                            _template=template, _weights=weights)


def find_sparsest(history, threshold=1e-3, column="train_loss",
                  skip_dead=False):
    """The most pruned level whose ``column`` is at most ``threshold``.

    The moth study's rule (moth.md §7): the LAST level with loss <=
    threshold, even when the loss curve is not monotone.

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
