"""Seeded initialisers: one derived seed per layer so builds are reproducible."""
from __future__ import annotations

from .._keras import keras
from ..utils import derive_seed
from .._validate import check_int


class Seeder:
    """Hands out initialisers whose seeds derive from one model seed.

    With ``seed=None`` every initialiser is unseeded (Keras' default draw).
    """

    def __init__(self, seed, func):
        self.seed = check_int(seed, "seed", func, min_value=0, allow_none=True)
        self._n = 0

    def __call__(self, kind: str = "glorot_uniform"):
        self._n += 1
        cls = keras.initializers.get(kind).__class__
        return cls(seed=derive_seed(self.seed, self._n))
