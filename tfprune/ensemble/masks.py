"""Exact-count magnitude pruning of stacked weight arrays.

All functions work on NumPy arrays whose first axis is the network index and
return new arrays; nothing here touches TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["prune_count", "magnitude_masks"]


def prune_count(size: int, sparsity: float, off_by_one: bool = False) -> int:
    """Number of entries to prune in an array of ``size`` entries.

    ``N = floor(sparsity * size)``; the product is rounded to 9 decimals first
    so that e.g. ``0.29 * 100`` gives 29, not 28. With ``off_by_one`` the count
    is ``N + 1`` (capped at ``size``), reproducing the original code, whose
    threshold was the (N+1)-th smallest magnitude with ``keep |w| > tau``.
    """
    n = int(math.floor(round(float(sparsity) * int(size), 9)))
    if off_by_one and sparsity > 0:
        n += 1
    return max(0, min(int(size), n))


def magnitude_masks(weights: np.ndarray, masks: np.ndarray, sparsity: float,
                    off_by_one: bool = False) -> np.ndarray:
    """Per-network masks that prune exactly ``prune_count(size, sparsity)``.

    Entries are ranked by ``|W * M|``; entries already pruned (``M == 0``)
    come first, then the smallest magnitudes, ties going to the lower flat
    index. The result is ANDed with ``masks``, so a pruned entry never
    returns; when more entries than the target are already pruned the masks
    are returned unchanged.

    Args:
        weights: ``(N, ...)`` weights of ``N`` networks (one layer).
        masks: ``(N, ...)`` current 0/1 masks, same shape.
        sparsity: target fraction of each network's entries to prune.
        off_by_one: prune ``N + 1`` entries like the original code.

    Returns:
        ``(N, ...)`` boolean array, the new masks.
    """
    weights = np.asarray(weights)
    old = np.asarray(masks).astype(bool)
    if weights.shape != old.shape:
        raise ValueError(f"magnitude_masks(): weights {weights.shape} and "
                         f"masks {old.shape} must have the same shape.")
    n_net = weights.shape[0]
    flat_old = old.reshape(n_net, -1)
    size = flat_old.shape[1]
    k = prune_count(size, sparsity, off_by_one)
    if k == 0:
        return old.copy()
    mag = np.abs(weights.reshape(n_net, -1).astype(np.float64))
    mag = np.where(np.isnan(mag), np.inf, mag)
    key = np.where(flat_old, mag, -1.0)
    order = np.argsort(key, axis=1, kind="stable")[:, :k]
    keep = np.ones_like(flat_old)
    np.put_along_axis(keep, order, False, axis=1)
    return (flat_old & keep).reshape(old.shape)
