"""Unstructured magnitude pruning on tfmot: sequential levels, dynamic
pruning, lottery tickets, and the sparsest network under a loss threshold.

Callbacks for the user's own ``model.fit`` (``SequentialPruning``,
``DynamicPruning``, ``RewindPoint``, ``PruningProgress``) hold the one
implementation of each schedule; ``sequential_prune``, ``dynamic`` and
``lottery_ticket`` are drivers on top of them. Modules, bottom up:
``schedules``, ``layers``, ``masks``, ``wrap``, ``rewind``, ``engines``,
``events``, ``store``, ``callbacks``, ``sequential``, ``trials``,
``lottery``, ``moth``; ``strategies`` (the comparison workflow) loads on
first use.
"""
from .schedules import LevelSparsity, MOTH_LEVELS, check_levels, remaining_after
from .wrap import wrap, strip, is_wrapped
from .masks import (get_masks, set_masks, apply_masks, prune_remaining,
                    percentile_masks, sparsity_table, achieved_sparsity,
                    count_pruned)
from .callbacks import (SequentialPruning, DynamicPruning, RewindPoint,
                        PruningProgress, HISTORY_COLUMNS)
from .connectivity import connectivity, Connectivity
from .rewind import snapshot, rewind, reinitialize
from .sequential import sequential_prune, find_sparsest, SequentialResult
from .trials import one_shot, dynamic, StrategyRun
from .lottery import lottery_ticket, LotteryResult
from .moth import prune_moth_controller, MothPruningResult
from .quantize import quantize_aware, kept_sparsity

_STRATEGIES = ("compare_strategies", "summarize_runs", "StrategyComparison",
               "STRATEGIES")


def __getattr__(name):
    # The strategy comparison is a workflow a layer above; it loads on use.
    if name in _STRATEGIES:
        from . import strategies
        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LevelSparsity", "MOTH_LEVELS", "check_levels", "remaining_after",
           "wrap", "strip", "is_wrapped", "get_masks", "set_masks",
           "apply_masks", "prune_remaining", "percentile_masks",
           "sparsity_table", "achieved_sparsity", "count_pruned",
           "SequentialPruning", "DynamicPruning", "RewindPoint",
           "PruningProgress", "HISTORY_COLUMNS", "connectivity",
           "Connectivity", "snapshot", "rewind",
           "reinitialize", "sequential_prune", "find_sparsest",
           "SequentialResult", "one_shot", "dynamic", "lottery_ticket",
           "compare_strategies", "summarize_runs", "StrategyRun",
           "LotteryResult", "StrategyComparison", "STRATEGIES",
           "prune_moth_controller", "MothPruningResult", "quantize_aware",
           "kept_sparsity"]
