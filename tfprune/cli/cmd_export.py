"""``tfprune export``: write a saved model as a TFLite file and print what
it weighs and how fast it runs, before and after."""
from __future__ import annotations

import argparse

from ._args import positive_int


def register(sub):
    p = sub.add_parser(
        "export", help="export a saved tf_keras model to TFLite (float, "
        "dynamic, float16 or int8; optionally sparse) and print params, "
        "FLOPs, size, gzip size and measured latency before / after",
        description="Write MODEL (.h5, .keras or a SavedModel folder; tfmot "
        "pruning wrappers are stripped) as a TFLite file, check its outputs "
        "against the Keras model, and print params, FLOPs, file size, "
        "compressed size and measured latency of both.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", metavar="MODEL",
                   help="saved model: MODEL.h5, MODEL.keras or a folder")
    p.add_argument("--out", required=True, metavar="OUT.tflite",
                   help="the TFLite file to write")
    p.add_argument("--quantize", choices=("none", "dynamic", "float16",
                                          "int8"), default="none",
                   help="post-training quantization")
    p.add_argument("--data", default=None, metavar="digits|moth|FILE.npz",
                   help="representative inputs for int8 and validation data "
                   "for the accuracy/MSE check: the digits or moth data "
                   "sets, or an .npz file with 'x' (and optionally 'y')")
    p.add_argument("--sparse", action="store_true",
                   help="store pruned weights in TFLite's sparse format")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="batch the FLOPs and latencies are for")
    p.add_argument("--repeats", type=positive_int, default=10,
                   help="timed samples per artifact (median and IQR)")
    p.set_defaults(func=run)


def _npz(path):
    import os

    import numpy as np

    from ..errors import InvalidParameterError
    if not os.path.isfile(path):
        raise InvalidParameterError(f"--data {path!r}: no such file; give "
                                    "digits, moth or an .npz file.")
    with np.load(path) as z:
        if "x" not in z.files:
            raise InvalidParameterError(
                f"--data {path!r} has arrays {z.files}; it needs 'x' (the "
                "inputs) and optionally 'y' (the targets).")
        x = z["x"]
        y = z["y"] if "y" in z.files else None
    return x, ((x, y) if y is not None else None)


def load_data(name, model):
    """``(representative inputs, validation (x, y) or None)`` for ``--data``."""
    from .. import data
    from ..errors import InvalidParameterError
    if name is None:
        return None, None
    if name == "digits":
        flat = len(model.input_shape) == 2
        splits = data.load_digits(seed=0, flatten=flat)
        return splits.train[0], splits.test
    if name == "moth":
        moth = data.moth.make_dataset(2000, seed=0)
        return moth.train[0], moth.test
    if name.endswith(".npz"):
        return _npz(name)
    raise InvalidParameterError(
        f"--data {name!r}: expected digits, moth or a FILE.npz.")


def run(args) -> int:
    from .. import export, report
    model = report.load_model(args.model)
    rep, val = load_data(args.data, model)
    quantize = None if args.quantize == "none" else args.quantize
    table = export.deploy_table(model, args.out, quantize=quantize,
                                representative_data=rep, sparse=args.sparse,
                                validation_data=val,
                                batch_size=args.batch_size,
                                repeats=args.repeats)
    print(export.render_deploy(table))
    return 0


def export_and_measure(model, reference, path, sparse=False, **kw):
    """A flow's ``--export tflite``: write ``model`` as ``path``, measure it
    next to ``reference`` and print the table; returns the table."""
    from .. import export
    table = export.deploy_table(model, path, reference=reference,
                                sparse=sparse, **kw)
    print(export.render_deploy(table))
    return table
