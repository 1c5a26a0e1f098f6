"""Per-layer pruning sensitivity (``docs/sections/filters.md``,
"Sensitivity").

``analyze`` removes a growing fraction of one layer's (or one dependency
group's) filters at a time, the others intact, and evaluates the model
without retraining. Channels are removed by *masking* (``_masking``): the
model surgery would produce is replaced by the same network with those
channels zeroed, which gives the same outputs without a rebuild.

A sweep is a :class:`SensitivityConfig` (its validated parameters, the
manifest of its run folder) and four steps: prepare the data, the metric and
the units; evaluate the unpruned model (the baseline); evaluate each unit at
every ratio; assemble the table. With ``run_dir`` the baseline and each
finished unit are committed to the folder, and a rerun reads them back.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._io import atomic_write_csv
from .._keras import check_model, compile_like, keras, tf
from .._runstate import RunConfig, RunDir, fingerprint
from .._validate import (check_choice, check_float, check_increasing_fractions,
                         check_int, renamed)
from ..errors import InvalidParameterError, RunStateError
from ..filters.criteria import (filter_matrix, get_criterion, layer_by_name,
                                n_to_prune, scores, select)
from ..filters.prune import prunable_units
from ..utils import progress_bar
from ._evaluation import eval_batches, metric_fn
from ._masking import MaskedUnit, as_functional

__all__ = ["analyze", "default_ratios", "COLUMNS", "SensitivityConfig"]

COLUMNS = ["layer", "ratio", "n_pruned", "metric", "n_filters", "baseline"]


def default_ratios() -> list[float]:
    """0.05, 0.10, ..., 0.95 (19 steps)."""
    return [round(0.05 * i, 2) for i in range(1, 20)]


@dataclasses.dataclass(frozen=True)
class SensitivityConfig(RunConfig):
    """The parameters of one sensitivity sweep, validated; a run folder's
    manifest records them (with the model, the data and ``evaluate_fn`` as
    fingerprints).

    Attributes:
        method: the criterion's name (a user function's fingerprint).
        layers: the swept units, ``((name, (member, ...)), ...)``.
        ratios: strictly increasing fractions in [0, 1).
        metric: the metric's name (a function's or object's fingerprint);
            ``None`` with ``evaluate_fn``.
        mode: ``"oneshot"`` or ``"iterative"``.
        batch_size: evaluation batch size.
        criterion_kw: keyword arguments of the criterion.
    """

    KIND: ClassVar[str] = "sensitivity"
    LABELS: ClassVar[dict] = {"criterion_kw": "criterion keyword arguments"}

    method: Any
    layers: tuple
    ratios: tuple
    metric: Any
    mode: str
    batch_size: int
    criterion_kw: dict

    def __post_init__(self):
        func = "analyze"
        self._set(ratios=tuple(check_increasing_fractions(
            self.ratios, "ratios", func)))
        check_int(self.batch_size, "batch_size", func, min_value=1)
        check_choice(self.mode, ("oneshot", "iterative"), "mode", func)


def _identity(obj):
    """How a method or metric is named in the manifest."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, keras.metrics.Metric):
        return {"metric": type(obj).__qualname__, "config": obj.get_config()}
    return fingerprint(getattr(obj, "fn", obj))


# --------------------------------------------------------------------------
# step 1: everything checked and prepared before any evaluation

@dataclasses.dataclass
class _Sweep:
    config: SensitivityConfig
    model: Any
    crit: Any
    units: list
    batches: list | None
    rank_x: Any
    metric_name: str
    metric: Any
    higher: bool
    evaluate_fn: Any
    cache_bytes: float
    kw: dict
    _work: Any = None

    @property
    def work(self):
        """A private functional copy of the model (built on first use)."""
        if self._work is None:
            self._work = as_functional(self.model)
            if self.evaluate_fn is not None:
                compile_like(self._work, self.model)
        return self._work

    def score(self, outs) -> float:
        y_true = np.concatenate([b[1] for b in self.batches])
        return self.metric(y_true, outs[0] if len(outs) == 1 else outs)


def _prepare(model, x, y, layers, ratios, method, metric, batch_size,
             evaluate_fn, mode, groups, cache_mb, kw, func) -> _Sweep:
    check_model(model, "model", func)
    crit = get_criterion(method, func)
    crit.check_inputs(kw, model, x, func)
    cache_mb = check_float(cache_mb, "cache_mb", func, min_value=0.0)
    if evaluate_fn is not None and not callable(evaluate_fn):
        raise TypeError(f"{func}(): 'evaluate_fn' must be callable(model) -> "
                        f"float; got {type(evaluate_fn).__name__}.")
    units = prunable_units(model, layers, groups=groups, func=func)
    if not units:
        raise InvalidParameterError(
            f"{func}(): model {model.name!r} has no prunable layers (Conv/"
            "Dense layers other than the output layer).")
    config = SensitivityConfig(
        method=_identity(method if not isinstance(method, str) else
                         crit.name),
        layers=tuple((u.name, tuple(u.members)) for u in units),
        ratios=default_ratios() if ratios is None else ratios,
        metric=None if evaluate_fn is not None else _identity(metric),
        mode=mode, batch_size=batch_size,
        criterion_kw={k: fingerprint(v) for k, v in sorted(kw.items())})
    batches = None
    if evaluate_fn is None or x is not None:
        batches = eval_batches(model, x, y, config.batch_size, func)
    rank_x = None
    if batches is not None and crit.kind == "data":
        xs = [np.concatenate([b[0][j] for b in batches])
              for j in range(len(batches[0][0]))]
        rank_x = xs[0] if len(xs) == 1 else xs
    if evaluate_fn is None:
        name, fn, higher = metric_fn(model, metric, batches[0][1], func)
    else:
        name = "evaluate_fn:" + getattr(evaluate_fn, "__name__",
                                        type(evaluate_fn).__name__)
        fn, higher = None, True
    return _Sweep(config, model, crit, units, batches, rank_x, name, fn,
                  higher, evaluate_fn, cache_mb * 2 ** 20, dict(kw))


# --------------------------------------------------------------------------
# step 2: the unpruned model

def _call_model(model, *inputs):
    return model(list(inputs) if len(inputs) > 1 else inputs[0],
                 training=False)


def _baseline(sw: _Sweep, rd: RunDir | None) -> float:
    if rd is not None and rd.has("baseline"):
        return _committed(rd, "baseline", "baseline", (int, float))
    if sw.evaluate_fn is not None:
        value = float(sw.evaluate_fn(sw.work))
    else:
        full = tf.function(functools.partial(_call_model, sw.work))
        outs = [tf.nest.flatten(full(*b[0])) for b in sw.batches]
        value = sw.score([np.concatenate([np.asarray(o[j]) for o in outs])
                          for j in range(len(outs[0]))])
    if rd is not None:
        rd.commit("baseline", state={"baseline": value})
    return value


def _committed(rd: RunDir, key, field, types):
    """A field of a committed unit's state, checked."""
    value = rd.unit(key).state.get(field)
    if not isinstance(value, types) or isinstance(value, bool):
        raise RunStateError(
            f"analyze(): run folder {str(rd.path)!r}: the commit record of "
            f"{key!r} under units/ is damaged (no valid {field!r}); delete "
            "that record to redo it, then run again.")
    return value


# --------------------------------------------------------------------------
# step 3: one unit at every ratio

def _oneshot_sets(model, target, n, ratios, crit, kw, rank_x, batch_size):
    if crit.kind == "pair":
        return [select(target, n_to_prune(n, r), crit, **kw) for r in ratios]
    s = scores(target, crit, model=model, x=rank_x, batch_size=batch_size,
               **kw)
    o = np.argsort(s, kind="stable")
    return [np.sort(o[:n_to_prune(n, r)]) for r in ratios]


def _iterative_sets(model, unit, layers, n, ratios, crit, kw, rank_x,
                    batch_size):
    """The original code's cumulative greedy removal: each step removes
    ``floor((r_i - r_{i-1}) * n)`` more, re-ranking the survivors."""
    kernels = [filter_matrix(layer) for layer in layers]
    data_scores = None
    if crit.kind == "data":
        data_scores = scores(layers if unit.is_group else layers[0], crit,
                             model=model, x=rank_x, batch_size=batch_size,
                             **kw)
    if crit.per_layer:
        kw = {"key": unit.members[0], **kw}
    survivors, removed, prev, sets = np.arange(n), [], 0.0, []
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
    return sets


def _channel_sets(sw: _Sweep, unit):
    """``(n, [sorted channel indices to zero, one per ratio])``."""
    cfg, kw = sw.config, sw.kw
    layers = [layer_by_name(sw.model, m) for m in unit.members]
    n = filter_matrix(layers[0]).shape[1]
    if cfg.mode == "oneshot":
        target = layers if unit.is_group else layers[0]
        return n, _oneshot_sets(sw.model, target, n, cfg.ratios, sw.crit,
                                kw, sw.rank_x, cfg.batch_size)
    return n, _iterative_sets(sw.model, unit, layers, n, cfg.ratios,
                              sw.crit, kw, sw.rank_x, cfg.batch_size)


def _unit_rows(sw: _Sweep, unit, baseline, bar) -> list:
    from .. import surgery

    def spec_fn(channels):
        plan = {m: np.asarray(channels, dtype=np.int64) for m in unit.members}
        return list(surgery.zeroing_spec(sw.work, plan))

    n, sets = _channel_sets(sw, unit)
    mu = MaskedUnit(sw.work, unit.members,
                    spec_fn(sets[-1]) if len(sets[-1]) else [], spec_fn,
                    cache_bytes=sw.cache_bytes)
    if sw.evaluate_fn is None:
        mu.prepare([b[0] for b in sw.batches])
    rows = []
    try:
        for r, chans in zip(sw.config.ratios, sets):
            if sw.evaluate_fn is None:
                value = sw.score(mu.predict(chans))
            else:
                mu.zero_weights(chans)
                value = float(sw.evaluate_fn(sw.work))
            rows.append([unit.name, float(r), int(len(chans)), float(value),
                         int(n), float(baseline)])
            bar.update(1)
    finally:
        mu.restore()
    return rows


def _sweep_units(sw: _Sweep, rd: RunDir | None, baseline, progress) -> list:
    ratios = sw.config.ratios
    bar = progress_bar(progress, total=len(sw.units) * len(ratios),
                       desc="sensitivity", unit="step")
    rows = []
    try:
        for ui, unit in enumerate(sw.units):
            if rd is not None and rd.has(ui):
                got = _committed(rd, ui, "rows", list)
                if len(got) != len(ratios) or got[0][0] != unit.name:
                    raise RunStateError(
                        f"analyze(): run folder {str(rd.path)!r}: the commit "
                        f"record of unit {ui} does not hold layer "
                        f"{unit.name!r}; delete that record under units/ to "
                        "redo it, then run again.")
                rows.extend(got)
                bar.update(len(ratios))
                continue
            bar.set_postfix_str(unit.name)
            got = _unit_rows(sw, unit, baseline, bar)
            if rd is not None:
                rd.commit(ui, state={"layer": unit.name, "rows": got})
            rows.extend(got)
    finally:
        bar.close()
    return rows


# --------------------------------------------------------------------------
# step 4: the table

def _table(sw: _Sweep, rows, baseline) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["ratio"] = table["ratio"].astype(float)
    table["metric"] = table["metric"].astype(float)
    for col in ("n_pruned", "n_filters"):
        table[col] = table[col].astype(int)
    table.attrs.update(method=sw.crit.name, metric=sw.metric_name,
                       baseline=float(baseline), mode=sw.config.mode,
                       higher_is_better=sw.higher)
    return table


@renamed(checkpoint="run_dir")
def analyze(model, x, y=None, layers=None, ratios=None, method="dscore",
            metric="accuracy", batch_size=256, run_dir=None, *,
            evaluate_fn=None, mode="oneshot", groups=True, progress=True,
            cache_mb=1024, **criterion_kw) -> pd.DataFrame:
    """Sensitivity of each prunable layer to filter pruning, no retraining.

    For each unit (a layer, or a dependency group pruned together) and each
    ratio ``r``, the first ``floor(r * n)`` filters in the criterion's order
    are removed (by masking, equal to surgery) with every other layer intact,
    and the model is evaluated. The input model is not changed. Everything
    is checked before the first evaluation.

    Args:
        model: a trained tf_keras Sequential/Functional model.
        x, y: evaluation inputs and targets (arrays), or ``x`` a
            ``tf.data.Dataset`` of ``(x, y)`` (batched or not; read once)
            and ``y=None``. Values must be finite and the targets must fit
            the model's output (class labels below its width).
        layers: layer names to sweep; default every prunable Conv/Dense layer
            except the output layer, with coupled layers as one group.
        ratios: increasing fractions in [0, 1); default 0.05 ... 0.95.
        method: criterion name or callable (``tp.filters.criterion_names()``).
        metric: ``"accuracy"`` (sparse/categorical/binary picked from the
            data), ``"top5"``, ``"loss"``, a metric the model was compiled
            with (by name), a Keras metric, or ``callable(y_true, y_pred)``.
        batch_size: evaluation batch size.
        run_dir: folder; the baseline and each finished layer are committed
            there, and a rerun with the same arguments resumes after the last
            committed layer, giving the identical table. A rerun with other
            arguments, another model, other data or another ``evaluate_fn``
            is refused. (Formerly ``checkpoint``, deprecated.)
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
        ValueError: for bad ratios, layers, data, targets or method;
            ``ResumeMismatchError`` when ``run_dir`` holds another run,
            ``RunStateError`` when it is damaged.

    Example:
        >>> table = tp.sensitivity.analyze(model, x_val, y_val,
        ...                                method="dscore")
        >>> ratios = tp.sensitivity.plan(table, threshold=0.9)
    """
    func = "analyze"
    sw = _prepare(model, x, y, layers, ratios, method, metric, batch_size,
                  evaluate_fn, mode, groups, cache_mb, criterion_kw, func)
    rd = None
    if run_dir is not None:
        rd = sw.config.open(
            run_dir, func, model=fingerprint(model),
            x=fingerprint(x, "x", func), y=fingerprint(y, "y", func),
            evaluate_fn=fingerprint(evaluate_fn))
    baseline = _baseline(sw, rd)
    table = _table(sw, _sweep_units(sw, rd, baseline, progress), baseline)
    if rd is not None:
        atomic_write_csv(rd.file("sensitivity.csv"), table)
    return table
