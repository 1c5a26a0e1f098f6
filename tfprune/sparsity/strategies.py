"""Pruning strategies side by side: one-shot, lottery ticket, dynamic.

``dynamic`` drives :class:`DynamicPruning`; ``lottery_ticket`` drives
:class:`RewindPoint`, :func:`rewind` and :func:`prune_remaining`. All take a
model compiled by the caller (loss, metrics, optimizer configuration; every
training run gets a fresh optimizer of that configuration) and never change
it. ``compare_strategies`` runs the class project's four trials
(strategies.md §1.3) over several seeds with THE SAME initial weights for
every trial of a seed, and reports mean ± std of test loss and accuracy.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._io import atomic_write_csv
from .._runstate import RunDir
from .._keras import check_model, keras, tf
from .._validate import check_choice, check_float, check_int, check_dataset
from ..errors import InvalidParameterError
from ..utils import derive_seed, progress_bar, set_seed
from . import masks as _masks
from .callbacks import DynamicPruning, RewindPoint, _state_variables
from .schedules import check_levels
from .rewind import reinitialize, rewind
from .wrap import is_wrapped, prunable_layer_names, recompile_like, strip, wrap
from .wrap import layer_rates as _rates_for

__all__ = ["one_shot", "dynamic", "lottery_ticket", "compare_strategies",
           "StrategyRun", "LotteryResult", "STRATEGIES"]

#: The four trials of the class project, in report order.
STRATEGIES = ("unpruned", "one_shot", "lottery_ticket", "dynamic")


@dataclass
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


@dataclass
class LotteryResult:
    """What :func:`lottery_ticket` returns.

    Attributes:
        history: one row per round: ``round, remaining, sparsity,
            train_loss, val_loss, best_epoch, epochs, time_s``, the other
            logged metrics at ``best_epoch`` (the lowest ``val_loss`` with
            ``restore_best``, else the last epoch), and ``test_*`` when test
            data was given. Round 0 is the dense network.
        snapshot: the weights rewound to (θ₀ or θ_k).
        masks: the masks of each round.
        curves: per-epoch ``fit`` logs of every round (``round, epoch,
            loss, val_loss, ...``).
    """

    history: pd.DataFrame
    snapshot: dict
    masks: list
    curves: pd.DataFrame = None
    _models: list = field(default_factory=list, repr=False)
    _pruned: list = field(default_factory=list, repr=False)

    def model_at(self, r: int):
        """The trained, stripped model of round ``r``."""
        return self._models[check_int(r, "r", "LotteryResult.model_at", 0,
                                      len(self._models) - 1)]

    def pruned_at(self, r: int):
        """Round ``r - 1``'s trained weights pruned with round ``r``'s masks,
        before rewinding: the one-shot network (no retraining), r >= 1."""
        return self._pruned[check_int(r, "r", "LotteryResult.pruned_at", 1,
                                      len(self._pruned)) - 1]


def _check_compiled(model, func):
    check_model(model, "model", func)
    if getattr(model, "optimizer", None) is None or not getattr(
            model, "compiled_loss", None):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' is not compiled; call "
            "model.compile(optimizer, loss, metrics) first.")
    if is_wrapped(model):
        raise InvalidParameterError(
            f"{func}(): model '{model.name}' already holds pruning wrappers; "
            "pass the plain model (tp.sparsity.strip(model)).")


def _xy(data, name, func, allow_none=False, model=None):
    return check_dataset(data, name, func, model=model, allow_none=allow_none)


def _steps_per_epoch(train, batch_size):
    if isinstance(train, tf.data.Dataset):
        n = int(train.cardinality())
        return n if n > 0 else None
    return int(np.ceil(len(train[0]) / batch_size))


def _fit(model, train, val, epochs, batch_size, callbacks, verbose,
         log_every=1):
    """``fit`` for ``epochs`` data epochs; with ``log_every=k`` (array data)
    k data epochs form one Keras epoch (one validation / log point), which
    removes most of Keras' per-epoch overhead on tiny data sets."""
    if is_wrapped(model):
        from tensorflow_model_optimization.python.core.sparsity.keras import (
            pruning_callbacks)
        callbacks = [pruning_callbacks.UpdatePruningStep()] + list(callbacks)
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
                      steps_per_epoch=_steps_per_epoch(train, batch_size) *
                      log_every, **kw)
    else:
        h = model.fit(train[0], train[1], batch_size=batch_size,
                      shuffle=True, epochs=epochs, **kw)
    df = pd.DataFrame(h.history)
    df.insert(0, "epoch", np.arange(1, len(df) + 1) * log_every)
    return df


def _evaluate(model, data, batch_size, prefix):
    if data is None:
        return {}
    if isinstance(data, tf.data.Dataset):
        res = model.evaluate(data, verbose=0, return_dict=True)
    else:
        res = model.evaluate(data[0], data[1], batch_size=max(batch_size, 256),
                             verbose=0, return_dict=True)
    return {f"{prefix}_{k}": float(v) for k, v in res.items()}


class _BestWeights(keras.callbacks.Callback):
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
            self._values = [w.numpy() for w in _state_variables(self.model)]

    def on_train_end(self, logs=None):
        if self._values is not None:
            for w, v in zip(_state_variables(self.model), self._values):
                w.assign(v)


def _scope(strategy):
    return strategy.scope() if strategy is not None else \
        contextlib.nullcontext()


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
    fraction = _check_fraction_open(fraction, func)
    check_choice(scope, ("global", "layer"), "scope", func)
    plain = strip(model, compile=False) if is_wrapped(model) else None
    if plain is None:
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
    names = prunable_layer_names(plain) if layers is None else list(layers)
    rates = _rates_for(plain, names, output_rate, layer_rates, func)
    values = _masks.prunable_values(plain, names)
    new_masks = _masks.prune_remaining(values, None, fraction, scope, rates,
                                       func)
    _masks.set_masks(plain, new_masks)
    return recompile_like(plain, model)


def _check_fraction_open(fraction, func, name="fraction"):
    return check_float(fraction, name, func, 0.0, 1.0, max_inclusive=False)


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
    _check_compiled(model, func)
    epochs = check_int(epochs, "epochs", func, min_value=1)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    train = _xy(train, "train", func, model=model)
    val = _xy(val, "val", func, allow_none=True, model=model)
    test = _xy(test, "test", func, allow_none=True, model=model)
    log_every = check_int(log_every, "log_every", func, min_value=1)
    if log_every > 1 and not isinstance(train, tf.data.Dataset):
        if prune_epochs is None:
            fr = check_levels(at, "at", func)
            prune_epochs = [int(np.floor(f * epochs + 1e-9)) for f in fr]
        spe = _steps_per_epoch(train, batch_size)
        cb = DynamicPruning(fraction, steps=[e * spe for e in prune_epochs],
                            scope=scope, output_rate=output_rate,
                            layer_rates=layer_rates)
    else:
        log_every = 1
        cb = DynamicPruning(fraction, at=at, epochs=prune_epochs,
                            scope=scope, output_rate=output_rate,
                            layer_rates=layer_rates)
    with _scope(strategy):
        work = wrap(model, sparsity=0.0, layers=layers, begin_step=-1,
                    frequency=0, compile=False)
        recompile_like(work, model)
    cbs = [cb] + ([_BestWeights()] if restore_best and val is not None
                  else []) + list(callbacks or [])
    set_seed(seed)
    with _scope(strategy):
        hist = _fit(work, train, val, epochs, batch_size, cbs, verbose,
                    log_every)
    stripped = strip(work)
    masks = _masks.get_masks(work)
    total, _ = _masks.achieved_sparsity(work)
    return StrategyRun(model=stripped, history=hist, masks=masks,
                       sparsity=total, events=cb.history,
                       metrics=_evaluate(stripped, test, batch_size, "test"))


_REINIT_KEY = 1


def lottery_ticket(model, train, val=None, rounds=3, rate=0.2, epochs=50,
                   batch_size=60, *, rewind_to="init", scope="layer",
                   output_rate=0.5, layer_rates=None, layers=None,
                   reinit=False, seed=0, test=None, restore_best=True,
                   log_every=1, strategy=None, progress=True,
                   verbose=0) -> LotteryResult:
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019).

    Round 0 trains the dense network from ``model``'s weights (θ₀) and takes
    the rewind snapshot (θ₀, or θ_k after ``k`` steps with
    ``rewind_to=k``: late rewinding). Each later round prunes ``rate`` of the
    remaining weights of the previous round's trained network (layer-wise
    with the output layer at ``output_rate`` times the rate, or global),
    rewinds the survivors to the snapshot, and retrains with a fresh
    optimizer. After n rounds at 20 %, 0.8ⁿ of the weights remain.

    Args:
        model: compiled plain model (not changed); its weights are θ₀.
        train, val, test: ``(x, y)`` or Datasets.
        rounds: pruning rounds after the dense round.
        rate: share of the remaining weights pruned per round.
        epochs, batch_size: training of every round.
        rewind_to: ``"init"`` or a number of training steps k.
        scope: ``"layer"`` (LeNet, Conv-2/4/6 in the paper) or ``"global"``.
        output_rate: multiplier of ``rate`` for the output layer (0.5 in the
            paper for layer-wise pruning; 0 or 1 with global scope).
        reinit: the paper's random-reinit control. The rounds still find
            the tickets by rewinding, but each round from 1 on also trains
            the ticket's mask with fresh random weights θ₀′ (the layers'
            initialisers, seeded by ``derive_seed(seed, 1, round)``), and
            the history, curves and models report that control; the masks
            are the tickets'. Costs twice the training of the pruned rounds.
        seed: round r trains with ``derive_seed(seed, r)``.
        restore_best: keep each round's lowest-``val_loss`` epoch (the
            paper's early-stop iteration) for the reported metrics.
        log_every: data epochs per logged (and validated) point.

    Returns:
        LotteryResult with ``.history``, ``.model_at(r)``, ``.pruned_at(r)``.
    """
    func = "lottery_ticket"
    _check_compiled(model, func)
    rounds = check_int(rounds, "rounds", func, min_value=0)
    rate = check_float(rate, "rate", func, 0.0, 1.0, min_inclusive=False,
                       max_inclusive=False)
    epochs = check_int(epochs, "epochs", func, min_value=1)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    if isinstance(rewind_to, str):
        check_choice(rewind_to, ("init",), "rewind_to", func)
        k = 0
    else:
        k = check_int(rewind_to, "rewind_to", func, min_value=0)
    check_choice(scope, ("layer", "global"), "scope", func)
    output_rate = check_float(output_rate, "output_rate", func, 0.0, 1.0)
    if scope == "global" and output_rate not in (0, 1):
        raise InvalidParameterError(
            f"{func}(): scope='global' takes output_rate 0 (leave the output "
            f"layer out) or 1; got {output_rate}.")
    seed = check_int(seed, "seed", func, min_value=0)
    log_every = check_int(log_every, "log_every", func, min_value=1)
    train = _xy(train, "train", func, model=model)
    val = _xy(val, "val", func, allow_none=True, model=model)
    test = _xy(test, "test", func, allow_none=True, model=model)

    with _scope(strategy):
        work = wrap(model, sparsity=0.0, layers=layers, begin_step=-1,
                    frequency=0, compile=False)
        recompile_like(work, model)
    inner = [w.layer.name for w in work.layers if hasattr(w, "pruning_vars")]
    rates = _rates_for(model, inner, output_rate, layer_rates, func)
    rows, models, pruned, all_masks, curves = [], [], [], [], []

    def train_round(net, r, train_seed, rewind_point=None):
        """Train ``net`` one round; its curve, masks, stripped model, row."""
        t0 = time.perf_counter()
        cbs = [] if rewind_point is None else [rewind_point]
        best = _BestWeights() if restore_best and val is not None else None
        if best is not None:
            cbs.append(best)
        set_seed(train_seed)
        with _scope(strategy):
            hist = _fit(net, train, val, epochs, batch_size, cbs, verbose,
                        log_every)
        masks = _masks.get_masks(net)
        stripped = strip(net)
        n_pruned, n_total = _masks.count_pruned(masks)
        at = (best.best_epoch if best is not None and best.best_epoch
              else len(hist)) - 1
        logs = hist.iloc[at]
        row = {"round": r, "remaining": 1 - n_pruned / n_total,
               "sparsity": n_pruned / n_total,
               "train_loss": float(logs.get("loss", np.nan)),
               "val_loss": float(logs.get("val_loss", np.nan)),
               "best_epoch": int(hist["epoch"].iloc[at]),
               "epochs": int(hist["epoch"].iloc[-1]),
               "time_s": 0.0}
        row.update({key if key.startswith("val_") else f"train_{key}":
                    float(v) for key, v in logs.items()
                    if key not in ("epoch", "loss", "val_loss")})
        row.update(_evaluate(stripped, test, batch_size, "test"))
        row["time_s"] = time.perf_counter() - t0
        return hist.assign(round=r), masks, stripped, row

    snap = control = None
    bar = progress_bar(progress, rounds + 1, desc=func, unit="round")
    try:
        for r in range(rounds + 1):
            rp = RewindPoint(step=k) if r == 0 else None
            report = train_round(work, r, derive_seed(seed, r), rp)
            masks = report[1]
            if rp is not None:
                snap = rp.snapshot
                if snap is None:
                    raise InvalidParameterError(
                        f"{func}(): rewind_to={k} steps but round 0 ran only "
                        f"{rp._count} steps; choose a smaller k.")
            if control is not None:
                report = train_round(control, r,
                                     derive_seed(seed, _REINIT_KEY, r))
            curves.append(report[0])
            all_masks.append(report[1])
            models.append(report[2])
            rows.append(report[3])
            bar.update(1)
            if r == rounds:
                break
            values = _masks.prunable_values(work)
            new_masks = _masks.prune_remaining(values, masks, rate, scope,
                                               rates, func)
            with _scope(strategy):
                cut = strip(work, compile=False)
                _masks.set_masks(cut, new_masks)
                pruned.append(recompile_like(cut, model))
                work = rewind(work, snap, new_masks)
                if reinit:
                    control = reinitialize(
                        work, derive_seed(seed, _REINIT_KEY, r + 1),
                        new_masks)
    finally:
        bar.close()
    curves = pd.concat(curves, ignore_index=True)
    curves = curves[["round"] + [c for c in curves.columns if c != "round"]]
    return LotteryResult(history=pd.DataFrame(rows), snapshot=snap,
                         masks=all_masks, curves=curves, _models=models,
                         _pruned=pruned)


def _default_compile(model):
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _splits(data, func):
    if hasattr(data, "train") and hasattr(data, "test"):
        return data.train, getattr(data, "val", None), data.test
    if isinstance(data, (tuple, list)) and len(data) == 3:
        return tuple(data)
    raise TypeError(f"{func}(): 'data' must be a Splits(train, val, test) "
                    "(tp.data.load_penguins()) or a (train, val, test) tuple "
                    f"of (x, y) pairs; got {type(data).__name__}.")


def compare_strategies(build_fn, data, seeds=range(10), epochs=4000,
                       batch_size=50, *, one_shot_fraction=0.3,
                       dynamic_fraction=0.17, dynamic_at=(1 / 3, 2 / 3),
                       scope="global", compile_fn=None, restore_best=False,
                       log_every=1, run_dir=None, progress=True,
                       verbose=0) -> pd.DataFrame:
    """The four trials of the class project over several seeds.

    For every seed the SAME initial weights (``build_fn(seed)``) start all
    trials: ``unpruned`` (train ``epochs``), ``one_shot`` (prune
    ``one_shot_fraction`` of the unpruned net, no retraining),
    ``lottery_ticket`` (one-shot masks, survivors rewound to the init, a fresh
    optimizer, retrain ``epochs``) and ``dynamic`` (prune
    ``dynamic_fraction`` of the remaining weights at ``dynamic_at`` of
    training).

    Args:
        build_fn: ``seed -> model``; compiled, or compiled here by
            ``compile_fn(model)`` (default: Adam 1e-4, cross-entropy on
            logits, accuracy).
        data: ``Splits(train, val, test)`` of ``(x, y)`` (one-hot labels for
            the default loss).
        seeds: the seeds (replicates).
        epochs, batch_size: training of every trial.
        scope: ``"global"`` (the original) or ``"layer"`` pruning.
        restore_best: report each trial at its lowest-``val_loss`` epoch.
        log_every: data epochs per logged point (> 1 is much faster on
            tiny data such as penguins; pruning events stay exact).
        run_dir: resumable folder; each finished seed is written there.

    Returns:
        DataFrame, one row per strategy: ``strategy, n_seeds,
        test_loss_mean, test_loss_std, test_accuracy_mean,
        test_accuracy_std, sparsity_mean``. ``attrs["runs"]`` holds one row
        per (seed, strategy) and ``attrs["curves"]`` the per-epoch training
        curves (``seed, strategy, epoch, loss, val_loss, ...``).
    """
    func = "compare_strategies"
    if not callable(build_fn):
        raise TypeError(f"{func}(): 'build_fn' must be callable (seed -> "
                        f"model); got {type(build_fn).__name__}.")
    train, val, test = _splits(data, func)
    seeds = [check_int(int(s) if isinstance(s, np.integer) else s,
                       "seeds[i]", func, min_value=0) for s in seeds]
    if not seeds:
        raise InvalidParameterError(f"{func}(): 'seeds' is empty.")
    epochs = check_int(epochs, "epochs", func, min_value=1)
    compile_fn = compile_fn or _default_compile
    rd = None
    if run_dir is not None:
        rd = RunDir(run_dir, {
            "seeds": seeds, "epochs": epochs, "batch_size": batch_size,
            "one_shot_fraction": one_shot_fraction,
            "dynamic_fraction": dynamic_fraction,
            "dynamic_at": list(dynamic_at), "scope": scope,
            "restore_best": restore_best, "log_every": log_every},
            kind=func, func=func)
    runs, curves = [], []
    bar = progress_bar(progress, len(seeds), desc=func, unit="seed")
    try:
        for seed in seeds:
            if rd is not None and seed in rd.done():
                runs.append(pd.read_csv(rd.file(f"runs_seed{seed}.csv")))
                curves.append(pd.read_csv(rd.file(f"curves_seed{seed}.csv")))
            else:
                r, c = _one_seed(build_fn, compile_fn, seed, train, val,
                                 test, epochs, batch_size, one_shot_fraction,
                                 dynamic_fraction, dynamic_at, scope,
                                 restore_best, log_every, verbose)
                runs.append(r)
                curves.append(c)
                if rd is not None:
                    atomic_write_csv(rd.file(f"runs_seed{seed}.csv"), r)
                    atomic_write_csv(rd.file(f"curves_seed{seed}.csv"), c)
                    rd.mark_done(seed)
            bar.update(1)
    finally:
        bar.close()
    runs = pd.concat(runs, ignore_index=True)
    curves = pd.concat(curves, ignore_index=True)
    summary = summarize_runs(runs)
    summary.attrs["runs"] = runs
    summary.attrs["curves"] = curves
    return summary


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std per strategy of a per-(seed, strategy) table."""
    rows = []
    for name in [s for s in STRATEGIES if s in set(runs["strategy"])]:
        g = runs[runs["strategy"] == name]
        row = {"strategy": name, "n_seeds": len(g)}
        for col in ("test_loss", "test_accuracy"):
            if col in g:
                row[f"{col}_mean"] = float(g[col].mean())
                row[f"{col}_std"] = float(g[col].std(ddof=1)) if len(g) > 1 \
                    else 0.0
        row["sparsity_mean"] = float(g["sparsity"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _one_seed(build_fn, compile_fn, seed, train, val, test, epochs,
              batch_size, one_shot_fraction, dynamic_fraction, dynamic_at,
              scope, restore_best, log_every, verbose):
    model = build_fn(seed)
    check_model(model, "build_fn(seed)", "compare_strategies")
    if getattr(model, "optimizer", None) is None:
        model = compile_fn(model)
    lt = lottery_ticket(model, train, val, rounds=1, rate=one_shot_fraction,
                        epochs=epochs, batch_size=batch_size, scope=scope,
                        output_rate=1.0, seed=seed, test=test,
                        restore_best=restore_best, log_every=log_every,
                        progress=False, verbose=verbose)
    dyn = dynamic(model, train, val, fraction=dynamic_fraction,
                  at=dynamic_at, epochs=epochs, batch_size=batch_size,
                  scope=scope, seed=derive_seed(seed, 1), test=test,
                  restore_best=restore_best, log_every=log_every,
                  verbose=verbose)
    one = lt.pruned_at(1)
    h = lt.history
    rows = []

    def add(name, sparsity, metrics):
        rows.append({"seed": seed, "strategy": name, "sparsity": sparsity,
                     **metrics})

    def test_metrics(r):
        return {k: float(v) for k, v in h.loc[r].items()
                if str(k).startswith("test_")}

    add("unpruned", float(h.loc[0, "sparsity"]), test_metrics(0))
    pr, tot = _masks.count_pruned(_masks.get_masks(one))
    add("one_shot", pr / tot, _evaluate(one, test, batch_size, "test"))
    add("lottery_ticket", float(h.loc[1, "sparsity"]), test_metrics(1))
    add("dynamic", dyn.sparsity, dyn.metrics)
    curves = []
    for name, hist in (("unpruned", lt.curves[lt.curves["round"] == 0]),
                       ("lottery_ticket", lt.curves[lt.curves["round"] == 1]),
                       ("dynamic", dyn.history)):
        c = hist.drop(columns=["round"], errors="ignore").copy()
        c.insert(0, "strategy", name)
        c.insert(0, "seed", seed)
        curves.append(c)
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)

