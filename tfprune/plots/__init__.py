"""Figures. Every function takes results and returns a matplotlib ``Figure``.

One module per flow: ``moth`` (simulator), ``sparsity`` (sequential pruning,
strategies), ``ensemble`` (Monte Carlo), ``filters`` (D-Score, sensitivity),
``criteria`` (filter criteria compared over seeds).
"""
import matplotlib

if matplotlib.get_backend().lower() not in ("agg",) and not __import__(
        "os").environ.get("DISPLAY") and "ipykernel" not in __import__("sys").modules:
    matplotlib.use("Agg")

from .moth import *  # noqa: F401,F403,E402
from .sparsity import *  # noqa: F401,F403,E402
from .ensemble import *  # noqa: F401,F403,E402
from .filters import *  # noqa: F401,F403,E402
from .criteria import *  # noqa: F401,F403,E402
