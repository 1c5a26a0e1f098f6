"""Moth simulator: vectorised integrators vs one solve_ivp per trajectory.

Usage: python benchmarks/bench_moth.py [--n 1000000] [--compare 2000]
    [--workers N] [--skip-big]

1. On the same ``--compare`` random flights: simulations/second of
   one ``scipy.integrate.solve_ivp`` (LSODA, default tolerances: the original
   study's method) per trajectory, and of the vectorised integrators in one
   process; final-state error of each against a tight reference; ratios.
2. ``--n`` simulations through ``simulate_to_disk`` on all cores, timed, at
   the default accuracy (rtol 1e-8) and at rtol 1e-4.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402

import numpy as np  # noqa: E402


def _lsoda_numpy_rhs(y0, u):
    """LSODA per trajectory with the array-based right-hand side."""
    from scipy.integrate import solve_ivp
    from tfprune.data._moth_model import MothParams, rhs
    p = MothParams()
    out = np.empty_like(y0)
    for i in range(len(y0)):
        ui = u[i][:, None]
        sol = solve_ivp(lambda t, y: rhs(p, y[:, None], ui)[:, 0], (0, 0.02),
                        y0[i], method="LSODA")
        out[i] = sol.y[:, -1]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--compare", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--rtols", type=float, nargs="+", default=[1e-8, 1e-4],
                    help="tolerances of the --n run")
    args = ap.parse_args(argv)
    header("moth simulator")
    from tfprune.data import moth
    from tfprune.data._moth_rk import STATE_SCALE

    m = args.compare
    df0 = moth.simulate(m, seed=2024, rtol=1e-4, drop_duplicates=False)
    y0, u = moth.states_of(df0), moth.controls_of(df0)

    t = time.perf_counter()
    ref, _ = moth.reference_solve(y0, u, rtol=1e-10, workers=os.cpu_count())
    print(f"reference: LSODA rtol 1e-10 per trajectory on all cores "
          f"({time.perf_counter() - t:.1f} s)")

    def err(yf):
        e = np.abs(yf - ref) / np.maximum(np.abs(ref), STATE_SCALE)
        return e.max(), np.median(e.max(1))

    rows = []

    def timed(fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - t, time.process_time() - c

    (base, _), dt, ct = timed(lambda: moth.reference_solve(
        y0, u, method="LSODA", rtol=None))
    rows.append(("solve_ivp LSODA default tol, float rhs", m / dt,
                 m / ct, *err(base)))
    k = max(m // 10, 1)
    base2, dt, ct = timed(lambda: _lsoda_numpy_rhs(y0[:k], u[:k]))
    e2 = np.abs(base2 - ref[:k]) / np.maximum(np.abs(ref[:k]), STATE_SCALE)
    rows.append((f"  same, numpy rhs (first {k})", k / dt, k / ct,
                 e2.max(), np.median(e2.max(1))))
    for method, rtol in (("dopri5", 1e-8), ("ark", 1e-4), ("ark", 1e-3)):
        df, dt, ct = timed(lambda: moth.simulate(
            m, seed=2024, method=method, rtol=rtol, drop_duplicates=False))
        rows.append((f"vectorised {method} rtol {rtol:g}", m / dt, m / ct,
                     *err(moth.states_of(df, "final"))))
    print(f"\n{m} flights, 20 ms each, one process (sims/s by wall time "
          "and by this process's CPU time; ratios vs the first row, the "
          "original's method with the fastest per-trajectory rhs):")
    print(f"{'method':<42} {'wall/s':>7} {'ratio':>7} {'cpu/s':>7} "
          f"{'ratio':>7} {'vs np':>7} {'max err':>8} {'median':>8}")
    for name, rate, crate, emax, emed in rows:
        print(f"{name:<42} {rate:7.0f} {rate / rows[0][1]:6.1f}x "
              f"{crate:7.0f} {crate / rows[0][2]:6.1f}x "
              f"{crate / rows[1][2]:6.1f}x {emax:8.1e} {emed:8.1e}")
    print("('vs np': CPU-time ratio against LSODA with the numpy rhs)")
    print("(err: |y - ref| / max(|ref|, typical size) over the 8 final "
          "states; typical sizes 1 cm, 1e3 cm/s, 1 rad, 10 rad/s)")

    if args.skip_big:
        return 0
    workers = args.workers or os.cpu_count()
    for rtol in args.rtols:
        out = tempfile.mkdtemp(prefix="bench_moth_")
        try:
            t = time.perf_counter()
            moth.simulate_to_disk(args.n, out, seed=0, workers=workers,
                                  progress=False, rtol=rtol)
            dt = time.perf_counter() - t
            n_ok = int(moth.load_simulations(out)["converged"].sum())
        finally:
            shutil.rmtree(out, ignore_errors=True)
        print(f"\nsimulate_to_disk n={args.n} rtol={rtol:g} workers={workers}"
              f": {dt:.1f} s ({args.n / dt:.0f} sims/s, {n_ok} converged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
