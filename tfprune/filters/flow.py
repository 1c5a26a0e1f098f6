"""The whole D-Score flow in one call: train (or load) -> sensitivity ->
plan -> one-shot prune -> retrain -> report, writing tables, figures and the
pruned model to a run folder (what ``tfprune filters`` and the demo run).

A flow is a :class:`FlowConfig` (its validated parameters, the manifest of
its run folder) and short steps. Everything (parameters, data, the model and
the data against the model) is checked before any training. With a run
folder the expensive stages are committed as they finish: ``train`` (the
trained model), the sensitivity sweep (its own run folder ``sensitivity/``,
one record per layer) and ``retrain`` (the final model); a rerun resumes
after the last committed stage, and a rerun with other parameters is
refused.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._io import (atomic_save_model, atomic_write_csv, atomic_write_json,
                   save_figure)
from .._keras import check_model, compile_args, keras
from .._runstate import RunConfig, RunDir, fingerprint
from .._validate import (check_choice, check_dataset, check_float,
                         check_increasing_fractions, check_int, renamed)
from ..errors import InvalidParameterError
from ..utils import set_seed
from .criteria import filter_matrix, get_criterion, layer_by_name
from .prune import apply_channels, plan_channels, prunable_units
from .retrain import _as_dataset, augmenter, retrain

__all__ = ["FlowResult", "FlowConfig", "run_flow", "train_model",
           "load_flow_data", "plan_table", "RECIPES"]

#: Training and retraining settings per dataset. ``cifar10`` follows the
#: paper (``docs/sections/filters.md``, "Training recipes"); ``digits`` is
#: sized for a CPU minute (its 20 batches per epoch need a larger retraining
#: learning rate than CIFAR's 700).
RECIPES = {
    "digits": dict(epochs=15, batch_size=32, optimizer="adam", lr=1e-3,
                   augment=False, retrain_epochs=20, retrain_lr=1e-2,
                   retrain_batch_size=32, threshold=0.9),
    "cifar10": dict(epochs=450, batch_size=64, optimizer="sgd", lr=1e-2,
                    augment=True, retrain_epochs=10, retrain_lr=1e-3,
                    retrain_batch_size=64, threshold=0.9),
}


class _EpochBar(keras.callbacks.Callback):
    def __init__(self, total, desc):
        super().__init__()
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, desc=desc, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()
                              if "acc" in k})
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


def load_flow_data(dataset="digits", seed=0):
    """``Splits(train, val, test)`` for the flow: digits (8x8x1 in [0, 1]) or
    CIFAR-10 standardised with one scalar mean and std of the training
    pixels."""
    from .. import data
    check_choice(dataset, tuple(RECIPES), "dataset", "load_flow_data")
    if dataset == "digits":
        return data.load_digits(seed=seed, flatten=False)
    s = data.load_cifar10(seed=seed, normalize="unit")
    mu = float(s.train[0].mean())
    sd = float(s.train[0].std())

    def norm(split):
        return ((split[0] - mu) / (sd + 1e-7)).astype("float32"), split[1]
    return type(s)(norm(s.train), norm(s.val), norm(s.test))


def _optimizer(recipe, learning_rate, steps):
    if recipe["optimizer"] == "adam":
        return keras.optimizers.Adam(learning_rate)
    sched = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=20 * steps, decay_rate=0.9, staircase=True)
    return keras.optimizers.SGD(sched, momentum=0.9, nesterov=True)


@renamed(lr="learning_rate")
def train_model(model, train, val=None, recipe="digits", epochs=None,
                batch_size=None, learning_rate=None, seed=0, strategy=None,
                progress=True) -> keras.Model:
    """Train a copy of ``model`` for classification with a recipe.

    ``"digits"``: Adam. ``"cifar10"``: SGD, momentum 0.9, Nesterov, learning
    rate 0.01 multiplied by 0.9 every 20 epochs, batch 64, the D-Score
    augmentation. Loss: sparse categorical cross-entropy (one-hot labels:
    categorical), metric accuracy. The input model is not changed.

    Args:
        model: a tf_keras model.
        train, val: ``(x, y)`` arrays (``val`` optional), checked against the
            model before training.
        recipe: ``"digits"`` or ``"cifar10"`` (:data:`RECIPES`).
        epochs, batch_size, learning_rate: override the recipe's
            (``learning_rate`` was ``lr``, deprecated).
        seed: seeds initialisation, shuffling and augmentation.
        strategy: a ``tf.distribute.Strategy``.
        progress: a tqdm bar over the epochs.

    Returns:
        the trained, compiled new model.
    """
    func = "train_model"
    check_model(model, "model", func)
    check_choice(recipe, tuple(RECIPES), "recipe", func)
    r = RECIPES[recipe]
    epochs = check_int(r["epochs"] if epochs is None else epochs, "epochs",
                       func, min_value=0)
    batch_size = check_int(r["batch_size"] if batch_size is None
                           else batch_size, "batch_size", func, min_value=1)
    learning_rate = check_float(
        r["lr"] if learning_rate is None else learning_rate, "learning_rate",
        func, min_value=0.0, min_inclusive=False)
    x, y = check_dataset(train, "train", func, model=model)
    if val is not None:
        val = check_dataset(val, "val", func, model=model)
    if seed is not None:
        set_seed(seed)
    loss = ("sparse_categorical_crossentropy" if np.ndim(y) == 1 else
            "categorical_crossentropy")
    from contextlib import nullcontext
    with (strategy.scope() if strategy is not None else nullcontext()):
        new = keras.models.clone_model(model)
        new.set_weights(model.get_weights())
        new.compile(optimizer=_optimizer(r, learning_rate,
                                         int(np.ceil(len(x) / batch_size))),
                    loss=loss, metrics=["accuracy"])
    if epochs == 0:
        return new
    cbs = [_EpochBar(epochs, "train")] if progress else []
    if r["augment"]:
        ds = _as_dataset((x, y), batch_size, True, seed, augmenter(seed),
                         "train", func)
        new.fit(ds, epochs=epochs, verbose=0, callbacks=cbs,
                validation_data=val)
    else:
        new.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True,
                verbose=0, callbacks=cbs, validation_data=val)
    return new


def plan_table(model, plan, channels=None, method="dscore") -> pd.DataFrame:
    """Per planned layer: ``layer, ratio, n_filters, n_pruned, n_kept``.

    ``channels`` (from :func:`plan_channels`) is computed when not given.
    """
    if channels is None:
        channels = plan_channels(model, plan, method)
    rows = []
    for name, ratio in plan.items():
        n = filter_matrix(layer_by_name(model, name)).shape[1]
        k = len(channels.get(name, ()))
        rows.append([name, float(ratio) if not isinstance(ratio, int)
                     else k / n, n, k, n - k])
    return pd.DataFrame(rows, columns=["layer", "ratio", "n_filters",
                                       "n_pruned", "n_kept"])


def _accuracy(model, xy, batch_size=256):
    x, y = xy
    p = np.concatenate([model(x[i:i + batch_size], training=False).numpy()
                        for i in range(0, len(x), batch_size)])
    if np.ndim(y) > 1 and np.shape(y)[-1] > 1:
        y = np.argmax(y, -1)
    return float(np.mean(np.argmax(p, -1) == np.reshape(y, -1)))


@dataclasses.dataclass(frozen=True)
class FlowResult:
    """Everything the filters flow produced.

    Attributes:
        original: the trained model before pruning.
        pruned: after one-shot pruning (no retraining).
        retrained: the pruned model after retraining (the final model).
        sensitivity: the ``tp.sensitivity.analyze`` table.
        plan: dict layer -> ratio.
        plan_table: ``layer, ratio, n_filters, n_pruned, n_kept``.
        report: one row per stage (``original``, ``pruned``, ``retrained``):
            ``stage, accuracy, acc_drop_pts, params, flops,
            params_reduction_pct, flops_reduction_pct``; accuracy on the test
            split, FLOPs at batch 1 (2 per multiply-add plus bias adds).
        compare: ``tp.report.compare(original, retrained)`` per layer.
        files: name -> path of what was written (empty without a run
            folder).
        config: the settings used.
    """

    original: keras.Model
    pruned: keras.Model
    retrained: keras.Model
    sensitivity: pd.DataFrame
    plan: dict
    plan_table: pd.DataFrame
    report: pd.DataFrame
    compare: pd.DataFrame
    files: dict
    config: dict

    def summary(self) -> dict:
        """Title, result lines, table and figure paths (for ``tfprune
        demo``'s summary page)."""
        rep = self.report.set_index("stage")
        c = self.config
        lines = [
            f"{c['dataset']}: {c['method']} sensitivity on the "
            f"{c['eval_split']} split, threshold {c['threshold_text']} "
            f"({c['rule']}), retrained {c['retrain_epochs']} epochs",
            "test accuracy: original {:.2%}, after pruning {:.2%}, after "
            "retraining {:.2%} (drop {:+.2f} points)".format(
                rep.at["original", "accuracy"], rep.at["pruned", "accuracy"],
                rep.at["retrained", "accuracy"],
                rep.at["retrained", "acc_drop_pts"]),
            "FLOPs -{:.1f} % ({:,} -> {:,}), params -{:.1f} % ({:,} -> {:,})"
            .format(rep.at["retrained", "flops_reduction_pct"],
                    int(rep.at["original", "flops"]),
                    int(rep.at["retrained", "flops"]),
                    rep.at["retrained", "params_reduction_pct"],
                    int(rep.at["original", "params"]),
                    int(rep.at["retrained", "params"])),
            "per-layer ratios: " + ", ".join(
                f"{k} {v:.0%}" for k, v in self.plan.items()),
        ]
        tables = [p for p in self.files.values() if str(p).endswith(".csv")]
        figures = [p for p in self.files.values() if str(p).endswith(".png")]
        return {"title": "D-Score filter pruning: sensitivity -> parallel "
                         "pruning -> retraining",
                "lines": lines, "tables": tables, "figures": figures}


# --------------------------------------------------------------------------
# the configuration

@dataclasses.dataclass(frozen=True)
class FlowConfig(RunConfig):
    """The validated parameters of one filters flow; its run folder's
    manifest records them, with the data and the starting model as
    fingerprints. Field names are :func:`run_flow`'s argument names; the
    recipe's defaults are filled in."""

    KIND: ClassVar[str] = "filters-flow"

    dataset: str
    method: Any
    threshold: float | None
    rule: str
    max_drop: float | None
    ratios: tuple
    layers: tuple | None
    epochs: int | None
    retrain_epochs: int
    retrain_learning_rate: float
    batch_size: int
    eval_split: str
    seed: int

    @property
    def recipe(self) -> dict:
        return RECIPES[self.dataset]

    @property
    def threshold_text(self) -> str:
        if self.max_drop is not None:
            return f"max_drop {self.max_drop:g}"
        return f"{self.threshold:g}" + (" (relative)" if self.threshold < 0
                                        else "")

    @classmethod
    def create(cls, *, dataset, method, threshold, rule, max_drop, ratios,
               layers, epochs, retrain_epochs, retrain_learning_rate,
               batch_size, eval_split, seed, train, func="run_flow"):
        """Check every parameter and fill in the recipe's defaults.
        ``train``: whether the flow trains the model (``epochs`` counts)."""
        check_choice(dataset, tuple(RECIPES), "dataset", func)
        check_choice(rule, ("first_crossing", "max_above"), "rule", func)
        check_choice(eval_split, ("val", "test"), "eval_split", func)
        r = RECIPES[dataset]
        if threshold is not None and max_drop is not None:
            raise InvalidParameterError(
                f"{func}(): give 'threshold' or 'max_drop', not both; got "
                f"threshold={threshold!r}, max_drop={max_drop!r}.")
        if threshold is None and max_drop is None:
            threshold = r["threshold"]
        if isinstance(layers, str):
            layers = [layers]
        return cls(
            dataset=dataset, method=_method_id(method, func),
            threshold=check_float(threshold, "threshold", func, -1.0, 1.0,
                                  allow_none=True),
            rule=rule,
            max_drop=check_float(max_drop, "max_drop", func, 0.0, 1.0,
                                 allow_none=True),
            ratios=tuple(check_increasing_fractions(
                _default_ratios() if ratios is None else ratios, "ratios",
                func)),
            layers=None if layers is None else tuple(_layer_names(layers,
                                                                  func)),
            epochs=check_int(r["epochs"] if epochs is None else epochs,
                             "epochs", func, min_value=0) if train else None,
            retrain_epochs=check_int(
                r["retrain_epochs"] if retrain_epochs is None
                else retrain_epochs, "retrain_epochs", func, min_value=0),
            retrain_learning_rate=check_float(
                r["retrain_lr"] if retrain_learning_rate is None
                else retrain_learning_rate, "retrain_learning_rate", func,
                min_value=0.0, min_inclusive=False),
            batch_size=check_int(batch_size, "batch_size", func, min_value=1),
            eval_split=eval_split,
            seed=check_int(seed, "seed", func, min_value=0))


def _default_ratios():
    from ..sensitivity import default_ratios
    return default_ratios()


def _method_id(method, func):
    crit = get_criterion(method, func)
    return crit.name if isinstance(method, str) else fingerprint(crit.fn)


def _layer_names(layers, func):
    out = []
    for name in layers:
        name = getattr(name, "name", name)
        if not isinstance(name, str):
            raise TypeError(f"{func}(): 'layers' must be layer names; got "
                            f"{type(name).__name__}.")
        out.append(name)
    return out


# --------------------------------------------------------------------------
# the steps

@dataclasses.dataclass
class _Flow:
    """What the steps share: the configuration, the checked data, the
    criterion, the run folder and the run-time options."""

    cfg: FlowConfig
    method: Any
    splits: tuple
    rd: RunDir | None
    strategy: Any
    progress: bool

    @property
    def eval_data(self):
        return self.splits[1] if self.cfg.eval_split == "val" else \
            self.splits[2]


def _flow_data(data, cfg, func):
    """The three splits as checked ``(x, y)`` arrays."""
    splits = load_flow_data(cfg.dataset, cfg.seed) if data is None else data
    if not isinstance(splits, (tuple, list)) or len(splits) != 3:
        raise InvalidParameterError(
            f"{func}(): 'data' must be (train, val, test) of (x, y) pairs.")
    out = []
    for name, split in zip(("train", "val", "test"), splits):
        split = check_dataset(split, f"data {name}", func)
        if not isinstance(split, tuple):
            raise InvalidParameterError(
                f"{func}(): 'data' {name} must be (x, y) arrays, not a "
                "tf.data.Dataset.")
        out.append(split)
    return tuple(out)


def _load_model(model, func):
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.is_file():
            raise InvalidParameterError(
                f"{func}(): model file {str(p)!r} does not exist.")
        from .retrain import TimeDecay  # noqa: F401  (registers it)
        try:
            model = keras.models.load_model(p)
        except Exception as e:  # noqa: BLE001 - any failure: unreadable
            raise InvalidParameterError(
                f"{func}(): cannot load model file {str(p)!r} "
                f"({type(e).__name__}: {e}); pass a file saved with "
                "model.save() from tp.keras (tf_keras).") from e
    check_model(model, "model", func)
    return model


def _start_model(model, fl: _Flow, func):
    """The model the flow starts from (the given one, or the dataset's
    untrained default), with the data and the layers checked against it."""
    if model is None:
        from ..models import vgg16
        from ..models.digits import digits_cnn
        train = fl.splits[0]
        shape = tuple(np.shape(train[0])[1:])
        classes = int(np.max(train[1])) + 1 if np.ndim(train[1]) == 1 \
            else int(np.shape(train[1])[-1])
        seed = fl.cfg.seed
        model = (digits_cnn(seed=seed, input_shape=shape, classes=classes)
                 if fl.cfg.dataset == "digits" else
                 vgg16(input_shape=shape, classes=classes, seed=seed))
    else:
        model = _load_model(model, func)
    for name, split in zip(("train", "val", "test"), fl.splits):
        check_dataset(split, f"data {name}", func, model=model)
    prunable_units(model, fl.cfg.layers, func=func)
    return model


def _train(model, fl: _Flow, given: bool, func):
    if given:
        return model
    rd = fl.rd
    if rd is not None and rd.has("train"):
        return _load_model(rd.verify(rd.unit("train"), "model.keras"), func)
    model = train_model(model, fl.splits[0], fl.splits[1], fl.cfg.dataset,
                        epochs=fl.cfg.epochs, seed=fl.cfg.seed,
                        strategy=fl.strategy, progress=fl.progress)
    if rd is not None:
        atomic_save_model(rd.file("model.keras"), model)
        rd.commit("train", files=["model.keras"])
    return model


def _sweep(model, fl: _Flow):
    from .. import sensitivity
    ex, ey = fl.eval_data
    return sensitivity.analyze(
        model, ex, ey, layers=fl.cfg.layers, ratios=fl.cfg.ratios,
        method=fl.method, batch_size=fl.cfg.batch_size,
        run_dir=fl.rd.file("sensitivity") if fl.rd is not None else None,
        progress=fl.progress)


def _prune(model, table, fl: _Flow):
    """``(plan, channels, plan table, pruned model)``; data criteria rank
    on the sweep's evaluation inputs, as the sweep did."""
    from .. import sensitivity
    cfg = fl.cfg
    plan = sensitivity.plan(table, cfg.threshold, cfg.rule,
                            max_drop=cfg.max_drop)
    channels = plan_channels(model, plan, fl.method, x=fl.eval_data[0],
                             batch_size=cfg.batch_size)
    return (plan, channels, plan_table(model, plan, channels),
            apply_channels(model, channels))


def _retrain(model, pruned, fl: _Flow, func):
    rd = fl.rd
    if rd is not None and rd.has("retrain"):
        return _load_model(rd.verify(rd.unit("retrain"),
                                     "pruned_model.keras"), func)
    train, cfg = fl.splits[0], fl.cfg
    loss = compile_args(model).get("loss") or (
        "sparse_categorical_crossentropy" if np.ndim(train[1]) == 1
        else "categorical_crossentropy")
    retrained = retrain(
        pruned, train, epochs=cfg.retrain_epochs,
        batch_size=cfg.recipe["retrain_batch_size"],
        learning_rate=cfg.retrain_learning_rate,
        augment=cfg.recipe["augment"], loss=loss, metrics=["accuracy"],
        strategy=fl.strategy, seed=cfg.seed,
        callbacks=([_EpochBar(cfg.retrain_epochs, "retrain")]
                   if fl.progress and cfg.retrain_epochs else None))
    if rd is not None:
        atomic_save_model(rd.file("pruned_model.keras"), retrained)
        rd.commit("retrain", files=["pruned_model.keras"])
    return retrained


def _report(models: dict, test):
    """``(report, compare)`` for the stages ``original, pruned,
    retrained``."""
    from .. import report as _report
    accs = {k: _accuracy(m, test) for k, m in models.items()}
    p0 = _report.count_params(models["original"])
    f0 = _report.count_flops(models["original"])
    rows = []
    for stage, m in models.items():
        p, f = _report.count_params(m), _report.count_flops(m)
        rows.append([stage, accs[stage],
                     100.0 * (accs["original"] - accs[stage]), p, f,
                     100.0 * (1 - p / p0), 100.0 * (1 - f / f0)])
    rep = pd.DataFrame(rows, columns=["stage", "accuracy", "acc_drop_pts",
                                      "params", "flops",
                                      "params_reduction_pct",
                                      "flops_reduction_pct"])
    return rep, _report.compare(models["original"], models["retrained"])


def _config_dict(cfg: FlowConfig, method) -> dict:
    return {"dataset": cfg.dataset, "method": get_criterion(method).name,
            "rule": cfg.rule, "threshold": cfg.threshold,
            "max_drop": cfg.max_drop, "threshold_text": cfg.threshold_text,
            "eval_split": cfg.eval_split,
            "retrain_epochs": cfg.retrain_epochs,
            "retrain_learning_rate": cfg.retrain_learning_rate,
            "seed": cfg.seed}


def _write(rd: RunDir, res: FlowResult, plots: bool, image, method) -> dict:
    files = {}
    if rd.has("train"):
        files["model"] = rd.file("model.keras")
    for name, frame in (("sensitivity", res.sensitivity),
                        ("plan", res.plan_table), ("report", res.report),
                        ("compare", res.compare)):
        files[name] = atomic_write_csv(rd.file(f"{name}.csv"), frame)
    files["pruned_model"] = rd.file("pruned_model.keras")
    atomic_write_json(rd.file("config.json"), res.config)
    if plots:
        for name, fig in _figures(res, image, method):
            files[f"{name}_figure"] = save_figure(fig,
                                                  rd.file(f"{name}.png"))
    return files


def _figures(res: FlowResult, image, method):
    from ..plots import filters as fp
    c = res.config
    thr = c["threshold"] if c["threshold"] is not None else -c["max_drop"]
    yield "sensitivity", fp.sensitivity_curves(res.sensitivity, threshold=thr)
    yield "filters", fp.pruned_filter_bars(res.plan_table)
    convs = [layer.name for layer in res.original.layers
             if isinstance(layer, keras.layers.Conv2D)]
    if convs:
        layer = convs[1] if len(convs) > 1 else convs[0]
        # the figures rank from the kernel: a data criterion shows D-Score
        crit = get_criterion(method)
        if crit.kind == "data" or crit.name == "l1":
            method = "dscore"
        yield "feature_maps", fp.filter_feature_maps(
            res.original, layer, image, ratio=0.2,
            methods=(method, "l1"))
        yield "sign_fractions", fp.filter_sign_fractions(
            res.original, layer, ratio=0.2)


@renamed(out="run_dir", retrain_lr="retrain_learning_rate")
def run_flow(run_dir=None, *, dataset="digits", model=None, data=None,
             method="dscore", threshold=None, rule="first_crossing",
             max_drop=None, ratios=None, layers=None, epochs=None,
             retrain_epochs=None, retrain_learning_rate=None, batch_size=256,
             eval_split="val", seed=0, strategy=None, progress=True,
             plots=True) -> FlowResult:
    """Train (or load) a model, then sensitivity -> plan -> prune -> retrain.

    Parameters, data, and data against the model are checked before any
    training. With ``run_dir`` the tables (CSV), figures (PNG) and the final
    model (``pruned_model.keras``) are written there; the trained model
    (``model.keras``), the sweep (``sensitivity/``, one record per layer)
    and the retrained model are committed as they finish. A rerun resumes
    after the last finished stage; one with other arguments, model or data
    is refused, naming the difference.

    Args:
        run_dir: the run folder, or ``None`` to write nothing (formerly
            ``out``, deprecated).
        dataset: ``"digits"`` (default; a VGG-style CNN, minutes on a CPU) or
            ``"cifar10"`` (VGG-16, the paper's setting; downloads CIFAR-10).
        model: ``None`` (build and train the dataset's default model), a
            trained tf_keras model, or a path to a saved one.
        data: ``(train, val, test)`` of ``(x, y)`` arrays instead of
            ``dataset``'s loader.
        method: filter criterion (``tp.filters.criterion_names()``); the data
            criteria (``apoz``, ``mean_activation``) rank on the sweep's
            evaluation split.
        threshold: accuracy threshold for ``tp.sensitivity.plan``: absolute
            (``0.9``) or a relative drop (``-0.01``); default the recipe's
            (0.9).
        rule: ``"first_crossing"`` (the paper's) or ``"max_above"``.
        max_drop: instead of ``threshold``, allowed drop below the unpruned
            accuracy.
        ratios: sensitivity ratios (default 0.05 ... 0.95).
        layers: layers to sweep and prune (default every prunable
            Conv/Dense layer but the output one).
        epochs, retrain_epochs, retrain_learning_rate: (re)training settings
            (recipe default; ``retrain_learning_rate`` was ``retrain_lr``).
        batch_size: evaluation batch size of the sweep.
        eval_split: ``"val"`` (held out, default) or ``"test"`` (the paper's
            choice, for reproduction) for the sensitivity sweep.
        seed: seeds data split, initialisation, training and retraining.
        strategy: a ``tf.distribute.Strategy`` for training and retraining.
        progress: tqdm progress bars.
        plots: write the PNG figures.

    Returns:
        :class:`FlowResult`.

    Raises:
        ValueError: bad parameters, data that does not fit the model (e.g.
            more classes than outputs), a folder holding another run
            (``ResumeMismatchError``) or a damaged one (``RunStateError``).
    """
    func = "run_flow"
    cfg = FlowConfig.create(
        dataset=dataset, method=method, threshold=threshold, rule=rule,
        max_drop=max_drop, ratios=ratios, layers=layers, epochs=epochs,
        retrain_epochs=retrain_epochs,
        retrain_learning_rate=retrain_learning_rate, batch_size=batch_size,
        eval_split=eval_split, seed=seed, train=model is None)
    fl = _Flow(cfg, method, _flow_data(data, cfg, func), None, strategy,
               progress)
    start = _start_model(model, fl, func)
    if run_dir is not None:
        fl.rd = cfg.open(run_dir, func, model=fingerprint(start),
                         data=fingerprint([a for s in fl.splits for a in s]))
    trained = _train(start, fl, model is not None, func)
    table = _sweep(trained, fl)
    plan, _, ptable, pruned = _prune(trained, table, fl)
    models = {"original": trained, "pruned": pruned,
              "retrained": _retrain(trained, pruned, fl, func)}
    res = FlowResult(*models.values(), table, plan, ptable,
                     *_report(models, fl.splits[2]), {},
                     _config_dict(cfg, method))
    if fl.rd is not None:
        res = dataclasses.replace(res, files=_write(
            fl.rd, res, plots, fl.splits[2][0][0], method))
    return res
