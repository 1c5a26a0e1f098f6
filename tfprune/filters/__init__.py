"""Structured filter pruning: criteria, one-shot pruning and retraining.

``select``/``scores`` rank the output channels of a Conv/Dense layer (or a
dependency group) by a criterion (``"l1"``, ``"l2"``, ``"fpgm"``,
``"dscore"``, ``"dstep"``, ``"dstep_gm"``, ``"random"``, ``"apoz"``,
``"mean_activation"``); ``prune`` removes them physically in one surgery
rebuild; ``retrain`` fine-tunes the result with the D-Score recipe;
``run_flow`` chains train -> sensitivity -> plan -> prune -> retrain ->
report and writes tables, figures and the pruned model. The methods are
described in ``docs/sections/filters.md``.
"""
from .criteria import (CRITERIA, Criterion, criterion_names, filter_matrix,
                       get_criterion, n_filters, n_to_prune, scores, select)
from .prune import Unit, plan_channels, prunable_units, prune
from .retrain import TimeDecay, augmenter, retrain

_FLOW = ("RECIPES", "FlowConfig", "FlowResult", "load_flow_data",
         "plan_table", "run_flow", "train_model")
_COMPARE = ("compare_criteria", "CriteriaComparison")


def __getattr__(name):
    # The workflow sits a layer above the criteria; it loads on first use.
    if name in _FLOW:
        from . import flow
        return getattr(flow, name)
    if name in _COMPARE:
        from . import compare
        return getattr(compare, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CRITERIA", "Criterion", "criterion_names", "filter_matrix",
           "get_criterion", "n_filters", "n_to_prune", "scores", "select",
           "Unit", "plan_channels", "prunable_units", "prune", "TimeDecay",
           "augmenter", "retrain", "RECIPES", "FlowConfig", "FlowResult",
           "load_flow_data", "plan_table", "run_flow", "train_model",
           "compare_criteria", "CriteriaComparison"]
