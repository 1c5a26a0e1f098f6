"""Iterative magnitude pruning with rewinding: the lottery ticket.

``lottery_ticket`` drives :class:`RewindPoint`, :func:`rewind` and
:func:`prune_remaining`; the protocol is described in
``docs/sections/sparsity.md``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from .._keras import compile_like
from .._validate import check_choice, check_float, check_int
from ..errors import InvalidParameterError
from ..utils import derive_seed, progress_bar, set_seed
from . import masks as _masks
from .config import Config
from .events import RewindPoint
from . import layers as _layers
from .rewind import reinitialize, rewind
from .trials import (BestWeights, check_compiled, evaluate, fit,
                     masked_copy, strategy_scope, training_data)
from .wrap import strip

__all__ = ["lottery_ticket", "LotteryResult", "LotteryConfig"]

#: ``derive_seed(seed, REINIT_KEY, round)`` seeds the random-reinit control.
REINIT_KEY = 1


@dataclass(frozen=True)
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

    def to_frame(self) -> pd.DataFrame:
        """The per-round history."""
        return self.history.copy()


@dataclass(frozen=True)
class LotteryConfig(Config):
    """The parameters of :func:`lottery_ticket`, validated once."""

    KIND: ClassVar[str] = "lottery_ticket"
    FUNC: ClassVar[str] = "lottery_ticket"

    rounds: int = 3
    rate: float = 0.2
    epochs: int = 50
    batch_size: int = 60
    rewind_to: object = "init"
    scope: str = "layer"
    output_rate: float = 0.5
    layer_rates: dict | None = None
    layers: tuple | None = None
    reinit: bool = False
    seed: int = 0
    restore_best: bool = True
    log_every: int = 1

    def __post_init__(self):
        f = self.FUNC
        if isinstance(self.rewind_to, str):
            check_choice(self.rewind_to, ("init",), "rewind_to", f)
        else:
            check_int(self.rewind_to, "rewind_to", f, min_value=0)
        scope = check_choice(self.scope, ("layer", "global"), "scope", f)
        output_rate = check_float(self.output_rate, "output_rate", f, 0.0,
                                  1.0)
        if scope == "global" and output_rate not in (0, 1):
            raise InvalidParameterError(
                f"{f}(): scope='global' takes output_rate 0 (leave the output "
                f"layer out) or 1; got {output_rate}.")
        self._set(
            rounds=check_int(self.rounds, "rounds", f, min_value=0),
            rate=check_float(self.rate, "rate", f, 0.0, 1.0,
                             min_inclusive=False, max_inclusive=False),
            epochs=check_int(self.epochs, "epochs", f, min_value=1),
            batch_size=check_int(self.batch_size, "batch_size", f,
                                 min_value=1),
            output_rate=output_rate,
            layers=None if self.layers is None else tuple(self.layers),
            reinit=bool(self.reinit),
            seed=check_int(self.seed, "seed", f, min_value=0),
            restore_best=bool(self.restore_best),
            log_every=check_int(self.log_every, "log_every", f,
                                min_value=1))

    @property
    def rewind_step(self) -> int:
        return 0 if isinstance(self.rewind_to, str) else int(self.rewind_to)


@dataclass
class _Run:
    """What every round of one :func:`lottery_ticket` call shares."""

    cfg: LotteryConfig
    model: object
    train: object
    val: object
    test: object
    strategy: object
    verbose: int


def _round_row(r, hist, masks, best):
    n_pruned, n_total = _masks.count_pruned(masks)
    at = (best.best_epoch if best is not None and best.best_epoch
          else len(hist)) - 1
    logs = hist.iloc[at]
    row = {"round": r, "remaining": 1 - n_pruned / n_total,
           "sparsity": n_pruned / n_total,
           "train_loss": float(logs.get("loss", np.nan)),
           "val_loss": float(logs.get("val_loss", np.nan)),
           "best_epoch": int(hist["epoch"].iloc[at]),
           "epochs": int(hist["epoch"].iloc[-1]), "time_s": 0.0}
    row.update({key if key.startswith("val_") else f"train_{key}": float(v)
                for key, v in logs.items()
                if key not in ("epoch", "loss", "val_loss")})
    return row


def _train_round(run, net, r, train_seed, rewind_point=None):
    """Train ``net`` one round: its curve, masks, stripped model and row."""
    cfg = run.cfg
    t0 = time.perf_counter()
    cbs = [] if rewind_point is None else [rewind_point]
    best = BestWeights() if cfg.restore_best and run.val is not None \
        else None
    if best is not None:
        cbs.append(best)
    set_seed(train_seed)
    with strategy_scope(run.strategy):
        hist = fit(net, run.train, run.val, cfg.epochs, cfg.batch_size, cbs,
                   run.verbose, cfg.log_every)
    masks = _masks.get_masks(net)
    stripped = strip(net)
    row = _round_row(r, hist, masks, best)
    row.update(evaluate(stripped, run.test, cfg.batch_size, "test"))
    row["time_s"] = time.perf_counter() - t0
    return hist.assign(round=r), masks, stripped, row


def _next_round(run, work, masks, snap, rates, r):
    """Prune the trained ``work``, rewind the survivors: the next round's
    network, the one-shot network and (with ``reinit``) the control."""
    cfg = run.cfg
    values = _masks.prunable_values(work)
    new_masks = _masks.prune_remaining(values, masks, cfg.rate, cfg.scope,
                                       rates, cfg.FUNC)
    control = None
    with strategy_scope(run.strategy):
        cut = strip(work, compile=False)
        _masks.set_masks(cut, new_masks)
        one_shot = compile_like(cut, run.model)
        work = rewind(work, snap, new_masks)
        if cfg.reinit:
            control = reinitialize(
                work, derive_seed(cfg.seed, REINIT_KEY, r + 1), new_masks)
    return work, one_shot, control


def _rounds(run, work, rates, progress):
    cfg = run.cfg
    reports, pruned = [], []
    snap = control = None
    bar = progress_bar(progress, cfg.rounds + 1, desc=cfg.FUNC, unit="round")
    try:
        for r in range(cfg.rounds + 1):
            rp = RewindPoint(step=cfg.rewind_step) if r == 0 else None
            report = _train_round(run, work, r, derive_seed(cfg.seed, r), rp)
            if rp is not None:
                snap = rp.snapshot
                if snap is None:
                    raise InvalidParameterError(
                        f"{cfg.FUNC}(): rewind_to={cfg.rewind_step} steps but "
                        f"round 0 ran only {rp._count} steps; choose a "
                        "smaller k.")
            masks = report[1]
            if control is not None:
                report = _train_round(run, control, r, derive_seed(
                    cfg.seed, REINIT_KEY, r))
            reports.append(report)
            bar.update(1)
            if r < cfg.rounds:
                work, cut, control = _next_round(run, work, masks, snap,
                                                 rates, r)
                pruned.append(cut)
    finally:
        bar.close()
    return reports, pruned, snap


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

    Raises:
        InvalidParameterError: a bad value (named), non-finite data or data
            that does not fit the model, a model that is not compiled.
    """
    func = "lottery_ticket"
    check_compiled(model, func)
    cfg = LotteryConfig(rounds=rounds, rate=rate, epochs=epochs,
                        batch_size=batch_size, rewind_to=rewind_to,
                        scope=scope, output_rate=output_rate,
                        layer_rates=layer_rates, layers=layers,
                        reinit=reinit, seed=seed, restore_best=restore_best,
                        log_every=log_every)
    train, val, test = training_data(model, train, val, test, func)
    work = masked_copy(model, None if cfg.layers is None
                       else list(cfg.layers), strategy)
    rates = _layers.layer_rates(
        model, [w.layer.name for w in _layers.wrappers(work)],
        cfg.output_rate, cfg.layer_rates, func)
    run = _Run(cfg, model, train, val, test, strategy, verbose)
    reports, pruned, snap = _rounds(run, work, rates, progress)
    curves = pd.concat([rep[0] for rep in reports], ignore_index=True)
    curves = curves[["round"] + [c for c in curves.columns if c != "round"]]
    return LotteryResult(history=pd.DataFrame([rep[3] for rep in reports]),
                         snapshot=snap, masks=[rep[1] for rep in reports],
                         curves=curves, _models=[rep[2] for rep in reports],
                         _pruned=pruned)
