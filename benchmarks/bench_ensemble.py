"""Training throughput: one stacked ensemble vs N networks fitted in turn.

Network-samples per second (networks x samples / second) of
``tp.ensemble.EnsembleTrainer`` training N networks 10-100-100-100-8-7 on
shared minibatches of 128, against the same N networks trained one after
another with ``model.fit`` (tf_keras, Adam, MSE, batch 128). Both are timed
in steady state (after tracing; ``model.fit``'s per-network build, compile and
tracing are reported, not counted, which favours it), in interleaved rounds
so that both see the same machine load; the ratio is the median of the
per-round ratios. If JAX is installed, a ``jax.vmap`` ensemble is timed as a
reference.

    .venv/bin/python benchmarks/bench_ensemble.py            # N = 32
    .venv/bin/python benchmarks/bench_ensemble.py --quick    # smoke test
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _common import header


def _data(rows, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, (rows, 10)).astype("float32")
    w = rng.normal(size=(10, 7))
    return x, (0.5 * np.tanh(x @ w)).astype("float32")


class _Ensemble:
    """An ensemble trainer, traced once; ``rate()`` times one run."""

    def __init__(self, tp, n, hidden, steps, x, y, validate):
        ens = tp.ensemble.StackedMLP(n, hidden=hidden, seed=0)
        self.tr = tp.ensemble.EnsembleTrainer(ens, batch_size=128)
        # a rule that never fires but needs the per-batch validation loss
        self.rule = (tp.ensemble.RatioStopping(window=10 ** 9,
                                               check_every=100)
                     if validate else None)
        self.n, self.steps, self.data = n, steps, (x, y)
        self.val = (x[:1024], y[:1024])
        self.tr.train_level(self.data, self.val, max_batches=100,
                            early_stopping=self.rule, progress=False)

    def rate(self):
        t = time.perf_counter()
        self.tr.train_level(self.data, self.val, max_batches=self.steps,
                            early_stopping=self.rule, progress=False)
        return self.n * 128 * self.steps / (time.perf_counter() - t)


class _Fit:
    """``model.fit`` of one network; ``rate()`` times a fresh network's
    run after its build, compile and tracing (``setup`` keeps those)."""

    def __init__(self, tp, hidden, steps, x, y):
        self.tp, self.hidden, self.steps = tp, hidden, steps
        self.x, self.y = x, y
        self.setup = []

    def rate(self):
        keras = self.tp.keras
        x, y, steps = self.x, self.y, self.steps
        t0 = time.perf_counter()
        model = self.tp.models.mlp(10, self.hidden, 7, activation="tanh",
                                   seed=len(self.setup))
        model.compile(keras.optimizers.Adam(5e-4), "mse")
        model.fit(x[:128 * 20], y[:128 * 20], batch_size=128, epochs=1,
                  shuffle=False, verbose=0)
        self.setup.append(time.perf_counter() - t0)
        t = time.perf_counter()
        model.fit(x[:128 * steps], y[:128 * steps], batch_size=128,
                  epochs=1, shuffle=False, verbose=0)
        return 128 * steps / (time.perf_counter() - t)


def bench_jax(n, hidden, steps, x, y):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    widths = (10,) + tuple(hidden) + (7,)
    key = jax.random.PRNGKey(0)
    params = []
    for a, b in zip(widths[:-1], widths[1:]):
        key, sub = jax.random.split(key)
        params.append((0.2 * jax.random.normal(sub, (n, a, b)),
                       jnp.zeros((n, b))))

    def loss(p, xb, yb):
        h = xb
        for i, (w, b) in enumerate(p):
            h = h @ w + b
            if i < len(p) - 1:
                h = jnp.tanh(h)
        return jnp.mean((h - yb) ** 2)

    grad = jax.vmap(jax.grad(loss), in_axes=(0, None, None))
    lr, b1, b2, eps = 5e-4, 0.9, 0.999, 1e-8

    @jax.jit
    def run(p, m, v):
        def body(k, state):
            p, m, v = state
            xb = jax.lax.dynamic_slice_in_dim(x, k * 128, 128)
            yb = jax.lax.dynamic_slice_in_dim(y, k * 128, 128)
            g = grad(p, xb, yb)
            m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g,
                                       m, g)
            v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g,
                                       v, g)
            t = k + 1.0
            p = jax.tree_util.tree_map(
                lambda p, m, v: p - lr * (m / (1 - b1 ** t)) /
                (jnp.sqrt(v / (1 - b2 ** t)) + eps), p, m, v)
            return p, m, v
        return jax.lax.fori_loop(0, steps, body, (p, m, v))

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    jax.block_until_ready(run(params, zeros, zeros))
    t = time.perf_counter()
    jax.block_until_ready(run(params, zeros, zeros))
    return n * 128 * steps / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--networks", type=int, default=32)
    ap.add_argument("--hidden", default="100,100,100,8")
    ap.add_argument("--steps", type=int, default=400,
                    help="timed batches per run (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="interleaved timing rounds (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, to check that the script runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.networks, args.steps, args.repeat = 4, 50, 1
    hidden = tuple(int(v) for v in args.hidden.split(","))
    header(f"bench_ensemble: {args.networks} networks "
           f"10-{'-'.join(map(str, hidden))}-7, batch 128")
    import tfprune as tp
    x, y = _data(128 * max(args.steps, 100))
    n = args.networks
    ens = _Ensemble(tp, n, hidden, args.steps, x, y, validate=False)
    ens_val = _Ensemble(tp, n, hidden, args.steps, x, y, validate=True)
    fit = _Fit(tp, hidden, args.steps, x, y)
    # Rounds interleave the three so that all see the same machine load;
    # the ratio is the median of the per-round ratios.
    rounds = [(ens.rate(), ens_val.rate(), fit.rate())
              for _ in range(args.repeat)]
    med = statistics.median
    fit_rate = med(r[2] for r in rounds)
    ens_rate = med(r[0] for r in rounds)
    ens_val_rate = med(r[1] for r in rounds)
    ratio = med(r[0] / r[2] for r in rounds)
    ratio_val = med(r[1] / r[2] for r in rounds)
    print(f"{args.repeat} interleaved rounds; medians of rates and of "
          "per-round ratios")
    print(f"{'method':<46}{'network-samples/s':>18}{'ratio':>8}")
    print(f"{'model.fit, one network after another':<46}{fit_rate:>18,.0f}"
          f"{1.0:>8.2f}")
    print(f"{'ensemble (one graph)':<46}{ens_rate:>18,.0f}{ratio:>8.2f}")
    print(f"{'ensemble + per-batch validation (ratio rule)':<46}"
          f"{ens_val_rate:>18,.0f}{ratio_val:>8.2f}")
    jax_rate = bench_jax(n, hidden, args.steps, x, y)
    if jax_rate is not None:
        print(f"{'jax.vmap reference':<46}{jax_rate:>18,.0f}"
              f"{jax_rate / fit_rate:>8.2f}")
    else:
        print("jax.vmap reference: skipped (jax not installed)")
    fit_setup = med(fit.setup)
    print(f"model.fit also costs {fit_setup:.2f} s per network to build, "
          f"compile and trace (x {n} = {n * fit_setup:.0f} s), not counted "
          "above.")
    print(f"ratio ensemble / model.fit: {ratio:.1f}x "
          "(goal >= 10x on a 2-core CPU)")


if __name__ == "__main__":
    main()
