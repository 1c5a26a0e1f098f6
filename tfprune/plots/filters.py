"""Figures for the filters flow (D-Score paper Figs. 2, 4 and 5).

* :func:`sensitivity_curves`: metric vs pruning ratio, one line per layer,
  with the threshold (Fig. 2);
* :func:`pruned_filter_bars`: kept / pruned filters per layer of a plan;
* :func:`filter_feature_maps`: a layer's filters and its feature maps for one
  input image, in rank order, the pruned ones boxed in green; D-Score tiles
  in a red (positive) / blue (negative) map, L1 tiles in grey (Fig. 4);
* :func:`filter_sign_fractions`: negative / positive weight fractions of the
  filters kept by only one of two criteria (Fig. 5).

Each function returns a ``matplotlib.figure.Figure``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["sensitivity_curves", "pruned_filter_bars", "filter_feature_maps",
           "filter_sign_fractions"]


def _figure(figsize):
    from matplotlib.figure import Figure
    return Figure(figsize=figsize, layout="constrained")


def sensitivity_curves(table, threshold=None, layers=None, baseline=None,
                       title=None):
    """Metric vs pruning ratio per layer (D-Score Fig. 2).

    Args:
        table: ``tp.sensitivity.analyze``'s DataFrame (``layer, ratio,
            metric``; ``baseline`` optional).
        threshold: draw the planning threshold: absolute (``0.9``) or
            relative to the baseline (``-0.01``).
        layers: subset of layers to draw (default all, in table order).
        baseline: unpruned metric (default the table's ``baseline``); drawn
            as a dotted line.
        title: axes title.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    if not isinstance(table, pd.DataFrame) or not {
            "layer", "ratio", "metric"} <= set(table.columns):
        raise ValueError("sensitivity_curves(): 'table' must be the "
                         "DataFrame from tp.sensitivity.analyze (columns "
                         "layer, ratio, metric).")
    names = list(dict.fromkeys(table["layer"]))
    if layers is not None:
        missing = [l for l in layers if l not in names]
        if missing:
            raise ValueError(f"sensitivity_curves(): layers {missing} are not "
                             f"in the table; it has {names}.")
        names = list(layers)
    if baseline is None and "baseline" in table:
        baseline = float(table["baseline"].iloc[0])
    fig = _figure((7.5, 4.5))
    ax = fig.add_subplot()
    import matplotlib
    cmap = matplotlib.colormaps["viridis"]
    for i, name in enumerate(names):
        g = table[table["layer"] == name].sort_values("ratio")
        color = cmap(i / max(len(names) - 1, 1))
        ax.plot(100 * g["ratio"], g["metric"], marker="o", ms=3, lw=1.2,
                color=color, label=name)
    if baseline is not None:
        ax.axhline(baseline, color="0.4", ls=":", lw=1, label="unpruned")
    if threshold is not None:
        tau = threshold if threshold >= 0 or baseline is None else \
            baseline + threshold
        ax.axhline(tau, color="crimson", ls="--", lw=1.2,
                   label=f"threshold {tau:.3g}")
    metric = table.attrs.get("metric", "metric")
    ax.set_xlabel("filters pruned in the layer (%)")
    ax.set_ylabel(metric if isinstance(metric, str) else "metric")
    ax.set_xlim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(names) > 8 else 1,
              loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "Sensitivity of each layer to filter pruning "
                 f"({table.attrs.get('method', 'criterion')}, no retraining)")
    return fig


def pruned_filter_bars(table, title=None):
    """Kept and pruned filters per layer.

    Args:
        table: DataFrame with ``layer, n_filters, n_pruned`` (e.g.
            ``FlowResult.plan_table`` / ``plan.csv``).

    Returns:
        ``matplotlib.figure.Figure``.
    """
    if not isinstance(table, pd.DataFrame) or not {
            "layer", "n_filters", "n_pruned"} <= set(table.columns):
        raise ValueError("pruned_filter_bars(): 'table' needs columns layer, "
                         "n_filters, n_pruned (tp.filters.plan_table).")
    n = table["n_filters"].to_numpy(int)
    k = table["n_pruned"].to_numpy(int)
    fig = _figure((max(5.0, 0.6 * len(table) + 2), 4.0))
    ax = fig.add_subplot()
    pos = np.arange(len(table))
    ax.bar(pos, n - k, color="tab:blue", label="kept")
    ax.bar(pos, k, bottom=n - k, color="0.75", hatch="//", label="pruned")
    for p, kk, nn in zip(pos, k, n):
        ax.text(p, nn, f"{100 * kk / nn:.0f} %", ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(pos, table["layer"], rotation=45, ha="right")
    ax.set_ylabel("filters")
    ax.set_ylim(0, 1.12 * max(n.max(), 1))
    ax.legend(fontsize=8)
    ax.set_title(title or f"Filters kept / pruned: {k.sum():,} of "
                 f"{n.sum():,} removed")
    return fig


def _rank_order(model, layer, method, k):
    """(order with the k pruned first, pruned set)."""
    from ..filters import criteria as C
    crit = C.get_criterion(method)
    lay = model.get_layer(layer)
    pruned = C.select(lay, k, crit, model=model)
    if crit.has_score and crit.kind != "data":
        order = np.argsort(C.scores(lay, crit), kind="stable")
    else:
        rest = np.setdiff1d(np.arange(C.filter_matrix(lay).shape[1]), pruned)
        order = np.concatenate([pruned, rest])
    return order, set(pruned.tolist())


def _mosaic(ax, tiles, order, pruned, cmap, symmetric, per_tile, label):
    import matplotlib.patches as mpatches
    n = len(order)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    h, w = tiles.shape[1:3]
    pad = max(1, h // 3)
    H, W = h + pad + 2, w + pad
    canvas = np.full((rows * H, cols * W), np.nan)
    vals = tiles.astype(float)
    if per_tile:
        lo = vals.reshape(n, -1).min(1)[:, None, None]
        hi = vals.reshape(n, -1).max(1)[:, None, None]
        vals = (vals - lo) / np.where(hi > lo, hi - lo, 1.0)
        vmin, vmax = 0.0, 1.0
    elif symmetric:
        m = float(np.abs(vals).max()) or 1.0
        vmin, vmax = -m, m
    else:
        vmin, vmax = float(vals.min()), float(vals.max())
    for pos, j in enumerate(order):
        r, c = divmod(pos, cols)
        canvas[r * H:r * H + h, c * W:c * W + w] = vals[j]
    ax.imshow(canvas, cmap=cmap, vmin=vmin, vmax=vmax,
              interpolation="nearest")
    fs = max(4, min(8, int(90 / cols)))
    for pos, j in enumerate(order):
        r, c = divmod(pos, cols)
        ax.text(c * W + (w - 1) / 2, r * H + h + 0.4, str(j), ha="center",
                va="top", fontsize=fs)
        if j in pruned:
            ax.add_patch(mpatches.Rectangle(
                (c * W - 0.5, r * H - 0.5), w, h, fill=False,
                edgecolor="limegreen", lw=1.6))
    ax.set_title(label, fontsize=9)
    ax.axis("off")


def filter_feature_maps(model, layer, image, ratio=0.2,
                        methods=("dscore", "l1"), reduce="mean"):
    """Filters and feature maps of one conv layer in rank order (Fig. 4).

    Top row: each method's filters as ``kh x kw`` tiles (input channels
    collapsed by ``reduce``), lowest rank (pruned first) top-left, filter
    index under each tile, the ``floor(ratio * n)`` pruned ones boxed in
    green; D-Score tiles in a red (positive) / blue (negative) map, other
    methods in grey. Bottom row: the layer's post-activation feature maps for
    ``image`` in the same order.

    Args:
        model: a tf_keras model.
        layer: name of a Conv2D layer.
        image: one input sample, shape ``model.input_shape[1:]``.
        ratio: fraction of filters marked as pruned.
        methods: criteria to compare (default D-Score vs L1).
        reduce: ``"mean"`` or ``"sum"`` over input channels for the tiles.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    from .._keras import keras
    from ..filters import criteria as C
    func = "filter_feature_maps"
    lay = model.get_layer(layer)
    if not isinstance(lay, keras.layers.Conv2D) or isinstance(
            lay, (keras.layers.DepthwiseConv2D,
                  keras.layers.SeparableConv2D)):
        raise ValueError(f"{func}(): layer {layer!r} must be a Conv2D; got "
                         f"{type(lay).__name__}.")
    if reduce not in ("mean", "sum"):
        raise ValueError(f"{func}(): 'reduce' must be 'mean' or 'sum'; got "
                         f"{reduce!r}.")
    image = np.asarray(image, dtype=np.float32)
    if image.shape != tuple(model.input_shape[1:]):
        raise ValueError(f"{func}(): 'image' must have shape "
                         f"{tuple(model.input_shape[1:])}; got {image.shape}.")
    kernel = lay.kernel.numpy()                        # (kh, kw, cin, n)
    tiles = getattr(kernel, reduce)(axis=2).transpose(2, 0, 1)
    target = C.activation_layer(model, lay)
    sub = keras.Model(model.inputs, target.output)
    maps = sub(image[None], training=False).numpy()[0].transpose(2, 0, 1)
    n = tiles.shape[0]
    k = C.n_to_prune(n, ratio)
    fig = _figure((4.2 * len(methods), 8.4))
    axes = fig.subplots(2, len(methods), squeeze=False)
    letters = "abcdefgh"
    for i, m in enumerate(methods):
        order, pruned = _rank_order(model, layer, m, k)
        name = C.get_criterion(m).name
        red_blue = name in ("dscore", "dstep", "dstep_gm")
        _mosaic(axes[0, i], tiles, order, pruned,
                "RdBu_r" if red_blue else "gray", red_blue, False,
                f"({letters[i]}) {name}: filters of {layer} in rank order")
        _mosaic(axes[1, i], maps, order, pruned, "gray", False, True,
                f"({letters[i + len(methods)]}) {name}: feature maps")
    fig.suptitle(f"{layer}: {k} of {n} filters marked for pruning "
                 f"({100 * ratio:.0f} %, green boxes)", fontsize=10)
    return fig


def filter_sign_fractions(model_or_kernel, layer=None, ratio=0.2,
                          methods=("dscore", "l1")):
    """Negative / positive weight fractions of filters that only one of two
    criteria keeps (D-Score Fig. 5).

    The fraction of filter ``j`` is ``N_j / (P_j + N_j)`` (negative) and
    ``P_j / (P_j + N_j)`` (positive), with ``P``/``N`` the summed positive
    and negative magnitudes of its weights; bars sum to 1, a dashed line
    marks 0.5.

    Args:
        model_or_kernel: a model (with ``layer``), a layer, or a kernel.
        layer: layer name when a model is given.
        ratio: fraction pruned by each method.
        methods: the two criteria.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    from .._keras import keras
    from ..filters import criteria as C
    func = "filter_sign_fractions"
    if len(methods) != 2:
        raise ValueError(f"{func}(): 'methods' must name two criteria; got "
                         f"{methods!r}.")
    obj = model_or_kernel
    if isinstance(obj, keras.Model):
        if layer is None:
            raise ValueError(f"{func}(): give layer=... with a model.")
        obj = obj.get_layer(layer)
    w = C.filter_matrix(obj, func)
    n = w.shape[1]
    k = C.n_to_prune(n, ratio)
    a, b = methods
    pa = set(C.select(w, k, a).tolist())
    pb = set(C.select(w, k, b).tolist())
    p, q = C.positive_negative(w)
    tot = np.where(p + q > 0, p + q, 1.0)
    neg, pos = q / tot, p / tot
    na, nb = C.get_criterion(a).name, C.get_criterion(b).name
    groups = [(f"kept by {na} only (pruned by {nb})", sorted(pb - pa)),
              (f"kept by {nb} only (pruned by {na})", sorted(pa - pb))]
    fig = _figure((9.0, 0.35 * max(len(groups[0][1]), len(groups[1][1]),
                                   3) + 1.6))
    axes = fig.subplots(1, 2, sharex=True)
    for ax, (title, idx) in zip(axes, groups):
        ypos = np.arange(len(idx))
        ax.barh(ypos, neg[idx], height=0.7, color="tab:blue",
                label="negative")
        ax.barh(ypos, pos[idx], height=0.7, left=neg[idx], color="tab:red",
                label="positive")
        ax.axvline(0.5, color="k", ls="--", lw=1)
        ax.set_yticks(ypos, [str(i) for i in idx])
        ax.set_ylim(max(len(idx), 4) - 0.5, -0.5)
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of |weights|: N/(P+N) | P/(P+N)")
        ax.set_title(title, fontsize=9)
        if not idx:
            ax.text(0.5, 0.5, "none (same set)", ha="center",
                    transform=ax.transAxes)
    axes[0].set_ylabel("filter")
    axes[1].legend(fontsize=8, loc="lower right")
    name = getattr(obj, "name", "kernel")
    fig.suptitle(f"{name}: filters on which {na} and {nb} disagree at "
                 f"{100 * ratio:.0f} %", fontsize=10)
    return fig
