"""Unstructured magnitude pruning on tfmot: sequential levels, dynamic
pruning, lottery tickets, and the sparsest network under a loss threshold.

Callbacks for the user's own ``model.fit`` (``SequentialPruning``,
``DynamicPruning``, ``RewindPoint``, ``PruningProgress``) hold the one
implementation of each schedule; ``sequential_prune``, ``dynamic`` and
``lottery_ticket`` are drivers on top of them.
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
from .strategies import (one_shot, dynamic, lottery_ticket,
                         compare_strategies, summarize_runs, StrategyRun,
                         LotteryResult, STRATEGIES)
from .moth import prune_moth_controller, MothPruningResult

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
           "LotteryResult", "STRATEGIES", "prune_moth_controller",
           "MothPruningResult"]
