"""``tfprune strategies``: unpruned, one-shot, lottery ticket and dynamic
pruning side by side, mean ± std over seeds."""
from __future__ import annotations

from ._args import fraction, fraction_list, positive_float, positive_int

_FUNC = "tfprune strategies"


def register(sub):
    p = sub.add_parser(
        "strategies", help="compare unpruned, one-shot, lottery-ticket and "
        "dynamic pruning over several seeds (same init per seed); prints "
        "mean ± std test loss and accuracy")
    p.add_argument("--dataset", choices=("penguins", "digits"),
                   default="penguins")
    p.add_argument("--seeds", type=positive_int, default=10,
                   help="number of seeds 0..N-1 (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, default=4000,
                   help="training epochs of every trial (default: "
                   "%(default)s, as the original)")
    p.add_argument("--log-every", type=positive_int, default=40,
                   help="epochs per logged/validated point (default: "
                   "%(default)s; 1 validates every epoch, much slower)")
    p.add_argument("--batch-size", type=positive_int, default=50)
    p.add_argument("--learning-rate", "--lr", dest="learning_rate",
                   type=positive_float, default=1e-4,
                   help="Adam's learning rate (default: %(default)s; --lr "
                   "is the old name)")
    p.add_argument("--one-shot", type=fraction, default=0.3,
                   help="one-shot / lottery-ticket fraction in (0, 1) "
                   "(default: %(default)s)")
    p.add_argument("--dynamic", type=fraction, default=0.17,
                   help="dynamic fraction per event in (0, 1) (default: "
                   "%(default)s)")
    p.add_argument("--at", type=fraction_list,
                   default=[1 / 3, 2 / 3],
                   help="dynamic events as increasing fractions of training "
                   "(default: 0.333,0.667)")
    p.add_argument("--scope", choices=("global", "layer"), default="global")
    p.add_argument("--tanh", action="store_true",
                   help="tanh output layer as in the original (penguins)")
    p.add_argument("--out", default=None,
                   help="folder for CSV tables, figures and a resumable run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run, flags={
        "one_shot_fraction": "--one-shot", "dynamic_fraction": "--dynamic",
        "dynamic_at": "--at", "data": "--dataset",
        "build_fn.kwargs.dataset_name": "--dataset",
        "build_fn.kwargs.tanh": "--tanh",
        "compile_fn.kwargs.dataset_name": "--dataset",
        "compile_fn.kwargs.learning_rate": "--learning-rate"})


def build_model(seed, dataset_name="penguins", tanh=False):
    """The network of ``dataset_name`` with its seeded initial weights."""
    import tfprune as tp
    if dataset_name == "penguins":
        return tp.models.penguin_mlp(seed=seed,
                                     output_activation="tanh" if tanh
                                     else None)
    return tp.models.lenet_300_100(input_dim=64, seed=seed)


def compile_model(model, dataset_name="penguins", learning_rate=1e-4):
    """Adam, cross-entropy on logits (one-hot for penguins, class indices
    for digits), accuracy."""
    import tfprune as tp
    losses = tp.keras.losses
    loss = (losses.CategoricalCrossentropy(from_logits=True)
            if dataset_name == "penguins" else
            losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(tp.keras.optimizers.Adam(learning_rate), loss,
                  metrics=["accuracy"])
    return model


def format_summary(summary) -> str:
    """The comparison as aligned ``mean ± std`` lines."""
    summary = getattr(summary, "summary", summary)
    lines = [f"{'strategy':<16}{'sparsity':>10}  {'test loss':>17}  "
             f"{'test accuracy':>17}"]
    for _, r in summary.iterrows():
        lines.append(
            f"{r['strategy']:<16}{100 * r['sparsity_mean']:>9.1f}%  "
            f"{r['test_loss_mean']:>8.4f} ± {r['test_loss_std']:<6.4f}  "
            f"{r['test_accuracy_mean']:>8.4f} ± "
            f"{r['test_accuracy_std']:<6.4f}")
    return "\n".join(lines)


def _write(result, out):
    import matplotlib.pyplot as plt

    import tfprune as tp
    from tfprune._io import atomic_write_csv, save_figure
    atomic_write_csv(out / "summary.csv", result.summary)
    atomic_write_csv(out / "runs.csv", result.runs)
    atomic_write_csv(out / "curves.csv", result.curves)
    for name, fig in (("curves", tp.plots.plot_strategy_curves(result)),
                      ("summary", tp.plots.plot_strategy_summary(result))):
        save_figure(fig, out / f"{name}.png", dpi=120)
        plt.close(fig)
    print(f"\ntables and figures in {out}")


def run(args) -> int:
    import functools

    import tfprune as tp
    from tfprune._io import ensure_dir

    out = None if args.out is None else ensure_dir(args.out, "--out", _FUNC)
    data = (tp.data.load_penguins(seed=0) if args.dataset == "penguins"
            else tp.data.load_digits(seed=0))
    result = tp.sparsity.compare_strategies(
        functools.partial(build_model, dataset_name=args.dataset,
                          tanh=args.tanh),
        data, seeds=range(args.seeds), epochs=args.epochs,
        batch_size=args.batch_size, one_shot_fraction=args.one_shot,
        dynamic_fraction=args.dynamic, dynamic_at=tuple(args.at),
        scope=args.scope,
        compile_fn=functools.partial(compile_model,
                                     dataset_name=args.dataset,
                                     learning_rate=args.learning_rate),
        log_every=args.log_every,
        run_dir=None if out is None else out / "run",
        progress=not args.quiet)
    print(f"{args.dataset}: {args.seeds} seeds, {args.epochs} epochs, "
          f"same init for every strategy within a seed\n")
    print(format_summary(result.summary))
    if out is not None:
        _write(result, out)
    return 0
