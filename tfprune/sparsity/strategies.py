"""Pruning strategies side by side: the class project's four trials over
several seeds (``compare_strategies``), resumable seed by seed.

Every trial of a seed starts from THE SAME initial weights
(``build_fn(seed)``): ``unpruned``, ``one_shot``, ``lottery_ticket`` and
``dynamic`` (the protocol is in ``docs/sections/sparsity.md``). The single
strategies (``one_shot``, ``dynamic``, ``lottery_ticket``) live in
:mod:`.trials` and :mod:`.lottery` and are re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from .._io import atomic_write_csv
from .._keras import check_model, is_compiled, keras
from .._runstate import fingerprint
from .._validate import (check_choice, check_float, check_increasing_fractions,
                         check_int)
from ..errors import InvalidParameterError, ModelTypeError
from ..utils import derive_seed, progress_bar
from . import masks as _masks
from .config import Config
from .lottery import LotteryResult, lottery_ticket
from .trials import StrategyRun, dynamic, evaluate, one_shot, training_data

__all__ = ["one_shot", "dynamic", "lottery_ticket", "compare_strategies",
           "summarize_runs", "StrategyRun", "LotteryResult",
           "StrategyComparison", "StrategiesConfig", "STRATEGIES"]

#: The four trials of the class project, in report order.
STRATEGIES = ("unpruned", "one_shot", "lottery_ticket", "dynamic")


@dataclass(frozen=True)
class StrategyComparison:
    """What :func:`compare_strategies` returns.

    Attributes:
        summary: one row per strategy: ``strategy, n_seeds,
            test_loss_mean, test_loss_std, test_accuracy_mean,
            test_accuracy_std, sparsity_mean`` (mean ± std over seeds).
        runs: one row per (seed, strategy): ``seed, strategy, sparsity,
            test_*``.
        curves: the per-epoch training curves (``seed, strategy, epoch,
            loss, val_loss, ...``).
        run_dir: the run folder, if any.
    """

    summary: pd.DataFrame
    runs: pd.DataFrame
    curves: pd.DataFrame
    run_dir: Path | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per (seed, strategy) (``.summary`` has the mean ± std)."""
        return self.runs.copy()


@dataclass(frozen=True)
class StrategiesConfig(Config):
    """The parameters of one :func:`compare_strategies` run, validated
    once; the manifest of its ``run_dir``.

    Attributes:
        seeds: the seeds (replicates), each once.
        epochs, batch_size: training of every trial.
        one_shot_fraction, dynamic_fraction: in (0, 1).
        dynamic_at: the dynamic events as fractions of training, in (0, 1).
        scope: ``"global"`` (the original) or ``"layer"`` pruning.
        restore_best: report each trial at its lowest-``val_loss`` epoch.
        log_every: data epochs per logged point (> 1 is much faster on
            tiny data such as penguins; pruning events stay exact).
    """

    KIND: ClassVar[str] = "compare_strategies"
    FUNC: ClassVar[str] = "compare_strategies"

    seeds: tuple
    epochs: int = 4000
    batch_size: int = 50
    one_shot_fraction: float = 0.3
    dynamic_fraction: float = 0.17
    dynamic_at: tuple = (1 / 3, 2 / 3)
    scope: str = "global"
    restore_best: bool = False
    log_every: int = 1

    def __post_init__(self):
        f = self.FUNC
        if isinstance(self.seeds, (str, bytes)) or not hasattr(
                self.seeds, "__iter__"):
            raise TypeError(f"{f}(): 'seeds' must be a sequence of integers "
                            f"(e.g. range(10)); got {self.seeds!r}.")
        seeds = tuple(check_int(int(s) if isinstance(s, np.integer) else s,
                                f"seeds[{i}]", f, min_value=0)
                      for i, s in enumerate(self.seeds))
        if not seeds:
            raise InvalidParameterError(f"{f}(): 'seeds' is empty.")
        if len(set(seeds)) != len(seeds):
            raise InvalidParameterError(
                f"{f}(): 'seeds' repeats a seed ({list(seeds)}); give each "
                "seed once.")
        at = check_increasing_fractions(self.dynamic_at, "dynamic_at", f)
        if at[0] <= 0:
            raise InvalidParameterError(
                f"{f}(): 'dynamic_at' must be fractions in (0, 1); got {at}.")

        def open_fraction(name):
            return check_float(getattr(self, name), name, f, 0.0, 1.0,
                               min_inclusive=False, max_inclusive=False)

        self._set(
            seeds=seeds, dynamic_at=tuple(at),
            epochs=check_int(self.epochs, "epochs", f, min_value=1),
            batch_size=check_int(self.batch_size, "batch_size", f,
                                 min_value=1),
            one_shot_fraction=open_fraction("one_shot_fraction"),
            dynamic_fraction=open_fraction("dynamic_fraction"),
            scope=check_choice(self.scope, ("global", "layer"), "scope", f),
            restore_best=bool(self.restore_best),
            log_every=check_int(self.log_every, "log_every", f,
                                min_value=1))


def default_compile(model):
    """Adam 1e-4, cross-entropy on logits, accuracy (the class project)."""
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


def _seed_model(build_fn, compile_fn, seed, func):
    """``build_fn(seed)``, compiled by ``compile_fn`` unless it already is."""
    model = build_fn(seed)
    check_model(model, "build_fn(seed)", func)
    if is_compiled(model):
        return model
    compiled = compile_fn(model)
    if compiled is None:
        raise InvalidParameterError(
            f"{func}(): compile_fn(model) returned None; it must return the "
            "compiled model (end it with 'return model').")
    try:
        check_model(compiled, "compile_fn(model)", func)
    except ModelTypeError as e:
        raise ModelTypeError(
            f"{func}(): compile_fn(model) must return the compiled tf_keras "
            f"model; it returned {type(compiled).__name__}.") from e
    if not is_compiled(compiled):
        raise InvalidParameterError(
            f"{func}(): compile_fn(model) returned model '{compiled.name}' "
            "uncompiled; call model.compile(optimizer, loss, metrics) in it "
            "and return the model.")
    return compiled


def _check_callables(build_fn, compile_fn, func):
    for name, fn, what in (("build_fn", build_fn, "seed -> model"),
                           ("compile_fn", compile_fn,
                            "model -> compiled model")):
        if not callable(fn):
            raise TypeError(f"{func}(): '{name}' must be callable ({what}); "
                            f"got {type(fn).__name__}.")


class _SeedStore:
    """The finished seeds of a comparison in a run folder: one commit
    record per seed, holding its per-strategy rows; its training curves in
    ``curves_seed<seed>.csv``."""

    def __init__(self, rd):
        self.rd = rd

    def has(self, seed) -> bool:
        return self.rd.has(seed)

    def commit(self, seed, runs, curves) -> None:
        name = f"curves_seed{seed}.csv"
        atomic_write_csv(self.rd.file(name), curves)
        self.rd.commit(seed, files=[name], state={
            "columns": list(runs.columns),
            "rows": runs.astype(object).to_numpy().tolist()})

    def load(self, seed):
        unit = self.rd.unit(seed)
        runs = pd.DataFrame(unit.state["rows"],
                            columns=unit.state["columns"])
        path = self.rd.verify(unit, f"curves_seed{seed}.csv")
        return runs, pd.read_csv(path, float_precision="round_trip")


def _one_seed(cfg, model, seed, train, val, test, verbose):
    """The four trials of one seed: per-strategy rows and curves."""
    lt = lottery_ticket(model, train, val, rounds=1,
                        rate=cfg.one_shot_fraction, epochs=cfg.epochs,
                        batch_size=cfg.batch_size, scope=cfg.scope,
                        output_rate=1.0, seed=seed, test=test,
                        restore_best=cfg.restore_best,
                        log_every=cfg.log_every, progress=False,
                        verbose=verbose)
    dyn = dynamic(model, train, val, fraction=cfg.dynamic_fraction,
                  at=cfg.dynamic_at, epochs=cfg.epochs,
                  batch_size=cfg.batch_size, scope=cfg.scope,
                  seed=derive_seed(seed, 1), test=test,
                  restore_best=cfg.restore_best, log_every=cfg.log_every,
                  verbose=verbose)
    one = lt.pruned_at(1)
    h = lt.history

    def tests(r):
        return {k: float(v) for k, v in h.loc[r].items()
                if str(k).startswith("test_")}

    pruned, total = _masks.count_pruned(_masks.get_masks(one))
    rows = [("unpruned", float(h.loc[0, "sparsity"]), tests(0)),
            ("one_shot", pruned / total,
             evaluate(one, test, cfg.batch_size, "test")),
            ("lottery_ticket", float(h.loc[1, "sparsity"]), tests(1)),
            ("dynamic", dyn.sparsity, dyn.metrics)]
    runs = pd.DataFrame([{"seed": seed, "strategy": name, "sparsity": s,
                          **metrics} for name, s, metrics in rows])
    curves = []
    for name, hist in (("unpruned", lt.curves[lt.curves["round"] == 0]),
                       ("lottery_ticket", lt.curves[lt.curves["round"] == 1]),
                       ("dynamic", dyn.history)):
        c = hist.drop(columns=["round"], errors="ignore").copy()
        c.insert(0, "strategy", name)
        c.insert(0, "seed", seed)
        curves.append(c)
    return runs, pd.concat(curves, ignore_index=True)


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


def compare_strategies(build_fn, data, seeds=range(10), epochs=4000,
                       batch_size=50, *, one_shot_fraction=0.3,
                       dynamic_fraction=0.17, dynamic_at=(1 / 3, 2 / 3),
                       scope="global", compile_fn=None, restore_best=False,
                       log_every=1, run_dir=None, progress=True,
                       verbose=0) -> StrategyComparison:
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
            ``compile_fn(model)``, which must return the compiled model
            (default: Adam 1e-4, cross-entropy on logits, accuracy).
        data: ``Splits(train, val, test)`` of ``(x, y)`` (one-hot labels for
            the default loss).
        seeds, epochs, batch_size, one_shot_fraction, dynamic_fraction,
            dynamic_at, scope, restore_best, log_every: the run's
            parameters (see :class:`StrategiesConfig`).
        run_dir: resumable folder: each finished seed is committed there,
            and a rerun skips the committed seeds. It records every
            argument above and fingerprints ``build_fn`` and ``compile_fn``
            (qualified name and source code, and the bound arguments of a
            ``functools.partial``) and the data; a call that differs in any
            of them is refused, naming it.

    Returns:
        StrategyComparison: ``.summary`` (mean ± std per strategy),
        ``.runs`` (one row per seed and strategy, also ``.to_frame()``) and
        ``.curves``.

    Raises:
        InvalidParameterError: a bad value (named), non-finite data, data
            that does not fit ``build_fn``'s model, a ``compile_fn`` that
            does not return a compiled model.
        ResumeMismatchError: ``run_dir`` holds a run with other arguments.
    """
    func = "compare_strategies"
    compile_fn = default_compile if compile_fn is None else compile_fn
    _check_callables(build_fn, compile_fn, func)
    cfg = StrategiesConfig(
        seeds, epochs=epochs, batch_size=batch_size,
        one_shot_fraction=one_shot_fraction,
        dynamic_fraction=dynamic_fraction, dynamic_at=dynamic_at,
        scope=scope, restore_best=restore_best, log_every=log_every)
    first = _seed_model(build_fn, compile_fn, cfg.seeds[0], func)
    train, val, test = training_data(first, *_splits(data, func), func)
    store = None if run_dir is None else _SeedStore(cfg.open(
        run_dir, func, build_fn=fingerprint(build_fn),
        compile_fn=fingerprint(compile_fn),
        data=fingerprint((train, val, test), "data", func)))
    runs, curves = [], []
    bar = progress_bar(progress, len(cfg.seeds), desc=func, unit="seed")
    try:
        for seed in cfg.seeds:
            if store is None or not store.has(seed):
                model = first if seed == cfg.seeds[0] else \
                    _seed_model(build_fn, compile_fn, seed, func)
                r, c = _one_seed(cfg, model, seed, train, val, test, verbose)
                if store is not None:
                    store.commit(seed, r, c)
            if store is not None:
                r, c = store.load(seed)
            runs.append(r)
            curves.append(c)
            bar.update(1)
    finally:
        bar.close()
    runs = pd.concat(runs, ignore_index=True)
    return StrategyComparison(
        summary=summarize_runs(runs), runs=runs,
        curves=pd.concat(curves, ignore_index=True),
        run_dir=None if store is None else store.rd.path)
