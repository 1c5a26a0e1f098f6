"""Callbacks that act at set points of training: ``DynamicPruning`` (prune a
fraction of the remaining weights at chosen epochs or steps),
``RewindPoint`` (the lottery-ticket snapshot after k steps) and
``PruningProgress`` (a progress bar with the level and the sparsity)."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .._keras import keras
from .._validate import check_choice, check_float, check_int, check_type
from ..errors import InvalidParameterError
from . import masks as _masks
from .engines import init_pruning_step, require_wrappers
from .layers import layer_rates, wrappers
from .rewind import snapshot
from .schedules import LevelSparsity, check_levels

__all__ = ["DynamicPruning", "RewindPoint", "PruningProgress"]


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
        ws = require_wrappers(self.model, "DynamicPruning")
        init_pruning_step(self.model)
        for w in ws:
            w.pruning_schedule.freeze()
        self._rates = layer_rates(self.model, None, self.output_rate,
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
        self._count = 0
        if self.step == 0 and self.snapshot is None:
            self.snapshot = snapshot(self.model)

    def on_train_batch_end(self, batch, logs=None):
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

