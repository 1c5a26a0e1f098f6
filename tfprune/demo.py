"""``tfprune demo``: a small version of every flow on embedded data.

Four flows, each writing its tables (CSV) and figures (PNG) into its own
sub-folder of the output folder, and one ``summary.md`` linking them:

1. ``moth``: simulate flights -> train the controller -> sequential pruning
   -> the sparsest network under the loss threshold.
2. ``montecarlo``: a few controllers trained and pruned at once.
3. ``filters``: a digits CNN -> D-Score sensitivity -> parallel pruning ->
   retraining, with the before/after FLOP table.

The moth and filters flows end by exporting their final network to TFLite
and measuring it next to the unpruned one (``tp.export.deploy_table``):
parameters, FLOPs, file size, gzip size and latency.
4. ``strategies``: penguins, unpruned vs one-shot vs lottery ticket vs
   dynamic pruning over a few seeds.
5. ``criteria``: which filter criterion loses least on the digits CNN: three
   criteria, two seeds, one FLOP target, with the paired comparison against
   L1.

Sizes are chosen to finish in minutes on a 2-core CPU; every function here
is a thin caller of the public API, so each flow is also a recipe.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from ._io import atomic_write_csv, atomic_write_text, ensure_dir, save_figure
from ._validate import check_int
from .errors import InvalidParameterError

__all__ = ["run_demo", "FLOWS"]


def _save_fig(fig, path):
    import matplotlib.pyplot as plt
    save_figure(fig, path)
    plt.close(fig)
    return path


def _deploy(model, reference, path, out, sparse=False) -> tuple[Path, str]:
    """Export ``model`` to TFLite, measure it next to ``reference`` and
    write ``deploy.csv``; returns the table's path and a summary line."""
    import tfprune as tp
    table = tp.export.deploy_table(model, path, reference=reference,
                                   sparse=sparse, repeats=20)
    csv = atomic_write_csv(out / "deploy.csv", table)
    rows = table.set_index("artifact")
    ref, lite = rows.loc["reference"], rows.loc["tflite"]
    line = (f"deployed as TFLite ({'sparse' if sparse else 'float'}): "
            f"gzip size {ref['gzip_bytes'] / 1e3:,.0f} kB -> "
            f"{lite['gzip_bytes'] / 1e3:,.0f} kB "
            f"({ref['gzip_bytes'] / lite['gzip_bytes']:.1f}x smaller), batch-1"
            f" latency {ref['latency_ms_median']:.3g} ms (Keras, unpruned) -> "
            f"{lite['latency_ms_median']:.3g} ms (TFLite, pruned)")
    return csv, line


def demo_moth(out: Path, seed: int = 0, progress: bool = True,
              n: int = 20_000, hidden=(100, 100, 100, 8),
              levels=(0.0, 0.5, 0.75, 0.85, 0.9, 0.93, 0.95),
              max_epochs: int = 20, threshold: float | None = None) -> dict:
    """Moth data -> controller -> sequential pruning -> sparsest network.

    The study's threshold (val MSE 1e-3 in scaled units) needs ~10^5 flights
    and the full-width controller (``benchmarks/moth_sparsity.py``); at the
    demo's size the default threshold is 25 % above the dense network's
    validation loss, and the summary says which threshold was used. The
    output layer is pruned at half the level, as in the moth pipeline
    (``docs/sections/moth_study.md``).
    """
    import tfprune as tp
    ds = tp.data.moth.make_dataset(n, seed=seed)
    model = tp.models.moth_controller(hidden=tuple(hidden), seed=seed)
    model.compile(optimizer=tp.keras.optimizers.Adam(1e-3), loss="mse")
    res = tp.sparsity.sequential_prune(
        model, ds.train, ds.val, list(levels), max_epochs=max_epochs,
        patience=3, batch_size=64, run_dir=out / "run", seed=seed,
        output_rate=0.5, progress=progress)
    hist = res.history
    atomic_write_csv(out / "history.csv", hist)
    dense = hist.iloc[0]
    if threshold is None:
        threshold = max(1e-3, 1.25 * float(dense["val_loss"]))
        how = "25 % above the dense validation MSE"
    else:
        how = "given"
    best = tp.sparsity.find_sparsest(hist, threshold=threshold,
                                     column="val_loss")
    fig = _save_fig(tp.plots.plot_loss_vs_sparsity(
        hist, threshold=threshold, columns=("train_loss", "val_loss")),
        out / "loss_vs_sparsity.png")
    f2 = _save_fig(tp.plots.plot_trajectories(
        tp.data.moth.simulate(6, seed=seed)), out / "trajectories.png")
    if best is None:
        verdict = f"no pruned level stayed under val MSE {threshold:.2e}"
    else:
        i = int(best.name) if best.name is not None else -1
        sparsest = res.model_at(i)
        tp.report.layer_table(sparsest).pipe(
            lambda t: atomic_write_csv(out / "sparsest_layers.csv", t))
        verdict = (f"sparsest level under val MSE {threshold:.2e} ({how}): "
                   f"**{100 * float(best['achieved']):.1f} % of the weights "
                   f"pruned** (val MSE {float(best['val_loss']):.2e})")
        deploy_csv, deploy_line = _deploy(
            sparsest, res.model_at(0), out / "controller.tflite", out,
            sparse=True)
    return {
        "title": "Moth controller: sequential pruning",
        "lines": [
            f"{len(ds.train[0]):,} / {len(ds.val[0]):,} / {len(ds.test[0]):,} "
            "simulated flights (train / val / test), controller "
            f"10-{'-'.join(map(str, hidden))}-7, levels "
            f"{', '.join(f'{100 * s:g} %' for s in levels[1:])}",
            f"dense val MSE {float(dense['val_loss']):.2e} (scaled units)",
            verdict] + ([deploy_line] if best is not None else []),
        "tables": [out / "history.csv"] + (
            [out / "sparsest_layers.csv", deploy_csv]
            if best is not None else []),
        "figures": [fig, f2],
    }


def demo_montecarlo(out: Path, seed: int = 0, progress: bool = True,
                    networks: int = 6, n: int = 20_000,
                    hidden=(50, 50, 50, 8),
                    sparsities=(0.5, 0.75, 0.85, 0.9, 0.93, 0.95),
                    max_batches: int = 1000, dense_max_batches: int = 4000,
                    threshold: float | None = None) -> dict:
    """A few moth controllers trained and pruned at once.

    As in :func:`demo_moth`, the default threshold is 25 % above the median
    dense training loss, since the study's 1e-3 needs far more data.
    """
    import tfprune as tp
    ds = tp.data.moth.make_dataset(n, seed=seed)
    res = tp.ensemble.monte_carlo(
        ds, n_networks=networks, hidden=tuple(hidden),
        sparsities=tuple(sparsities), max_batches=max_batches,
        dense_max_batches=dense_max_batches, seed=seed,
        run_dir=out / "run", progress=progress,
        **({} if threshold is None else {"threshold": threshold}))
    hist = res.history
    dense = float(hist.loc[hist["level"] == 0, "train_loss"].median())
    if threshold is None:
        threshold = max(1e-3, 1.25 * dense)
    files = tp.ensemble.save_report(res, out, threshold=threshold)
    best = tp.ensemble.sparsest(res, threshold=threshold)
    ok = best[best["passed"]]
    figs = sorted(p for p in files.values() if str(p).endswith(".png"))
    figs.sort(key=lambda p: "histogram" not in str(p))
    tables = sorted(p for p in files.values() if str(p).endswith(".csv"))
    if len(ok):
        verdict = (f"{len(ok)} of {networks} networks stay under train MSE "
                   f"{threshold:.2e}; median sparsest level "
                   f"**{100 * float(ok['sparsity'].median()):g} % pruned** "
                   f"(range {100 * float(ok['sparsity'].min()):g}–"
                   f"{100 * float(ok['sparsity'].max()):g} %)")
    else:
        verdict = f"no network stayed under train MSE {threshold:.2e}"
    return {"title": "Monte Carlo over many controllers",
            "lines": [f"{networks} networks 10-{'-'.join(map(str, hidden))}"
                      "-7 trained and pruned as one graph on the same "
                      f"minibatches; median dense train MSE {dense:.2e}",
                      verdict],
            "tables": tables, "figures": figs}


def demo_strategies(out: Path, seed: int = 0, progress: bool = True,
                    seeds: int = 3, epochs: int = 400,
                    learning_rate: float = 3e-3,
                    log_every: int = 20) -> dict:
    """Penguins: the four strategies side by side over a few seeds.

    The class project's protocol is Adam 1e-4 for 4000 epochs
    (``tfprune strategies``); the demo trains 400 epochs at a larger rate.
    """
    import tfprune as tp
    data = tp.data.load_penguins(seed=seed)

    def compile_fn(model):
        model.compile(tp.keras.optimizers.Adam(learning_rate),
                      tp.keras.losses.CategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    table = tp.sparsity.compare_strategies(
        lambda s: tp.models.penguin_mlp(seed=s), data,
        seeds=range(seed, seed + seeds), epochs=epochs, compile_fn=compile_fn,
        log_every=log_every, run_dir=out / "run", progress=progress).summary
    atomic_write_csv(out / "strategies.csv", table)
    fig = _save_fig(tp.plots.plot_strategy_summary(table),
                    out / "strategies.png")
    lines = [f"{seeds} seeds x {epochs} epochs (Adam {learning_rate:g}), the same "
             "initial weights for every strategy within a seed; mean ± std "
             "over seeds on the 33 test penguins"]
    for _, row in table.iterrows():
        lines.append(_strategy_line(row))
    return {"title": "Penguins: pruning strategies side by side",
            "lines": lines, "tables": [out / "strategies.csv"],
            "figures": [fig]}


def _strategy_line(row) -> str:
    parts = [str(row.get("strategy", row.name))]
    for key in ("test_loss", "test_accuracy"):
        m, s = row.get(f"{key}_mean"), row.get(f"{key}_std")
        if m is not None:
            parts.append(f"{key} {float(m):.3f} ± {float(s):.3f}")
    if row.get("sparsity_mean") is not None:
        parts.append(f"sparsity {100 * float(row['sparsity_mean']):.1f} %")
    return ", ".join(parts)


def demo_filters(out: Path, seed: int = 0, progress: bool = True) -> dict:
    """Digits CNN: sensitivity -> parallel pruning -> retraining -> FLOPs."""
    import tfprune as tp
    res = tp.filters.run_flow(out, dataset="digits", seed=seed,
                              progress=progress)
    summary = res.summary()
    deploy_csv, deploy_line = _deploy(res.retrained, res.original,
                                      out / "cnn.tflite", out)
    summary["lines"] = list(summary["lines"]) + [deploy_line]
    summary["tables"] = list(summary["tables"]) + [deploy_csv]
    rep = res.report[["stage", "accuracy", "params", "flops",
                      "params_reduction_pct", "flops_reduction_pct"]]
    summary["console"] = (
        "Digits CNN before and after D-Score filter pruning (FLOPs: 2 per "
        "multiply-add plus bias adds, batch 1):\n"
        + rep.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return summary


def demo_criteria(out: Path, seed: int = 0, progress: bool = True,
                  methods=("dscore", "l1", "random"), seeds: int = 2,
                  flops_reduction: float = 0.5, train_epochs: int = 8,
                  retrain_epochs: int = 3) -> dict:
    """Digits CNN: the same filter counts per layer removed by each
    criterion (matched mode), over seeds, before and after retraining."""
    import tfprune as tp
    data = tp.data.load_digits(seed=seed, flatten=False)
    res = tp.filters.compare_criteria(
        tp.models.digits_cnn, data, methods=list(methods),
        seeds=range(seed, seed + seeds), flops_reduction=[flops_reduction],
        train_epochs=train_epochs, retrain_epochs=retrain_epochs,
        run_dir=out / "run", progress=progress)
    runs = atomic_write_csv(out / "runs.csv", res.runs)
    summary = atomic_write_csv(out / "summary.csv", res.summary)
    fig = _save_fig(tp.plots.criteria_accuracy(res), out / "criteria.png")
    lines = [f"{len(methods)} criteria x {seeds} seeds, {train_epochs} "
             f"training and {retrain_epochs} retraining epochs; every "
             "criterion removes the same number of filters per layer"]
    return {"title": "Which filter criterion? (digits CNN)",
            "lines": lines + res.statements(), "tables": [runs, summary],
            "figures": [fig], "console": res.render()}


FLOWS = {"moth": demo_moth, "montecarlo": demo_montecarlo,
         "filters": demo_filters, "strategies": demo_strategies,
         "criteria": demo_criteria}


def run_demo(out="tfprune-demo", flows=None, seed: int = 0, docs_dir=None,
             progress: bool = True) -> dict:
    """Run the demo flows and write ``summary.md``.

    Args:
        out: output folder (created; must be writable).
        flows: subset of ``FLOWS`` names (default: all of them).
        seed: base seed; the same seed gives the same tables.
        docs_dir: if given, copy the first figure of each flow there as
            ``<flow>.png`` (the README's figures).
        progress: tqdm progress bars.

    Returns:
        dict with ``out``, ``summary`` (path), ``seconds`` and per-flow
        results.
    """
    from .utils import ensure_device
    seed = check_int(seed, "seed", "run_demo", min_value=0)
    flows = list(FLOWS) if flows is None else list(flows)
    unknown = [f for f in flows if f not in FLOWS]
    if unknown:
        raise InvalidParameterError(
            f"run_demo(): unknown flow(s) {unknown}; choose from "
            f"{', '.join(FLOWS)}.")
    out = ensure_dir(out, "out", "run_demo")
    device = ensure_device()
    t0 = time.time()
    results = {}
    for name in flows:
        sub = ensure_dir(out / name, "out", "run_demo")
        t = time.time()
        if progress:
            print(f"\n== {name}", flush=True)
        results[name] = FLOWS[name](sub, seed=seed, progress=progress)
        results[name]["seconds"] = time.time() - t
    seconds = time.time() - t0
    summary = _summary(out, results, seconds, device)
    for r in results.values():
        if r.get("console"):
            print("\n" + r["console"])
    if docs_dir is not None:
        docs = ensure_dir(docs_dir, "docs_dir", "run_demo")
        for name, r in results.items():
            if r.get("figures"):
                shutil.copyfile(r["figures"][0], docs / f"{name}.png")
    return {"out": str(out), "summary": str(summary), "seconds": seconds,
            "flows": results}


def _summary(out: Path, results: dict, seconds: float, device: str) -> Path:
    import tfprune as tp
    lines = ["# tfprune demo", "",
             f"tfprune {tp.__version__}, TensorFlow {tp._keras.tf.__version__}"
             f", device {device}, {seconds:.0f} s in all.", ""]
    for name, r in results.items():
        lines += [f"## {r['title']}", "",
                  f"({r['seconds']:.0f} s, folder `{name}/`)", ""]
        lines += [f"- {line}" for line in r["lines"]]
        lines.append("")
        for p in r.get("tables", []):
            rel = Path(p).relative_to(out)
            lines.append(f"- table: [{rel}]({rel})")
        for p in r.get("figures", []):
            rel = Path(p).relative_to(out)
            lines.append(f"![{rel.stem}]({rel})")
        lines.append("")
    return atomic_write_text(out / "summary.md", "\n".join(lines))
