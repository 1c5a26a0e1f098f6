"""Which channels to delete, from data: APoZ (average percentage of zeros).

Hu et al. (2016), "Network Trimming": a channel whose activation is zero on
most inputs contributes little. :func:`get_apoz` measures, per output channel
of a layer, the fraction of zeros in its activation over a data set, and
:func:`high_apoz` picks the channels above a cutoff (keras-surgeon's
``identify`` module, same names and arguments).
"""
from __future__ import annotations

import numpy as np

from .. import _kgraph
from .._keras import check_model, keras
from .._validate import check_choice, check_float, check_int
from ..errors import InvalidParameterError
from .facts import activation_tensors
from .graph import DependencyGraph

__all__ = ["get_apoz", "high_apoz", "activation_tensors"]


def get_apoz(model, layer, x, batch_size: int = 256) -> np.ndarray:
    """Fraction of zero activations per output channel of ``layer`` over ``x``.

    The activation is the post-activation feature map of
    :func:`tfprune.surgery.facts.activation_layer`: the last activation in
    the chain of element-wise layers after it (``Conv2D -> BN -> ReLU``,
    ``Conv2D -> Dropout -> ReLU``), else the layer's own output (e.g.
    ``Conv2D(..., activation="relu")``). Inference mode (dropout off, BN
    moving statistics). A layer called at several places pools all calls.

    Args:
        model: a built Sequential or Functional tf_keras model; not changed.
        layer: a layer of ``model`` (top level) or its name.
        x: model input, an array (or list of arrays for several inputs) of
            shape ``(n, ...)``.
        batch_size: samples per forward pass.

    Returns:
        ``np.ndarray`` of shape ``(channels,)`` with values in [0, 1].

    Raises:
        TypeError: not a tf_keras graph model.
        ValueError: unknown layer, a layer inside a nested model, a layer
            without channels, or empty ``x``.
    """
    func = "get_apoz"
    check_model(model, "model", func)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    graph = DependencyGraph(model)
    rec = graph.find(layer, func)
    if not any(la is rec.layer for la in model.layers):
        outer = _kgraph.top_layer(model, rec.name)
        raise InvalidParameterError(
            f"{func}(): layer '{rec.name}' lies inside a nested model; call "
            f"get_apoz on the nested model '{outer.name}' with its own "
            "inputs.")
    infos = [graph.io(n)[1][0] for n in rec.nodes]
    if not infos or infos[0] is None:
        raise InvalidParameterError(
            f"{func}(): layer '{rec.name}' ({rec.class_name}) has no channel "
            "axis in its output.")
    axis = infos[0].axis
    probe = keras.Model(model.inputs, activation_tensors(model, rec.layer))
    xs = x if isinstance(x, (list, tuple)) else [x]
    xs = [np.asarray(v) for v in xs]
    n = len(xs[0])
    if n == 0:
        raise InvalidParameterError(f"{func}(): 'x' must not be empty.")
    zeros = None
    count = 0
    for start in range(0, n, batch_size):
        batch = [v[start:start + batch_size] for v in xs]
        outs = probe(batch if len(batch) > 1 else batch[0], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for a in outs:
            a = np.moveaxis(np.asarray(a), axis, -1)
            a = a.reshape(-1, a.shape[-1])
            z = (a == 0).sum(axis=0)
            zeros = z if zeros is None else zeros + z
            count += a.shape[0]
    return zeros / float(count)


def high_apoz(apoz, method: str = "std", cutoff_std: float = 1,
              cutoff_absolute: float = 0.99) -> np.ndarray:
    """Indices of channels with a high APoZ.

    Args:
        apoz: per-channel APoZ values, shape ``(channels,)``.
        method: ``"std"`` (above mean + ``cutoff_std`` standard deviations),
            ``"absolute"`` (above ``cutoff_absolute``) or ``"both"`` (above the
            lower of the two cutoffs).
        cutoff_std: number of standard deviations for ``"std"``.
        cutoff_absolute: APoZ threshold for ``"absolute"``.

    Returns:
        sorted ``np.ndarray`` of channel indices with ``apoz >= cutoff``.

    Raises:
        ValueError: unknown method, or ``apoz`` not a 1-D array of fractions.
    """
    func = "high_apoz"
    check_choice(method, ("std", "absolute", "both"), "method", func)
    cutoff_std = check_float(cutoff_std, "cutoff_std", func)
    cutoff_absolute = check_float(cutoff_absolute, "cutoff_absolute", func,
                                  0.0, 1.0)
    apoz = np.asarray(apoz, dtype=np.float64)
    if apoz.ndim != 1 or not apoz.size or not np.isfinite(apoz).all():
        raise InvalidParameterError(
            f"{func}(): 'apoz' must be a non-empty 1-D array of finite values; "
            f"got shape {apoz.shape}.")
    std_cut = apoz.mean() + apoz.std() * cutoff_std
    cutoff = {"std": std_cut, "absolute": cutoff_absolute,
              "both": min(cutoff_absolute, std_cut)}[method]
    return np.flatnonzero(apoz >= cutoff)
