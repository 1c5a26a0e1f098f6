"""``SequentialPruning``: the one implementation of level-by-level pruning, as a
Keras callback for your own ``model.fit``.

``sequential_prune`` is a thin driver that calls ``model.fit`` with it. The
callback also does what tfmot's ``UpdatePruningStep`` does (initialise the
wrappers' step counter and re-apply the masks at each epoch end), so one
callback is enough. The other callbacks (``DynamicPruning``, ``RewindPoint``,
``PruningProgress``) live in :mod:`.events` and are re-exported here.

Example::

    pm = tp.sparsity.wrap(model)            # tfmot wrappers, weights copied
    pm.compile("adam", "mse")
    cb = tp.sparsity.SequentialPruning([0.5, 0.8], run_dir="levels")
    pm.fit(x, y, validation_data=(xv, yv), epochs=1000, callbacks=[cb])
    cb.history                              # one row per level
    sparse = cb.model_at(1)                 # stripped model of level 1
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import pandas as pd

from .._keras import keras, tf
from .._runstate import fingerprint
from .._validate import (check_choice, check_float, check_int, check_type,
                         renamed)
from ..errors import InvalidParameterError
from .config import Config
from .connectivity import CONNECTIVITY_COLUMNS, history_columns
from .engines import (ManualEngine, TfmotEngine, init_pruning_step,
                      reset_optimizer, state_variables)
from .events import DynamicPruning, PruningProgress, RewindPoint
from .layers import layer_weights, set_layer_weights
from .schedules import check_levels
from .store import LevelStore

__all__ = ["SequentialPruning", "DynamicPruning", "RewindPoint",
           "PruningProgress", "HISTORY_COLUMNS", "LevelsConfig"]

#: Columns every sequential history starts with (then, for a chain of Dense
#: layers, ``dead_outputs`` and ``dead_units``; then other metrics, then
#: ``achieved_<layer>`` per pruned layer).
HISTORY_COLUMNS = ["level", "sparsity", "achieved", "train_loss", "val_loss",
                   "epochs", "best_epoch", "cum_epochs", "converged",
                   "time_s"]


@dataclass(frozen=True)
class LevelsConfig(Config):
    """The level schedule of :class:`SequentialPruning`, validated once (see
    its arguments); also the manifest of the callback's own ``run_dir``."""

    KIND: ClassVar[str] = "SequentialPruning"
    FUNC: ClassVar[str] = "SequentialPruning"

    sparsities: tuple
    monitor: str = "val_loss"
    patience: int = 2
    min_delta: float = 1e-5
    max_epochs: int | None = None
    mode: str = "auto"
    method: str = "tfmot"
    frequency: int = 0
    ramp_epochs: int = 0
    reset_optimizer: bool = True
    eval_batch_size: int = 1024
    layers: tuple | None = None
    prune_bias: bool = True

    def __post_init__(self):
        who = self.FUNC
        monitor = check_type(self.monitor, str, "monitor", who)
        mode = check_choice(self.mode, ("auto", "min", "max"), "mode", who)
        if mode == "auto":
            mode = "max" if ("acc" in monitor or "auc" in monitor) else "min"
        method = check_choice(self.method, ("tfmot", "manual"), "method", who)
        self._set(
            sparsities=tuple(check_levels(self.sparsities, "sparsities", who)),
            patience=check_int(self.patience, "patience", who, min_value=0),
            min_delta=abs(check_float(self.min_delta, "min_delta", who)),
            max_epochs=check_int(self.max_epochs, "max_epochs", who,
                                 min_value=1, allow_none=True),
            mode=mode,
            frequency=check_int(self.frequency, "frequency", who,
                                min_value=0),
            ramp_epochs=check_int(self.ramp_epochs, "ramp_epochs", who,
                                  min_value=0),
            reset_optimizer=bool(self.reset_optimizer),
            eval_batch_size=check_int(self.eval_batch_size,
                                      "eval_batch_size", who, min_value=1),
            layers=None if self.layers is None else tuple(self.layers),
            prune_bias=bool(self.prune_bias))
        if method == "manual" and (self.frequency or self.ramp_epochs):
            raise InvalidParameterError(
                f"{who}: 'frequency' and 'ramp_epochs' apply to "
                "method='tfmot' only; got method='manual'.")


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
        run_dir: a run folder: each finished level is committed there
            (its stripped weights and the callback state, see
            ``docs/sections/sparsity.md``), and a ``fit`` with a callback of
            the same parameters, on the same initial model, resumes after the
            last committed level (weights and state from that level). The
            old name ``save_dir`` works for one release with a
            ``DeprecationWarning``.
        layers, prune_bias: manual method only (default: every prunable
            layer, biases included as in the original).

    Raises:
        InvalidParameterError: bad levels (not increasing, outside [0, 1)),
            or a model without tfprune wrappers for ``method="tfmot"``.
        ResumeMismatchError: ``run_dir`` holds a run with other parameters
            or another initial model (at the first ``fit``).
    """

    @renamed(save_dir="run_dir")
    def __init__(self, sparsities, monitor="val_loss", patience=2,
                 min_delta=1e-5, on_level=None, max_epochs=None, mode="auto",
                 method="tfmot", frequency=0, ramp_epochs=0,
                 reset_optimizer=True, train_data=None, eval_batch_size=1024,
                 pause_between_levels=False, keep_weights=True,
                 run_dir=None, layers=None, prune_bias=True):
        super().__init__()
        self.config = LevelsConfig(
            sparsities, monitor=monitor, patience=patience,
            min_delta=min_delta, max_epochs=max_epochs, mode=mode,
            method=method, frequency=frequency, ramp_epochs=ramp_epochs,
            reset_optimizer=reset_optimizer, eval_batch_size=eval_batch_size,
            layers=layers, prune_bias=prune_bias)
        for f in fields(self.config):
            setattr(self, f.name, getattr(self.config, f.name))
        self.sparsities = list(self.sparsities)
        self.layers = None if self.layers is None else list(self.layers)
        if on_level is not None and not callable(on_level):
            raise TypeError(f"SequentialPruning: 'on_level' must be callable; got "
                            f"{type(on_level).__name__}.")
        self.on_level = on_level
        self.train_data = train_data
        self.pause_between_levels = bool(pause_between_levels)
        self.keep_weights = bool(keep_weights)
        self.run_dir = None if run_dir is None else str(run_dir)
        self._reset_state()
        self._engine = None
        self._template = None
        self._weights = {}
        self._store = None
        self._resumed = False

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
                "keep_weights": self.keep_weights, "run_dir": self.run_dir,
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
        ``index`` (kept in memory with ``keep_weights``, else read back from
        ``run_dir``)."""
        if index in self._weights:
            weights = self._weights[index]
        elif self._store is not None and self._template is not None and \
                0 <= index < self.level:
            weights = self._store.weights(index)
        else:
            raise InvalidParameterError(
                f"SequentialPruning.model_at(): level {index} has no kept "
                f"weights; kept levels are {sorted(self._weights)} (levels "
                "finished before a restore are not kept in memory; use "
                "run_dir).")
        clone = keras.models.clone_model(self._template)
        set_layer_weights(clone, weights)
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
        self.resume()
        if self.method == "tfmot":
            self._engine = TfmotEngine(self.model, who)
            self._engine.check_levels(self.sparsities, who)
            init_pruning_step(self.model)
        else:
            self._engine = ManualEngine(self.model, who, self.layers,
                                        self.prune_bias,
                                        from_zeros=self.level > 0)
        if self._template is None:
            self._template = self._engine.stripped()
        if self.finished:
            warnings.warn("SequentialPruning: every level is finished; "
                          "nothing to train.", RuntimeWarning, stacklevel=2)
            self.model.stop_training = True
            return
        self._start_level()

    def resume(self, model=None) -> None:
        """Open ``run_dir`` and, when it holds committed levels, load the
        last one's weights into the model and its state into the callback
        (both from the same level). The first ``fit`` calls it; call it
        earlier (with the model to train) to know ``level`` before fitting.
        Later calls do nothing."""
        if model is not None:
            self.set_model(model)
        if self._resumed:
            return
        self._resumed = True
        if self._store is None and self.run_dir is not None:
            rd = self.config.open(
                self.run_dir, "SequentialPruning",
                model=fingerprint(self.model, "model"),
                train_data=fingerprint(self.train_data, "train_data",
                                       "SequentialPruning"))
            self._store = LevelStore(rd)
        unit = None if self._store is None else self._store.last()
        if unit is not None:
            self.set_state(self._store.state(unit))
            set_layer_weights(self.model, self._store.weights(unit))
            self._store.export(self.history)

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
            reset_optimizer(self.model)
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
                                     state_variables(self.model)]
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
            for v, val in zip(state_variables(self.model),
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
        weights = self._keep_level(i)
        self.level += 1
        if self.level >= len(self.sparsities):
            self.finished = True
        self._new_level_tracking()
        if self._store is not None:
            self._store.commit(i, weights, self.get_state(), self.history)
        if self.on_level is not None:
            self.on_level(i, dict(row), self)

    def _keep_level(self, i):
        """Level ``i``'s stripped weights, kept for ``model_at``; None when
        neither ``keep_weights`` nor a run folder needs them."""
        if not (self.keep_weights or self._store is not None):
            return None
        weights = layer_weights(self._engine.stripped())
        if self.keep_weights:
            self._weights[i] = weights
        return weights

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


