"""Simulated moth flights in memory: :func:`simulate`, the trusted
per-trajectory reference (:func:`reference_solve`) and dense paths.

The integrators (``_rk``: batched Dormand-Prince 5(4); ``_ark``: IMEX with
the joint damper implicit) advance thousands of trajectories together in
numpy, each with its own step size and error control. Every operation is
elementwise, so a trajectory's result never depends on the others in its
batch (``docs/sections/moth_data.md``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..._validate import check_int
from ...errors import InvalidParameterError
from . import _ark, _rk
from ._model import CONTROL_NAMES, STATE_NAMES, MothParams, scalar_rhs
from ._pool import worker_pool
from .sampling import (CONTROL_COLUMNS, DEFAULT_RTOL, FINAL_COLUMNS,
                       INITIAL_COLUMNS, STATE_TO_FINAL, T_END, check_ranges,
                       common_checks, params_from, sample_inputs)

__all__ = ["METHODS", "simulate", "reference_solve", "trajectory",
           "states_of", "controls_of"]

#: Integrators. "dopri5": explicit, each step capped by the joint damper's
#: stability limit; the fastest at tight tolerances for the base-size moth.
#: "ark": IMEX with the damper implicit; no stability limit, so the fastest
#: at loose tolerances (rtol >= 1e-6) and for small moths (s < 1, where the
#: damper is stiffer as ~s^-5). "auto" picks the one with fewer expected
#: evaluations.
METHODS = {"dopri5": _rk, "ark": _ark}
#: Rows integrated together by :func:`simulate`.
BATCH = 4 * _rk.DEFAULT_BATCH


def _stiffness(p: MothParams) -> float:
    """A typical relaxation rate of the joint damper (1/s)."""
    d = p.derived
    return d["c"] * (d["M11"] + d["M22"]) / (d["M11"] * d["M22"]
                                             - d["M12c"] ** 2 / 2)


def auto_method(p: MothParams, rtol: float, t_end: float) -> str:
    """The integrator expected to need fewer evaluations."""
    lam = _stiffness(p)
    dopri_steps = lam * t_end / (_rk.CAP * _rk.STAB)
    # Measured on the base case: ~61 ARK steps at rtol 1e-5, growing as
    # rtol^-0.29 and (stiffness)^0.6; an ARK step costs ~4 DOPRI steps.
    ark_steps = (61.0 * (1e-5 / rtol) ** 0.29 * (t_end / T_END)
                 * (lam / _stiffness(MothParams())) ** 0.6)
    return "dopri5" if dopri_steps <= 4.0 * ark_steps else "ark"


def _frame(start, y0, u, yf, status, nsteps) -> pd.DataFrame:
    cols = {"sim_id": np.arange(start, start + y0.shape[1], dtype=np.int64)}
    for k, name in enumerate(STATE_NAMES):
        cols[name + "0"] = y0[k]
    for k, name in enumerate(CONTROL_NAMES):
        cols[name] = u[k]
    for k, name in enumerate(STATE_NAMES):
        cols[STATE_TO_FINAL[name]] = yf[k]
    cols["status"] = status.astype(np.int8)
    cols["converged"] = status == 0
    cols["n_steps"] = nsteps.astype(np.int32)
    order = (["sim_id"] + list(INITIAL_COLUMNS) + list(CONTROL_COLUMNS)
             + list(FINAL_COLUMNS) + ["status", "converged", "n_steps"])
    return pd.DataFrame(cols)[order]


def simulate_rows(start, stop, seed, ranges, params, rtol, t_end, method):
    """Rows ``start:stop`` of a simulation (before duplicate removal)."""
    y0, u = sample_inputs(start, stop, seed, ranges)
    yf, status, nsteps = METHODS[method].integrate(params, y0, u, t_end,
                                                   rtol=rtol)
    return _frame(start, y0, u, yf, status, nsteps)


def drop_duplicate_controls(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the rows whose ``(F, alpha, tau)`` repeats an earlier
    row."""
    dup = df.duplicated(subset=list(CONTROL_COLUMNS), keep="first")
    if dup.any():
        df = df.loc[~dup].reset_index(drop=True)
    return df


def simulate(n: int, seed: int = 0, *, s: float = 1.0,
             params: MothParams | None = None, t_end: float = T_END,
             method: str = "auto", rtol: float = DEFAULT_RTOL,
             drop_duplicates: bool = True, progress: bool = False,
             **ranges) -> pd.DataFrame:
    """Simulate ``n`` random moth flights of ``t_end`` seconds (default 20 ms).

    Initial states and constant controls are drawn uniformly from the ranges
    (``DEFAULT_RANGES``: those of the study; override any with
    ``name=(low, high)`` or ``name=value`` to fix it) and integrated in
    vectorised batches. Row ``i`` depends only on ``seed`` and ``i``.

    Args:
        n: number of simulations (>= 1).
        seed: random seed (>= 0).
        s: size scale of the moth (lengths scale with ``s``, densities not).
        params: a full :class:`MothParams` instead of ``s`` (e.g. to switch
            drag, damping or gravity off).
        t_end: simulated time in seconds.
        method: ``"auto"`` (default), ``"dopri5"`` or ``"ark"``; see
            ``METHODS``. Both give the same answer to within the tolerance.
        rtol: relative tolerance of the per-step error control. The default
            1e-7 keeps final states within ~2e-7 (relative to
            ``max(|value|, typical size)``) of a tight-tolerance reference,
            more accurate than the original study's LSODA runs (~1e-6);
            ``rtol=1e-4`` (errors <~1e-3) is about twice as fast.
        drop_duplicates: drop rows whose ``(F, alpha, tau)`` repeats an
            earlier row.
        progress: show a progress bar over batches.
        **ranges: sampling ranges, e.g. ``F=(0, 20000)``, ``theta0=0.0``.

    Returns:
        DataFrame with ``sim_id``, the initial state ``x0, y0, theta0, phi0,
        xdot0, ydot0, thetadot0, phidot0``, the controls ``F, alpha, tau``,
        the final state ``xf, yf, thetaf, phif, xdotf, ydotf, thetadotf,
        phidotf`` (CGS, radians), ``status`` (see ``STATUS_CODES``; 0 when the
        integration converged), ``converged`` (bool) and ``n_steps``.
        Non-converged rows are kept but flagged; :func:`make_dataset` drops
        them.

    Raises:
        ValueError: for ``n < 1``, a negative seed, a range with low > high
            or a non-finite bound.
        TypeError: for an unknown range name.
    """
    func = "simulate"
    n, seed, t_end, rtol = common_checks(n, seed, t_end, rtol, method,
                                         METHODS, func)
    ranges = check_ranges(ranges, func)
    p = params_from(s, params, func)
    if method == "auto":
        method = auto_method(p, rtol, t_end)
    starts = range(0, n, BATCH)
    if progress and len(starts) > 1:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="moth simulate", unit="batch")
    df = pd.concat([simulate_rows(start, min(start + BATCH, n), seed, ranges,
                                  p, rtol, t_end, method)
                    for start in starts], ignore_index=True)
    return drop_duplicate_controls(df) if drop_duplicates else df


def _reference_rows(job):
    y0, u, pdict, t_end, method, kw = job
    from scipy.integrate import solve_ivp
    p = MothParams(**pdict)
    out = np.empty_like(y0)
    status = np.empty(len(y0), dtype=np.int8)
    for i in range(len(y0)):
        f = scalar_rhs(p, *u[i])
        sol = solve_ivp(f, (0.0, t_end), y0[i], method=method, **kw)
        status[i] = 0 if sol.status == 0 else -1
        out[i] = sol.y[:, -1] if sol.status == 0 else np.nan
    return out, status


def reference_solve(y0, u, *, params: MothParams | None = None,
                    t_end: float = T_END, method: str = "LSODA",
                    rtol: float | None = 1e-10, atol=None,
                    workers: int = 1):
    """Integrate each trajectory on its own with ``scipy.integrate.solve_ivp``.

    The slow, trusted path used to check the vectorised integrator. The
    original study's method is ``method="LSODA"`` with odeint's default
    tolerances, ``rtol=1.49012e-8, atol=1.49012e-8``; ``rtol=None`` gives
    solve_ivp's much looser defaults (rtol 1e-3, atol 1e-6).

    Args:
        y0: initial states, shape (m, 8) in the order ``STATE_NAMES``
            (``x, xdot, y, ydot, theta, thetadot, phi, phidot``).
        u: controls, shape (m, 3): ``F, alpha, tau``.
        params: model parameters (default: base case).
        t_end: end time (s).
        method: any ``solve_ivp`` method (LSODA, Radau, BDF, DOP853, ...).
        rtol: relative tolerance; ``None`` for solve_ivp's default.
        atol: absolute tolerance (scalar or per state); default ``rtol``
            times ``(1, 1e3, 1, 1e3, 1, 10, 1, 10)``, or solve_ivp's default
            when ``rtol`` is ``None``.
        workers: processes to spread the trajectories over.

    Returns:
        ``(yf, status)``: final states (m, 8) (NaN where solve_ivp failed)
        and solve_ivp's status per row (0 success, -1 failure).
    """
    func = "reference_solve"
    p = params or MothParams()
    y0 = np.atleast_2d(np.asarray(y0, dtype=np.float64))
    u = np.atleast_2d(np.asarray(u, dtype=np.float64))
    if y0.ndim != 2 or y0.shape[1] != 8 or u.shape != (len(y0), 3):
        raise InvalidParameterError(
            f"{func}(): 'y0' must be (m, 8) and 'u' (m, 3); got "
            f"{y0.shape} and {u.shape}.")
    workers = check_int(workers, "workers", func, min_value=1)
    kw = {}
    if rtol is not None:
        kw["rtol"] = rtol
        kw["atol"] = rtol * _rk.STATE_SCALE if atol is None else atol
    elif atol is not None:
        kw["atol"] = atol
    pdict = p.to_dict()
    parts = np.array_split(np.arange(len(y0)), min(workers, len(y0)))
    jobs = [(y0[i], u[i], pdict, float(t_end), method, kw) for i in parts]
    if len(jobs) == 1:
        results = [_reference_rows(jobs[0])]
    else:
        with worker_pool(len(jobs)) as ex:
            results = list(ex.map(_reference_rows, jobs))
    return (np.concatenate([r[0] for r in results]),
            np.concatenate([r[1] for r in results]))


def trajectory(y0, u, *, params: MothParams | None = None,
               t_end: float = T_END, n_points: int = 101):
    """The full path of one simulation, sampled at ``n_points`` times.

    Args:
        y0: initial state (8,) in ``STATE_NAMES`` order.
        u: controls ``(F, alpha, tau)``.
        params: model parameters (default: base case).
        t_end: end time (s).
        n_points: number of samples from 0 to ``t_end``.

    Returns:
        ``(t, states)``: times (n_points,) and states (n_points, 8).
    """
    from scipy.integrate import solve_ivp
    p = params or MothParams()
    n_points = check_int(n_points, "n_points", "trajectory", min_value=2)
    y0 = np.asarray(y0, dtype=np.float64).reshape(8)
    F, al, tau = (float(v) for v in np.asarray(u, dtype=np.float64))
    t = np.linspace(0.0, t_end, n_points)
    sol = solve_ivp(scalar_rhs(p, F, al, tau), (0.0, t_end), y0,
                    method="LSODA", t_eval=t, rtol=1e-8,
                    atol=1e-8 * _rk.STATE_SCALE)
    if sol.status != 0:
        raise RuntimeError(f"trajectory(): the solver failed: {sol.message}")
    return sol.t, sol.y.T


def states_of(df: pd.DataFrame, which: str = "initial") -> np.ndarray:
    """States of a simulation frame as (m, 8) in ``STATE_NAMES`` order."""
    suffix = "0" if which == "initial" else "f"
    return df[[n + suffix for n in STATE_NAMES]].to_numpy(np.float64)


def controls_of(df: pd.DataFrame) -> np.ndarray:
    """Controls ``(F, alpha, tau)`` of a simulation frame as (m, 3)."""
    return df[list(CONTROL_COLUMNS)].to_numpy(np.float64)
