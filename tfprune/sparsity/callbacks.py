"""Keras callbacks for every tfprune schedule: add pruning to your own ``fit``.

``SequentialPruning`` and ``DynamicPruning`` each hold the ONE implementation
of their schedule; ``sequential_prune`` and ``dynamic`` are thin drivers that
call ``model.fit`` with them. Both callbacks also do what tfmot's
``UpdatePruningStep`` does (initialise the wrappers' step counter and re-apply
the masks at each epoch end), so one callback is enough.

Example::

    pm = tp.sparsity.wrap(model)            # tfmot wrappers, weights copied
    pm.compile("adam", "mse")
    cb = tp.sparsity.SequentialPruning([0.5, 0.8])
    pm.fit(x, y, validation_data=(xv, yv), epochs=1000, callbacks=[cb])
    cb.history                              # one row per level
    sparse = cb.model_at(1)                 # stripped model of level 1
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_save_npz, atomic_write_csv, ensure_dir
from .._keras import keras, tf
from .._validate import check_choice, check_float, check_int, check_type
from ..errors import InvalidParameterError
from . import masks as _masks
from .connectivity import CONNECTIVITY_COLUMNS, history_columns
from .schedules import LevelSparsity, check_levels
from .wrap import output_layer_names, prunable_layer_names, strip, wrappers

__all__ = ["SequentialPruning", "DynamicPruning", "RewindPoint",
           "PruningProgress", "HISTORY_COLUMNS"]

#: Columns every sequential history starts with (then, for a chain of Dense
#: layers, ``dead_outputs`` and ``dead_units``; then other metrics, then
#: ``achieved_<layer>`` per pruned layer).
HISTORY_COLUMNS = ["level", "sparsity", "achieved", "train_loss", "val_loss",
                   "epochs", "best_epoch", "cum_epochs", "converged",
                   "time_s"]


def _init_pruning_step(model):
    for w in wrappers(model):
        if int(w.pruning_step.numpy()) == -1:
            w.pruning_step.assign(0)


def _pruning_step(model) -> int:
    ws = wrappers(model)
    return int(ws[0].pruning_step.numpy()) if ws else 0


def _reset_optimizer(model):
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return
    variables = opt.variables
    if callable(variables) and not isinstance(variables, list):
        variables = variables()          # legacy optimizers: a method
    for v in list(variables):
        v.assign(tf.zeros(v.shape, v.dtype))


def _require_wrappers(model, who):
    ws = wrappers(model)
    if not ws:
        raise InvalidParameterError(
            f"{who}: model '{model.name}' has no tfmot pruning wrappers. Wrap "
            "it before compiling: model = tp.sparsity.wrap(model); "
            "model.compile(...); then fit with this callback (or use "
            "method='manual' for SequentialPruning on a plain model).")
    for w in ws:
        if not isinstance(w.pruning_schedule, LevelSparsity):
            raise InvalidParameterError(
                f"{who}: layer '{w.name}' uses a "
                f"{type(w.pruning_schedule).__name__} schedule, whose level "
                "cannot change during training. Wrap with "
                "tp.sparsity.wrap(model) (default schedule) instead.")
    return ws


def _layer_rates(model, output_rate, layer_rates, who):
    """``{inner_name: rate}`` for the wrapped layers of ``model``."""
    ws = wrappers(model)
    inner = {w.name: w.layer.name for w in ws}
    rates = {w.layer.name: 1.0 for w in ws}
    for name in output_layer_names(model, list(inner)):
        rates[inner[name]] = output_rate
    for name, r in (layer_rates or {}).items():
        if name not in rates:
            raise InvalidParameterError(
                f"{who}: 'layer_rates' names {name!r}, which is not a pruned "
                f"layer; pruned layers are {list(rates)}.")
        rates[name] = float(r)
    return rates


def _state_variables(model):
    skip = set()
    for w in wrappers(model):
        skip.add(w.pruning_step.ref())
        for _, _, thr in w.pruning_vars:
            skip.add(thr.ref())
    return [v for v in model.weights if v.ref() not in skip]


class _TfmotEngine:
    """Levels through tfmot: LevelSparsity schedules, tfmot ranks by |w|."""

    name = "tfmot"

    def __init__(self, model, who):
        self.model = model
        self.wrappers = _require_wrappers(model, who)

    def start_level(self, sparsity, previous, frequency, ramp_steps):
        _masks.apply_masks(self.model)
        begin = _pruning_step(self.model) + 1
        for w in self.wrappers:
            w.pruning_schedule.set_level(sparsity, begin, frequency,
                                         ramp_steps, initial_sparsity=previous)

    def apply(self):
        _masks.apply_masks(self.model)

    def on_batch_end(self):
        pass

    def achieved(self):
        return _masks.achieved_sparsity(self.model)

    def stripped(self):
        return strip(self.model, compile=False)


class _ManualEngine:
    """The original's percentile zeroing (moth.md §5) on a plain model."""

    name = "manual"

    def __init__(self, model, who, layers, prune_bias, from_zeros):
        if wrappers(model):
            raise InvalidParameterError(
                f"{who}: method='manual' works on a plain model, but "
                f"'{model.name}' holds tfmot wrappers; pass "
                "tp.sparsity.strip(model) or use method='tfmot'.")
        self.model = model
        names = prunable_layer_names(model) if layers is None else list(layers)
        by_name = {la.name: la for la in model.layers}
        self.vars = {}
        for name in names:
            if name not in by_name:
                raise InvalidParameterError(
                    f"{who}: 'layers' names {name!r}, which is not a layer of "
                    f"model '{model.name}'.")
            la = by_name[name]
            vs = list(_masks._kernel_vars(la))
            if prune_bias and getattr(la, "bias", None) is not None:
                vs.append(la.bias)
            self.vars[name] = vs
        self.kernel_layers = names
        self.masks = {n: [(v.numpy() != 0 if from_zeros else
                           np.ones(v.shape, bool)).astype(np.float32)
                          for v in vs] for n, vs in self.vars.items()}
        self._tensors()

    def _tensors(self):
        self._pairs = [(v, tf.constant(m, dtype=v.dtype))
                       for n, vs in self.vars.items()
                       for v, m in zip(vs, self.masks[n])]

    def start_level(self, sparsity, previous, frequency, ramp_steps):
        values = {n: [v.numpy() for v in vs] for n, vs in self.vars.items()}
        self.masks = _masks.percentile_masks(values, self.masks, sparsity)
        self._tensors()
        self.apply()

    def apply(self):
        for v, m in self._pairs:
            v.assign(v * m)

    def on_batch_end(self):
        self.apply()

    def achieved(self):
        return _masks.achieved_sparsity(self.model, self.kernel_layers)

    def stripped(self):
        clone = keras.models.clone_model(self.model)
        clone.set_weights(self.model.get_weights())
        return clone


class SequentialPruning(keras.callbacks.Callback):
    """Prune level after level inside one ``model.fit``.

    Starts at the first level; at each epoch end it re-applies the masks and
    checks ``monitor``. When it has not improved by ``min_delta`` for
    ``patience`` epochs (or after ``max_epochs`` epochs at the level) the
    level is finished: the best weights of the level are restored, a history
    row is recorded (requested and achieved sparsity per layer, losses of the
    best epoch, epochs, time; for a chain of Dense layers the outputs left
    without a path from any input and the dead hidden units),
    ``on_level(index, row, callback)`` is called, and the next level starts
    from those weights with the optimizer state reset (the original
    recompiled at each level). Training stops after the last level.

    Args:
        sparsities: strictly increasing levels in [0, 1) (0 = dense level).
        monitor: the log key to watch (``"val_loss"`` needs validation data).
        patience: epochs without improvement before the level ends.
        min_delta: the smallest change that counts as an improvement.
        on_level: ``f(index, row, callback)`` called after each level.
        max_epochs: cap on epochs per level (None: no cap).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like keys).
        method: ``"tfmot"`` (a model from ``tp.sparsity.wrap``) or
            ``"manual"`` (a plain model; the original percentile zeroing of
            every kernel and bias, kept at zero with a mask after each batch).
        frequency: tfmot only; 0 computes each level's mask once, at the
            level's first step, so pruned weights stay exactly zero; k > 0
            re-ranks every k steps as tfmot does (the original used 100).
        ramp_epochs: tfmot only; > 0 moves to each level with a polynomial
            ramp (tfmot ``PolynomialDecay``) over that many epochs, which do
            not count for early stopping.
        reset_optimizer: zero the optimizer state at each level start.
        train_data: ``(x, y)`` or a Dataset; when given, ``train_*`` columns
            are an evaluation of the level's best weights on it (the value
            the find-sparsest rule uses), else the best epoch's running
            training loss.
        eval_batch_size: batch size of that evaluation.
        pause_between_levels: stop ``fit`` after each level; the next ``fit``
            call with the same callback continues with the next level.
        keep_weights: keep each level's stripped weights for ``model_at``.
        save_dir: write ``level_XX.npz`` (stripped weights) and
            ``history.csv`` there after each level (atomic writes).
        layers, prune_bias: manual method only (default: every prunable
            layer, biases included as in the original).

    Raises:
        InvalidParameterError: bad levels (not increasing, outside [0, 1)),
            or a model without tfprune wrappers for ``method="tfmot"``.
    """

    def __init__(self, sparsities, monitor="val_loss", patience=2,
                 min_delta=1e-5, on_level=None, max_epochs=None, mode="auto",
                 method="tfmot", frequency=0, ramp_epochs=0,
                 reset_optimizer=True, train_data=None, eval_batch_size=1024,
                 pause_between_levels=False, keep_weights=True,
                 save_dir=None, layers=None, prune_bias=True):
        super().__init__()
        who = "SequentialPruning"
        self.sparsities = check_levels(sparsities, "sparsities", who)
        self.monitor = check_type(monitor, str, "monitor", who)
        self.patience = check_int(patience, "patience", who, min_value=0)
        self.min_delta = abs(check_float(min_delta, "min_delta", who))
        if on_level is not None and not callable(on_level):
            raise TypeError(f"{who}: 'on_level' must be callable; got "
                            f"{type(on_level).__name__}.")
        self.on_level = on_level
        self.max_epochs = check_int(max_epochs, "max_epochs", who,
                                    min_value=1, allow_none=True)
        check_choice(mode, ("auto", "min", "max"), "mode", who)
        if mode == "auto":
            mode = "max" if ("acc" in monitor or "auc" in monitor) else "min"
        self.mode = mode
        self.method = check_choice(method, ("tfmot", "manual"), "method", who)
        self.frequency = check_int(frequency, "frequency", who, min_value=0)
        self.ramp_epochs = check_int(ramp_epochs, "ramp_epochs", who,
                                     min_value=0)
        if method == "manual" and (frequency or ramp_epochs):
            raise InvalidParameterError(
                f"{who}: 'frequency' and 'ramp_epochs' apply to "
                "method='tfmot' only; got method='manual'.")
        self.reset_optimizer = bool(reset_optimizer)
        self.train_data = train_data
        self.eval_batch_size = check_int(eval_batch_size, "eval_batch_size",
                                         who, min_value=1)
        self.pause_between_levels = bool(pause_between_levels)
        self.keep_weights = bool(keep_weights)
        self.save_dir = None if save_dir is None else str(save_dir)
        self.layers = None if layers is None else list(layers)
        self.prune_bias = bool(prune_bias)
        self._reset_state()
        self._engine = None
        self._template = None
        self._weights = {}

    # ---------------------------------------------------------------- state
    def _reset_state(self):
        self.level = 0
        self.finished = False
        self.rows = []
        self.cum_epochs = 0
        self._new_level_tracking()

    def _new_level_tracking(self):
        self.level_epoch = 0
        self.best = None
        self.wait = 0
        self.best_epoch = None
        self.best_logs = None
        self._best_values = None
        self._level_time = 0.0
        self._t0 = None

    def get_state(self) -> dict:
        """JSON-serialisable progress (levels done, history rows, counters);
        with the stripped model of the last finished level it resumes a run."""
        return {"level": self.level, "finished": self.finished,
                "rows": [dict(r) for r in self.rows],
                "cum_epochs": self.cum_epochs,
                "level_epoch": self.level_epoch, "best": self.best,
                "wait": self.wait, "best_epoch": self.best_epoch,
                "best_logs": self.best_logs,
                "level_time": self._level_time}

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state` output (for a resumed run)."""
        check_type(state, dict, "state", "SequentialPruning.set_state")
        level = check_int(state.get("level", 0), "state['level']",
                          "SequentialPruning.set_state", min_value=0,
                          max_value=len(self.sparsities))
        self.level = level
        self.finished = bool(state.get("finished", False))
        self.rows = [dict(r) for r in state.get("rows", [])]
        self.cum_epochs = int(state.get("cum_epochs", 0))
        self.level_epoch = int(state.get("level_epoch", 0))
        self.best = state.get("best")
        self.wait = int(state.get("wait", 0))
        self.best_epoch = state.get("best_epoch")
        self.best_logs = state.get("best_logs")
        self._level_time = float(state.get("level_time", 0.0))
        self._best_values = None

    def get_config(self) -> dict:
        """Constructor arguments plus ``"state"``; ``from_config`` resumes.
        ``on_level`` and ``train_data`` are not serialised."""
        return {"sparsities": list(self.sparsities), "monitor": self.monitor,
                "patience": self.patience, "min_delta": self.min_delta,
                "max_epochs": self.max_epochs, "mode": self.mode,
                "method": self.method, "frequency": self.frequency,
                "ramp_epochs": self.ramp_epochs,
                "reset_optimizer": self.reset_optimizer,
                "eval_batch_size": self.eval_batch_size,
                "pause_between_levels": self.pause_between_levels,
                "keep_weights": self.keep_weights, "save_dir": self.save_dir,
                "layers": self.layers, "prune_bias": self.prune_bias,
                "state": self.get_state()}

    @classmethod
    def from_config(cls, config, **overrides):
        """Rebuild from :meth:`get_config`; ``overrides`` (e.g. ``on_level``,
        ``train_data``) replace or add constructor arguments."""
        config = dict(config)
        state = config.pop("state", None)
        config.update(overrides)
        cb = cls(**config)
        if state:
            cb.set_state(state)
        return cb

    # -------------------------------------------------------------- results
    @property
    def history(self) -> pd.DataFrame:
        """One row per finished level (see ``HISTORY_COLUMNS``)."""
        return _history_frame(self.rows)

    def model_at(self, index: int):
        """Stripped model (pruned weights exactly zero) of finished level
        ``index`` (kept in memory with ``keep_weights``)."""
        if index not in self._weights:
            raise InvalidParameterError(
                f"SequentialPruning.model_at(): level {index} has no kept "
                f"weights; kept levels are {sorted(self._weights)} (levels "
                "finished before a restore are not kept in memory; use "
                "save_dir).")
        clone = keras.models.clone_model(self._template)
        clone.set_weights(self._weights[index])
        return clone

    # ------------------------------------------------------------ callbacks
    def _better(self, current):
        if self.best is None:
            return True
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        who = "SequentialPruning"
        if self.method == "tfmot":
            self._engine = _TfmotEngine(self.model, who)
            _init_pruning_step(self.model)
        else:
            self._engine = _ManualEngine(self.model, who, self.layers,
                                         self.prune_bias,
                                         from_zeros=self.level > 0)
        if self.finished:
            warnings.warn("SequentialPruning: every level is finished; "
                          "nothing to train.", RuntimeWarning, stacklevel=2)
            self.model.stop_training = True
            return
        self._start_level()

    def _ramp_steps(self):
        if not self.ramp_epochs:
            return 0
        steps = (self.params or {}).get("steps")
        if not steps:
            raise InvalidParameterError(
                "SequentialPruning: ramp_epochs needs the number of steps per "
                "epoch; pass steps_per_epoch to fit() for a Dataset of "
                "unknown length.")
        return int(self.ramp_epochs * steps)

    def _start_level(self):
        i = self.level
        previous = self.sparsities[i - 1] if i > 0 else 0.0
        if self.level_epoch == 0 and self.reset_optimizer:
            _reset_optimizer(self.model)
        self._engine.start_level(self.sparsities[i], previous,
                                 self.frequency, self._ramp_steps())
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._engine is not None:
            self._engine.on_batch_end()

    def on_epoch_end(self, epoch, logs=None):
        if self.finished or self._engine is None:
            return
        logs = dict(logs or {})
        self._engine.apply()
        self.level_epoch += 1
        if self.level_epoch >= self.ramp_epochs:
            if self.monitor not in logs:
                raise InvalidParameterError(
                    f"SequentialPruning: monitor {self.monitor!r} is not in "
                    f"the training logs {sorted(logs)}; pass validation_data "
                    "to fit() or choose another monitor.")
            current = float(logs[self.monitor])
            if self._better(current):
                self.best = current
                self.wait = 0
                self.best_epoch = self.level_epoch
                self.best_logs = {k: float(v) for k, v in logs.items()}
                self._best_values = [v.numpy() for v in
                                     _state_variables(self.model)]
            else:
                self.wait += 1
        done = self.best is not None and self.wait >= self.patience
        capped = (self.max_epochs is not None and
                  self.level_epoch >= self.max_epochs)
        if done or capped:
            self._finish_level(converged=done, logs=logs)
            if self.finished or self.pause_between_levels:
                self.model.stop_training = True
            else:
                self._start_level()

    def on_train_end(self, logs=None):
        if not self.finished and self._engine is not None \
                and self.level_epoch > 0:
            warnings.warn(
                f"SequentialPruning: fit() ended during level {self.level} "
                f"(sparsity {self.sparsities[self.level]}) before it "
                "converged; it is recorded with converged=False. Pass a "
                "larger 'epochs' to fit().", RuntimeWarning, stacklevel=2)
            self._finish_level(converged=False, logs=None)

    def _finish_level(self, converged, logs):
        i = self.level
        if self._best_values is not None:
            for v, val in zip(_state_variables(self.model),
                              self._best_values):
                v.assign(val)
        self._engine.apply()
        elapsed = self._level_time + (time.perf_counter() - self._t0
                                      if self._t0 else 0.0)
        best_logs = self.best_logs or {k: float(v) for k, v in
                                       (logs or {}).items()}
        metrics = {}
        for k, v in best_logs.items():
            metrics[k if k.startswith("val_") else f"train_{k}"] = v
        if self.train_data is not None:
            metrics.update(self._evaluate_train())
        total, per_layer = self._engine.achieved()
        self.cum_epochs += self.level_epoch
        row = {"level": i, "sparsity": self.sparsities[i],
               "achieved": total,
               "train_loss": metrics.pop("train_loss", np.nan),
               "val_loss": metrics.pop("val_loss", np.nan),
               "epochs": self.level_epoch,
               "best_epoch": self.best_epoch if self.best_epoch is not None
               else self.level_epoch,
               "cum_epochs": self.cum_epochs, "converged": bool(converged),
               "time_s": elapsed}
        row.update(history_columns(self.model))
        row.update(sorted(metrics.items()))
        row.update({f"achieved_{n}": s for n, s in per_layer.items()})
        self.rows.append(row)
        stripped = None
        if self.keep_weights or self.save_dir:
            stripped = self._engine.stripped()
            weights = stripped.get_weights()
            if self.keep_weights:
                self._weights[i] = weights
                if self._template is None:
                    self._template = stripped
            if self.save_dir:
                d = ensure_dir(self.save_dir, "save_dir", "SequentialPruning")
                atomic_save_npz(Path(d) / f"level_{i:02d}.npz",
                                **{f"w{j:03d}": w for j, w in
                                   enumerate(weights)})
                atomic_write_csv(Path(d) / "history.csv", self.history)
        self.level += 1
        if self.level >= len(self.sparsities):
            self.finished = True
        self._new_level_tracking()
        if self.on_level is not None:
            self.on_level(i, dict(row), self)

    def _evaluate_train(self):
        data = self.train_data
        if isinstance(data, tf.data.Dataset):
            res = self.model.evaluate(data, verbose=0, return_dict=True)
        else:
            x, y = data
            res = self.model.evaluate(x, y, batch_size=self.eval_batch_size,
                                      verbose=0, return_dict=True)
        return {f"train_{k}": float(v) for k, v in res.items()}


def _history_frame(rows) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    df = pd.DataFrame(rows)
    first = [c for c in HISTORY_COLUMNS + CONNECTIVITY_COLUMNS
             if c in df.columns]
    layer_cols = [c for c in df.columns if c.startswith("achieved_")]
    other = [c for c in df.columns if c not in first and c not in layer_cols]
    return df[first + other + layer_cols].reset_index(drop=True)


class DynamicPruning(keras.callbacks.Callback):
    """Prune a fraction of the remaining weights at set points of training.

    At each event the smallest-magnitude ``fraction`` of the still-unpruned
    weights is pruned (``round(fraction * remaining)`` entries, ties to the
    lower index; ``scope="global"`` ranks all pruned layers together as the
    original's ``global_unstructured`` L1, ``"layer"`` ranks each layer).
    Training continues from the current weights and optimizer state: nothing
    is rewound. Two events of 0.17 leave ``1 - 0.83**2 = 31.1 %`` pruned (on
    the penguin MLP's 180 weights: 31, then 25 of the remaining 149 = 56).

    Events are at the start of epoch ``int(f * epochs)`` for each fraction
    ``f`` in ``at`` (``epochs`` being the ``fit`` call's), or at explicit
    ``epochs=(333, 666)`` or global ``steps=(...)``.

    Needs a model from ``tp.sparsity.wrap`` (its schedules are frozen: the
    masks change only at the events).

    Args:
        fraction: share of the remaining weights pruned per event, in (0, 1).
        at: fractions of the planned epochs, strictly increasing in (0, 1).
        epochs: explicit epoch indices (0-based) instead of ``at``.
        steps: explicit training-step indices (0-based) instead of ``at``.
        scope: ``"global"`` or ``"layer"``.
        output_rate: multiplier of ``fraction`` for the output layer
            (``"layer"`` scope; ``"global"`` takes 0 or 1).
        layer_rates: ``{layer_name: multiplier}`` for other layers.
    """

    def __init__(self, fraction, at=(1 / 3, 2 / 3), epochs=None, steps=None,
                 scope="global", output_rate=1.0, layer_rates=None):
        super().__init__()
        who = "DynamicPruning"
        self.fraction = check_float(fraction, "fraction", who, 0.0, 1.0,
                                    min_inclusive=False, max_inclusive=False)
        if epochs is not None and steps is not None:
            raise InvalidParameterError(
                f"{who}: give 'epochs' or 'steps', not both.")
        self.at = None
        self.at_epochs = self.at_steps = None
        if epochs is not None:
            self.at_epochs = _check_indices(epochs, "epochs", who)
        elif steps is not None:
            self.at_steps = _check_indices(steps, "steps", who)
        else:
            at = check_levels(at, "at", who)
            if at[0] <= 0:
                raise InvalidParameterError(
                    f"{who}: 'at' must be fractions in (0, 1); got {at}.")
            self.at = at
        self.scope = check_choice(scope, ("global", "layer"), "scope", who)
        self.output_rate = check_float(output_rate, "output_rate", who, 0.0,
                                       1.0)
        self.layer_rates = dict(layer_rates or {})
        self.events = []
        self._steps_done = 0

    def get_config(self) -> dict:
        return {"fraction": self.fraction,
                "at": None if self.at is None else list(self.at),
                "epochs": self.at_epochs, "steps": self.at_steps,
                "scope": self.scope, "output_rate": self.output_rate,
                "layer_rates": self.layer_rates,
                "state": {"events": list(self.events),
                          "steps_done": self._steps_done}}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        state = config.pop("state", None) or {}
        if config.get("epochs") is not None or config.get("steps") is not None:
            config.pop("at", None)
        cb = cls(**config)
        cb.events = list(state.get("events", []))
        cb._steps_done = int(state.get("steps_done", 0))
        return cb

    @property
    def history(self) -> pd.DataFrame:
        """One row per event: ``epoch, step, pruned, total, sparsity``."""
        return pd.DataFrame(self.events, columns=["epoch", "step", "pruned",
                                                  "total", "sparsity"])

    def on_train_begin(self, logs=None):
        ws = _require_wrappers(self.model, "DynamicPruning")
        _init_pruning_step(self.model)
        for w in ws:
            w.pruning_schedule.freeze()
        self._rates = _layer_rates(self.model, self.output_rate,
                                   self.layer_rates, "DynamicPruning")
        if self.at is not None:
            planned = int((self.params or {}).get("epochs") or 0)
            self._epochs = [int(math.floor(f * planned + 1e-9))
                            for f in self.at]
        else:
            self._epochs = self.at_epochs or []

    def _done(self, key, value):
        return any(e[key] == value for e in self.events)

    def on_epoch_begin(self, epoch, logs=None):
        if self.at_steps is None and epoch in self._epochs and \
                not self._done("epoch", epoch):
            self._prune(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.at_steps is not None and self._steps_done in self.at_steps \
                and not self._done("step", self._steps_done):
            self._prune(None)

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done += 1

    def on_epoch_end(self, epoch, logs=None):
        _masks.apply_masks(self.model)

    def _prune(self, epoch):
        _masks.apply_masks(self.model)
        values = _masks.prunable_values(self.model)
        old = _masks.get_masks(self.model)
        new = _masks.prune_remaining(values, old, self.fraction, self.scope,
                                     self._rates, "DynamicPruning")
        _masks.set_masks(self.model, new)
        pruned, total = _masks.count_pruned(new)
        self.events.append({"epoch": epoch, "step": self._steps_done,
                            "pruned": pruned, "total": total,
                            "sparsity": pruned / max(total, 1)})


def _check_indices(values, name, who):
    check_type(values, (list, tuple, np.ndarray), name, who,
               "a sequence of non-negative integers")
    out = [check_int(int(v) if isinstance(v, np.integer) else v,
                     f"{name}[{i}]", who, min_value=0)
           for i, v in enumerate(values)]
    if sorted(set(out)) != out:
        raise InvalidParameterError(
            f"{who}: '{name}' must be strictly increasing; got {out}.")
    return out


class RewindPoint(keras.callbacks.Callback):
    """Take the lottery-ticket rewind snapshot after ``step`` training steps.

    ``step=0`` snapshots the weights at the start of training (rewind to
    init); ``step=k`` after the k-th step (late rewinding). The snapshot is
    in ``.snapshot`` (``{layer_name: [arrays]}``), ready for
    ``tp.sparsity.rewind``.
    """

    def __init__(self, step=0):
        super().__init__()
        self.step = check_int(step, "step", "RewindPoint", min_value=0)
        self.snapshot = None
        self._count = 0

    def get_config(self):
        return {"step": self.step}

    def on_train_begin(self, logs=None):
        from .rewind import snapshot
        self._count = 0
        if self.step == 0 and self.snapshot is None:
            self.snapshot = snapshot(self.model)

    def on_train_batch_end(self, batch, logs=None):
        from .rewind import snapshot
        self._count += 1
        if self._count == self.step and self.snapshot is None:
            self.snapshot = snapshot(self.model)

    def on_train_end(self, logs=None):
        if self.snapshot is None:
            warnings.warn(f"RewindPoint: training ran {self._count} steps, "
                          f"fewer than step={self.step}; no snapshot taken.",
                          RuntimeWarning, stacklevel=2)


class PruningProgress(keras.callbacks.Callback):
    """A tqdm bar over epochs showing the level, achieved sparsity and loss.

    Use with ``fit(..., verbose=0)``. The level is the largest target of the
    model's ``LevelSparsity`` schedules; the sparsity is measured on the
    masked kernels.

    Args:
        monitor: log key shown next to the sparsity.
        progress: False disables the bar (the callback then does nothing).
    """

    def __init__(self, monitor="val_loss", progress=True, desc="pruning"):
        super().__init__()
        self.monitor = monitor
        self.progress = bool(progress)
        self.desc = desc
        self._bar = None
        self.last = {}

    def on_train_begin(self, logs=None):
        if self.progress:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=(self.params or {}).get("epochs"),
                             desc=self.desc, unit="epoch", leave=False)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        levels = [w.pruning_schedule.sparsity for w in wrappers(self.model)
                  if isinstance(w.pruning_schedule, LevelSparsity)]
        total, _ = _masks.achieved_sparsity(self.model)
        self.last = {"level": max(levels) if levels else None,
                     "sparsity": total,
                     self.monitor: logs.get(self.monitor)}
        if self._bar is not None:
            post = {"sparsity": f"{total:.3f}"}
            if levels:
                post["level"] = f"{max(levels):.2f}"
            if self.monitor in logs:
                post[self.monitor] = f"{logs[self.monitor]:.3g}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.update(1)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

