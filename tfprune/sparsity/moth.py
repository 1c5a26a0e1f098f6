"""The moth study's pipeline: train the controller, prune it level by level,
and pick the sparsest network under the loss threshold
(``docs/sections/sparsity.md``)."""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from .._keras import keras
from .._runstate import fingerprint
from .._validate import (check_dataset, check_float, check_int,
                         check_no_kwargs, check_type, renamed)
from .config import Config
from .schedules import MOTH_LEVELS, check_levels
from .sequential import (SequentialConfig, SequentialResult, find_sparsest,
                         sequential_prune, working_model)

__all__ = ["prune_moth_controller", "MothPruningResult", "MothConfig"]

#: ``sequential_prune`` arguments that are not run parameters.
_RUNTIME = ("strategy", "tensorboard_dir", "callbacks", "verbose")


@dataclass(frozen=True)
class MothPruningResult:
    """What :func:`prune_moth_controller` returns.

    Attributes:
        result: the ``SequentialResult`` (level 0 is the dense network).
        sparsest: ``find_sparsest`` row of the most pruned level whose
            train MSE is under ``threshold`` (None if none is).
        threshold: the threshold used (scaled MSE units).
        dense_val_loss: validation MSE of the dense network.
        time_s: wall time.
    """

    result: SequentialResult
    sparsest: pd.Series | None
    threshold: float
    dense_val_loss: float
    time_s: float

    @property
    def history(self) -> pd.DataFrame:
        return self.result.history

    def to_frame(self) -> pd.DataFrame:
        """The per-level history."""
        return self.result.to_frame()

    def sparsest_model(self):
        """The stripped model of the sparsest level under the threshold."""
        if self.sparsest is None:
            return None
        return self.result.model_at(int(self.sparsest["level"]))


@dataclass(frozen=True)
class MothConfig(Config):
    """The parameters of one :func:`prune_moth_controller` run, validated
    once (the level run's options included); the manifest of its
    ``run_dir``. ``threshold`` is not part of it: it only reads the
    finished history."""

    KIND: ClassVar[str] = "prune_moth_controller"
    FUNC: ClassVar[str] = "prune_moth_controller"

    hidden: tuple = (400, 400, 400, 16)
    sparsities: tuple = MOTH_LEVELS
    learning_rate: float = 5e-4
    batch_size: int = 128
    max_epochs: int = 500
    patience: int = 2
    min_delta: float = 1e-5
    seed: int = 0
    method: str = "tfmot"
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        f = self.FUNC
        check_type(self.hidden, (tuple, list), "hidden", f,
                   "a tuple of layer widths")
        levels = check_levels(self.sparsities, "sparsities", f)
        self._set(
            hidden=tuple(check_int(h, f"hidden[{i}]", f, min_value=1)
                         for i, h in enumerate(self.hidden)),
            sparsities=tuple(levels[1:] if levels[0] == 0.0 else levels),
            learning_rate=check_float(self.learning_rate, "learning_rate", f,
                                      0.0, None, min_inclusive=False),
            options=dict(self.options))
        self.levels()   # the level run's own checks, before any work

    def levels(self) -> SequentialConfig:
        """The ``sequential_prune`` configuration (dense level 0 first)."""
        return SequentialConfig(
            (0.0,) + self.sparsities, max_epochs=self.max_epochs,
            patience=self.patience, min_delta=self.min_delta,
            batch_size=self.batch_size, seed=self.seed, method=self.method,
            **self.options)


def _split_kwargs(kwargs, func):
    """``sequential_prune`` keyword arguments: run options (recorded in the
    manifest) and runtime ones (not recorded); others are refused."""
    known = set(inspect.signature(sequential_prune).parameters)
    own = {"model", "train", "val", "sparsities", "max_epochs", "patience",
           "run_dir", "min_delta", "batch_size", "seed", "method",
           "progress"}
    bad = {k: v for k, v in kwargs.items() if k not in known or k in own}
    check_no_kwargs(bad, func)
    runtime = {k: v for k, v in kwargs.items() if k in _RUNTIME}
    options = {k: v for k, v in kwargs.items() if k not in _RUNTIME}
    return options, runtime


@renamed(levels="sparsities", lr="learning_rate")
def prune_moth_controller(dataset, hidden=(400, 400, 400, 16),
                          sparsities=MOTH_LEVELS, learning_rate=5e-4,
                          batch_size=128, max_epochs=500, patience=2,
                          min_delta=1e-5, threshold=1e-3, seed=0,
                          run_dir=None, method="tfmot", output_rate=0.5,
                          progress=True, verbose=0,
                          **kwargs) -> MothPruningResult:
    """Train the moth controller dense, then prune it through ``sparsities``.

    The dense network is level 0 (sparsity 0.0) of one resumable
    ``sequential_prune`` run: Adam ``learning_rate``, MSE, batch
    ``batch_size``, early stopping on the validation MSE with ``patience``
    and ``min_delta`` per level, at most ``max_epochs`` epochs per level.

    Args:
        dataset: ``tp.data.moth.make_dataset(...)`` output (``.train``,
            ``.val`` as scaled ``(x, y)``).
        hidden: hidden widths (the study: 400, 400, 400, 16).
        sparsities: pruning levels after the dense level (old name
            ``levels``, deprecated).
        learning_rate: Adam's learning rate, > 0 (old name ``lr``,
            deprecated).
        threshold: find-sparsest threshold on the train MSE (scaled units);
            not part of the run, so a rerun with another threshold reuses
            the finished levels.
        run_dir: resumable run folder. Its manifest records every argument
            except ``threshold``, ``progress`` and ``verbose`` (and the
            runtime options ``strategy``, ``tensorboard_dir``,
            ``callbacks``) and fingerprints the data; the levels are
            committed in ``run_dir/levels``.
        output_rate: sparsity multiplier of the 16x7 output layer. The
            study's full rate (1.0) can cut an output off (from 95 % on it
            leaves fewer weights than outputs); half the rate keeps every
            output connected (docs/sections/moth_study.md).
        **kwargs: other ``sequential_prune`` arguments.

    Returns:
        MothPruningResult.

    Raises:
        InvalidParameterError: a bad value (named), before any training.
        ResumeMismatchError: ``run_dir`` holds a run with other arguments.
    """
    func = "prune_moth_controller"
    from ..models import moth_controller
    check_type(dataset, tuple, "dataset", func,
               "a MothDataset from tp.data.moth.make_dataset")
    options, runtime = _split_kwargs(kwargs, func)
    options = {"output_rate": output_rate, **options}
    cfg = MothConfig(hidden=hidden, sparsities=sparsities,
                     learning_rate=learning_rate, batch_size=batch_size,
                     max_epochs=max_epochs, patience=patience,
                     min_delta=min_delta, seed=seed, method=method,
                     options=options)
    threshold = check_float(threshold, "threshold", func, 0.0, None,
                            min_inclusive=False)
    t0 = time.perf_counter()
    x, y = dataset.train
    model = moth_controller(hidden=cfg.hidden, inputs=x.shape[1],
                            outputs=y.shape[1], seed=cfg.seed)
    model.compile(keras.optimizers.Adam(cfg.learning_rate), "mse")
    for name in ("train", "val"):          # before the folder is written
        check_dataset(getattr(dataset, name), f"dataset.{name}", func,
                      model=model)
    if run_dir is not None:
        working_model(model, cfg.levels(), func=func)  # layer options
        cfg.open(run_dir, func, dataset=fingerprint(
            [dataset.train, dataset.val], "dataset", func))
    res = sequential_prune(
        model, dataset.train, dataset.val, [0.0] + list(cfg.sparsities),
        max_epochs=cfg.max_epochs, patience=cfg.patience,
        min_delta=cfg.min_delta, batch_size=cfg.batch_size, seed=cfg.seed,
        run_dir=None if run_dir is None else Path(run_dir) / "levels",
        method=cfg.method, progress=progress, verbose=verbose,
        **cfg.options, **runtime)
    h = res.history
    return MothPruningResult(
        result=res, sparsest=find_sparsest(h, threshold, "train_loss"),
        threshold=threshold, dense_val_loss=float(h["val_loss"].iloc[0]),
        time_s=time.perf_counter() - t0)
