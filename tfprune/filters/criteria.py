"""Filter-ranking criteria (``docs/sections/filters.md``, "Criteria").

A *filter* is one output channel of a convolution or one output unit of a
Dense layer. Every kernel is seen as a 2-D matrix ``W`` of shape
``(m, n)``, one column ``w_j`` per filter (a Conv kernel of any rank is
reshaped to ``(-1, n)``). Criteria are plain functions of that matrix:

* *score* criteria return one number per filter; lower means pruned first
  (``l1``, ``l2``, ``fpgm``, ``dscore``, ``random``);
* *pair* criteria are selection rules on two keys (``dstep`` on the positive
  and negative masses, ``dstep_gm`` on the positive and negative geometric
  median distances); they have no per-filter score, only :func:`select`;
* *data* criteria need a model and input data (``apoz``,
  ``mean_activation``).

All sorting is stable with the key ``(score, index)``: ties go to the lower
index. Column sums are taken over sorted values so that the order of the
elements inside a filter never changes a sum-based score, not even in the
last bit (distance-based scores use a symmetric Gram form: equal to
rounding).
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
from typing import Callable

import numpy as np

from .._kgraph import find_layer
from .._keras import keras, check_model
from .._validate import check_choice, check_int
from ..errors import (InvalidParameterError, ModelTypeError,
                      UnsupportedLayerError)

__all__ = ["Criterion", "CRITERIA", "get_criterion", "criterion_names",
           "filter_matrix", "order", "ranks", "positive_negative",
           "l1", "l2", "fpgm", "dscore", "random", "dstep_keys",
           "dstep_gm_keys", "dstep_from_orders", "apoz", "mean_activation",
           "activation_layer",
           "scores", "select", "n_filters", "n_to_prune"]


# --------------------------------------------------------------------------
# kernels as (m, n) filter matrices

def _kernel_of(layer):
    """A layer's output-channel kernel as an ndarray, channels last."""
    L = keras.layers
    if isinstance(layer, L.DepthwiseConv2D):
        k = layer.depthwise_kernel.numpy()          # (kh, kw, cin, mult)
        return k.reshape(k.shape[0], k.shape[1], -1)
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        return layer.pointwise_kernel.numpy()
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose,
                          L.Conv3DTranspose)):
        return np.moveaxis(layer.kernel.numpy(), -2, -1)
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D, L.Dense)):
        return layer.kernel.numpy()
    raise UnsupportedLayerError(
        f"Layer {layer.name!r} ({type(layer).__name__}) has no filters to "
        "rank; criteria work on Conv1D/2D/3D (and transposed, depthwise, "
        "separable) and Dense layers. Pass its kernel array instead if it "
        "has one with output channels last.")


def filter_matrix(layer_or_kernel, func="filter_matrix") -> np.ndarray:
    """The ``(m, n)`` float64 matrix whose column ``j`` is filter ``j``.

    Args:
        layer_or_kernel: a Conv/Dense layer, or a kernel array (or
            ``tf.Variable``) with output channels on the last axis.

    Returns:
        ``np.ndarray`` of shape ``(m, n)``.

    Raises:
        UnsupportedLayerError: for a layer without a filter kernel.
        ValueError: for an array of rank < 2 or with no filters.
    """
    if isinstance(layer_or_kernel, keras.layers.Layer):
        if not layer_or_kernel.built:
            raise InvalidParameterError(
                f"{func}(): layer {layer_or_kernel.name!r} is not built; "
                "build the model first.")
        k = _kernel_of(layer_or_kernel)
    else:
        from .._keras import is_keras3_model
        if is_keras3_model(layer_or_kernel):
            raise ModelTypeError(
                f"{func}(): got a Keras 3 layer "
                f"({type(layer_or_kernel).__name__}); tfprune works with "
                "Keras 2 (tf_keras). Build the model with tfprune.keras.")
        k = np.asarray(layer_or_kernel)
        if k.dtype == object or not np.issubdtype(k.dtype, np.number):
            raise TypeError(f"{func}(): 'layer_or_kernel' must be a Keras "
                            "layer or a numeric kernel array; got "
                            f"{type(layer_or_kernel).__name__}.")
    if k.ndim < 2 or k.shape[-1] == 0 or k.size == 0:
        raise InvalidParameterError(
            f"{func}(): a kernel must have rank >= 2 with output channels on "
            f"the last axis; got shape {tuple(k.shape)}.")
    w = np.asarray(k, dtype=np.float64).reshape(-1, k.shape[-1])
    if not np.all(np.isfinite(w)):
        raise InvalidParameterError(
            f"{func}(): the kernel holds NaN or infinite values; fix training "
            "before ranking filters.")
    return w


def layer_by_name(model, name):
    """``model.get_layer(name)`` that also reaches into nested models
    (``"outer/inner"``, the surgery naming; see ``_kgraph.find_layer``)."""
    return find_layer(model, name, "layer_by_name")[1]


def n_filters(layer_or_kernel) -> int:
    """Number of output channels (filters / units) of a layer or kernel."""
    return filter_matrix(layer_or_kernel, "n_filters").shape[1]


def n_to_prune(n: int, ratio: float) -> int:
    """``floor(n * ratio)``, robust to binary rounding (0.29 * 100 -> 29)."""
    return int(np.floor(n * ratio + 1e-9))


# --------------------------------------------------------------------------
# ordering helpers

def order(v) -> np.ndarray:
    """Indices sorted ascending by ``(v_j, j)``: ties go to the lower index."""
    return np.argsort(np.asarray(v), kind="stable")


def ranks(v) -> np.ndarray:
    """0-based position of each index in :func:`order` (its inverse)."""
    o = order(v)
    r = np.empty(len(o), dtype=np.int64)
    r[o] = np.arange(len(o))
    return r


def _colsum(a: np.ndarray) -> np.ndarray:
    # Summing sorted values makes every column sum independent of the order
    # of the elements inside the filter, so equal multisets tie exactly.
    return np.sort(a, axis=0).sum(axis=0)


def _median_distances(w: np.ndarray) -> np.ndarray:
    """``G_j = sum_i ||w_j - w_i||_2`` over all filters ``i`` (exact pairs)."""
    # Gram form in float64, symmetrised so that d[i, j] == d[j, i] exactly
    # and equal multisets of distances tie.
    sq = np.einsum("ij,ij->j", w, w)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (w.T @ w)
    d2 = 0.5 * (d2 + d2.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sort(np.sqrt(d2), axis=1).sum(axis=1)


# --------------------------------------------------------------------------
# criteria on a filter matrix

def positive_negative(w) -> tuple[np.ndarray, np.ndarray]:
    """``P_j = sum max(w, 0)`` and ``N_j = sum max(-w, 0)`` per filter.

    One-signed filters give 0 for the missing part (never ``None``).
    """
    w = np.asarray(w, dtype=np.float64)
    return _colsum(np.maximum(w, 0.0)), _colsum(np.maximum(-w, 0.0))


def l1(w) -> np.ndarray:
    """L1 norm per filter (PFEC): ``sum |w_j|``."""
    return _colsum(np.abs(np.asarray(w, dtype=np.float64)))


def l2(w) -> np.ndarray:
    """L2 norm per filter."""
    return np.sqrt(_colsum(np.square(np.asarray(w, dtype=np.float64))))


def fpgm(w) -> np.ndarray:
    """FPGM: sum of Euclidean distances to all filters of the layer.

    A small value means the filter is close to the geometric median of the
    layer, i.e. redundant (He et al., CVPR 2019; hard one-shot variant).
    """
    return _median_distances(np.asarray(w, dtype=np.float64))


def dscore(w) -> np.ndarray:
    """D-Score: ``rank(P_j) + rank(N_j)`` with stable ranks.

    Ranks are added, not magnitudes, so this differs from L1 = P + N.
    """
    p, n = positive_negative(w)
    return (ranks(p) + ranks(n)).astype(np.float64)


def random(w, seed=0, key=None) -> np.ndarray:
    """A seeded random permutation as score (a baseline with no ties).

    Args:
        w: the ``(m, n)`` filter matrix (only ``n`` is used).
        seed: the base seed.
        key: a name mixed into the seed; ranking a layer passes the layer's
            name, so that layers of the same width lose different filters
            while the choice for each layer stays the same from run to run.
    """
    n = np.asarray(w).shape[-1]
    entropy = [int(seed)]
    if key is not None:
        entropy += list(hashlib.sha256(str(key).encode()).digest()[:8])
    return np.random.default_rng(entropy).permutation(n).astype(np.float64)


def dstep_keys(w) -> tuple[np.ndarray, np.ndarray]:
    """The two keys D-Step orders filters by: ``(P, N)``."""
    return positive_negative(w)


def dstep_gm_keys(w) -> tuple[np.ndarray, np.ndarray]:
    """The two keys of D-Step GM: ``(G+, G-)``, geometric-median distances of
    the positive parts ``max(w, 0)`` and negative parts ``min(w, 0)``."""
    w = np.asarray(w, dtype=np.float64)
    return (_median_distances(np.maximum(w, 0.0)),
            _median_distances(np.minimum(w, 0.0)))


def dstep_from_orders(op, on, k: int) -> np.ndarray:
    """D-Step's buffer rule on two orders.

    ``C_t`` holds the filters among the ``t`` first of both ``op`` and
    ``on``. The smallest ``t`` with ``|C_t| >= k`` gives the answer; when
    ``C_t`` overshoots to ``k + 1`` (two newcomers at once), the newcomer
    with the larger ``(rank sum, index)`` is dropped.

    Args:
        op, on: permutations of ``range(n)`` (ascending orders of two keys).
        k: number of filters to select, ``0 <= k <= n``.

    Returns:
        sorted ``np.ndarray`` of ``k`` indices.
    """
    op = np.asarray(op, dtype=np.int64)
    on = np.asarray(on, dtype=np.int64)
    n = len(op)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    rp = np.empty(n, np.int64)
    rp[op] = np.arange(n)
    rn = np.empty(n, np.int64)
    rn[on] = np.arange(n)
    # j joins C_t at t = max(rp_j, rn_j) + 1, so |C_t| = #{j: enter_j < t}
    enter = np.maximum(rp, rn)
    size = np.cumsum(np.bincount(enter, minlength=n))
    t = k + int(np.argmax(size[k - 1:] >= k))
    members = np.flatnonzero(enter <= t - 1)
    if size[t - 1] == k:
        return members
    if size[t - 1] == k + 1:
        new = np.flatnonzero(enter == t - 1)
        drop = max(new, key=lambda j: (rp[j] + rn[j], j))
        return members[members != drop]
    raise AssertionError("unreachable: C_n holds every filter")


# --------------------------------------------------------------------------
# data-based criteria

def _is_elementwise_after(layer) -> bool:
    L = keras.layers
    if isinstance(layer, (L.BatchNormalization, L.ReLU, L.LeakyReLU, L.ELU,
                          L.PReLU, L.ThresholdedReLU)):
        return True
    return isinstance(layer, L.Activation)


def activation_layer(model, layer):
    """The layer whose output is ``layer``'s post-activation feature map.

    Follows single-consumer chains of BatchNormalization and activation
    layers (Conv -> BN -> ReLU gives the ReLU); a layer with its own
    activation and no such follower is its own activation layer.
    """
    current = layer
    while True:
        nodes = current._outbound_nodes
        consumers = {id(n.layer): n.layer for n in nodes
                     if n.layer in model.layers}
        if len(consumers) != 1:
            return current
        nxt = next(iter(consumers.values()))
        if not _is_elementwise_after(nxt):
            return current
        current = nxt


def _feature_maps(model, layer, x, batch_size):
    target = activation_layer(model, layer)
    sub = keras.Model(model.inputs, target.output)
    out = sub.predict(x, batch_size=batch_size, verbose=0)
    return out.reshape(-1, out.shape[-1])


def _resolve_model_layer(model, layer, func):
    if model is None:
        raise InvalidParameterError(
            f"{func}(): data criteria need the model: pass model=... and "
            "x=... (input samples) along with the layer.")
    check_model(model, "model", func)
    if isinstance(layer, str):
        return layer_by_name(model, layer)
    if isinstance(layer, keras.layers.Layer):
        return model.get_layer(layer.name)
    raise TypeError(f"{func}(): data criteria need a layer (or its name), "
                    f"not a kernel array; got {type(layer).__name__}.")


def apoz(layer, model=None, x=None, batch_size=256) -> np.ndarray:
    """``1 - APoZ``: the fraction of non-zero post-activation outputs.

    APoZ (Hu et al., 2016) is the average percentage of zeros of a channel's
    activation over the data; channels that are mostly zero are pruned
    first, so the score is ``1 - APoZ`` (lower = pruned first).
    """
    layer = _resolve_model_layer(model, layer, "apoz")
    from ..surgery.identify import get_apoz
    z = np.asarray(get_apoz(model, layer, x, batch_size=batch_size),
                   dtype=np.float64)
    return 1.0 - z


def mean_activation(layer, model=None, x=None, batch_size=256) -> np.ndarray:
    """Mean post-activation output per channel over the data (Molchanov et
    al., 2016); a low mean is pruned first."""
    layer = _resolve_model_layer(model, layer, "mean_activation")
    return _feature_maps(model, layer, x, batch_size).astype(
        np.float64).mean(axis=0)


# --------------------------------------------------------------------------
# registry

@dataclasses.dataclass(frozen=True)
class Criterion:
    """A named filter criterion.

    Attributes:
        name: registry name.
        kind: ``"score"`` (one score per filter of the ``(m, n)`` matrix),
            ``"pair"`` (two keys and the D-Step rule), or ``"data"`` (scores
            from a model and input data).
        fn: the function: ``fn(W) -> (n,)`` for ``"score"``,
            ``fn(W) -> ((n,), (n,))`` for ``"pair"``,
            ``fn(layer, model=, x=, batch_size=) -> (n,)`` for ``"data"``.

        per_layer: ``fn`` takes ``key=``, the name of the layer it ranks
            (``random`` seeds itself from it).
    """

    name: str
    kind: str
    fn: Callable
    per_layer: bool = False

    @property
    def has_score(self) -> bool:
        return self.kind in ("score", "data")

    def keywords(self):
        """The extra keyword arguments ``fn`` accepts (a sorted list), or
        ``None`` when it takes any (``**kwargs``)."""
        try:
            params = list(inspect.signature(self.fn).parameters.values())
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        given = _DATA_ARGS if self.kind == "data" else ()
        return sorted(p.name for p in params[1:]
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                      and p.name not in given)

    def check_inputs(self, kw, model=None, x=None, func=None) -> dict:
        """Refuse keyword arguments ``fn`` does not accept, and a data
        criterion without ``model`` and ``x``, before any work; returns
        ``kw``."""
        where = f"{func}(): " if func else ""
        accepted = self.keywords()
        bad = sorted(set(kw) - set(accepted)) if accepted is not None else []
        if bad:
            what = (f"accepts only {', '.join(accepted)}" if accepted
                    else "takes no keyword arguments")
            raise InvalidParameterError(
                f"{where}criterion {self.name!r} {what}; got "
                f"{', '.join(f'{k}={kw[k]!r}' for k in bad)}.")
        if self.kind == "data" and (model is None or x is None):
            raise InvalidParameterError(
                f"{where}method {self.name!r} ranks filters by their "
                "activations on data: pass model=... and x=... (input "
                "samples), or use a kernel criterion such as 'dscore'.")
        return kw


_DATA_ARGS = ("model", "x", "batch_size")

CRITERIA: dict[str, Criterion] = {
    "l1": Criterion("l1", "score", l1),
    "l2": Criterion("l2", "score", l2),
    "fpgm": Criterion("fpgm", "score", fpgm),
    "dscore": Criterion("dscore", "score", dscore),
    "random": Criterion("random", "score", random, per_layer=True),
    "dstep": Criterion("dstep", "pair", dstep_keys),
    "dstep_gm": Criterion("dstep_gm", "pair", dstep_gm_keys),
    "apoz": Criterion("apoz", "data", apoz),
    "mean_activation": Criterion("mean_activation", "data", mean_activation),
}


def criterion_names() -> list[str]:
    """The registered criterion names."""
    return sorted(CRITERIA)


def get_criterion(name_or_callable, func="get_criterion") -> Criterion:
    """Look up a criterion by name, or wrap a user score function.

    Args:
        name_or_callable: a name from :data:`CRITERIA`, a :class:`Criterion`,
            or a callable ``f(W) -> scores`` taking the ``(m, n)`` filter
            matrix and returning ``n`` scores (lower = pruned first).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    if isinstance(name_or_callable, Criterion):
        return name_or_callable
    if isinstance(name_or_callable, str):
        c = CRITERIA.get(name_or_callable.lower())
        if c is None:
            raise InvalidParameterError(
                f"{func}(): unknown method {name_or_callable!r}; valid "
                f"methods: {', '.join(criterion_names())}, or a callable "
                "f(W) -> scores on the (m, n) filter matrix.")
        return c
    if callable(name_or_callable):
        name = getattr(name_or_callable, "__name__",
                       type(name_or_callable).__name__)
        return Criterion(name, "score", name_or_callable)
    raise TypeError(f"{func}(): 'method' must be a criterion name or a "
                    f"callable; got {type(name_or_callable).__name__}.")


# --------------------------------------------------------------------------
# scores / select on layers, kernels and groups

def _members(layer_or_kernel, model, func):
    """A list of layers or kernel arrays (one for a single layer/kernel)."""
    obj = layer_or_kernel
    members = getattr(obj, "layers", None) if not isinstance(
        obj, keras.layers.Layer) else None
    if members is None and isinstance(obj, (list, tuple)):
        members = list(obj)
    if members is None:
        members = [obj]
    if not members:
        raise InvalidParameterError(f"{func}(): the group is empty.")
    out = []
    for m in members:
        if isinstance(m, str):
            if model is None:
                raise InvalidParameterError(
                    f"{func}(): layer name {m!r} needs model=... to resolve.")
            m = layer_by_name(model, m)
        out.append(m)
    return out


def _check_score(s, n, name, func):
    s = np.asarray(s, dtype=np.float64).reshape(-1)
    if s.shape != (n,):
        raise InvalidParameterError(
            f"{func}(): criterion {name!r} returned {s.shape[0]} scores for "
            f"{n} filters; it must return one score per output channel.")
    if not np.all(np.isfinite(s)):
        raise InvalidParameterError(
            f"{func}(): criterion {name!r} returned NaN or infinite scores.")
    return s


_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max}


def _group_values(crit, members, model, x, batch_size, func, kw):
    """Per-member values: score arrays, or (a, b) key pairs."""
    vals = []
    n0 = None
    for m in members:
        if crit.kind == "data":
            n = filter_matrix(m, func).shape[1]
            v = _check_score(crit.fn(m, model=model, x=x,
                                     batch_size=batch_size), n, crit.name,
                             func)
        else:
            w = filter_matrix(m, func)
            n = w.shape[1]
            mkw = kw
            if crit.per_layer and isinstance(m, keras.layers.Layer):
                mkw = {"key": m.name, **kw}
            if crit.kind == "pair":
                a, b = crit.fn(w, **mkw)
                v = (_check_score(a, n, crit.name, func),
                     _check_score(b, n, crit.name, func))
            else:
                v = _check_score(crit.fn(w, **mkw), n, crit.name, func)
        if n0 is not None and n != n0:
            raise InvalidParameterError(
                f"{func}(): group members have different numbers of filters "
                f"({n0} and {n}); a dependency group shares its channels.")
        n0 = n
        vals.append(v)
    return vals, n0


def scores(layer_or_kernel, method="dscore", *, model=None, x=None,
           batch_size=256, reduce="sum", **kw) -> np.ndarray:
    """Per-channel importance; lower is pruned first.

    Args:
        layer_or_kernel: a Conv/Dense layer, a kernel array with output
            channels last, or a dependency group (a list of layers / layer
            names, or an object with ``.layers``) whose members share output
            channels; a group scores ``reduce`` (default the sum) of its
            members' scores.
        method: criterion name (see :func:`criterion_names`) or a callable
            ``f(W) -> scores`` on the ``(m, n)`` filter matrix.
        model, x, batch_size: for the data criteria (``apoz``,
            ``mean_activation``), and to resolve layer names.
        reduce: ``"sum"``, ``"mean"`` or ``"max"`` over group members.
        **kw: passed to the criterion (``seed`` for ``random``); a keyword
            the criterion does not take is refused.

    Returns:
        ``np.ndarray`` of shape ``(n,)``, float64.

    Raises:
        ValueError: for a selection-rule method without a score (``dstep``,
            ``dstep_gm``: use :func:`select`), an unknown method, a keyword
            the criterion does not take, a data criterion without
            ``model``/``x``, or a group whose members differ in width.
    """
    func = "scores"
    crit = get_criterion(method, func)
    if not crit.has_score:
        raise InvalidParameterError(
            f"{func}(): method {crit.name!r} is a selection rule without a "
            "per-channel score; use tp.filters.select(layer, k, "
            f"method={crit.name!r}) instead.")
    check_choice(reduce, tuple(_REDUCE), "reduce", func)
    crit.check_inputs(kw, model, x, func)
    members = _members(layer_or_kernel, model, func)
    vals, _ = _group_values(crit, members, model, x, batch_size, func, kw)
    if len(vals) == 1:
        return vals[0]
    return _REDUCE[reduce](np.stack(vals), axis=0)


def select(layer_or_kernel, k, method="dscore", *, model=None, x=None,
           batch_size=256, reduce="sum", **kw) -> np.ndarray:
    """The ``k`` output-channel indices to remove, sorted ascending.

    Score criteria take the first ``k`` of the stable order of their scores;
    ``dstep``/``dstep_gm`` apply the set rule on their two keys (for a group,
    each key is reduced over the members first).

    Args:
        layer_or_kernel: a layer, kernel array or dependency group (see
            :func:`scores`).
        k: number of channels, ``0 <= k <= n``.
        method: criterion name or callable (see :func:`scores`).
        model, x, batch_size, reduce, **kw: as for :func:`scores`.

    Returns:
        sorted ``np.ndarray`` of ``k`` int64 indices.

    Raises:
        ValueError: as :func:`scores`, and for ``k`` outside ``[0, n]``.

    Example:
        >>> W = np.array([[1.0, -1.0, 0.2, 0.5], [2.0, -0.5, 0.1, -0.3]])
        >>> select(W, 1, "dscore")
        array([2])
    """
    func = "select"
    crit = get_criterion(method, func)
    check_choice(reduce, tuple(_REDUCE), "reduce", func)
    crit.check_inputs(kw, model, x, func)
    members = _members(layer_or_kernel, model, func)
    vals, n = _group_values(crit, members, model, x, batch_size, func, kw)
    k = check_int(k, "k", func, min_value=0)
    if k > n:
        raise InvalidParameterError(
            f"{func}(): 'k' must be <= the number of filters ({n}); got {k}.")
    red = _REDUCE[reduce]
    if crit.kind == "pair":
        a = red(np.stack([v[0] for v in vals]), axis=0)
        b = red(np.stack([v[1] for v in vals]), axis=0)
        return dstep_from_orders(order(a), order(b), k)
    s = red(np.stack(vals), axis=0)
    return np.sort(order(s)[:k]).astype(np.int64)

