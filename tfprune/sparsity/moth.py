"""The moth study's pipeline: train the controller, prune it level by level,
and pick the sparsest network under the loss threshold (moth.md §3-4, §7)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .._keras import keras
from .._validate import check_float, check_int, check_type
from .schedules import MOTH_LEVELS, check_levels
from .sequential import SequentialResult, find_sparsest, sequential_prune

__all__ = ["prune_moth_controller", "MothPruningResult"]


@dataclass
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

    def sparsest_model(self):
        """The stripped model of the sparsest level under the threshold."""
        if self.sparsest is None:
            return None
        return self.result.model_at(int(self.sparsest["level"]))


def prune_moth_controller(dataset, hidden=(400, 400, 400, 16),
                          levels=MOTH_LEVELS, lr=5e-4, batch_size=128,
                          max_epochs=500, patience=2, min_delta=1e-5,
                          threshold=1e-3, seed=0, run_dir=None,
                          method="tfmot", output_rate=0.5, progress=True,
                          verbose=0, **kwargs) -> MothPruningResult:
    """Train the moth controller dense, then prune it through ``levels``.

    The dense network is level 0 (sparsity 0.0) of one resumable
    ``sequential_prune`` run: Adam ``lr``, MSE, batch ``batch_size``, early
    stopping on the validation MSE with ``patience`` and ``min_delta`` per
    level, at most ``max_epochs`` epochs per level.

    Args:
        dataset: ``tp.data.moth.make_dataset(...)`` output (``.train``,
            ``.val`` as scaled ``(x, y)``).
        hidden: hidden widths (the study: 400, 400, 400, 16).
        levels: pruning levels after the dense level.
        threshold: find-sparsest threshold on the train MSE (scaled units).
        run_dir: resumable run folder.
        output_rate: sparsity multiplier of the 16x7 output layer
            (tfmot method). The study pruned it at the full rate (1.0); at
            that rate the magnitude ranking across the 7 outputs can cut off
            an output carried by a single weight (phidot_f and thetadot_f at
            90 % in a 200,000-flight run), and from 95 % on fewer than 7 of
            its 112 weights are left. Half the rate keeps 59 of them at 94 %
            (52 more weights, 0.016 % of the network); see
            docs/sections/moth_study.md.
        **kwargs: passed to ``sequential_prune``.

    Returns:
        MothPruningResult.
    """
    func = "prune_moth_controller"
    from ..models import moth_controller
    check_type(dataset, tuple, "dataset", func,
               "a MothDataset from tp.data.moth.make_dataset")
    levels = check_levels(levels, "levels", func)
    if levels[0] == 0.0:
        levels = levels[1:]
    threshold = check_float(threshold, "threshold", func, 0.0, None,
                            min_inclusive=False)
    seed = check_int(seed, "seed", func, min_value=0)
    t0 = time.perf_counter()
    x, y = dataset.train
    model = moth_controller(hidden=tuple(hidden), inputs=x.shape[1],
                            outputs=y.shape[1], seed=seed)
    model.compile(keras.optimizers.Adam(lr), "mse")
    res = sequential_prune(
        model, dataset.train, dataset.val, [0.0] + list(levels),
        max_epochs=max_epochs, patience=patience, min_delta=min_delta,
        batch_size=batch_size, seed=seed,
        run_dir=None if run_dir is None else Path(run_dir), method=method,
        output_rate=output_rate, progress=progress, verbose=verbose,
        **kwargs)
    h = res.history
    return MothPruningResult(
        result=res, sparsest=find_sparsest(h, threshold, "train_loss"),
        threshold=threshold, dense_val_loss=float(h["val_loss"].iloc[0]),
        time_s=time.perf_counter() - t0)
