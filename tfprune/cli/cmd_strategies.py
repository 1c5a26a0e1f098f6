"""``tfprune strategies``: unpruned, one-shot, lottery ticket and dynamic
pruning side by side, mean ± std over seeds."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        "strategies", help="compare unpruned, one-shot, lottery-ticket and "
        "dynamic pruning over several seeds (same init per seed); prints "
        "mean ± std test loss and accuracy")
    p.add_argument("--dataset", choices=("penguins", "digits"),
                   default="penguins")
    p.add_argument("--seeds", type=int, default=10,
                   help="number of seeds 0..N-1 (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=4000,
                   help="training epochs of every trial (default: "
                   "%(default)s, as the original)")
    p.add_argument("--log-every", type=int, default=40,
                   help="epochs per logged/validated point (default: "
                   "%(default)s; 1 validates every epoch, much slower)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--one-shot", type=float, default=0.3,
                   help="one-shot / lottery-ticket fraction (default: "
                   "%(default)s)")
    p.add_argument("--dynamic", type=float, default=0.17,
                   help="dynamic fraction per event (default: %(default)s)")
    p.add_argument("--at", default="0.3333333333,0.6666666667",
                   help="dynamic events as fractions of training")
    p.add_argument("--scope", choices=("global", "layer"), default="global")
    p.add_argument("--tanh", action="store_true",
                   help="tanh output layer as in the original (penguins)")
    p.add_argument("--out", default=None,
                   help="folder for CSV tables, figures and a resumable run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def format_summary(summary) -> str:
    """The comparison as aligned ``mean ± std`` lines."""
    lines = [f"{'strategy':<16}{'sparsity':>10}  {'test loss':>17}  "
             f"{'test accuracy':>17}"]
    for _, r in summary.iterrows():
        lines.append(
            f"{r['strategy']:<16}{100 * r['sparsity_mean']:>9.1f}%  "
            f"{r['test_loss_mean']:>8.4f} ± {r['test_loss_std']:<6.4f}  "
            f"{r['test_accuracy_mean']:>8.4f} ± "
            f"{r['test_accuracy_std']:<6.4f}")
    return "\n".join(lines)


def run(args) -> int:
    import tfprune as tp
    from tfprune._io import atomic_write_csv, ensure_dir

    keras = tp.keras
    if args.dataset == "penguins":
        data = tp.data.load_penguins(seed=0)
        act = "tanh" if args.tanh else None

        def build(seed):
            return tp.models.penguin_mlp(seed=seed, output_activation=act)

        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    else:
        data = tp.data.load_digits(seed=0)

        def build(seed):
            return tp.models.lenet_300_100(input_dim=64, seed=seed)

        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compile_fn(model):
        model.compile(keras.optimizers.Adam(args.lr), loss,
                      metrics=["accuracy"])
        return model

    out = None if args.out is None else ensure_dir(args.out, "--out",
                                                   "tfprune strategies")
    at = tuple(float(v) for v in args.at.split(",") if v.strip())
    summary = tp.sparsity.compare_strategies(
        build, data, seeds=range(args.seeds), epochs=args.epochs,
        batch_size=args.batch_size, one_shot_fraction=args.one_shot,
        dynamic_fraction=args.dynamic, dynamic_at=at, scope=args.scope,
        compile_fn=compile_fn, log_every=args.log_every,
        run_dir=None if out is None else out / "run",
        progress=not args.quiet)
    print(f"{args.dataset}: {args.seeds} seeds, {args.epochs} epochs, "
          f"same init for every strategy within a seed\n")
    print(format_summary(summary))
    if out is not None:
        atomic_write_csv(out / "summary.csv", summary)
        atomic_write_csv(out / "runs.csv", summary.attrs["runs"])
        atomic_write_csv(out / "curves.csv", summary.attrs["curves"])
        tp.plots.plot_strategy_curves(summary.attrs["curves"]).savefig(
            out / "curves.png", dpi=120)
        tp.plots.plot_strategy_summary(summary).savefig(
            out / "summary.png", dpi=120)
        print(f"\ntables and figures in {out}")
    return 0
