"""``tfprune moth train``: train the moth controller, prune it level by level,
report the sparsest network under the threshold."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        "train", help="train the flight controller on simulated flights, "
        "prune it sequentially (tfmot) and report the sparsest network whose "
        "train MSE is under the threshold")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="folder written by 'tfprune moth "
                     "simulate'")
    src.add_argument("--n", type=int, help="simulate this many flights now")
    p.add_argument("--out", default="moth-train", help="output folder "
                   "(history CSV, figure, sparsest model; resumable run "
                   "folder) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", default="400,400,400,16",
                   help="hidden widths (default: %(default)s)")
    p.add_argument("--levels", default="moth",
                   help="comma-separated sparsities, or 'moth' for the "
                   "study's 17 levels 0.15 ... 0.98")
    p.add_argument("--max-epochs", type=int, default=500,
                   help="epoch cap per level (default: %(default)s)")
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--min-delta", type=float, default=1e-5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--threshold", type=float, default=1e-3,
                   help="train MSE threshold in scaled units "
                   "(default: %(default)s)")
    p.add_argument("--method", choices=("tfmot", "manual"), default="tfmot")
    p.add_argument("--schedule", choices=("constant", "polynomial"),
                   default="constant")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _levels(text):
    import tfprune as tp
    if text.strip().lower() == "moth":
        return list(tp.sparsity.MOTH_LEVELS)
    return [float(v) for v in text.split(",") if v.strip()]


def run(args) -> int:
    from pathlib import Path

    import tfprune as tp
    from tfprune._io import atomic_save_model, atomic_write_csv, ensure_dir

    out = ensure_dir(args.out, "--out", "tfprune moth train")
    if args.data:
        ds = tp.data.moth.make_dataset(data=args.data, seed=args.seed)
    else:
        ds = tp.data.moth.make_dataset(args.n, seed=args.seed)
    hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    res = tp.sparsity.prune_moth_controller(
        ds, hidden=hidden, levels=_levels(args.levels), lr=args.lr,
        batch_size=args.batch_size, max_epochs=args.max_epochs,
        patience=args.patience, min_delta=args.min_delta,
        threshold=args.threshold, seed=args.seed, run_dir=out / "run",
        method=args.method, schedule=args.schedule,
        progress=not args.quiet)
    h = res.history
    atomic_write_csv(out / "sparsity_history.csv", h)
    fig = tp.plots.plot_loss_vs_sparsity(h, threshold=args.threshold)
    fig.savefig(out / "loss_vs_sparsity.png", dpi=120)
    cols = [c for c in ("level", "sparsity", "achieved", "train_loss",
                        "val_loss", "epochs", "cum_epochs", "dead_outputs",
                        "dead_units") if c in h.columns]
    print(h[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\ndense val MSE: {res.dense_val_loss:.3e} (scaled units)")
    if res.sparsest is None:
        print(f"no level has train MSE <= {args.threshold:g}")
    else:
        s = res.sparsest
        model = res.sparsest_model()
        nz = sum(int((w != 0).sum()) for w in model.get_weights())
        atomic_save_model(Path(out) / "sparsest.h5", model)
        print(f"sparsest network under {args.threshold:g}: "
              f"{100 * s['sparsity']:.0f} % pruned (achieved "
              f"{100 * s['achieved']:.2f} %), train MSE "
              f"{s['train_loss']:.3e}, {nz} nonzero parameters")
    print(f"time: {res.time_s:.0f} s; results in {out}")
    return 0
