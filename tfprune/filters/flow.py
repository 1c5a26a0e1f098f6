"""The whole D-Score flow in one call: train (or load) -> sensitivity ->
plan -> one-shot prune -> retrain -> report, writing tables, figures and the
pruned model to a folder (what ``tfprune filters`` and the demo run)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import (atomic_save_model, atomic_write_csv, atomic_write_json,
                   ensure_dir)
from .._runstate import RunDir
from .._keras import check_model, keras
from .._validate import check_choice, check_float, check_int
from ..errors import InvalidParameterError
from ..utils import set_seed

__all__ = ["FlowResult", "run_flow", "train_model", "load_flow_data",
           "plan_table", "RECIPES"]

#: Training and retraining settings per dataset. ``cifar10`` is the paper's
#: (dscore.md §8-9); ``digits`` is sized for a CPU minute (its 20 batches per
#: epoch need a larger retraining LR than CIFAR's 700).
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
    CIFAR-10 standardised with one scalar mean and std of the training pixels
    (dscore.md §8)."""
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


def train_model(model, train, val=None, recipe="digits", epochs=None,
                batch_size=None, lr=None, seed=0, strategy=None,
                progress=True) -> keras.Model:
    """Train a copy of ``model`` for classification with a recipe.

    ``"digits"``: Adam. ``"cifar10"``: SGD, momentum 0.9, Nesterov, lr 0.01
    multiplied by 0.9 every 20 epochs, batch 64, the D-Score augmentation.
    Loss: sparse categorical cross-entropy (one-hot labels: categorical),
    metric accuracy. The input model is not changed.

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
    lr = check_float(r["lr"] if lr is None else lr, "lr", func,
                     min_value=0.0, min_inclusive=False)
    x, y = train
    if seed is not None:
        set_seed(seed)
    loss = ("sparse_categorical_crossentropy" if np.ndim(y) == 1 else
            "categorical_crossentropy")
    steps = int(np.ceil(len(x) / batch_size))
    from contextlib import nullcontext
    with (strategy.scope() if strategy is not None else nullcontext()):
        new = keras.models.clone_model(model)
        new.set_weights(model.get_weights())
        if r["optimizer"] == "adam":
            opt = keras.optimizers.Adam(lr)
        else:
            sched = keras.optimizers.schedules.ExponentialDecay(
                lr, decay_steps=20 * steps, decay_rate=0.9, staircase=True)
            opt = keras.optimizers.SGD(sched, momentum=0.9, nesterov=True)
        new.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    cbs = [_EpochBar(epochs, "train")] if progress and epochs else []
    if r["augment"]:
        from .retrain import _as_dataset, augmenter
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
    from .criteria import filter_matrix, layer_by_name
    from .prune import plan_channels
    if channels is None:
        channels = plan_channels(model, plan, method)
    rows = []
    for name, ratio in plan.items():
        layer = layer_by_name(model, name)
        n = filter_matrix(layer).shape[1]
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
        files: name -> path of what was written (empty without ``out``).
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
            f"{c['eval_split']} split, threshold {c['threshold_text']} ({c['rule']}), "
            f"retrained {c['retrain_epochs']} epochs",
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


def _load_model(model, func):
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.exists():
            raise InvalidParameterError(
                f"{func}(): model file {str(p)!r} does not exist.")
        from .retrain import TimeDecay  # noqa: F401  (registers it)
        model = keras.models.load_model(p)
    check_model(model, "model", func)
    return model


def run_flow(out=None, *, dataset="digits", model=None, data=None,
             method="dscore", threshold=None, rule="first_crossing",
             max_drop=None, ratios=None, layers=None, epochs=None,
             retrain_epochs=None,
             retrain_lr=None, batch_size=256, eval_split="val", seed=0,
             strategy=None, progress=True, plots=True) -> FlowResult:
    """Train (or load) a model, then sensitivity -> plan -> prune -> retrain.

    With ``out`` every table (CSV), figure (PNG) and the final model
    (``pruned_model.keras``) is written there; the trained base model
    (``model.keras``) and the sensitivity sweep (``sensitivity_ckpt/``) are
    checkpoints, so a rerun with the same settings skips them.

    Args:
        out: output folder, or ``None`` to write nothing.
        dataset: ``"digits"`` (default; a VGG-style CNN, minutes on a CPU) or
            ``"cifar10"`` (VGG-16, the paper's setting; downloads CIFAR-10).
        model: ``None`` (build and train the dataset's default model), a
            trained tf_keras model, or a path to a saved one.
        data: ``(train, val, test)`` of ``(x, y)`` arrays instead of
            ``dataset``'s loader.
        method: filter criterion (``tp.filters.criterion_names()``).
        threshold: accuracy threshold for ``tp.sensitivity.plan``: absolute
            (``0.9``) or a relative drop (``-0.01``); default the recipe's
            (0.9).
        rule: ``"first_crossing"`` (the paper's) or ``"max_above"``.
        max_drop: instead of ``threshold``, allowed drop below the unpruned
            accuracy.
        ratios: sensitivity ratios (default 0.05 ... 0.95).
        layers: layers to sweep and prune (default every prunable
            Conv/Dense layer but the output one).
        epochs: training epochs for a new model (recipe default).
        retrain_epochs, retrain_lr: retraining settings (recipe default).
        batch_size: evaluation batch size of the sweep.
        eval_split: ``"val"`` (held out, default) or ``"test"`` (the paper's
            choice, for reproduction) for the sensitivity sweep.
        seed: seeds data split, initialisation, training and retraining.
        strategy: a ``tf.distribute.Strategy`` for training and retraining.
        progress: tqdm progress bars.
        plots: write the PNG figures.

    Returns:
        :class:`FlowResult`.
    """
    func = "run_flow"
    check_choice(dataset, tuple(RECIPES), "dataset", func)
    check_choice(eval_split, ("val", "test"), "eval_split", func)
    seed = check_int(seed, "seed", func, min_value=0)
    recipe = RECIPES[dataset]
    if threshold is None and max_drop is None:
        threshold = recipe["threshold"]
    retrain_epochs = check_int(recipe["retrain_epochs"] if retrain_epochs is
                               None else retrain_epochs, "retrain_epochs",
                               func, min_value=0)
    retrain_lr = check_float(recipe["retrain_lr"] if retrain_lr is None
                             else retrain_lr, "retrain_lr", func,
                             min_value=0.0, min_inclusive=False)
    out = ensure_dir(out, "out", func) if out is not None else None
    splits = load_flow_data(dataset, seed) if data is None else data
    if len(splits) != 3:
        raise InvalidParameterError(
            f"{func}(): 'data' must be (train, val, test) of (x, y) pairs.")
    train, val, test = splits
    files = {}

    if model is None:
        from ..models.digits import digits_cnn
        from ..models import vgg16
        path = out / "model.keras" if out is not None else None
        run = None
        if out is not None:
            run = RunDir(out / "checkpoint", {
                "dataset": dataset, "seed": seed, "epochs": epochs,
                "n_train": len(train[0]),
                "data": float(np.asarray(train[0], np.float64).sum())},
                "filters-flow", func)
        if path is not None and "trained" in run.done() and path.exists():
            model = _load_model(path, func)
        else:
            shape = tuple(np.shape(train[0])[1:])
            classes = int(np.max(train[1])) + 1 if np.ndim(train[1]) == 1 \
                else int(np.shape(train[1])[-1])
            base = (digits_cnn(seed=seed, input_shape=shape, classes=classes)
                    if dataset == "digits" else
                    vgg16(input_shape=shape, classes=classes, seed=seed))
            model = train_model(base, train, val, dataset, epochs=epochs,
                                seed=seed, strategy=strategy,
                                progress=progress)
            if path is not None:
                atomic_save_model(path, model)
                run.mark_done("trained")
        if path is not None:
            files["model"] = path
    else:
        model = _load_model(model, func)
    from .. import report as _report
    from .. import sensitivity as _sens
    from .prune import plan_channels, prune
    from .retrain import compile_args, retrain

    ex, ey = val if eval_split == "val" else test
    table = _sens.analyze(
        model, ex, ey, layers=layers, ratios=ratios, method=method,
        batch_size=batch_size,
        checkpoint=(out / "sensitivity_ckpt") if out is not None else None,
        progress=progress)
    plan = _sens.plan(table, threshold, rule, max_drop=max_drop)
    channels = plan_channels(model, plan, method)
    ptable = plan_table(model, plan, channels)
    pruned = prune(model, plan, method)
    loss, _ = compile_args(model)
    if loss is None:
        loss = ("sparse_categorical_crossentropy" if np.ndim(train[1]) == 1
                else "categorical_crossentropy")
    retrained = retrain(pruned, train, epochs=retrain_epochs,
                        batch_size=recipe["retrain_batch_size"], lr=retrain_lr,
                        augment=recipe["augment"], loss=loss,
                        metrics=["accuracy"], strategy=strategy, seed=seed,
                        callbacks=([_EpochBar(retrain_epochs, "retrain")]
                                   if progress and retrain_epochs else None))

    accs = {"original": _accuracy(model, test),
            "pruned": _accuracy(pruned, test),
            "retrained": _accuracy(retrained, test)}
    cmp = _report.compare(model, retrained)
    p0 = _report.count_params(model)
    f0 = _report.count_flops(model)
    rows = []
    for stage, m in (("original", model), ("pruned", pruned),
                     ("retrained", retrained)):
        p, f = _report.count_params(m), _report.count_flops(m)
        rows.append([stage, accs[stage],
                     100.0 * (accs["original"] - accs[stage]), p, f,
                     100.0 * (1 - p / p0), 100.0 * (1 - f / f0)])
    rep = pd.DataFrame(rows, columns=["stage", "accuracy", "acc_drop_pts",
                                      "params", "flops",
                                      "params_reduction_pct",
                                      "flops_reduction_pct"])
    thr_text = (f"max_drop {max_drop:g}" if max_drop is not None else
                f"{threshold:g}" + (" (relative)" if threshold < 0 else ""))
    config = {"dataset": dataset, "method": _method_name(method),
              "rule": rule,
              "threshold": threshold, "max_drop": max_drop,
              "threshold_text": thr_text, "eval_split": eval_split,
              "retrain_epochs": retrain_epochs, "retrain_lr": retrain_lr,
              "seed": seed}
    if out is not None:
        files["sensitivity"] = atomic_write_csv(out / "sensitivity.csv",
                                                table)
        files["plan"] = atomic_write_csv(out / "plan.csv", ptable)
        files["report"] = atomic_write_csv(out / "report.csv", rep)
        files["compare"] = atomic_write_csv(out / "compare.csv", cmp)
        files["pruned_model"] = atomic_save_model(
            out / "pruned_model.keras", retrained)
        atomic_write_json(out / "config.json", config)
        if plots:
            files.update(_write_plots(out, model, table, ptable, threshold,
                                      max_drop, method, test))
    return FlowResult(model, pruned, retrained, table, plan, ptable, rep,
                      cmp, files, config)


def _method_name(method):
    """The registry name of a criterion (or a callable's name)."""
    from .criteria import get_criterion
    return get_criterion(method).name


def _write_plots(out, model, table, ptable, threshold, max_drop, method,
                 test):
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from ..plots import filters as fp
    files = {}

    def save(fig, name):
        path = out / name
        tmp = path.with_name(f".{name}.tmp.png")
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        tmp.replace(path)
        files[name[:-4]] = path

    thr = threshold if threshold is not None else -max_drop
    save(fp.sensitivity_curves(table, threshold=thr), "sensitivity.png")
    save(fp.pruned_filter_bars(ptable), "filters.png")
    convs = [l.name for l in model.layers
             if isinstance(l, keras.layers.Conv2D)]
    if convs:
        layer = convs[1] if len(convs) > 1 else convs[0]
        x, y = test
        save(fp.filter_feature_maps(model, layer, x[0], ratio=0.2,
                                    methods=(_method_name(method), "l1")
                                    if _method_name(method) != "l1"
                                    else ("dscore", "l1")),
             "feature_maps.png")
        save(fp.filter_sign_fractions(model, layer, ratio=0.2),
             "sign_fractions.png")
    return files

