"""count_flops (analytic, from layer shapes) vs TensorFlow's profiler.

Times both on VGG-16 (CIFAR, 32x32) and ResNet-50 (ImageNet layout, 224x224),
prints the medians, the speed ratio (goal >= 50x) and both FLOP counts with
whether they agree exactly. Then, on keras.applications networks with TF
functions (MobileNetV3Small's hard-swish) and grouped convolutions
(RegNetX002), it prints count_flops, the raw profiler (which loses every
shape after a grouped convolution) and the profiler with grouped
convolutions inlined. ``--quick`` runs ResNet-50 at 64x64 with fewer
repeats, to check the script works.

Usage: python benchmarks/bench_flops.py [--quick]
"""
from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, median_time  # noqa: E402

import tfprune as tp  # noqa: E402


def bench(name, model, repeat_fast, repeat_slow):
    fast = tp.report.count_flops(model)
    slow = tp.report.profiler_flops(model)
    t_fast = median_time(lambda: tp.report.count_flops(model),
                         repeat=repeat_fast)
    t_slow = median_time(lambda: tp.report.profiler_flops(model),
                         repeat=repeat_slow, warmup=0)
    macs = tp.report.count_macs(model)
    table = tp.report.layer_table(model)
    noted = table[table["note"] != ""]
    print(f"\n-- {name}: {tp.report.count_params(model):,} params, "
          f"{macs:,} MACs ({macs / 1e9:.3f} G)")
    print(f"count_flops     {fast:>16,} FLOPs  median {t_fast * 1e3:9.2f} ms")
    print(f"profiler_flops  {slow:>16,} FLOPs  median {t_slow * 1e3:9.2f} ms")
    print(f"speed-up {t_slow / t_fast:,.0f}x (goal >= 50x); agreement: "
          f"{'EXACT' if fast == slow else f'differs by {fast - slow:+,}'}")
    if len(noted):
        print(f"layers counted by a profiler quirk ({len(noted)}): "
              f"{noted['note'].iloc[0]}")
    fused = table[table["note"].str.contains("FusedBatchNorm")]
    if len(fused):
        # What the fused BNs would add if counted like the non-fused BN ops
        # (2 per element + 6 per channel).
        bn = sum(2 * math.prod(s) + 6 * s[-1] for s in fused["output_shape"])
        print(f"fused BN not counted by either: {bn:,} FLOPs "
              f"({100 * bn / fast:.2f}% of the total) if counted as "
              "2 per element + 6 per channel")
    return fast == slow, t_slow / t_fast


def zoo(size):
    """count_flops vs the raw and the grouped-aware profiler on two
    keras.applications networks; True when count_flops is exact."""
    apps = tp.keras.applications
    ok = True
    for name, build in (("MobileNetV3Small", apps.MobileNetV3Small),
                        ("RegNetX002", apps.RegNetX002)):
        model = build(weights=None, input_shape=(size, size, 3))
        fast = tp.report.count_flops(model)
        raw = tp.report.profiler_flops(model)
        seen = tp.report.profiler_flops(model, inline_grouped=True)
        ok = ok and fast == seen
        print(f"\n-- {name} ({size}x{size}x3): count_flops {fast:,}; raw "
              f"profiler {raw:,} (count / raw = {fast / raw:.2f}); "
              f"profiler with grouped convolutions inlined {seen:,}: "
              f"{'EXACT' if fast == seen else f'differs by {fast - seen:+,}'}")
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small ResNet-50 input and fewer repeats")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    header("count_flops vs tf.compat.v1.profiler (FLOPs = 2 per MAC + bias "
           "adds, batch 1)")
    size = 64 if args.quick else 224
    repeat_slow = 1 if args.quick else 3
    results = [
        bench("VGG-16 (CIFAR, 32x32x3)", tp.models.vgg16(seed=0), 20,
              repeat_slow),
        bench(f"ResNet-50 ({size}x{size}x3)",
              tp.models.resnet(50, input_shape=(size, size, 3), seed=0), 20,
              repeat_slow),
    ]
    print("\nBoth models contain BatchNormalization, pooling and residual "
          "Add/Softmax layers: BN on 4-D inputs runs as FusedBatchNormV3, which "
          "the profiler counts as 0, and count_flops follows it (noted per "
          "layer); pooling (window x outputs), Add (1 per element), the "
          "global-average Mean (1 per input element) and Softmax (5 per "
          "element) use the profiler's own rules, hence exact agreement.")
    ok = all(r[0] for r in results)
    print(f"summary: exact agreement {'on both' if ok else 'NOT on both'}; "
          f"speed-up {min(r[1] for r in results):,.0f}x to "
          f"{max(r[1] for r in results):,.0f}x")
    zoo_ok = zoo(64 if args.quick else 224)
    print(f"zoo: count_flops {'exact' if zoo_ok else 'NOT exact'} against "
          "the profiler that sees grouped convolutions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
