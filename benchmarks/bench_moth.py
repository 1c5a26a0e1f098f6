"""Moth simulator: vectorised integrators vs one ODE solve per trajectory.

Usage: python benchmarks/bench_moth.py [--n 1000000] [--compare 2000]
    [--workers N] [--skip-big]

1. On the same ``--compare`` random flights, in one process: simulations per
   second (by wall and by CPU time) of the original study's method, one
   ``scipy.integrate.odeint`` (LSODA at odeint's default tolerances,
   rtol = atol = 1.49e-8) per trajectory with the right-hand side compiled
   by numba as the original did (when numba is installed; it is not a
   tfprune dependency) and with a plain-float one, of ``solve_ivp``
   variants, and of the vectorised integrators; each row's final-state
   error against a tight reference; ratios against the first row and
   against one ``solve_ivp`` per trajectory at all its defaults (RK45,
   rtol 1e-3, atol 1e-6), the plain reading of "one solve_ivp per
   trajectory"; and the fastest vectorised row at each baseline's accuracy.
   The vectorised integrator is also timed on ``--scale`` flights (full
   batches), where it is faster per flight than on the small set.
2. ``--n`` simulations through ``simulate_to_disk`` on all cores, timed, at
   the default tolerance (and any other ``--rtols``).
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import shutil
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from _common import header  # noqa: E402

import numpy as np  # noqa: E402

ODEINT_TOL = 1.49012e-8


def _numba_rhs(p):
    """The original's right-hand side form: compiled by numba, called by
    odeint as ``f(y, t, F, alpha, tau)``; None without numba."""
    try:
        from numba import njit
    except ImportError:
        return None
    d = p.derived
    a, b, m, g = d["a"], d["b"], d["m"], d["g"]
    M11, M22, M12c = d["M11"], d["M22"], d["M12c"]
    K, c, rest, L3 = d["K"], d["c"], d["rest"], d["L3"]
    re_h, re_b, half_rho, Sh, Sb = (d["re_h"], d["re_b"], d["half_rho"],
                                    d["Sh"], d["Sb"])
    sin, cos, sqrt = math.sin, math.cos, math.sqrt

    @njit
    def f(y, t, F, alpha, tau):
        xd, yd, th, thd, ph, phd = y[1], y[3], y[4], y[5], y[6], y[7]
        sth, cth, sph, cph = sin(th), cos(th), sin(ph), cos(ph)
        Qx = F * cos(alpha + th) + a * thd * thd * cth + b * phd * phd * cph
        Qy = (F * sin(alpha + th) + a * thd * thd * sth + b * phd * phd * sph
              - m * g)
        speed = sqrt(xd * xd + yd * yd)
        if speed > 0.0:
            rh, rb = re_h * speed, re_b * speed
            D = half_rho * ((24.0 / rh + 6.0 / (1.0 + sqrt(rh)) + 0.4) * Sh
                            + (24.0 / rb + 6.0 / (1.0 + sqrt(rb)) + 0.4) * Sb)
            Qx -= D * abs(xd) * xd
            Qy -= D * abs(yd) * yd
        joint = K * (ph - th - rest) + c * (phd - thd)
        Qth = tau + F * L3 * sin(alpha) - a * g * cth + joint
        Qph = -tau - b * g * cph - joint
        M12 = M12c * (cth * cph + sth * sph)
        det = M11 * M22 - M12 * M12
        R1 = Qth - a * (cth * Qy - sth * Qx) / m
        R2 = Qph - b * (cph * Qy - sph * Qx) / m
        thdd = (M22 * R1 - M12 * R2) / det
        phdd = (M11 * R2 - M12 * R1) / det
        out = np.empty(8)
        out[0], out[2], out[4], out[6] = xd, yd, thd, phd
        out[1] = (Qx + a * sth * thdd + b * sph * phdd) / m
        out[3] = (Qy - a * cth * thdd - b * cph * phdd) / m
        out[5], out[7] = thdd, phdd
        return out

    f(np.zeros(8) + 0.1, 0.0, 1.0, 0.5, 1.0)    # compile before timing
    return f


def _per_trajectory(y0, u, solver, rhs_kind, **kw):
    """One solve per trajectory; final states (m, 8)."""
    from scipy.integrate import odeint, solve_ivp
    from tfprune.data.moth._model import MothParams, scalar_rhs
    p = MothParams()
    out = np.empty_like(y0)
    nb = _numba_rhs(p) if rhs_kind == "numba" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # odeint's "excess work" notes
        for i in range(len(y0)):
            if nb is not None:
                out[i] = odeint(nb, y0[i], [0.0, 0.02],
                                args=tuple(float(v) for v in u[i]))[-1]
                continue
            f = scalar_rhs(p, *u[i])
            if solver == "odeint":
                out[i] = odeint(lambda y, t: f(t, y), y0[i], [0.0, 0.02],
                                tfirst=False, **kw)[-1]
            else:
                kw.setdefault("method", "LSODA")
                out[i] = solve_ivp(f, (0.0, 0.02), y0[i], **kw).y[:, -1]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--compare", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--rtols", type=float, nargs="+", default=None,
                    help="tolerances of the --n run (default: the default)")
    ap.add_argument("--scale", type=int, default=32768,
                    help="flights for the full-batch row")
    args = ap.parse_args(argv)
    header("moth simulator")
    from tfprune.data import moth
    from tfprune.data.moth._rk import STATE_SCALE

    m = args.compare
    y0, u = moth.sample_inputs(0, m, 2024, moth.DEFAULT_RANGES)
    y0, u = y0.T, u.T

    t = time.perf_counter()
    ref, _ = moth.reference_solve(y0, u, method="DOP853", rtol=1e-12,
                                  workers=os.cpu_count())
    print(f"reference: DOP853 rtol 1e-12 per trajectory on all cores "
          f"({time.perf_counter() - t:.1f} s)")

    def err(yf, k=m):
        e = np.abs(yf[:k] - ref[:k]) / np.maximum(np.abs(ref[:k]),
                                                  STATE_SCALE)
        return e.max(), np.median(e.max(1))

    def timed(fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - t, time.process_time() - c

    rows = []

    def per_traj(name, k, solver, rhs_kind, **kw):
        yf, dt, ct = timed(lambda: _per_trajectory(y0[:k], u[:k], solver,
                                                   rhs_kind, **kw))
        rows.append((name, k / dt, k / ct, *err(yf, k)))

    tight = dict(rtol=ODEINT_TOL, atol=ODEINT_TOL)
    if importlib.util.find_spec("numba"):
        per_traj("odeint LSODA default tol, numba rhs: original", m,
                 "odeint", "numba")
    else:
        print("numba is not installed: the first row uses a plain-float "
              "right-hand side instead of the original's numba-compiled one "
              "(pip install numba for the exact baseline)")
    per_traj("odeint LSODA default tol, plain-float rhs", m, "odeint",
             "float")
    per_traj("solve_ivp LSODA, odeint's tolerances", m, "solve_ivp",
             "float", **tight)
    per_traj("solve_ivp LSODA, its defaults (1e-3/1e-6)", m, "solve_ivp",
             "float")
    per_traj("solve_ivp, all defaults (RK45, 1e-3/1e-6)", m, "solve_ivp",
             "float", method="RK45")
    literal = len(rows) - 1
    for method, rtol in (("dopri5", moth.DEFAULT_RTOL), ("dopri5", 1e-6),
                         ("ark", 1e-4)):
        df, dt, ct = timed(lambda: moth.simulate(
            m, seed=2024, method=method, rtol=rtol, drop_duplicates=False))
        rows.append((f"vectorised {method} rtol {rtol:g}", m / dt, m / ct,
                     *err(moth.states_of(df, "final"))))
    if args.scale > m:
        df, dt, ct = timed(lambda: moth.simulate(
            args.scale, seed=2024, drop_duplicates=False))
        rows.append((f"  default, {args.scale} flights (err: first {m})",
                     args.scale / dt, args.scale / ct,
                     *err(moth.states_of(df, "final"))))
    print(f"\n{m} flights, 20 ms each, one process (sims/s by wall time "
          "and by this process's CPU time; ratios of CPU rates against the "
          "original's method, the first row, and against one solve_ivp per "
          "trajectory at all its defaults):")
    print(f"{'method':<46} {'wall/s':>7} {'cpu/s':>7} {'ratio':>7} "
          f"{'vs ivp':>7} {'max err':>8} {'median':>8}")
    for name, rate, crate, emax, emed in rows:
        print(f"{name:<46} {rate:7.0f} {crate:7.0f} "
              f"{crate / rows[0][2]:6.1f}x {crate / rows[literal][2]:6.1f}x "
              f"{emax:8.1e} {emed:8.1e}")
    print("(err: |y - ref| / max(|ref|, typical size) over the 8 final "
          "states; typical sizes 1 cm, 1e3 cm/s, 1 rad, 10 rad/s)")
    base = rows[literal]
    matched = [r for r in rows[literal + 1:] if r[3] <= base[3]]
    if matched:
        best = max(matched, key=lambda r: r[2])
        print(f"at the accuracy of one solve_ivp per trajectory at its "
              f"defaults (worst error {base[3]:.1e}) or better: "
              f"'{best[0].strip()}' is {best[2] / base[2]:.0f}x faster "
              f"(worst error {best[3]:.1e})")
    orig = rows[0]
    print(f"at the original's median accuracy ({orig[4]:.1e}) or better: "
          + ", ".join(f"'{r[0].strip()}' {r[2] / orig[2]:.1f}x"
                      for r in rows[literal + 1:] if r[4] <= orig[4]))

    if args.skip_big:
        return 0
    workers = args.workers or os.cpu_count()
    for rtol in args.rtols or [moth.DEFAULT_RTOL]:
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
