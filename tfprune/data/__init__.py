"""Data: the moth flight simulator and small real data sets.

``tp.data.moth`` simulates hawkmoth flights and builds the controller data
set; the loaders return :class:`Splits` ``(train, val, test)`` of ``(x, y)``
numpy arrays with seeded splits.
"""
from . import moth  # noqa: F401
from .._runstate import named  # noqa: F401
from .loaders import (Splits, load_penguins, load_digits, load_mnist,  # noqa: F401
                      load_cifar10, PENGUIN_FEATURES, PENGUIN_CLASSES)

__all__ = ["moth", "named", "Splits", "load_penguins", "load_digits", "load_mnist",
           "load_cifar10", "PENGUIN_FEATURES", "PENGUIN_CLASSES"]
