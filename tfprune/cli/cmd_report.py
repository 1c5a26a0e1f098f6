"""``tfprune report``: the parameter/MAC/FLOP table of a saved model."""
from __future__ import annotations

from ._args import positive_int


def register(sub):
    p = sub.add_parser(
        "report", help="print the per-layer params / MACs / FLOPs / sparsity "
        "table and totals of a saved tf_keras model",
        description="Print the per-layer table (params, MACs, FLOPs = 2 per "
        "MAC + bias adds, the TensorFlow profiler's convention, fraction of "
        "zero weights) and totals of a model saved with tp.keras "
        "(.h5, .keras or a SavedModel folder).")
    p.add_argument("model", metavar="MODEL",
                   help="saved model: MODEL.h5, MODEL.keras or a folder")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="batch the MAC/FLOP counts are for "
                        "(default: %(default)s)")
    p.add_argument("--csv", metavar="OUT.csv", default=None,
                   help="also write the table as CSV")
    p.add_argument("--profiler", action="store_true",
                   help="also ask TensorFlow's profiler for its FLOP count "
                        "(slow; a cross-check)")
    p.add_argument("--measure", action="store_true",
                   help="also measure latency (TensorFlow and TFLite, batch "
                        "1 and --batch-size) and the size of the HDF5 and "
                        "TFLite files, raw and compressed")
    p.add_argument("--repeats", type=int, default=10,
                   help="timed samples per configuration for --measure "
                        "(default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import report
    from .._io import atomic_write_csv
    model = report.load_model(args.model)
    table = report.layer_table(model, batch_size=args.batch_size)
    print(report.render(table, title=f"Model: {model.name} ({args.model})"))
    if args.profiler:
        flops = report.profiler_flops(model, batch_size=args.batch_size)
        print(f"TensorFlow profiler: {flops:,} FLOPs "
              f"({'equal' if flops == table.attrs['flops'] else 'differs'}; "
              "see the note column for layers the profiler counts otherwise)")
    if args.measure:
        _measure(model, args)
    if args.csv:
        path = atomic_write_csv(args.csv, table)
        print(f"table written to {path}")
    return 0


def _measure(model, args):
    import pandas as pd

    from .. import report, sparsity
    if sparsity.is_wrapped(model):
        model = sparsity.strip(model, compile=False)
        print("(pruning wrappers stripped for the measurement)")
    batches = sorted({1, args.batch_size})
    timed = pd.concat([report.measure(model, batches, runtime, args.repeats)
                       for runtime in ("tf", "tflite")], ignore_index=True)
    with pd.option_context("display.float_format", "{:.4g}".format):
        print("Measured latency (ms per batch; median and interquartile "
              "range):")
        print(timed.to_string(index=False))
        print("Size on disk (gzip: zip/deflate, as tfmot's guide):")
        print(report.size_on_disk(model).to_string(index=False))
