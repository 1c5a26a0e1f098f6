from .criteria import (CRITERIA, Criterion, criterion_names, filter_matrix,
                       get_criterion, n_to_prune, scores, select)
from .prune import plan_channels, prune, prunable_units
from .retrain import TimeDecay, retrain
