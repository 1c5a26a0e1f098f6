"""``tfprune moth train``: train the moth controller, prune it level by level,
report the sparsest network under the threshold."""
from __future__ import annotations

from ._args import (fraction_list, int_list, nonnegative_float,
                    nonnegative_int, positive_float, positive_int,
                    unit_interval)
from .cmd_export import export_and_measure

_FUNC = "tfprune moth train"


def _sparsities(text):
    """``moth`` (None: the study's 17 levels) or increasing fractions."""
    if str(text).strip().lower() == "moth":
        return None
    return fraction_list(text)


def register(sub):
    p = sub.add_parser(
        "train", help="train the flight controller on simulated flights, "
        "prune it sequentially (tfmot) and report the sparsest network whose "
        "train MSE is under the threshold")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="folder written by 'tfprune moth "
                     "simulate'")
    src.add_argument("--n", type=positive_int,
                     help="simulate this many flights now")
    p.add_argument("--out", default="moth-train", help="output folder "
                   "(history CSV, figure, sparsest model; resumable run "
                   "folder run/) (default: %(default)s)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--hidden", type=int_list, default=(400, 400, 400, 16),
                   help="hidden widths (default: 400,400,400,16)")
    p.add_argument("--sparsities", "--levels", dest="sparsities",
                   type=_sparsities, default=None,
                   help="comma-separated, increasing sparsities, or 'moth' "
                   "for the study's 17 levels 0.15 ... 0.98 (the default); "
                   "--levels is the old name")
    p.add_argument("--max-epochs", type=positive_int, default=500,
                   help="epoch cap per level (default: %(default)s)")
    p.add_argument("--patience", type=nonnegative_int, default=2)
    p.add_argument("--min-delta", type=nonnegative_float, default=1e-5)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--learning-rate", "--lr", dest="learning_rate",
                   type=positive_float, default=5e-4,
                   help="Adam's learning rate (default: %(default)s; --lr "
                   "is the old name)")
    p.add_argument("--threshold", type=positive_float, default=1e-3,
                   help="train MSE threshold in scaled units; not part of "
                   "the run, so a rerun with another threshold reuses the "
                   "trained levels (default: %(default)s)")
    p.add_argument("--method", choices=("tfmot", "manual"), default="tfmot")
    p.add_argument("--schedule", choices=("constant", "polynomial"),
                   default="constant")
    p.add_argument("--output-rate", type=unit_interval, default=0.5,
                   help="sparsity multiplier of the 16x7 output layer: 0.5 "
                   "keeps every output connected; 1.0 is the study's rule, "
                   "which cuts outputs off (docs/sections/moth_study.md) "
                   "(default: %(default)s)")
    p.add_argument("--export", choices=("tflite",), default=None,
                   help="also export the sparsest network (sparse TFLite) "
                   "and measure it next to the dense one")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, flags={"dataset": "--data/--n",
                                    "options.schedule": "--schedule"})


def _config(args):
    """Every option checked by the API's own configuration, before any
    simulation or training."""
    import tfprune as tp
    from tfprune.sparsity.moth import MothConfig
    levels = tp.sparsity.MOTH_LEVELS if args.sparsities is None else \
        tuple(args.sparsities)
    return MothConfig(hidden=args.hidden, sparsities=levels,
                      learning_rate=args.learning_rate,
                      batch_size=args.batch_size, max_epochs=args.max_epochs,
                      patience=args.patience, min_delta=args.min_delta,
                      seed=args.seed, method=args.method,
                      options={"schedule": args.schedule,
                               "output_rate": args.output_rate})


def _save_sparsest(res, out, threshold):
    """Write the sparsest model, or remove a stale one, saying which."""
    from tfprune._io import atomic_save_model
    path = out / "sparsest.h5"
    if res.sparsest is None:
        print(f"no level has train MSE <= {threshold:g}")
        if path.exists():
            path.unlink()
            print(f"removed {path}, written by an earlier run with another "
                  "threshold")
        return
    s = res.sparsest
    model = res.sparsest_model()
    nz = sum(int((w != 0).sum()) for w in model.get_weights())
    existed = path.exists()
    atomic_save_model(path, model)
    print(f"sparsest network under {threshold:g}: "
          f"{100 * s['sparsity']:.0f} % pruned (achieved "
          f"{100 * s['achieved']:.2f} %), train MSE "
          f"{s['train_loss']:.3e}, {nz} nonzero parameters")
    print(f"{'replaced' if existed else 'wrote'} {path}")


def run(args) -> int:
    import matplotlib.pyplot as plt

    import tfprune as tp
    from tfprune._io import atomic_write_csv, ensure_dir, save_figure

    cfg = _config(args)
    out = ensure_dir(args.out, "--out", _FUNC)
    if args.data:
        ds = tp.data.moth.make_dataset(data=args.data, seed=args.seed)
    else:
        ds = tp.data.moth.make_dataset(args.n, seed=args.seed)
    res = tp.sparsity.prune_moth_controller(
        ds, hidden=cfg.hidden, sparsities=cfg.sparsities,
        learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
        max_epochs=cfg.max_epochs, patience=cfg.patience,
        min_delta=cfg.min_delta, threshold=args.threshold, seed=cfg.seed,
        run_dir=out / "run", method=cfg.method, progress=not args.quiet,
        **cfg.options)
    h = res.history
    atomic_write_csv(out / "sparsity_history.csv", h)
    fig = tp.plots.plot_loss_vs_sparsity(h, threshold=args.threshold)
    save_figure(fig, out / "loss_vs_sparsity.png", dpi=120)
    plt.close(fig)
    cols = [c for c in ("level", "sparsity", "achieved", "train_loss",
                        "val_loss", "epochs", "cum_epochs", "dead_outputs",
                        "dead_units") if c in h.columns]
    print(h[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\ndense val MSE: {res.dense_val_loss:.3e} (scaled units)")
    _save_sparsest(res, out, args.threshold)
    if args.export and res.sparsest is not None:
        export_and_measure(res.sparsest_model(), res.result.model_at(0),
                           out / "sparsest.tflite", sparse=True)
    print(f"time: {res.time_s:.0f} s; results in {out}")
    return 0
