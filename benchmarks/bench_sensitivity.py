"""Sensitivity sweep: masked evaluation vs rebuilding the model at every step.

VGG-16 (CIFAR layout, 32x32x3), 512 validation images, 13 conv layers x 19
ratios (0.05 ... 0.95), D-Score ranking. Two ways to get the same table:

* masked: ``tp.sensitivity.analyze`` (the unchanged front of the network is
  computed once per layer, one traced function per layer, channels zeroed by
  masks);
* rebuild (the original code's method): for every (layer, ratio) rebuild the
  pruned model with ``tp.surgery.delete_channels`` and ``model.evaluate`` it.

The images are seeded Gaussian noise and the labels are the unpruned model's
own predictions (agreement with the unpruned network), so no download is
needed; the timing does not depend on the data. Prints both times, their
ratio, and whether the two tables agree.

    python benchmarks/bench_sensitivity.py               # full size
    python benchmarks/bench_sensitivity.py --layers 3 --ratios 4 --n 128
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=13,
                    help="first N conv layers of VGG-16 (default 13)")
    ap.add_argument("--ratios", type=int, default=19,
                    help="first N of the ratios 0.05..0.95 (default 19)")
    ap.add_argument("--n", type=int, default=512, help="validation images")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--method", default="dscore")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-rebuild", action="store_true",
                    help="time only the masked sweep")
    args = ap.parse_args(argv)

    import tfprune as tp
    header("sensitivity sweep: masked vs rebuild (VGG-16, 32x32)")
    model = tp.models.vgg16(seed=args.seed)
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.n, 32, 32, 3)).astype("float32")
    y = model.predict(x, batch_size=args.batch_size, verbose=0).argmax(1)
    layers = [f"conv{i}" for i in range(1, args.layers + 1)]
    ratios = tp.sensitivity.default_ratios()[:args.ratios]
    steps = len(layers) * len(ratios)
    print(f"layers={len(layers)} ratios={len(ratios)} steps={steps} "
          f"images={args.n} batch={args.batch_size} method={args.method}")

    t = time.perf_counter()
    table = tp.sensitivity.analyze(model, x, y, layers=layers, ratios=ratios,
                                   method=args.method,
                                   batch_size=args.batch_size, progress=False)
    t_mask = time.perf_counter() - t
    print(f"masked : {t_mask:8.1f} s  ({t_mask / steps:.3f} s/step)")
    if args.skip_rebuild:
        return 0

    rows = []
    t = time.perf_counter()
    for name in layers:
        layer = model.get_layer(name)
        n = layer.filters
        for r in ratios:
            k = tp.filters.n_to_prune(n, r)
            idx = tp.filters.select(layer, k, args.method)
            pruned = tp.surgery.delete_channels(model, name, idx)
            _, acc = pruned.evaluate(x, y, batch_size=args.batch_size,
                                     verbose=0)
            rows.append(acc)
    t_rebuild = time.perf_counter() - t
    print(f"rebuild: {t_rebuild:8.1f} s  ({t_rebuild / steps:.3f} s/step)")
    print(f"speed-up (rebuild / masked): {t_rebuild / t_mask:.2f}x "
          "(goal >= 4x)")
    diff = np.abs(table["metric"].to_numpy() - np.asarray(rows))
    same = int((diff < 0.5 / args.n).sum())
    print(f"same table: {same}/{steps} entries equal "
          f"(max |difference| {diff.max():.2e}; Keras' float32 accuracy "
          "vs float64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
