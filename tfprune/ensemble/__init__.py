"""Monte Carlo over many networks: train and prune N MLPs as one graph.

``monte_carlo(data, n_networks=...)`` runs the moth study's multi-network
protocol (``docs/sections/ensemble.md``): N identical-shape MLPs with
independent seeds, stacked into ``(N, fan_in, fan_out)`` kernels, trained
together on the same minibatches with per-network Adam and early stopping,
pruned level by level with exact per-layer magnitude counts (masks only
shrink), and evaluated on the full splits after every level. Runs resume
from their run folder, and ``shard=(i, N)`` splits the networks over
processes or machines (:func:`merge_runs` joins them). The building blocks
(:class:`StackedMLP`, :class:`EnsembleTrainer`, :func:`prune_ensemble`) can
be used alone.
"""
from .stack import StackedMLP
from .optim import StackedAdam
from .stopping import RatioStopping, PatienceStopping
from .masks import magnitude_masks, prune_count
from .prune import prune_ensemble
from .train import EnsembleTrainer, LevelLog
from .results import (MonteCarloResult, sparsest, sparsity_distribution,
                      summary, layer_survival, connection_survival)
from .config import (MonteCarloConfig, MOTH_SPARSITIES, MOTH_INPUTS,
                     MOTH_OUTPUTS)
from .montecarlo import monte_carlo, load_run, merge_runs


def __getattr__(name):
    # Writing the report (tables and figures) is a workflow, above the plots.
    if name == "save_report":
        from .report import save_report
        return save_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["StackedMLP", "StackedAdam", "RatioStopping", "PatienceStopping",
           "magnitude_masks", "prune_count", "prune_ensemble",
           "EnsembleTrainer", "LevelLog", "MonteCarloResult", "sparsest",
           "sparsity_distribution", "summary", "layer_survival",
           "connection_survival", "save_report", "monte_carlo", "load_run",
           "merge_runs", "MonteCarloConfig", "MOTH_SPARSITIES",
           "MOTH_INPUTS", "MOTH_OUTPUTS"]
