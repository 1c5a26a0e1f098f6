"""One pruning step for every network of a :class:`StackedMLP`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._validate import check_fraction, check_int, check_type, renamed
from .masks import magnitude_masks
from .stack import StackedMLP

__all__ = ["prune_ensemble", "check_layers"]


def check_layers(layers, n_layers: int, func: str) -> list[int]:
    """Validate a list of 0-based layer indices (``None``: all layers)."""
    if layers is None:
        return list(range(n_layers))
    check_type(layers, (list, tuple), "prune_layers", func,
               "a list of layer indices")
    out = sorted({check_int(l, "prune_layers[]", func, min_value=0,
                            max_value=n_layers - 1) for l in layers})
    return out


@renamed(prune_biases="prune_bias")
def prune_ensemble(ensemble: StackedMLP, sparsity: float,
                   prune_bias: bool = False,
                   bias_sparsity: float | None = None,
                   layers: Sequence[int] | None = None,
                   off_by_one: bool = False, optimizer=None) -> None:
    """Prune every network of ``ensemble`` in place to ``sparsity``.

    Per network and per layer, exactly ``floor(sparsity * n)`` kernel
    entries with the smallest ``|W * M|`` are pruned (already-pruned entries
    first, ties to the lower flat index) and the mask is ANDed with the old
    one, so masks only shrink. Pruned weights (and their Adam moments, which
    no longer matter) are set to exactly zero.

    Args:
        ensemble: the ensemble, changed in place.
        sparsity: target fraction of each layer's kernel entries, in [0, 1).
        prune_bias: also prune each bias vector with its own threshold
            (``prune_biases`` is its deprecated old name).
        bias_sparsity: fraction for the biases (default: ``sparsity``).
        layers: 0-based indices of the layers to prune (default: all).
        off_by_one: prune ``N + 1`` entries like the original code.
        optimizer: a :class:`~tfprune.ensemble.optim.StackedAdam` whose
            moments are cleared at the pruned entries.
    """
    f = "prune_ensemble"
    if not isinstance(ensemble, StackedMLP):
        raise TypeError(f"{f}(): 'ensemble' must be a StackedMLP; got "
                        f"{type(ensemble).__name__}.")
    sparsity = check_fraction(sparsity, "sparsity", f)
    bias_sparsity = sparsity if bias_sparsity is None else \
        check_fraction(bias_sparsity, "bias_sparsity", f)
    layers = check_layers(layers, ensemble.n_layers, f)
    n_k = ensemble.n_layers
    for l in layers:
        pairs = [(l, ensemble.kernels[l], ensemble.kernel_masks[l],
                  sparsity)]
        if prune_bias:
            pairs.append((n_k + l, ensemble.biases[l], ensemble.bias_masks[l],
                          bias_sparsity))
        for slot, var, mvar, s in pairs:
            new = magnitude_masks(var.numpy(), mvar.numpy(), s, off_by_one)
            newf = new.astype(np.float32)
            mvar.assign(newf)
            var.assign(var.numpy() * newf)
            if optimizer is not None:
                optimizer.m[slot].assign(optimizer.m[slot].numpy() * newf)
                optimizer.v[slot].assign(optimizer.v[slot].numpy() * newf)
