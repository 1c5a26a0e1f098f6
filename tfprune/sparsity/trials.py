"""One training run per strategy: ``one_shot`` and ``dynamic``, and the
training helpers every strategy shares.

All take a model compiled by the caller (loss, metrics, optimizer
configuration; every training run gets a fresh optimizer of that
configuration) and never change it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._keras import check_model, compile_like, is_compiled, keras, tf
from .._tfmot import UpdatePruningStep
from .._validate import check_choice, check_dataset, check_float, check_int
from ..errors import InvalidParameterError
from ..utils import set_seed
from . import masks as _masks
from .engines import state_variables
from .events import DynamicPruning
from . import layers as _layers
from .layers import is_wrapped, prunable_layer_names
from .schedules import check_levels
from .wrap import strip, wrap

__all__ = ["one_shot", "dynamic", "StrategyRun", "check_compiled",
           "training_data", "strategy_scope", "fit", "evaluate",
           "BestWeights", "masked_copy"]


@dataclass(frozen=True)
class StrategyRun:
    """One trained (or pruned) network.

    Attributes:
        model: the stripped model (pruned weights exact zeros), compiled
            like the input.
        history: per-epoch ``fit`` logs (``epoch, loss, val_loss, ...``).
        masks: ``{layer: [mask]}`` of the pruned kernels.
        sparsity: fraction of the pruned layers' kernel weights that is zero.
        events: pruning events (``DynamicPruning.history``), if any.
        metrics: ``test_*`` evaluation of ``model`` when test data was given.
    """

    model: object
    history: pd.DataFrame
    masks: dict
    sparsity: float
    events: pd.DataFrame | None = None
    metrics: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The per-epoch training log."""
        return self.history.copy()


def check_compiled(model, func):
    """A compiled plain (not wrapped) tf_keras model, or a clear error."""
    check_model(model, "model", func)
    if not is_compiled(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' is not compiled; call "
            "model.compile(optimizer, loss, metrics) first.")
    if is_wrapped(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' already holds pruning wrappers; "
            "pass the plain model (tp.sparsity.strip(model)).")


def training_data(model, train, val, test, func):
    """``train`` (required), ``val`` and ``test`` (optional) checked against
    ``model`` before any training: shapes, targets, finite values."""
    return (check_dataset(train, "train", func, model=model),
            check_dataset(val, "val", func, model=model, allow_none=True),
            check_dataset(test, "test", func, model=model, allow_none=True))


def strategy_scope(strategy):
    return strategy.scope() if strategy is not None else \
        contextlib.nullcontext()


def steps_per_epoch(train, batch_size):
    if isinstance(train, tf.data.Dataset):
        n = int(train.cardinality())
        return n if n > 0 else None
    return int(np.ceil(len(train[0]) / batch_size))


def fit(model, train, val, epochs, batch_size, callbacks, verbose,
        log_every=1):
    """``fit`` for ``epochs`` data epochs; with ``log_every=k`` (array data)
    k data epochs form one Keras epoch (one validation / log point), which
    removes most of Keras' per-epoch overhead on tiny data sets."""
    if is_wrapped(model):
        callbacks = [UpdatePruningStep()] + list(callbacks)
    kw = {"verbose": verbose, "callbacks": callbacks}
    if val is not None:
        kw["validation_data"] = val
    if isinstance(train, tf.data.Dataset):
        log_every = 1
        h = model.fit(train, epochs=epochs, **kw)
    elif log_every > 1:
        x, y = train
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
            len(x), reshuffle_each_iteration=True).batch(batch_size).repeat()
        h = model.fit(ds, epochs=int(np.ceil(epochs / log_every)),
                      steps_per_epoch=steps_per_epoch(train, batch_size) *
                      log_every, **kw)
    else:
        h = model.fit(train[0], train[1], batch_size=batch_size,
                      shuffle=True, epochs=epochs, **kw)
    df = pd.DataFrame(h.history)
    df.insert(0, "epoch", np.arange(1, len(df) + 1) * log_every)
    return df


def evaluate(model, data, batch_size, prefix):
    """``{prefix_metric: value}`` of ``model`` on ``data`` (empty for None)."""
    if data is None:
        return {}
    if isinstance(data, tf.data.Dataset):
        res = model.evaluate(data, verbose=0, return_dict=True)
    else:
        res = model.evaluate(data[0], data[1], batch_size=max(batch_size, 256),
                             verbose=0, return_dict=True)
    return {f"{prefix}_{k}": float(v) for k, v in res.items()}


class BestWeights(keras.callbacks.Callback):
    """Restore the weights of the epoch with the lowest ``val_loss``."""

    def __init__(self, monitor="val_loss"):
        super().__init__()
        self.monitor = monitor
        self.best = np.inf
        self.best_epoch = None
        self._values = None

    def on_epoch_end(self, epoch, logs=None):
        v = (logs or {}).get(self.monitor)
        if v is not None and v < self.best:
            self.best, self.best_epoch = float(v), epoch + 1
            self._values = [w.numpy() for w in state_variables(self.model)]

    def on_train_end(self, logs=None):
        if self._values is not None:
            for w, v in zip(state_variables(self.model), self._values):
                w.assign(v)


def masked_copy(model, layers=None, strategy=None):
    """A wrapped copy of ``model`` whose masks change only when set from
    outside (the lottery and dynamic protocols), compiled like ``model``."""
    with strategy_scope(strategy):
        work = wrap(model, sparsity=0.0, layers=layers, begin_step=-1,
                    frequency=0, compile=False)
        compile_like(work, model)
    return work


def one_shot(model, fraction, scope="global", layers=None, output_rate=1.0,
             layer_rates=None):
    """A copy of ``model`` with the smallest-magnitude ``fraction`` of its
    prunable kernel weights set to zero (no retraining).

    ``scope="global"`` ranks all layers together (the class project's global
    L1), ``"layer"`` prunes each layer on its own (with ``output_rate`` /
    ``layer_rates`` multipliers). Exactly ``round(fraction * n)`` weights are
    pruned, ties to the lower index.

    Returns:
        A new tf_keras model, compiled like ``model`` if it was.
    """
    func = "one_shot"
    check_model(model, "model", func)
    fraction = check_float(fraction, "fraction", func, 0.0, 1.0,
                           max_inclusive=False)
    check_choice(scope, ("global", "layer"), "scope", func)
    plain = strip(model, compile=False) if is_wrapped(model) else None
    if plain is None:
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
    names = prunable_layer_names(plain) if layers is None else list(layers)
    rates = _layers.layer_rates(plain, names, output_rate, layer_rates,
                                func)
    values = _masks.prunable_values(plain, names)
    new_masks = _masks.prune_remaining(values, None, fraction, scope, rates,
                                       func)
    _masks.set_masks(plain, new_masks)
    return compile_like(plain, model)


def _dynamic_callback(train, fraction, at, prune_epochs, epochs, batch_size,
                      log_every, scope, output_rate, layer_rates, func):
    """The ``DynamicPruning`` of a :func:`dynamic` run and the ``log_every``
    it can use (events at exact steps when epochs are grouped)."""
    if log_every > 1 and not isinstance(train, tf.data.Dataset):
        if prune_epochs is None:
            fr = check_levels(at, "at", func)
            prune_epochs = [int(np.floor(f * epochs + 1e-9)) for f in fr]
        spe = steps_per_epoch(train, batch_size)
        return DynamicPruning(fraction, steps=[e * spe for e in prune_epochs],
                              scope=scope, output_rate=output_rate,
                              layer_rates=layer_rates), log_every
    return DynamicPruning(fraction, at=at, epochs=prune_epochs, scope=scope,
                          output_rate=output_rate,
                          layer_rates=layer_rates), 1


def dynamic(model, train, val=None, fraction=0.17, at=(1 / 3, 2 / 3),
            epochs=1000, batch_size=50, *, prune_epochs=None, scope="global",
            layers=None, output_rate=1.0, layer_rates=None, seed=0,
            test=None, restore_best=False, log_every=1, strategy=None,
            callbacks=None, verbose=0) -> StrategyRun:
    """Train once, pruning ``fraction`` of the remaining weights at ``at``
    fractions of training (or at ``prune_epochs``), without rewinding.

    Args:
        model: compiled plain model; its current weights are the init.
        train, val, test: ``(x, y)`` or Datasets (val and test optional).
        fraction: share of the remaining weights pruned per event.
        at: fractions of ``epochs`` (events at epoch ``int(f * epochs)``).
        prune_epochs: explicit 0-based epochs instead of ``at``.
        scope, layers, output_rate, layer_rates: see ``DynamicPruning``.
        seed: seeds the shuffling.
        restore_best: keep the epoch with the lowest ``val_loss``.
        log_every: data epochs per logged (and validated) point; > 1 groups
            them into one Keras epoch, much faster on tiny data. Pruning
            events stay at their exact step.

    Returns:
        StrategyRun (``events`` lists the pruning events).
    """
    func = "dynamic"
    check_compiled(model, func)
    epochs = check_int(epochs, "epochs", func, min_value=1)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    seed = check_int(seed, "seed", func, min_value=0)
    log_every = check_int(log_every, "log_every", func, min_value=1)
    train, val, test = training_data(model, train, val, test, func)
    cb, log_every = _dynamic_callback(
        train, fraction, at, prune_epochs, epochs, batch_size, log_every,
        scope, output_rate, layer_rates, func)
    work = masked_copy(model, layers, strategy)
    cbs = [cb] + ([BestWeights()] if restore_best and val is not None
                  else []) + list(callbacks or [])
    set_seed(seed)
    with strategy_scope(strategy):
        hist = fit(work, train, val, epochs, batch_size, cbs, verbose,
                   log_every)
    stripped = strip(work)
    total, _ = _masks.achieved_sparsity(work)
    return StrategyRun(model=stripped, history=hist,
                       masks=_masks.get_masks(work), sparsity=total,
                       events=cb.history,
                       metrics=evaluate(stripped, test, batch_size, "test"))
