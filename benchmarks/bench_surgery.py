"""Surgery speed: one rebuild for many layers vs one rebuild per layer.

Removes 50 % of the filters of all 13 conv layers of the CIFAR VGG-16
(``tp.models.vgg16``) with one ``prune_channels`` call, and with 13
``delete_channels`` calls one after the other (keras-surgeon's usage), and
prints the median seconds of each and their ratio. Goal on a 2-core CPU:
batched <= 2 s and >= 5x faster than the loop.

    .venv/bin/python benchmarks/bench_surgery.py            # full
    .venv/bin/python benchmarks/bench_surgery.py --quick    # smoke run
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import header, median_time  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs per variant (median reported)")
    parser.add_argument("--layers", type=int, default=13,
                        help="how many of the 13 conv layers to prune")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 3 layers, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.layers, args.repeat = 3, 1

    import numpy as np
    import tfprune as tp

    header("bench_surgery: VGG-16, 50 % of the filters of "
           f"{args.layers} conv layers")
    model = tp.models.vgg16(seed=0)
    names = [f"conv{i}" for i in range(1, args.layers + 1)]
    plan = {n: np.arange(0, model.get_layer(n).filters, 2) for n in names}

    def batched():
        return tp.surgery.prune_channels(model, plan)

    def loop():
        m = model
        for n in names:
            m = tp.surgery.delete_channels(m, n, plan[n])
        return m

    t0 = time.perf_counter()
    a, b = batched(), loop()
    check = time.perf_counter() - t0
    same = all(np.array_equal(x, y) for x, y in zip(a.get_weights(),
                                                      b.get_weights()))
    print(f"params {model.count_params():,} -> {a.count_params():,}; "
          f"batched and loop give identical weights: {same} "
          f"(first calls incl. warm-up: {check:.2f} s)")
    t_batch = median_time(batched, repeat=args.repeat, warmup=0)
    t_loop = median_time(loop, repeat=args.repeat, warmup=0)
    print(f"{'variant':<34}{'median s':>10}")
    print(f"{'one rebuild (prune_channels)':<34}{t_batch:>10.3f}")
    print(f"{f'{len(names)} rebuilds (delete_channels loop)':<34}"
          f"{t_loop:>10.3f}")
    print(f"ratio loop / batched: {t_loop / t_batch:.1f}x")
    spec = tp.surgery.zeroing_spec(model, plan)
    work = tp.surgery.zero_channels(model, {})
    weights = work.get_weights()

    def zeroing():
        tp.surgery.apply_zeroing(work, spec)
        work.set_weights(weights)
    t_zero = median_time(zeroing, repeat=args.repeat, warmup=0)
    print(f"{'zeroing a working copy (masking)':<34}{t_zero:>10.3f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
