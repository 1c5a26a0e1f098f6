"""Early-stopping rules evaluated per network on the validation trace.

A rule sees the per-batch validation losses of the current level, an array
of shape ``(batches, N)``, every ``check_every`` batches and returns which
networks should stop now. Rules are small value objects; their per-level
state is reset by :meth:`reset`.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_float, check_int
from ..errors import InvalidParameterError

__all__ = ["RatioStopping", "PatienceStopping", "get_stopping"]


class _Rule:
    check_every = 100
    per_network = True

    def reset(self, n_networks: int) -> None:
        self.n_networks = n_networks

    def _trace(self, val: np.ndarray) -> np.ndarray:
        val = np.asarray(val, np.float64)
        if not self.per_network:
            val = np.repeat(val.mean(axis=1, keepdims=True), val.shape[1],
                            axis=1)
        return val

    def get_config(self) -> dict:
        return {"rule": self.name, **{k: getattr(self, k)
                                      for k in self._params}}


class RatioStopping(_Rule):
    """The Monte Carlo protocol's rule (``docs/sections/ensemble.md``).

    Every ``check_every`` batches, once more than ``min_batches`` (default
    ``2 * window``) batches have run, compute
    ``r = mean(val[-2w:-w]) / mean(val[-w:])`` and stop when
    ``r < min_ratio`` (less than 1 % improvement between consecutive windows
    with the defaults). ``val`` is each network's own loss on the cycling
    validation minibatches; with ``per_network=False`` it is the mean over
    networks and all networks stop together, as in the original.
    """

    name = "ratio"
    _params = ("window", "check_every", "min_ratio", "min_batches",
               "per_network")

    def __init__(self, window: int = 500, check_every: int = 100,
                 min_ratio: float = 1.01, min_batches: int | None = None,
                 per_network: bool = True):
        f = "RatioStopping"
        self.window = check_int(window, "window", f, min_value=1)
        self.check_every = check_int(check_every, "check_every", f,
                                     min_value=1)
        self.min_ratio = check_float(min_ratio, "min_ratio", f, min_value=0.0)
        self.min_batches = check_int(min_batches, "min_batches", f,
                                     min_value=0, allow_none=True)
        self.per_network = bool(per_network)

    def update(self, val: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)``: networks whose ratio fell below ``min_ratio``."""
        val = self._trace(val)
        n = len(val)
        w = self.window
        min_b = 2 * w if self.min_batches is None else self.min_batches
        if n <= min_b or n < 2 * w:
            return np.zeros(val.shape[1], bool)
        r = val[n - 2 * w:n - w].mean(axis=0) / val[n - w:].mean(axis=0)
        return np.asarray(r < self.min_ratio)


class PatienceStopping(_Rule):
    """Stop a network after ``patience`` checks without improvement.

    Every ``check_every`` batches the mean validation loss over the last
    ``check_every`` batches is compared with the best so far; an improvement
    smaller than ``min_delta`` counts as none.
    """

    name = "patience"
    _params = ("patience", "check_every", "min_delta", "per_network")

    def __init__(self, patience: int = 3, check_every: int = 100,
                 min_delta: float = 0.0, per_network: bool = True):
        f = "PatienceStopping"
        self.patience = check_int(patience, "patience", f, min_value=1)
        self.check_every = check_int(check_every, "check_every", f,
                                     min_value=1)
        self.min_delta = check_float(min_delta, "min_delta", f, min_value=0.0)
        self.per_network = bool(per_network)

    def reset(self, n_networks: int) -> None:
        super().reset(n_networks)
        self.best = np.full(n_networks, np.inf)
        self.wait = np.zeros(n_networks, int)

    def update(self, val: np.ndarray) -> np.ndarray:
        val = self._trace(val)
        if len(val) < self.check_every:
            return np.zeros(val.shape[1], bool)
        cur = val[-self.check_every:].mean(axis=0)
        better = cur < self.best - self.min_delta
        self.best = np.where(better, np.minimum(cur, self.best), self.best)
        self.wait = np.where(better, 0, self.wait + 1)
        return self.wait >= self.patience


def get_stopping(rule, func: str = "get_stopping"):
    """A rule object from ``"ratio"``, ``"patience"``, ``None`` or a rule."""
    if rule is None or rule == "none":
        return None
    if isinstance(rule, _Rule):
        return rule
    if rule == "ratio":
        return RatioStopping()
    if rule == "patience":
        return PatienceStopping()
    raise InvalidParameterError(
        f"{func}(): 'early_stopping' must be 'ratio', 'patience', None or a "
        f"RatioStopping/PatienceStopping object; got {rule!r}.")
