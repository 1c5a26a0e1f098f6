"""Deployment gains, measured: latency, size on disk, pruning plus int8.

Three measurements side by side in one run (issue "prove the win"):

(a) VGG-16 (CIFAR shape, random initial weights: latency does not depend
    on the values) with 50 % of every conv's filters chosen by D-Score and
    removed: measured / theoretical (FLOP) speed-up in TensorFlow at batch
    1 and 64 and in TFLite at batch 1. Goal >= 0.8.
(b) The moth controller 10-400-400-400-16-7, trained briefly on simulated
    flights, pruned to 90 % unstructured sparsity (tfmot wrappers, pruned
    at the first step, fine-tuned, stripped): gzip size of the HDF5 file
    and of the TFLite file against the dense model's. Goal >= 5x smaller.
(c) That sparse controller after pruning-preserving quantization-aware
    training, exported as an int8 TFLite file: its gzip size against the
    dense float model's (HDF5, as tfmot's guide compares; and TFLite), with
    the test MSE change. Goal >= 10x smaller.

    .venv/bin/python benchmarks/bench_deploy.py            # full (~10 min)
    .venv/bin/python benchmarks/bench_deploy.py --smoke    # quick check
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import header  # noqa: E402


def _args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15,
                        help="timed samples per model and batch (median)")
    parser.add_argument("--flights", type=int, default=20000,
                        help="simulated flights for the moth controller")
    parser.add_argument("--epochs", type=int, default=5,
                        help="dense training epochs of the controller")
    parser.add_argument("--smoke", action="store_true",
                        help="quick run: 3 repeats, batch 8 instead of 64, "
                             "2,000 flights, 1 epoch")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.flights, args.epochs = 3, 2000, 1
    args.big_batch = 8 if args.smoke else 64
    return args


def vgg_speedup(tp, args):
    """Rows of (a): measured and theoretical speed-up per runtime/batch."""
    model = tp.models.vgg16(seed=0)
    convs = [la.name for la in model.layers
             if isinstance(la, tp.keras.layers.Conv2D)]
    pruned = tp.filters.prune(model, {c: 0.5 for c in convs},
                              method="dscore")
    print(f"(a) VGG-16: {model.count_params():,} -> "
          f"{pruned.count_params():,} params, "
          f"{tp.report.count_flops(model):,} -> "
          f"{tp.report.count_flops(pruned):,} FLOPs")
    timing = {"repeats": args.repeats, "warmup": 2}
    tf_rows = tp.report.measure_speedup(model, pruned,
                                        batch_sizes=(1, args.big_batch),
                                        **timing)
    lite_rows = tp.report.measure_speedup(model, pruned, batch_sizes=1,
                                          runtime="tflite", **timing)
    rows = []
    for r in list(tf_rows.itertuples()) + list(lite_rows.itertuples()):
        rows.append((f"(a) VGG-16 D-Score 50 %, {r.runtime} batch "
                     f"{r.batch_size}",
                     f"{r.latency_ms_before:.3g} -> {r.latency_ms_after:.3g} "
                     f"ms: {r.measured_speedup:.2f}x measured / "
                     f"{r.theoretical_speedup:.2f}x theoretical",
                     r.speedup_ratio, 0.8))
    return rows


def _train_controller(tp, moth, epochs):
    model = tp.models.moth_controller(seed=0)
    model.compile(tp.keras.optimizers.Adam(1e-3), "mse")
    tp.utils.set_seed(0)
    model.fit(*moth.train, validation_data=moth.val, epochs=epochs,
              batch_size=128, verbose=0)
    return model


def _prune_controller(tp, dense, moth, epochs):
    wrapped = tp.sparsity.wrap(dense, sparsity=0.9, frequency=0)
    from tensorflow_model_optimization.python.core.sparsity.keras import (
        pruning_callbacks)
    tp.utils.set_seed(1)
    wrapped.fit(*moth.train, validation_data=moth.val, epochs=epochs,
                batch_size=128, verbose=0,
                callbacks=[pruning_callbacks.UpdatePruningStep()])
    return tp.sparsity.strip(wrapped)


def _mse(model, data):
    import numpy as np
    x, y = data
    return float(np.mean((model.predict(x, batch_size=1024, verbose=0) - y)
                         ** 2))


def moth_sizes(tp, args, folder):
    """Rows of (b) and (c)."""
    moth = tp.data.moth.make_dataset(args.flights, seed=0)
    dense = _train_controller(tp, moth, args.epochs)
    sparse = _prune_controller(tp, dense, moth, max(1, args.epochs // 2))
    zeros = tp.report.layer_table(sparse).attrs["sparsity"]
    print(f"(b) moth controller {dense.count_params():,} params; kernels "
          f"{100 * zeros:.1f} % zeros after pruning; test MSE dense "
          f"{_mse(dense, moth.test):.3g}, sparse {_mse(sparse, moth.test):.3g}")
    size = {name: tp.report.size_on_disk(m).set_index("format")["gzip_bytes"]
            for name, m in (("dense", dense), ("sparse", sparse))}
    packed = tp.export.to_tflite(sparse, os.path.join(folder, "s.tflite"),
                                 sparse=True)
    rows = []
    for fmt, label in (("keras", "HDF5"), ("tflite", "TFLite")):
        d, s = size["dense"][fmt], size["sparse"][fmt]
        rows.append((f"(b) moth 90 % sparse, gzip {label}",
                     f"{d / 1e3:.0f} kB -> {s / 1e3:.0f} kB", d / s, 5.0))
    d = size["dense"]["tflite"]
    rows.append(("(b) moth 90 % sparse, gzip TFLite sparse=True",
                 f"{d / 1e3:.0f} kB -> {packed.gzip_bytes / 1e3:.0f} kB",
                 d / packed.gzip_bytes, 5.0))
    flat = tp.export.to_tflite(dense, os.path.join(folder, "d.tflite"),
                               check=False)
    lat = tp.report.measure_models(
        {"dense": flat, "sparse": packed}, batch_sizes=(1, 64),
        repeats=args.repeats).set_index(["model", "batch_size"])
    for b in (1, 64):
        before = lat.at[("dense", b), "latency_ms_median"]
        after = lat.at[("sparse", b), "latency_ms_median"]
        rows.append((f"(b) moth 90 %, TFLite sparse=True latency batch {b}",
                     f"{before:.3g} -> {after:.3g} ms", before / after,
                     None))
    qat = tp.sparsity.quantize_aware(sparse, moth.train, moth.val, epochs=1)
    kept = tp.sparsity.kept_sparsity(sparse, qat)
    int8 = tp.export.to_tflite(qat, os.path.join(folder, "q.tflite"),
                               quantize="int8", validation_data=moth.test)
    mse_dense = _mse(dense, moth.test)
    print(f"(c) quantize_aware kept every zero: {bool(kept['kept'].all())}; "
          f"test MSE dense float {mse_dense:.3g}, sparse QAT Keras "
          f"{int8.metric_keras:.3g}, int8 TFLite {int8.metric_tflite:.3g} "
          f"(change vs dense {int8.metric_tflite - mse_dense:+.2g})")
    for fmt, label in (("keras", "dense HDF5"), ("tflite", "dense TFLite")):
        d = size["dense"][fmt]
        rows.append((f"(c) moth 90 % + int8 TFLite vs {label}, gzip",
                     f"{d / 1e3:.0f} kB -> {int8.gzip_bytes / 1e3:.1f} kB",
                     d / int8.gzip_bytes, 10.0))
    return rows


def main(argv=None) -> int:
    args = _args(argv)
    import tensorflow_model_optimization as tfmot

    import tfprune as tp
    from tfprune import _tflite

    header("bench_deploy: measured speed-up, size on disk, pruning + int8")
    print(f"tfmot {tfmot.__version__}  TFLite interpreter "
          f"{_tflite.runtime_name()}  repeats {args.repeats}"
          f"{'  (smoke run)' if args.smoke else ''}")
    rows = vgg_speedup(tp, args)
    with tempfile.TemporaryDirectory() as folder:
        rows += moth_sizes(tp, args, folder)
    print(f"\n{'measurement':<52} {'ratio':>7} {'goal':>6}  detail")
    for name, detail, ratio, goal in rows:
        below = goal is not None and ratio < goal
        goal = "-" if goal is None else f"{goal:.1f}"
        print(f"{name:<52} {ratio:>7.2f} {goal:>6}  {detail}"
              f"{'  (below goal)' if below else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
