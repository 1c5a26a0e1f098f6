"""Per-layer pruning sensitivity and the parallel-pruning plan.

``analyze`` sweeps each prunable layer (or dependency group) over pruning
ratios without retraining, evaluating by masking (the masked-evaluation
engine, ``_masking``, lives here and nowhere else); ``plan`` turns the table
into one ratio per layer from an accuracy threshold. See
``docs/sections/filters.md``.
"""
from ._plan import plan
from ._sweep import COLUMNS, SensitivityConfig, analyze, default_ratios

__all__ = ["analyze", "plan", "default_ratios", "COLUMNS",
           "SensitivityConfig"]
