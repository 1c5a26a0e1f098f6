"""The parameters of a Monte Carlo run (its manifest) and the study's
constants."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from .._runstate import RunConfig
from .._validate import (check_choice, check_float, check_increasing_fractions,
                         check_int, check_shard, check_type)
from ..errors import InvalidParameterError
from ..sparsity.schedules import MOTH_LEVELS
from ..utils import derive_seed
from .prune import check_layers
from .stack import INITS
from .stopping import get_stopping

__all__ = ["MonteCarloConfig", "MOTH_SPARSITIES", "MOTH_INPUTS",
           "MOTH_OUTPUTS"]

#: The multi-network schedule: the study's 17 sequential levels
#: (``tp.sparsity.MOTH_LEVELS``) continued to 0.99, 18 levels.
MOTH_SPARSITIES = tuple(MOTH_LEVELS) + (0.99,)
#: Names of the moth controller's inputs and outputs.
MOTH_INPUTS = ("phi0", "theta0", "xf", "yf", "phif", "thetaf", "xdot0",
               "ydot0", "phidot0", "thetadot0")
MOTH_OUTPUTS = ("Fx", "Fy", "tau", "xdotf", "ydotf", "phidotf", "thetadotf")


def _names(names, n, default, arg, func):
    if names is None:
        return [f"{default}{i}" for i in range(n)]
    check_type(names, (list, tuple), arg, func, "a list of names")
    if len(names) != n:
        raise InvalidParameterError(
            f"{func}(): '{arg}' must hold {n} names; got {len(names)}.")
    return [str(s) for s in names]


def _seeds(n_networks, seed, seeds, func):
    """``(n, seed, seeds)``: explicit seeds win; else a (drawn) base seed."""
    if seeds is not None:
        check_type(seeds, (tuple, list, np.ndarray), "seeds", func,
                   "a sequence of integers")
        if len(seeds) == 0:
            raise InvalidParameterError(
                f"{func}(): 'seeds' must hold at least one seed; got [].")
        seeds = [check_int(int(s) if isinstance(s, np.integer) else s,
                           f"seeds[{i}]", func, min_value=0)
                 for i, s in enumerate(seeds)]
        return len(seeds), None, seeds
    n = check_int(n_networks, "n_networks", func, min_value=1)
    seed = check_int(seed, "seed", func, min_value=0, allow_none=True)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0]
                   & 0x7FFFFFFF)
    return n, seed, None


def _rule_config(rule):
    return None if rule is None else rule.get_config()


@dataclasses.dataclass(frozen=True)
class MonteCarloConfig(RunConfig):
    """Every parameter of :func:`~tfprune.ensemble.monte_carlo` that decides
    its result, validated; what its run folder's manifest records.

    ``seeds`` holds explicit per-network seeds (``None``: network ``k`` uses
    ``derive_seed(seed, k)``; :attr:`network_seeds` lists them either way).
    ``shard`` is ``[i, N]`` for a run of share ``i`` of ``N`` of the
    networks (:attr:`networks`), ``None`` for all of them.
    """

    KIND: ClassVar[str] = "ensemble.monte_carlo"

    n_networks: int
    inputs: int
    hidden: list
    outputs: int
    sparsities: list
    activation: str = "tanh"
    init: str = "normal"
    init_std: float = 0.2
    batch_size: int = 128
    learning_rate: float = 5e-4
    max_batches: Any = None
    dense_max_batches: Any = None
    early_stopping: Any = None
    dense_early_stopping: Any = "same"
    prune_bias: bool = False
    bias_sparsities: Any = None
    prune_layers: Any = None
    off_by_one: bool = False
    threshold: float = 1e-3
    column: str = "train_loss"
    eval_batch_size: int = 1024
    stop_after_failures: Any = None
    seed: Any = 0
    seeds: Any = None
    keep_levels: bool = False
    input_names: Any = None
    output_names: Any = None
    shard: Any = None

    # ----------------------------------------------------------------- views
    @property
    def network_seeds(self) -> list:
        if self.seeds is not None:
            return list(self.seeds)
        return [derive_seed(self.seed, k) for k in range(self.n_networks)]

    @property
    def networks(self) -> range:
        """The global indices of the networks this run trains."""
        return check_shard(self.shard, self.n_networks)

    @property
    def widths(self) -> list:
        return [self.inputs] + list(self.hidden) + [self.outputs]

    @property
    def n_levels(self) -> int:
        return len(self.sparsities) + 1

    def rules(self):
        """``(rule, dense_rule)``: fresh early-stopping rule objects."""
        rule = _rule(self.early_stopping)
        dense = rule if self.dense_early_stopping == "same" else \
            _rule(self.dense_early_stopping)
        return rule, dense

    def unsharded(self) -> "MonteCarloConfig":
        return dataclasses.replace(self, shard=None)

    def result_config(self) -> dict:
        """The ``config`` dict of a result: the manifest plus the widths,
        the network indices and their seeds."""
        out = self.manifest()
        seeds = self.network_seeds
        out.update(widths=self.widths, networks=[self.networks.start,
                                                  self.networks.stop],
                   seeds=[seeds[k] for k in self.networks])
        return out

    @classmethod
    def build(cls, func="monte_carlo", **kw) -> "MonteCarloConfig":
        """A validated configuration; ``kw`` are :func:`monte_carlo`'s
        arguments plus ``inputs``/``outputs`` (the data's widths) and the
        early-stopping arguments as given (names or rule objects)."""
        f = func
        n, seed, seeds = _seeds(kw.pop("n_networks"), kw.pop("seed"),
                                kw.pop("seeds"), f)
        hidden = kw.pop("hidden")
        check_type(hidden, (tuple, list), "hidden", f, "a tuple of widths")
        hidden = [check_int(h, f"hidden[{i}]", f, min_value=1)
                  for i, h in enumerate(hidden)]
        sp = check_increasing_fractions(kw.pop("sparsities"), "sparsities", f)
        rule = get_stopping(kw.pop("early_stopping"), f)
        dense = kw.pop("dense_early_stopping")
        dense = "same" if isinstance(dense, str) and dense == "same" else \
            _rule_config(get_stopping(dense, f))
        shard = kw.pop("shard")
        if shard is not None:
            if not check_shard(shard, n, "shard", f):
                raise InvalidParameterError(
                    f"{f}(): shard {shard[0]}/{shard[1]} of {n} networks "
                    f"holds no network; use at most {n} shards.")
            shard = [int(shard[0]), int(shard[1])]
            _check_shardable(rule, dense, kw.get("stop_after_failures"), f)
        cfg = cls(n_networks=n, hidden=hidden, sparsities=sp, seed=seed,
                  seeds=seeds, early_stopping=_rule_config(rule),
                  dense_early_stopping=dense, shard=shard,
                  **_checked_scalars(kw, len(sp), len(hidden) + 1, f))
        return cfg


def _rule(conf):
    if conf is None:
        return None
    from .stopping import PatienceStopping, RatioStopping
    conf = dict(conf)
    kind = {"ratio": RatioStopping, "patience": PatienceStopping}[
        conf.pop("rule")]
    return kind(**conf)


def _check_shardable(rule, dense, stop_after_failures, func):
    shared = [r for r in (rule, dense) if r is not None and r != "same"
              and not (r.per_network if hasattr(r, "per_network")
                       else r.get("per_network", True))]
    if shared:
        raise InvalidParameterError(
            f"{func}(): a shard cannot use an early-stopping rule with "
            "per_network=False: that rule stops every network on the mean "
            "over all networks, which a shard does not see; use "
            "per_network=True or run without 'shard' (--shard).")
    if stop_after_failures is not None:
        raise InvalidParameterError(
            f"{func}(): a shard cannot use 'stop_after_failures' "
            "(--stop-after-failures): it ends the run when no network of "
            "the whole run passes, which a shard does not see; run the "
            "shards without it.")


def _checked_scalars(kw, n_sparsities, n_layers, f) -> dict:
    out = dict(kw)
    out["inputs"] = check_int(kw["inputs"], "inputs", f, min_value=1)
    out["outputs"] = check_int(kw["outputs"], "outputs", f, min_value=1)
    check_type(kw["activation"], str, "activation", f, "an activation name")
    check_choice(kw["init"], INITS, "init", f)
    out["init_std"] = check_float(kw["init_std"], "init_std", f,
                                  min_value=0.0, min_inclusive=False)
    out["batch_size"] = check_int(kw["batch_size"], "batch_size", f,
                                  min_value=1)
    out["learning_rate"] = check_float(kw["learning_rate"], "learning_rate",
                                       f, min_value=0.0, min_inclusive=False)
    for name in ("max_batches", "dense_max_batches", "stop_after_failures"):
        out[name] = check_int(kw[name], name, f, min_value=1,
                              allow_none=True)
    out["eval_batch_size"] = check_int(kw["eval_batch_size"],
                                       "eval_batch_size", f, min_value=1)
    out["threshold"] = check_float(kw["threshold"], "threshold", f,
                                   min_value=0.0)
    check_choice(kw["column"], ("train_loss", "val_loss", "test_loss"),
                 "column", f)
    if kw["bias_sparsities"] is not None:
        out["bias_sparsities"] = check_increasing_fractions(
            kw["bias_sparsities"], "bias_sparsities", f)
        if len(out["bias_sparsities"]) != n_sparsities:
            raise InvalidParameterError(
                f"{f}(): 'bias_sparsities' must have one entry per level "
                f"({n_sparsities}); got {len(out['bias_sparsities'])}.")
    if kw["prune_layers"] is not None:
        out["prune_layers"] = check_layers(kw["prune_layers"], n_layers, f)
    out["input_names"] = _names(kw["input_names"], out["inputs"], "x",
                                "input_names", f)
    out["output_names"] = _names(kw["output_names"], out["outputs"], "y",
                                 "output_names", f)
    for name in ("prune_bias", "off_by_one", "keep_levels"):
        out[name] = bool(kw[name])
    return out
