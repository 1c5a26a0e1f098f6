"""Which filter criterion should I use? A seeded head-to-head.

:func:`compare_criteria` prunes the same trained networks with every
criterion and reports, per (method, target, seed), the accuracy right after
pruning and after retraining, the FLOPs and parameters removed and the time
taken; then mean ± std over seeds and a paired comparison of every method
with a baseline criterion (``l1``) on the same seeds.

Two protocols (``docs/sections/filters.md``, "Which criterion?"):

* ``mode="matched"``: for each FLOP-reduction target, one set of per-layer
  ratios shared by every method (uniform ratios, or the sensitivity plan of
  a reference criterion), so every method removes exactly the same number
  of filters per layer and only the choice of filters differs;
* ``mode="planned"``: each method runs its own sensitivity analysis and
  parallel-pruning plan at the same accuracy threshold (the D-Score
  paper's protocol) and reaches its own FLOP and parameter reduction.

A seed covers the base network's training, the retraining and the
``random`` criterion. With ``run_dir`` every finished unit (a seed's base
network, a sensitivity sweep, one (seed, method, target)) is committed to a
run folder and a rerun resumes after it; ``workers`` spreads seeds over
processes.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd

from .. import report as _report
from .. import sensitivity as _sens
from .. import surgery as _surgery
from .._io import atomic_save_npz, atomic_write_csv, ensure_dir, save_figure
from .._keras import check_model, compile_args, keras
from .._runstate import RunConfig, RunDir, fingerprint
from .._validate import check_choice, check_dataset, check_float, check_int
from ..errors import InvalidParameterError
from ..utils import progress_bar
from .criteria import get_criterion
from .flow import RECIPES, _accuracy, train_model
from .prune import plan_channels, prunable_units, prune
from .retrain import retrain

__all__ = ["compare_criteria", "CriteriaComparison", "CompareConfig",
           "PairedDifference", "paired_difference", "holm", "METHODS",
           "RUN_COLUMNS"]

#: Every registered criterion, the default line-up.
METHODS = ("dscore", "dstep", "dstep_gm", "l1", "l2", "fpgm", "apoz",
           "mean_activation", "random")

#: Columns of :meth:`CriteriaComparison.to_frame`.
RUN_COLUMNS = ["mode", "target", "method", "seed", "acc_base", "acc_pruned",
               "acc_retrained", "flops", "params", "flops_reduction",
               "params_reduction", "n_pruned", "seconds"]

_GRID = 100          # uniform ratios are searched on 0.01 ... 0.99
_ALPHA = 0.05


# --------------------------------------------------------------------------
# statistics

@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """``values - reference`` over paired seeds.

    Attributes:
        mean: mean difference.
        std: standard deviation of the differences (ddof 1; NaN for one
            pair).
        p: two-sided paired t-test p-value (NaN for fewer than two pairs;
            1.0 when every difference is 0, 0.0 when every difference is the
            same non-zero value).
        n: number of pairs.
    """

    mean: float
    std: float
    p: float
    n: int


def paired_difference(values, reference) -> PairedDifference:
    """Paired comparison of two equally long sequences (same seeds).

    Example:
        >>> paired_difference([0.91, 0.94, 0.95], [0.90, 0.92, 0.94]).p
        0.0572...
    """
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    b = np.asarray(reference, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or not len(a):
        raise InvalidParameterError(
            "paired_difference(): 'values' and 'reference' must be non-empty "
            f"and equally long (one value per seed); got {len(a)} and "
            f"{len(b)}.")
    d = a - b
    n = len(d)
    if n < 2:
        return PairedDifference(float(d.mean()), math.nan, math.nan, n)
    std = float(d.std(ddof=1))
    if np.all(d == d[0]):
        return PairedDifference(float(d[0]), 0.0,
                                1.0 if d[0] == 0 else 0.0, n)
    from scipy import stats
    p = float(stats.ttest_rel(a, b).pvalue)
    return PairedDifference(float(d.mean()), std, p, n)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of several p-values (NaN stays NaN):
    the k-th smallest of m p-values is multiplied by ``m - k + 1``, then
    made non-decreasing and capped at 1."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _verdict(method, baseline, d: PairedDifference, p_holm, stage) -> str:
    head = f"{method} − {baseline} = {100 * d.mean:+.1f}"
    if d.n < 2:
        return f"{head} pt {stage} (one seed: no test)"
    head += f" ± {100 * d.std:.1f} pt {stage}"
    if d.std == 0.0:
        return head + (" (identical on every seed)" if d.mean == 0 else
                       " (the same difference on every seed)")
    sig = "significant" if p_holm < _ALPHA else "not significant"
    adj = "" if p_holm == d.p else f", Holm-adjusted {p_holm:.2g}"
    return f"{head} (p = {d.p:.2g}{adj}: {sig})"


def _mean_std(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1
                             else math.nan)


def _summarize(runs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Mean ± std per (mode, target, method), paired differences against
    ``baseline`` on the common seeds, Holm-adjusted within a target."""
    rows = []
    for (mode, target), g in runs.groupby(["mode", "target"], sort=False):
        ref = g[g["method"] == baseline].set_index("seed")
        block = []
        for method, h in g.groupby("method", sort=False):
            h = h.set_index("seed")
            row = {"mode": mode, "target": target, "method": method,
                   "n_seeds": len(h), "acc_base": float(h["acc_base"].mean())}
            for col in ("acc_pruned", "acc_retrained", "flops_reduction",
                        "params_reduction", "seconds"):
                row[f"{col}_mean"], row[f"{col}_std"] = _mean_std(h[col])
            seeds = h.index.intersection(ref.index)
            for stage in ("pruned", "retrained"):
                col = f"acc_{stage}"
                d = (paired_difference(h.loc[seeds, col], ref.loc[seeds, col])
                     if len(seeds) and method != baseline else None)
                row[f"diff_{stage}_pts"] = 100 * d.mean if d else math.nan
                row[f"diff_{stage}_std"] = 100 * d.std if d else math.nan
                row[f"p_{stage}"] = d.p if d else math.nan
                row[f"_d_{stage}"] = d
            block.append(row)
        for stage, words in (("pruned", "after pruning"),
                             ("retrained", "after retraining")):
            adj = holm([r[f"p_{stage}"] for r in block])
            for r, a in zip(block, adj):
                r[f"p_{stage}_holm"] = float(a)
                d = r.pop(f"_d_{stage}")
                r[f"verdict_{stage}"] = "" if d is None else _verdict(
                    r["method"], baseline, d, a, words)
        rows.extend(block)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# configuration

def _as_tuple(value, name, func, check):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{func}(): '{name}' must be a number or a sequence "
                        f"of numbers; got {type(value).__name__}.")
    out = tuple(check(v, f"{name}[{i}]") for i, v in enumerate(value))
    if not out:
        raise InvalidParameterError(f"{func}(): '{name}' is empty.")
    if len(set(out)) != len(out):
        raise InvalidParameterError(
            f"{func}(): '{name}' repeats a value: {list(out)}.")
    return out


def _seeds(seeds, func):
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = range(check_int(int(seeds), "seeds", func, min_value=1))
    return _as_tuple(seeds, "seeds", func, lambda v, n: check_int(
        int(v) if isinstance(v, np.integer) else v, n, func, min_value=0))


@dataclasses.dataclass(frozen=True)
class CompareConfig(RunConfig):
    """The validated parameters of one :func:`compare_criteria` run (what
    its run folder records); see that function for their meaning."""

    KIND = "compare_criteria"

    methods: tuple
    seeds: tuple
    mode: str
    flops_reduction: tuple
    threshold: tuple
    allocation: str
    reference: str
    baseline: str
    recipe: str
    train_epochs: int
    retrain_epochs: int
    retrain_learning_rate: float
    ratios: tuple
    rule: str
    batch_size: int
    layers: tuple | None = None

    def __post_init__(self):
        func = "compare_criteria"
        set_ = object.__setattr__
        if isinstance(self.methods, str):
            set_(self, "methods", (self.methods,))
        names = []
        for m in self.methods:
            if not isinstance(m, str):
                raise TypeError(f"{func}(): 'methods' must hold criterion "
                                f"names; got {type(m).__name__} {m!r}.")
            names.append(get_criterion(m, func).name)
        if not names or len(set(names)) != len(names):
            raise InvalidParameterError(
                f"{func}(): 'methods' must be distinct criterion names; got "
                f"{list(self.methods)!r}.")
        set_(self, "methods", tuple(names))
        set_(self, "seeds", _seeds(self.seeds, func))
        check_choice(self.mode, ("matched", "planned"), "mode", func)
        check_choice(self.allocation, ("uniform", "sensitivity"),
                     "allocation", func)
        set_(self, "reference", get_criterion(self.reference, func).name)
        set_(self, "baseline", get_criterion(self.baseline, func).name)
        if self.baseline not in names:
            raise InvalidParameterError(
                f"{func}(): baseline {self.baseline!r} is not among "
                f"'methods' {names}; add it, or choose baseline= among them.")
        set_(self, "flops_reduction", _as_tuple(
            self.flops_reduction, "flops_reduction", func,
            lambda v, n: check_float(v, n, func, 0.0, 1.0, False, False)))
        set_(self, "threshold", _as_tuple(
            self.threshold, "threshold", func,
            lambda v, n: check_float(v, n, func, -1.0, 1.0, False)))
        check_choice(self.recipe, tuple(RECIPES), "recipe", func)
        for name in ("train_epochs", "retrain_epochs"):
            check_int(getattr(self, name), name, func, min_value=0)
        check_float(self.retrain_learning_rate, "retrain_learning_rate", func, 0.0,
                    min_inclusive=False)
        from .._validate import check_increasing_fractions
        set_(self, "ratios", tuple(check_increasing_fractions(
            self.ratios, "ratios", func)))
        check_choice(self.rule, ("first_crossing", "max_above"), "rule",
                     func)
        check_int(self.batch_size, "batch_size", func, min_value=1)
        if self.layers is not None:
            if isinstance(self.layers, str):
                set_(self, "layers", (self.layers,))
            if not all(isinstance(n, str) for n in self.layers):
                raise TypeError(f"{func}(): 'layers' must be layer names; "
                                f"got {list(self.layers)!r}.")
            set_(self, "layers", tuple(self.layers))

    @classmethod
    def resolve(cls, trains: bool, **kw) -> "CompareConfig":
        """The configuration with the defaults that depend on the recipe
        filled in (``trains``: the network is built per seed, so it is
        trained for the recipe's epochs unless ``train_epochs`` is given)."""
        r = RECIPES.get(kw["recipe"], {})
        for name, default in (("train_epochs", r.get("epochs", 0)
                               if trains else 0),
                              ("retrain_epochs", r.get("retrain_epochs", 0)),
                              ("retrain_learning_rate",
                               r.get("retrain_lr", 1.0)),
                              ("ratios", _sens.default_ratios())):
            if kw[name] is None:
                kw[name] = default
        return cls(**kw)

    @property
    def targets(self) -> tuple:
        """FLOP-reduction targets (matched) or thresholds (planned)."""
        return self.flops_reduction if self.mode == "matched" \
            else self.threshold

    @property
    def needs_sensitivity(self) -> bool:
        return self.mode == "planned" or self.allocation == "sensitivity"

    def manifest(self) -> dict:
        m = super().manifest()
        # the parameter the other mode ignores is not part of the run
        m.pop("threshold" if self.mode == "matched" else "flops_reduction")
        if self.mode == "planned" or self.allocation == "uniform":
            m.pop("reference")
        if not self.needs_sensitivity:
            m.pop("ratios")
            m.pop("rule")
        return m


# --------------------------------------------------------------------------
# the networks of a seed

class _Source:
    """The initial network of a seed: ``build_fn(seed)``, or a copy of the
    given model (the same weights for every seed). Picklable for worker
    processes (a model travels as its JSON and weights)."""

    def __init__(self, model_or_build_fn, func):
        obj = model_or_build_fn
        self.func = func
        if hasattr(obj, "layers") and hasattr(obj, "get_weights"):
            check_model(obj, "model_or_build_fn", func)
            self.build_fn, self.model = None, obj
        elif callable(obj):
            self.build_fn, self.model = obj, None
        else:
            raise TypeError(
                f"{func}(): 'model_or_build_fn' must be a tf_keras model or "
                f"a callable seed -> model; got {type(obj).__name__}.")

    def make(self, seed):
        if self.build_fn is not None:
            model = self.build_fn(seed)
            check_model(model, "build_fn(seed)", self.func)
            return model
        new = keras.models.clone_model(self.model)
        new.set_weights(self.model.get_weights())
        return new

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.model is not None:
            state["model"] = (self.model.to_json(), self.model.get_weights())
        return state

    def __setstate__(self, state):
        if state["model"] is not None:
            js, weights = state["model"]
            from .retrain import TimeDecay  # noqa: F401  (registers it)
            model = keras.models.model_from_json(js)
            model.set_weights(weights)
            state["model"] = model
        self.__dict__.update(state)


class _Flops:
    """FLOP reduction of a plan on one architecture (memoised surgery)."""

    def __init__(self, model):
        self.model = model
        self.f0 = _report.count_flops(model)
        self.cache = {}

    def reduction(self, plan: dict) -> float:
        key = tuple(sorted((k, float(v)) for k, v in plan.items() if v))
        if key not in self.cache:
            small = prune(self.model, dict(key), "l1")
            self.cache[key] = 1.0 - _report.count_flops(small) / self.f0
        return self.cache[key]


def _uniform_plans(flops: _Flops, names, targets, func) -> list:
    """Per target, the smallest uniform ratio (on a 0.01 grid) whose plan
    removes at least that fraction of the FLOPs."""
    def at(i):
        return {n: i / _GRID for n in names}
    top = flops.reduction(at(_GRID - 1))
    bad = [t for t in targets if t > top]
    if bad:
        raise InvalidParameterError(
            f"{func}(): flops_reduction {bad} cannot be reached with uniform "
            f"ratios: removing {_GRID - 1} % of the filters of every "
            f"prunable layer ({', '.join(names)}) removes {top:.1%} of the "
            f"FLOPs; choose targets up to {math.floor(top * 1000) / 1000}.")
    plans = []
    for t in targets:
        lo, hi = 0, _GRID - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if flops.reduction(at(mid)) >= t else (mid, hi)
        plans.append(at(hi))
    return plans


def _sensitivity_plan(table, target, flops: _Flops, rule, func):
    """The largest threshold whose plan on ``table`` removes at least
    ``target`` of the FLOPs: ``(plan, threshold)``."""
    taus = np.unique(table["metric"].to_numpy(dtype=np.float64))

    def plan_at(i):
        return _sens.plan(table, float(taus[i]), rule)
    if flops.reduction(plan_at(0)) < target:
        raise InvalidParameterError(
            f"{func}(): flops_reduction {target} cannot be reached by the "
            "sensitivity plan even at its largest ratios; use smaller "
            "targets or larger 'ratios'.")
    lo, hi = 0, len(taus)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if flops.reduction(plan_at(mid)) >= target \
            else (lo, mid)
    return plan_at(lo), float(taus[lo])


def _criterion_kw(method, seed) -> dict:
    return {"seed": seed} if method == "random" else {}


def _weights_npz(model) -> dict:
    return {f"w{i:04d}": w for i, w in enumerate(model.get_weights())}


# --------------------------------------------------------------------------
# one seed

@dataclasses.dataclass
class _Job:
    """Everything one seed needs (sent to a worker process as it is)."""

    cfg: CompareConfig
    seed: int
    source: _Source
    splits: tuple
    uniform: list | None
    loss: object
    run: tuple | None
    strategy: object = None

    def open_run(self):
        if self.run is None:
            return None
        path, params, labels = self.run
        return RunDir(path, params, CompareConfig.KIND, "compare_criteria",
                      labels=labels)


class _SeedRun:
    """The units of one seed: its base network, the sensitivity sweeps it
    needs and one unit per (method, target), each committed when done."""

    def __init__(self, job: _Job, bar=None):
        self.job, self.cfg, self.seed = job, job.cfg, job.seed
        self.rd = job.open_run()
        self.train, self.val, self.test = job.splits
        self.bar = bar
        self._base = None
        self._tables = {}
        self._matched = {}

    def base(self):
        """The trained base network of this seed (trained once, then read
        back from its committed unit)."""
        if self._base is not None:
            return self._base
        key, name = f"{self.seed}/base", f"base_seed{self.seed}.npz"
        model = self.job.source.make(self.seed)
        if self.rd is not None and self.rd.has(key):
            unit = self.rd.unit(key)
            arrays = self.rd.load_npz(unit, name)
            model.set_weights([arrays[k] for k in sorted(arrays)])
            state = unit.state
        else:
            if self.cfg.train_epochs:
                model = train_model(model, self.train, self.val,
                                    self.cfg.recipe,
                                    epochs=self.cfg.train_epochs,
                                    seed=self.seed,
                                    strategy=self.job.strategy,
                                    progress=False)
            state = {"acc": _accuracy(model, self.test),
                     "flops": _report.count_flops(model),
                     "params": _report.count_params(model)}
            if self.rd is not None:
                atomic_save_npz(self.rd.file(name), **_weights_npz(model))
                self.rd.commit(key, files=[name], state=state)
        self._base = (model, state)
        return self._base

    def table(self, method) -> pd.DataFrame:
        """The sensitivity sweep of ``method`` on this seed's base."""
        if method in self._tables:
            return self._tables[method]
        key = f"{self.seed}/sens/{method}"
        if self.rd is not None and self.rd.has(key):
            st = self.rd.unit(key).state
        else:
            t = _sens.analyze(self.base()[0], *self.val,
                              layers=self.cfg.layers and list(self.cfg.layers),
                              ratios=list(self.cfg.ratios), method=method,
                              batch_size=self.cfg.batch_size, progress=False,
                              **_criterion_kw(method, self.seed))
            st = {"columns": list(t.columns), "rows": t.values.tolist(),
                  "attrs": {k: t.attrs[k] for k in ("baseline",
                                                    "higher_is_better")}}
            if self.rd is not None:
                self.rd.commit(key, state=st)
        table = pd.DataFrame(st["rows"], columns=st["columns"])
        table.attrs.update(st["attrs"])
        self._tables[method] = table
        return table

    def plan(self, method, ti) -> tuple:
        """``(plan, threshold)`` of ``method`` at target ``ti``."""
        cfg = self.cfg
        if cfg.mode == "planned":
            tau = cfg.threshold[ti]
            return _sens.plan(self.table(method), tau, cfg.rule), tau
        if cfg.allocation == "uniform":
            return self.job.uniform[ti], math.nan
        if ti not in self._matched:
            self._matched[ti] = _sensitivity_plan(
                self.table(cfg.reference), cfg.flops_reduction[ti],
                _Flops(self.base()[0]), cfg.rule, "compare_criteria")
        return self._matched[ti]

    def unit(self, method, ti) -> dict:
        """Prune, evaluate and retrain one (method, target); its state."""
        key = self.key(method, ti)
        if self.rd is not None and self.rd.has(key):
            return self.rd.unit(key).state
        t0 = time.perf_counter()
        cfg, recipe = self.cfg, RECIPES[self.cfg.recipe]
        model, base = self.base()
        plan, tau = self.plan(method, ti)
        data_crit = get_criterion(method).kind == "data"
        channels = plan_channels(model, plan, method,
                                 x=self.val[0] if data_crit else None,
                                 batch_size=cfg.batch_size,
                                 **_criterion_kw(method, self.seed))
        pruned = (_surgery.prune_channels(model, channels) if channels
                  else prune(model, {}))
        acc_pruned = acc_tuned = _accuracy(pruned, self.test)
        if cfg.retrain_epochs:
            # epochs, batch size and learning rate by position
            tuned = retrain(pruned, self.train, cfg.retrain_epochs,
                            recipe["retrain_batch_size"], cfg.retrain_learning_rate,
                            augment=recipe["augment"],
                            loss=keras.losses.get(self.job.loss),
                            metrics=["accuracy"],
                            strategy=self.job.strategy, seed=self.seed)
            acc_tuned = _accuracy(tuned, self.test)
        flops, params = (_report.count_flops(pruned),
                         _report.count_params(pruned))
        row = dict(mode=cfg.mode, target=cfg.targets[ti], method=method,
                   seed=self.seed, acc_base=base["acc"],
                   acc_pruned=acc_pruned,
                   acc_retrained=acc_tuned, flops=flops,
                   params=params, flops_reduction=1 - flops / base["flops"],
                   params_reduction=1 - params / base["params"],
                   n_pruned=int(sum(len(v) for v in channels.values())),
                   seconds=time.perf_counter() - t0)
        state = {"row": row, "threshold": tau,
                 "plan": {k: float(v) for k, v in plan.items()},
                 "channels": {k: [int(c) for c in v]
                              for k, v in channels.items()}}
        if self.rd is not None:
            self.rd.commit(key, state=state)
        return state

    def key(self, method, ti) -> str:
        return f"{self.seed}/{method}/{ti}"

    def finished(self) -> bool:
        """Every (method, target) unit of this seed is committed."""
        return self.rd is not None and all(
            self.rd.has(self.key(m, ti)) for m in self.cfg.methods
            for ti in range(len(self.cfg.targets)))

    def run(self) -> list:
        states = []
        for method in self.cfg.methods:
            for ti in range(len(self.cfg.targets)):
                states.append(self.unit(method, ti))
                if self.bar is not None:
                    self.bar.update(1)
        return states


def _seed_worker(job: _Job) -> list:
    return _SeedRun(job).run()


# --------------------------------------------------------------------------
# the result

def _jaccard(a: frozenset, b: frozenset) -> float:
    union = a | b
    return 1.0 if not union else len(a & b) / len(union)


@dataclasses.dataclass(frozen=True)
class CriteriaComparison:
    """What :func:`compare_criteria` measured.

    Attributes:
        runs: one row per (method, target, seed): ``RUN_COLUMNS``
            (accuracies on the test split as fractions; ``flops`` and
            ``params`` of the pruned network; reductions as fractions of
            the seed's base network; ``seconds`` for pruning, evaluation
            and retraining).
        summary: one row per (target, method): ``n_seeds``, ``<col>_mean``
            and ``<col>_std`` over seeds, and the paired comparison with
            the baseline on the same seeds after pruning and after
            retraining: ``diff_<stage>_pts`` (mean difference, accuracy
            points), ``diff_<stage>_std``, ``p_<stage>`` (paired t-test),
            ``p_<stage>_holm`` (Holm-adjusted over the methods of a target)
            and ``verdict_<stage>`` (a sentence).
        plans: per (seed, target, method, layer): the ratio of the plan,
            the threshold it came from (NaN for uniform ratios) and the
            number of filters removed.
        choices: per (seed, target, method, layer): the removed channel
            indices (a tuple).
        config: the run's settings (``mode``, ``allocation``, ``reference``,
            ``baseline``, ...).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    plans: pd.DataFrame
    choices: pd.DataFrame
    config: dict

    def to_frame(self) -> pd.DataFrame:
        """One row per (method, target, seed) (a copy of ``runs``)."""
        return self.runs.copy()

    def overlap(self) -> pd.DataFrame:
        """Jaccard overlap of the filter sets two methods remove, per
        (target, layer, method pair), mean over seeds (1.0 = the same
        filters; two empty sets count as 1.0)."""
        rows = []
        ch = self.choices
        methods = list(dict.fromkeys(ch["method"]))
        for (target, layer), g in ch.groupby(["target", "layer"],
                                             sort=False):
            sets = {(r.seed, r.method): frozenset(r.channels)
                    for r in g.itertuples()}
            seeds = sorted({s for s, _ in sets})
            for a in methods:
                for b in methods:
                    vals = [_jaccard(sets[s, a], sets[s, b]) for s in seeds
                            if (s, a) in sets and (s, b) in sets]
                    if vals:
                        rows.append([target, layer, a, b,
                                     float(np.mean(vals)), len(vals)])
        return pd.DataFrame(rows, columns=["target", "layer", "method_a",
                                           "method_b", "jaccard", "n_seeds"])

    def statements(self, stage: str = "retrained") -> list[str]:
        """One plain sentence per (target, method) other than the baseline,
        e.g. ``"FLOPs -50 %: dscore − l1 = +0.4 ± 0.3 pt after retraining
        (p = 0.2: not significant)"``; in planned mode with the FLOP
        reduction each method reached."""
        check_choice(stage, ("pruned", "retrained"), "stage", "statements")
        out = []
        for r in self.summary.itertuples():
            verdict = getattr(r, f"verdict_{stage}")
            if not verdict:
                continue
            where = (f"FLOPs -{100 * r.target:g} %"
                     if self.config["mode"] == "matched"
                     else f"threshold {r.target:g}")
            extra = ""
            if self.config["mode"] == "planned":
                extra = (f"; FLOPs -{100 * r.flops_reduction_mean:.1f} ± "
                         f"{100 * np.nan_to_num(r.flops_reduction_std):.1f}"
                         " %")
            out.append(f"{where}: {verdict}{extra}")
        return out

    def render(self) -> str:
        """The summary as a text table (accuracy in %, mean ± std over
        seeds) followed by :meth:`statements`."""
        def pm(m, s):
            return (f"{100 * m:.1f}" if math.isnan(s) else
                    f"{100 * m:.1f} ± {100 * s:.1f}")
        t = pd.DataFrame({
            "target": self.summary["target"],
            "method": self.summary["method"],
            "seeds": self.summary["n_seeds"],
            "acc pruned %": [pm(r.acc_pruned_mean, r.acc_pruned_std)
                             for r in self.summary.itertuples()],
            "acc retrained %": [pm(r.acc_retrained_mean, r.acc_retrained_std)
                                for r in self.summary.itertuples()],
            "FLOPs -%": [pm(r.flops_reduction_mean, r.flops_reduction_std)
                         for r in self.summary.itertuples()],
            "params -%": [pm(r.params_reduction_mean, r.params_reduction_std)
                          for r in self.summary.itertuples()],
            f"vs {self.config['baseline']} pts": self.summary[
                "diff_retrained_pts"].round(2),
            "p": self.summary["p_retrained"].round(3),
            "p Holm": self.summary["p_retrained_holm"].round(3),
        })
        c = self.config
        head = (f"{c['mode']} mode"
                + (f", {c['allocation']} ratios"
                   + (f" from {c['reference']}'s sensitivity plan"
                      if c["allocation"] == "sensitivity" else "")
                   if c["mode"] == "matched" else
                   f", each method's own plan ({c['rule']})")
                + f"; accuracy on the test split, mean ± std over "
                  f"{len(c['seeds'])} seeds; differences paired by seed")
        return "\n".join([head, t.to_string(index=False), ""]
                         + self.statements())

    def save(self, out, plots: bool = True) -> dict:
        """Write ``runs.csv``, ``summary.csv``, ``plans.csv``,
        ``overlap.csv`` and (with ``plots``) ``accuracy.png`` and
        ``overlap.png`` into ``out``; returns ``{file name: path}``."""
        out = ensure_dir(out, "out", "CriteriaComparison.save")
        ov = self.overlap()
        choices = self.choices.assign(channels=[
            " ".join(map(str, c)) for c in self.choices["channels"]])
        files = {name: atomic_write_csv(out / name, frame)
                 for name, frame in (("runs.csv", self.runs),
                                     ("summary.csv", self.summary),
                                     ("plans.csv", self.plans),
                                     ("choices.csv", choices),
                                     ("overlap.csv", ov))}
        if plots:
            from ..plots import criteria as cp
            for name, fig in (("accuracy.png",
                               cp.criteria_accuracy(self.runs)),
                              ("overlap.png", cp.criteria_overlap(ov))):
                files[name] = save_figure(fig, out / name)
        return files


def _assemble(cfg: CompareConfig, states: list, allocation_note) -> \
        CriteriaComparison:
    runs = pd.DataFrame([s["row"] for s in states], columns=RUN_COLUMNS)
    plans, choices = [], []
    for s in states:
        r = s["row"]
        for layer, ratio in s["plan"].items():
            plans.append([r["mode"], r["target"], r["seed"], r["method"],
                          layer, ratio, s["threshold"],
                          len(s["channels"].get(layer, ()))])
        for layer, ch in s["channels"].items():
            choices.append([r["target"], r["seed"], r["method"], layer,
                            tuple(ch)])
    plans = pd.DataFrame(plans, columns=["mode", "target", "seed", "method",
                                         "layer", "ratio", "threshold",
                                         "n_pruned"])
    choices = pd.DataFrame(choices, columns=["target", "seed", "method",
                                             "layer", "channels"])
    config = dict(cfg.manifest(), mode=cfg.mode,
                  allocation=allocation_note, reference=cfg.reference,
                  baseline=cfg.baseline, rule=cfg.rule,
                  seeds=list(cfg.seeds))
    return CriteriaComparison(runs, _summarize(runs, cfg.baseline), plans,
                              choices, config)


# --------------------------------------------------------------------------
# the entry point

def _splits(data, model, func) -> tuple:
    """``(train, val, test)`` of ``(x, y)`` arrays, checked against the
    model; ``val`` may be ``None``."""
    if hasattr(data, "train") and hasattr(data, "test"):
        data = (data.train, getattr(data, "val", None), data.test)
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise TypeError(
            f"{func}(): 'data' must be a Splits(train, val, test) "
            "(tp.data.load_digits(flatten=False)) or a (train, val, test) "
            f"tuple of (x, y) arrays; got {type(data).__name__}.")
    out = []
    for name, split in zip(("train", "val", "test"), data):
        if split is None and name == "val":
            out.append(None)
            continue
        if hasattr(split, "element_spec"):
            raise TypeError(
                f"{func}(): data.{name} must be (x, y) numpy arrays (every "
                "method and seed reads the same samples); got a "
                "tf.data.Dataset.")
        out.append(check_dataset(split, f"data.{name}", func, model=model))
    return tuple(out)


def _loss_of(model, y, trains: bool):
    """The loss to retrain with: the model's own when it is used as given,
    else the one ``train_model`` compiles (from the labels' shape)."""
    loss = None if trains else compile_args(model).get("loss")
    if loss is None:
        return ("sparse_categorical_crossentropy" if np.ndim(y) == 1 else
                "categorical_crossentropy")
    return loss if isinstance(loss, str) else keras.losses.serialize(loss)


def _check_ready(cfg, model0, splits, workers, strategy, source, func):
    """The checks that need the network and the data; returns the uniform
    plans (or ``None``) and a note on how the ratios are allocated."""
    units = prunable_units(model0, cfg.layers and list(cfg.layers),
                           func=func)
    if not units:
        raise InvalidParameterError(
            f"{func}(): the network has no prunable layers (Conv/Dense "
            "layers other than the output layer).")
    data_methods = [m for m in cfg.methods
                    if get_criterion(m).kind == "data"]
    if splits[1] is None and (data_methods or cfg.needs_sensitivity):
        need = (f"methods {data_methods} rank filters from input data"
                if data_methods else f"{cfg.mode} mode runs sensitivity "
                "sweeps")
        raise InvalidParameterError(
            f"{func}(): {need}, which come from the validation split, but "
            "data.val is None; pass data=(train, val, test).")
    if workers > 1 and strategy is not None:
        raise InvalidParameterError(
            f"{func}(): give either workers > 1 (seeds in parallel "
            "processes) or a strategy (each run on several devices), not "
            "both.")
    if workers > 1 and source.build_fn is not None:
        import pickle
        try:
            pickle.dumps(source.build_fn)
        except Exception as e:  # noqa: BLE001 - any pickling failure
            raise InvalidParameterError(
                f"{func}(): workers={workers} sends build_fn to other "
                "processes, but it cannot be pickled "
                f"({type(e).__name__}); define it at module level (or use "
                "functools.partial of one), or use workers=1.") from e
    names = [u.name for u in units]
    if cfg.mode == "planned":
        return None, "per-method sensitivity plans"
    flops = _Flops(model0)
    if cfg.allocation == "uniform":
        return _uniform_plans(flops, names, cfg.flops_reduction, func), \
            "uniform"
    top = flops.reduction({n: max(cfg.ratios) for n in names})
    bad = [t for t in cfg.flops_reduction if t > top]
    if bad:
        raise InvalidParameterError(
            f"{func}(): flops_reduction {bad} cannot be reached by a "
            f"sensitivity plan: its largest ratio ({max(cfg.ratios)}) on "
            f"every prunable layer removes {top:.1%} of the FLOPs; choose "
            "smaller targets or add larger 'ratios'.")
    return None, "sensitivity"


def _run_jobs(jobs, workers, progress, func) -> list:
    per_seed = len(jobs[0].cfg.methods) * len(jobs[0].cfg.targets)
    bar = progress_bar(progress, len(jobs) * per_seed, desc=func,
                       unit="run")
    todo = [job for job in jobs if not _SeedRun(job).finished()]
    results = {}
    try:
        if workers > 1 and len(todo) > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor
            ctx = mp.get_context("spawn")  # TensorFlow does not survive fork
            with ProcessPoolExecutor(min(workers, len(todo)),
                                     mp_context=ctx) as ex:
                for job, states in zip(todo, ex.map(_seed_worker, todo)):
                    bar.update(per_seed)
                    results[job.seed] = states
        for job in jobs:
            if job.seed not in results:
                results[job.seed] = _SeedRun(job, bar).run()
    finally:
        bar.close()
    return [s for job in jobs for s in results[job.seed]]


def compare_criteria(model_or_build_fn, data, methods=METHODS,
                     seeds=range(5), flops_reduction=(0.3, 0.5, 0.7),
                     retrain_epochs=None, mode="matched", run_dir=None,
                     strategy=None, *, threshold=(-0.01, -0.03, -0.1),
                     allocation="uniform", reference="l1", baseline="l1",
                     recipe="digits", train_epochs=None, retrain_learning_rate=None,
                     ratios=None, rule="first_crossing", layers=None,
                     batch_size=256, workers=1, progress=True
                     ) -> CriteriaComparison:
    """Prune the same networks with several criteria, over several seeds.

    Args:
        model_or_build_fn: ``build_fn(seed) -> model`` (a new network per
            seed, trained here for ``train_epochs``) or a tf_keras model
            (used as given for every seed unless ``train_epochs`` > 0).
        data: ``Splits(train, val, test)`` of ``(x, y)`` arrays. Training
            and retraining use ``train``; sensitivity sweeps and the data
            criteria (``apoz``, ``mean_activation``) use ``val`` (may be
            ``None`` when neither is needed); accuracies are on ``test``.
        methods: criterion names (default all nine).
        seeds: the seeds (an int n means ``range(n)``); a seed covers base
            training, retraining and ``random``.
        flops_reduction: matched mode's targets (fractions of the FLOPs).
        retrain_epochs, retrain_learning_rate: retraining (default the recipe's).
        mode: ``"matched"`` (the same ratios for every method) or
            ``"planned"`` (each method's own plan at ``threshold``).
        run_dir: resumable run folder (one commit per finished unit).
        strategy: a ``tf.distribute.Strategy`` for training and retraining.
        threshold: planned mode's targets: accuracy thresholds of
            ``tp.sensitivity.plan``, absolute (0.9) or relative drops from
            the base network (-0.01).
        allocation: matched mode's ratios: ``"uniform"`` (the smallest
            common ratio on a 0.01 grid that reaches the target) or
            ``"sensitivity"`` (the plan of ``reference``'s sensitivity
            sweep at the highest threshold that reaches the target).
        reference: the criterion of ``allocation="sensitivity"``.
        baseline: the method every other is compared with (in ``methods``).
        recipe: ``tp.filters.RECIPES`` entry for training and retraining.
        train_epochs: base training epochs (default: the recipe's for a
            ``build_fn``, 0 for a model).
        ratios, rule: of the sensitivity sweeps and plans (default 0.05 ...
            0.95, ``"first_crossing"``).
        layers: the layers to prune (default: all but the output layer).
        batch_size, progress: of sweeps and data criteria; a bar over runs.
        workers: processes over seeds (``build_fn`` must be picklable).

    Returns:
        :class:`CriteriaComparison`.

    Raises:
        ValueError: an unknown method or mode, a target that cannot be
            reached, data criteria or sensitivity sweeps without
            ``data.val``, data that does not fit the network; all before
            any training.
    """
    func = "compare_criteria"
    source = _Source(model_or_build_fn, func)
    cfg = CompareConfig.resolve(
        source.build_fn is not None, methods=methods, seeds=seeds, mode=mode,
        flops_reduction=flops_reduction, threshold=threshold,
        allocation=allocation, reference=reference, baseline=baseline,
        recipe=recipe, train_epochs=train_epochs,
        retrain_epochs=retrain_epochs,
        retrain_learning_rate=retrain_learning_rate, ratios=ratios,
        rule=rule, batch_size=batch_size, layers=layers)
    workers = check_int(workers, "workers", func, min_value=1)
    model0 = source.make(cfg.seeds[0])
    splits = _splits(data, model0, func)
    uniform, note = _check_ready(cfg, model0, splits, workers, strategy,
                                 source, func)
    loss = _loss_of(model0, splits[0][1], cfg.train_epochs > 0)
    run = None
    if run_dir is not None:
        rd = cfg.open(run_dir, func, model=fingerprint(model_or_build_fn),
                      data=fingerprint(splits, "data", func))
        run = (str(rd.path), rd.params, rd.labels)
    jobs = [_Job(cfg, s, source, splits, uniform, loss, run, strategy)
            for s in cfg.seeds]
    states = _run_jobs(jobs, workers, progress, func)
    return _assemble(cfg, states, note)
