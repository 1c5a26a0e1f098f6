"""Per-layer pruning sensitivity and the parallel-pruning plan (dscore.md
§5-6).

``analyze`` removes a growing fraction of one layer's (or one dependency
group's) filters at a time, the others intact, and evaluates the model
without retraining. Channels are removed by *masking*: the model surgery
would produce is replaced by the same network with those channels zeroed
(the conv/dense kernel and bias and the BatchNormalization that follows),
which gives the same outputs without a rebuild. The unchanged front of the
network is computed once per layer and only the rest is run per ratio, by
one traced function per layer.

``plan`` turns the table into one ratio per layer from an accuracy threshold.
"""
from __future__ import annotations

import functools
import hashlib

import numpy as np
import pandas as pd

from ._io import atomic_write_csv, atomic_write_json, read_json
from ._runstate import RunDir
from ._keras import check_model, compile_args, keras, tf
from ._validate import check_choice, check_float, check_int
from .errors import InvalidParameterError

__all__ = ["analyze", "plan", "default_ratios", "COLUMNS"]

COLUMNS = ["layer", "ratio", "n_pruned", "metric", "n_filters", "baseline"]


def default_ratios() -> list[float]:
    """0.05, 0.10, ..., 0.95 (19 steps)."""
    return [round(0.05 * i, 2) for i in range(1, 20)]


# --------------------------------------------------------------------------
# data

def _batches_from(model, x, y, batch_size, func):
    """List of ``([input arrays], y)`` batches from arrays or a Dataset."""
    n_in = len(model.inputs)
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise InvalidParameterError(
                f"{func}(): give 'y' only with array inputs; a Dataset must "
                "yield (x, y) batches.")
        ds = x
        spec = ds.element_spec
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise InvalidParameterError(
                f"{func}(): the Dataset must yield (x, y) pairs; got "
                f"element_spec {spec!r}.")
        xs = tf.nest.flatten(spec[0])
        if xs[0].shape.rank == len(model.inputs[0].shape) - 1:
            ds = ds.batch(batch_size)
        out = []
        for bx, by in ds:
            out.append(([np.asarray(t) for t in tf.nest.flatten(bx)],
                        np.asarray(by)))
        if not out:
            raise InvalidParameterError(f"{func}(): the Dataset is empty.")
        return out
    if x is None or y is None:
        raise InvalidParameterError(
            f"{func}(): give evaluation data as arrays x, y or as a Dataset "
            "x of (x, y) batches.")
    xs = [np.asarray(a) for a in (x if isinstance(x, (list, tuple))
                                  else [x])]
    y = np.asarray(y)
    if len(xs) != n_in:
        raise InvalidParameterError(
            f"{func}(): model {model.name!r} has {n_in} inputs; got "
            f"{len(xs)} arrays in 'x'.")
    for a in xs:
        if len(a) != len(y) or len(a) == 0:
            raise InvalidParameterError(
                f"{func}(): 'x' and 'y' must be non-empty with the same "
                f"number of rows; got {len(a)} and {len(y)}.")
    from ._validate import check_input_fits
    if n_in == 1:
        check_input_fits(model, xs[0], "x", func)
    xs = [a.astype(np.float32) if a.dtype == np.float64 else a for a in xs]
    return [([a[i:i + batch_size] for a in xs], y[i:i + batch_size])
            for i in range(0, len(y), batch_size)]


def _fingerprint_arrays(arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode() + str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------
# metrics

def _metric_fn(model, metric, y_example, out_shape, func):
    """(name, fn(y_true, y_pred) -> float, higher_is_better)."""

    def from_metric(m):
        def fn(y_true, y_pred):
            obj = type(m).from_config(m.get_config())
            obj.update_state(y_true, y_pred)
            return float(obj.result().numpy())
        return fn

    def from_function(f):
        def fn(y_true, y_pred):
            v = f(tf.constant(y_true), tf.constant(y_pred))
            return float(np.mean(np.asarray(v)))
        return fn

    if isinstance(metric, keras.metrics.Metric):
        return metric.name, from_metric(metric), True
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)

        def user(y_true, y_pred):
            return float(np.mean(np.asarray(metric(y_true, y_pred))))
        return name, user, True
    if not isinstance(metric, str):
        raise TypeError(f"{func}(): 'metric' must be a metric name, a Keras "
                        "Metric or a callable(y_true, y_pred) -> float; got "
                        f"{type(metric).__name__}.")
    key = metric.lower()
    width = out_shape[-1] if out_shape else 1
    sparse = y_example.ndim == 1 or (y_example.ndim == len(out_shape) and
                                     y_example.shape[-1] == 1 and width > 1)
    if key in ("accuracy", "acc"):
        return metric, _accuracy(width, sparse), True
    if key.replace("-", "_") in ("top5", "top_5", "top_5_accuracy"):
        cls = (keras.metrics.SparseTopKCategoricalAccuracy if sparse else
               keras.metrics.TopKCategoricalAccuracy)
        return metric, from_metric(cls(k=5)), True
    if key == "loss":
        loss, _ = _compile_like(model)
        if loss is None:
            raise InvalidParameterError(
                f"{func}(): metric='loss' needs a compiled model; compile it "
                "or pass a metric callable.")
        return "loss", from_function(keras.losses.get(loss)), False
    _, compiled = _compile_like(model)
    for m in tf.nest.flatten(compiled or []):
        mname = m if isinstance(m, str) else getattr(
            m, "name", getattr(m, "__name__", None))
        if mname == metric and not isinstance(m, str):
            if isinstance(m, keras.metrics.Metric):
                return metric, from_metric(m), True
            return metric, from_function(m), True
    try:
        obj = keras.metrics.get(metric)
    except ValueError:
        obj = None
    if obj is None or isinstance(obj, str):
        raise InvalidParameterError(
            f"{func}(): unknown metric {metric!r}; use 'accuracy', 'top5', "
            "'loss', a metric the model was compiled with, a Keras metric "
            "name, or a callable(y_true, y_pred) -> float.")
    lower = any(w in key for w in _LOWER_IS_BETTER)
    if isinstance(obj, keras.metrics.Metric):
        return metric, from_metric(obj), not lower
    if isinstance(obj, type):
        return metric, from_metric(obj()), not lower
    return metric, from_function(obj), not lower


_LOWER_IS_BETTER = ("error", "loss", "crossentropy", "hinge", "divergence",
                    "mae", "mse", "mape", "msle", "logcosh", "poisson")


def _accuracy(width, sparse):
    """Accuracy in float64 (Keras' rules: argmax, or > 0.5 for one unit)."""
    def fn(y_true, y_pred):
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true)
        if width == 1:
            hit = (y_pred.reshape(len(y_pred), -1) > 0.5) == (
                y_true.reshape(len(y_true), -1) > 0.5)
        elif sparse:
            hit = y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])
        else:
            hit = y_pred.argmax(-1) == y_true.argmax(-1)
        return float(np.mean(hit))
    return fn


# --------------------------------------------------------------------------
# channel sets per ratio

def _channel_sets(model, unit, ratios, crit, mode, kw, rank_x, batch_size):
    """For each ratio, the sorted channel indices to zero."""
    from .filters.criteria import filter_matrix, n_to_prune, select, scores
    from .filters.criteria import layer_by_name
    layers = [layer_by_name(model, m) for m in unit.members]
    target = layers if unit.is_group else layers[0]
    n = filter_matrix(layers[0]).shape[1]
    sets = []
    if mode == "oneshot":
        if crit.kind == "pair":
            for r in ratios:
                sets.append(select(target, n_to_prune(n, r), crit, **kw))
        else:
            s = scores(target, crit, model=model, x=rank_x,
                       batch_size=batch_size, **kw)
            o = np.argsort(s, kind="stable")
            for r in ratios:
                sets.append(np.sort(o[:n_to_prune(n, r)]))
        return n, sets
    # iterative: the original's cumulative greedy removal, re-ranking the
    # survivors at each step
    kernels = [filter_matrix(l) for l in layers]
    data_scores = None
    if crit.kind == "data":
        data_scores = scores(target, crit, model=model, x=rank_x,
                             batch_size=batch_size, **kw)
    survivors = np.arange(n)
    removed = []
    prev = 0.0
    for r in ratios:
        step = min(n_to_prune(n, r - prev), len(survivors) - 1)
        prev = r
        if step > 0:
            if data_scores is not None:
                o = np.argsort(data_scores[survivors], kind="stable")
                pick = np.sort(o[:step])
            else:
                sub = [k[:, survivors] for k in kernels]
                pick = select(sub if len(sub) > 1 else sub[0], step, crit,
                              **kw)
            removed.extend(survivors[pick].tolist())
            survivors = np.setdiff1d(survivors, survivors[pick])
        sets.append(np.sort(np.asarray(removed, dtype=np.int64)))
    return n, sets


def _zeroing_fn(model, unit):
    from . import surgery

    def spec_fn(channels):
        plan = {m: np.asarray(channels, dtype=np.int64) for m in unit.members}
        return list(surgery.zeroing_spec(model, plan))
    return spec_fn


# --------------------------------------------------------------------------
# analyze

def analyze(model, x, y=None, layers=None, ratios=None, method="dscore",
            metric="accuracy", batch_size=256, checkpoint=None, *,
            evaluate_fn=None, mode="oneshot", groups=True, progress=True,
            cache_mb=1024, **criterion_kw) -> pd.DataFrame:
    """Sensitivity of each prunable layer to filter pruning, no retraining.

    For each unit (a layer, or a dependency group pruned together) and each
    ratio ``r``, the first ``floor(r * n)`` filters in the criterion's order
    are removed (by masking, equal to surgery) with every other layer intact,
    and the model is evaluated. The input model is not changed.

    Args:
        model: a trained tf_keras Sequential/Functional model.
        x, y: evaluation inputs and targets (arrays), or ``x`` a
            ``tf.data.Dataset`` of ``(x, y)`` (batched or not; iterated in
            order once per layer) and ``y=None``.
        layers: layer names to sweep; default every prunable Conv/Dense layer
            except the output layer, with coupled layers as one group.
        ratios: increasing fractions in [0, 1); default 0.05 ... 0.95.
        method: criterion name or callable (``tp.filters.criterion_names()``).
        metric: ``"accuracy"`` (sparse/categorical/binary picked from the
            data), ``"top5"``, ``"loss"``, a metric the model was compiled
            with (by name), a Keras metric, or ``callable(y_true, y_pred)``.
        batch_size: evaluation batch size.
        checkpoint: folder; each finished layer is written there atomically
            and a rerun with the same arguments resumes after it, giving the
            identical table.
        evaluate_fn: ``callable(model) -> float`` instead of ``metric``; it
            gets a private copy of the model with the channels zeroed (slower:
            the whole model runs at every step). ``x``/``y`` may be ``None``.
        mode: ``"oneshot"`` (rank once on the original weights, remove the
            first ``floor(r*n)``: matches parallel pruning) or
            ``"iterative"`` (the original code: each step removes
            ``floor((r_i - r_{i-1}) * n)`` more after re-ranking survivors).
        groups: sweep dependency groups as units (residual networks).
        progress: show a tqdm progress bar.
        cache_mb: cache the unchanged front's activations up to this size.
        **criterion_kw: passed to the criterion (``seed`` for ``random``).

    Returns:
        ``pandas.DataFrame`` with columns ``layer, ratio, n_pruned, metric,
        n_filters, baseline`` (``baseline`` is the unpruned metric), one row
        per (layer, ratio), layers in model order.

    Raises:
        TypeError: for a non-tf_keras model or a bad metric type.
        ValueError: for bad ratios, layers, data or method;
            ``ResumeMismatchError`` when ``checkpoint`` holds another run.

    Example:
        >>> table = tp.sensitivity.analyze(model, x_val, y_val,
        ...                                method="dscore")
        >>> ratios = tp.sensitivity.plan(table, threshold=0.9)
    """
    func = "analyze"
    check_model(model, "model", func)
    from .filters.criteria import get_criterion
    from .filters.prune import prunable_units
    from .filters._masking import MaskedUnit, as_functional
    crit = get_criterion(method, func)
    ratios = default_ratios() if ratios is None else ratios
    from ._validate import check_increasing_fractions
    ratios = check_increasing_fractions(ratios, "ratios", func)
    batch_size = check_int(batch_size, "batch_size", func, min_value=1)
    check_choice(mode, ("oneshot", "iterative"), "mode", func)
    cache_mb = check_float(cache_mb, "cache_mb", func, min_value=0.0)
    if evaluate_fn is not None and not callable(evaluate_fn):
        raise TypeError(f"{func}(): 'evaluate_fn' must be callable(model) -> "
                        f"float; got {type(evaluate_fn).__name__}.")
    units = prunable_units(model, layers, groups=groups, func=func)
    if not units:
        raise InvalidParameterError(
            f"{func}(): model {model.name!r} has no prunable layers (Conv/"
            "Dense layers other than the output layer).")

    batches = None
    if evaluate_fn is None or x is not None:
        batches = _batches_from(model, x, y, batch_size, func)
    rank_x = None
    if crit.kind == "data":
        if batches is None:
            raise InvalidParameterError(
                f"{func}(): method {crit.name!r} ranks filters from data; "
                "pass x (and y).")
        rank_x = np.concatenate([b[0][0] for b in batches])
    if evaluate_fn is None:
        out_shape = tuple(model.outputs[0].shape[1:])
        metric_name, metric_fn, higher = _metric_fn(
            model, metric, batches[0][1], out_shape, func)
    else:
        metric_name = "evaluate_fn:" + getattr(
            evaluate_fn, "__name__", type(evaluate_fn).__name__)
        metric_fn = None
        higher = True

    run = None
    if checkpoint is not None:
        params = {
            "method": crit.name, "ratios": ratios, "metric": metric_name,
            "units": [[u.name, list(u.members)] for u in units],
            "mode": mode, "batch_size": batch_size,
            "criterion_kw": {k: repr(v) for k, v in
                             sorted(criterion_kw.items())},
            "model": _fingerprint_arrays(model.get_weights()),
            "data": (_fingerprint_arrays(
                [a for b in batches for a in b[0]] +
                [b[1] for b in batches]) if batches is not None else None),
        }
        run = RunDir(checkpoint, params, "sensitivity", func)
    done = set(run.done()) if run is not None else set()

    def evaluate_outputs(outs):
        y_true = np.concatenate([b[1] for b in batches])
        y_pred = outs[0] if len(outs) == 1 else outs
        return metric_fn(y_true, y_pred)

    work = as_functional(model)
    if evaluate_fn is not None:
        loss, metrics = _compile_like(model)
        if loss is not None:
            work.compile(loss=loss, metrics=metrics)

    if run is not None and run.file("baseline.json").exists():
        baseline = read_json(run.file("baseline.json"))["baseline"]
    else:
        if evaluate_fn is not None:
            baseline = float(evaluate_fn(work))
        else:
            full = tf.function(functools.partial(_call_model, work))
            outs = [tf.nest.flatten(full(*b[0])) for b in batches]
            outs = [np.concatenate([np.asarray(o[j]) for o in outs])
                    for j in range(len(outs[0]))]
            baseline = evaluate_outputs(outs)
        if run is not None:
            atomic_write_json(run.file("baseline.json"),
                              {"baseline": baseline})

    from tqdm.auto import tqdm
    bar = tqdm(total=len(units) * len(ratios), disable=not progress,
               desc="sensitivity", unit="step")
    frames = []
    try:
        for ui, unit in enumerate(units):
            key = f"{ui}:{unit.name}"
            if key in done:
                rows = read_json(run.file(f"unit_{ui:04d}.json"))["rows"]
                frames.append(rows)
                bar.update(len(ratios))
                continue
            bar.set_postfix_str(unit.name)
            n, sets = _channel_sets(model, unit, ratios, crit, mode,
                                    criterion_kw, rank_x, batch_size)
            spec_fn = _zeroing_fn(work, unit)
            spec = spec_fn(sets[-1]) if len(sets[-1]) else []
            mu = MaskedUnit(work, unit.members, spec, spec_fn,
                            cache_bytes=cache_mb * 2 ** 20)
            if evaluate_fn is None:
                mu.prepare([b[0] for b in batches])
            rows = []
            for r, chans in zip(ratios, sets):
                if evaluate_fn is None:
                    value = evaluate_outputs(mu.predict(chans))
                else:
                    mu.zero_weights(chans)
                    value = float(evaluate_fn(work))
                rows.append([unit.name, float(r), int(len(chans)),
                             float(value), int(n), float(baseline)])
                bar.update(1)
            mu.restore()
            frames.append(rows)
            if run is not None:
                atomic_write_json(run.file(f"unit_{ui:04d}.json"),
                                  {"unit": unit.name, "rows": rows})
                run.mark_done(key)
    finally:
        bar.close()
    table = pd.DataFrame([r for rows in frames for r in rows],
                         columns=COLUMNS)
    table["ratio"] = table["ratio"].astype(float)
    table["n_pruned"] = table["n_pruned"].astype(int)
    table["n_filters"] = table["n_filters"].astype(int)
    table.attrs.update(method=crit.name, metric=metric_name,
                       baseline=float(baseline), mode=mode,
                       higher_is_better=higher)
    if run is not None:
        atomic_write_csv(run.file("sensitivity.csv"), table)
    return table


def _call_model(model, *inputs):
    return model(list(inputs) if len(inputs) > 1 else inputs[0],
                 training=False)


def _compile_like(model):
    args = compile_args(model)
    return args.get("loss"), args.get("metrics")


# --------------------------------------------------------------------------
# plan

def _first_crossing(acc, ratios, tau):
    ratio = 0.0
    for a, r in zip(acc, ratios):
        if a < tau:
            break
        ratio = r
    return ratio


def _max_above(acc, ratios, tau):
    ok = [r for a, r in zip(acc, ratios) if a >= tau]
    return max(ok) if ok else 0.0


_RULES = {"first_crossing": _first_crossing, "max_above": _max_above}


def plan(table, threshold=None, rule="first_crossing", *, max_drop=None,
         baseline=None, higher_is_better=None) -> dict:
    """One pruning ratio per layer from a sensitivity table (dscore.md §6).

    Args:
        table: ``analyze``'s DataFrame (``layer, ratio, metric`` and, for a
            relative threshold, ``baseline``).
        threshold: an absolute metric value ``tau`` (e.g. ``0.90``: keep
            accuracy >= 0.90), or a negative number for a drop relative to
            the unpruned metric (``-0.01``: at most one point below it).
        rule: ``"first_crossing"`` (the paper's: the last ratio before the
            layer's metric first falls below ``tau``) or ``"max_above"``
            (the largest ratio whose metric is still >= ``tau``).
        max_drop: instead of ``threshold``: allowed drop below the unpruned
            metric (``0.01`` = ``threshold=-0.01``).
        baseline: the unpruned metric; default the table's ``baseline``.
        higher_is_better: ``False`` for a loss (then ``tau`` is a ceiling and
            ``max_drop`` an allowed rise); default from the table
            (``analyze`` records it for loss/error metrics), else True.

    Returns:
        dict layer -> ratio (0.0 where even the smallest ratio crosses),
        layers in table order.

    Raises:
        ValueError: for a missing column, both or neither of ``threshold``
            and ``max_drop``, or an unknown rule.

    Example:
        >>> tp.sensitivity.plan(table, 0.9)              # absolute
        >>> tp.sensitivity.plan(table, max_drop=0.01)    # relative
    """
    func = "plan"
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{func}(): 'table' must be the DataFrame from "
                        f"tp.sensitivity.analyze; got {type(table).__name__}.")
    missing = [c for c in ("layer", "ratio", "metric") if c not in table]
    if missing:
        raise InvalidParameterError(
            f"{func}(): 'table' lacks column(s) {', '.join(missing)}; pass "
            "the DataFrame from tp.sensitivity.analyze.")
    check_choice(rule, tuple(_RULES), "rule", func)
    if (threshold is None) == (max_drop is None):
        raise InvalidParameterError(
            f"{func}(): give exactly one of 'threshold' (absolute, e.g. 0.9, "
            "or relative, e.g. -0.01) and 'max_drop' (e.g. 0.01); got "
            f"threshold={threshold!r}, max_drop={max_drop!r}.")
    if threshold is not None:
        threshold = check_float(threshold, "threshold", func)
        relative = threshold < 0
        drop = -threshold if relative else None
    else:
        drop = check_float(max_drop, "max_drop", func, min_value=0.0)
        relative = True
    if higher_is_better is None:
        higher_is_better = table.attrs.get("higher_is_better", True)
    sign = 1.0 if higher_is_better else -1.0
    if relative:
        if baseline is None:
            if "baseline" not in table:
                raise InvalidParameterError(
                    f"{func}(): a relative threshold needs the unpruned "
                    "metric: pass baseline=... or a table with a 'baseline' "
                    "column.")
            baseline = float(table["baseline"].iloc[0])
        tau = float(baseline) - sign * drop
    else:
        tau = threshold
    out = {}
    for layer, g in table.groupby("layer", sort=False):
        g = g.sort_values("ratio", kind="stable")
        acc = sign * g["metric"].to_numpy(dtype=float)
        out[layer] = float(_RULES[rule](acc, g["ratio"].to_numpy(float),
                                        sign * tau))
    return out
