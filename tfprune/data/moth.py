"""Simulated hawkmoth hovering flights and the controller data set.

The model (spec ``moth.md`` §1): two rigid prolate ellipsoids (head-thorax
and abdomen) joined at the petiole by a torsional spring and damper, a wing
force ``F`` at angle ``alpha`` to the thorax axis, an abdominal torque
``tau``, gravity and Reynolds-dependent drag; CGS units, angles in radians.
Each simulation draws a random initial state and random constant controls and
integrates 20 ms. The integrator is a batched adaptive Dormand-Prince 5(4)
method with per-trajectory error control and a per-trajectory step cap from
the stiff joint damper's relaxation rate, so thousands of trajectories
advance together in numpy (see ``_moth_rk``).

Public entry points: :func:`simulate`, :func:`make_dataset`,
:func:`simulate_to_disk`, :func:`load_simulations`, :func:`reference_solve`.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._validate import check_choice, check_float, check_int, check_type
from ..errors import InvalidParameterError
from ..utils import progress_bar
from ._moth_model import CONTROL_NAMES, STATE_NAMES, MothParams
from . import _moth_ark, _moth_rk

__all__ = ["simulate", "make_dataset", "simulate_to_disk", "load_simulations",
           "reference_solve", "MothDataset", "MothScaler", "MothParams",
           "DEFAULT_RANGES", "INPUT_COLUMNS", "OUTPUT_COLUMNS",
           "INITIAL_COLUMNS", "FINAL_COLUMNS", "CONTROL_COLUMNS",
           "STATUS_CODES", "T_END", "DEFAULT_RTOL", "SAMPLE_BLOCK", "METHODS",
           "sample_inputs", "trajectory", "states_of", "controls_of", "network_arrays"]

T_END = 0.02
DEFAULT_RTOL = 1e-7
#: Integrators. "dopri5": explicit, each step capped by the joint damper's
#: stability limit; the fastest at tight tolerances for the base-size moth.
#: "ark": IMEX with the damper implicit; no stability limit, so the fastest
#: at loose tolerances (rtol >= 1e-6) and for small moths (s < 1, where the
#: damper is stiffer as ~s^-5). "auto" picks the one with fewer expected
#: evaluations.
METHODS = {"dopri5": _moth_rk, "ark": _moth_ark}


def _stiffness(p: MothParams) -> float:
    """A typical relaxation rate of the joint damper (1/s)."""
    d = p.derived
    return d["c"] * (d["M11"] + d["M22"]) / (d["M11"] * d["M22"]
                                             - d["M12c"] ** 2 / 2)


def _auto_method(p: MothParams, rtol: float, t_end: float) -> str:
    lam = _stiffness(p)
    dopri_steps = lam * t_end / (_moth_rk.CAP * _moth_rk.STAB)
    # Measured on the base case: ~61 ARK steps at rtol 1e-5, growing as
    # rtol^-0.29 and (stiffness)^0.6; an ARK step costs ~4 DOPRI steps.
    ark_steps = (61.0 * (1e-5 / rtol) ** 0.29 * (t_end / T_END)
                 * (lam / _stiffness(MothParams())) ** 0.6)
    return "dopri5" if dopri_steps <= 4.0 * ark_steps else "ark"


#: Rows are drawn in blocks of this size, each from its own child seed, so a
#: row's random numbers depend only on ``seed`` and its index.
SAMPLE_BLOCK = 1024

TWO_PI = 2.0 * math.pi
#: Sampling ranges ``(low, high)`` of the original study (uniform draws).
DEFAULT_RANGES = {
    "F": (0.0, 44300.0),
    "alpha": (0.0, TWO_PI),
    "tau": (-100000.0, 100000.0),
    "x0": (0.0, 0.0),
    "xdot0": (-1500.0, 1500.0),
    "y0": (0.0, 0.0),
    "ydot0": (-1500.0, 1500.0),
    "theta0": (0.0, TWO_PI),
    "thetadot0": (-25.0, 25.0),
    "phi0": (0.0, TWO_PI),
    "phidot0": (-25.0, 25.0),
}
_IC_ORDER = ("x0", "xdot0", "y0", "ydot0", "theta0", "thetadot0", "phi0",
             "phidot0")
INITIAL_COLUMNS = ("x0", "y0", "theta0", "phi0", "xdot0", "ydot0",
                   "thetadot0", "phidot0")
CONTROL_COLUMNS = ("F", "alpha", "tau")
FINAL_COLUMNS = ("xf", "yf", "thetaf", "phif", "xdotf", "ydotf", "thetadotf",
                 "phidotf")
_STATE_TO_FINAL = {n: n + "f" for n in STATE_NAMES}
#: The 10 network inputs, in order (x0 = y0 = 0 are dropped; angles unwrapped).
INPUT_COLUMNS = ("phi0", "theta0", "xf", "yf", "phif", "thetaf", "xdot0",
                 "ydot0", "phidot0", "thetadot0")
#: The 7 network outputs, in order (Fx, Fy in the thorax frame).
OUTPUT_COLUMNS = ("Fx", "Fy", "tau", "xdotf", "ydotf", "phidotf",
                  "thetadotf")
#: Values of the ``status`` column.
STATUS_CODES = {0: "converged", 1: "too many steps", 2: "step size underflow",
                3: "non-finite state"}


# --------------------------------------------------------------------------
# validation and sampling
# --------------------------------------------------------------------------
def _check_ranges(ranges: dict, func: str) -> dict:
    out = dict(DEFAULT_RANGES)
    for name, value in ranges.items():
        if name not in DEFAULT_RANGES:
            raise TypeError(
                f"{func}(): unknown argument {name!r}; sampling ranges are "
                f"{', '.join(DEFAULT_RANGES)}.")
        if isinstance(value, (int, float, np.number)) and not isinstance(
                value, bool):
            value = (value, value)
        try:
            lo, hi = value
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"{func}(): range {name!r} must be a (low, high) pair or a "
                f"single number; got {value!r}.") from None
        lo = check_float(lo, f"{name}[0]", func)
        hi = check_float(hi, f"{name}[1]", func)
        if lo > hi:
            raise InvalidParameterError(
                f"{func}(): range {name!r} has low > high ({lo} > {hi}); "
                "give it as (low, high).")
        out[name] = (lo, hi)
    return out


def _params_from(s, params, func) -> MothParams:
    if params is not None:
        check_type(params, MothParams, "params", func)
        if s != 1.0 and s != params.s:
            raise InvalidParameterError(
                f"{func}(): give the size scale either as 's' or inside "
                f"'params', not both (s={s}, params.s={params.s}).")
        return params
    s = check_float(s, "s", func, min_value=0.0, min_inclusive=False)
    return MothParams(s=s)


def _draw_block(seed: int, block: int, ranges: dict):
    rng = np.random.default_rng(np.random.SeedSequence(seed,
                                                       spawn_key=(block,)))
    r_u = rng.random((SAMPLE_BLOCK, 3))
    r_y = rng.random((SAMPLE_BLOCK, 8))
    u = np.empty((3, SAMPLE_BLOCK))
    y = np.empty((8, SAMPLE_BLOCK))
    for k, name in enumerate(CONTROL_NAMES):
        lo, hi = ranges[name]
        u[k] = lo + (hi - lo) * r_u[:, k]
    for k, name in enumerate(_IC_ORDER):
        lo, hi = ranges[name]
        y[k] = lo + (hi - lo) * r_y[:, k]
    return y, u


def sample_inputs(start: int, stop: int, seed: int, ranges: dict):
    """Initial states (8, m) and controls (3, m) of rows ``start:stop``.

    Row ``i`` is drawn from the child seed ``(seed, i // SAMPLE_BLOCK)``, so
    it is the same whatever chunk it is computed in.
    """
    ys, us = [], []
    for b in range(start // SAMPLE_BLOCK, -(-stop // SAMPLE_BLOCK)):
        y, u = _draw_block(seed, b, ranges)
        lo = max(start - b * SAMPLE_BLOCK, 0)
        hi = min(stop - b * SAMPLE_BLOCK, SAMPLE_BLOCK)
        ys.append(y[:, lo:hi])
        us.append(u[:, lo:hi])
    if not ys:
        return np.empty((8, 0)), np.empty((3, 0))
    return np.concatenate(ys, axis=1), np.concatenate(us, axis=1)


def _frame(start, y0, u, yf, status, nsteps) -> pd.DataFrame:
    cols = {"sim_id": np.arange(start, start + y0.shape[1], dtype=np.int64)}
    for k, name in enumerate(STATE_NAMES):
        cols[name + "0"] = y0[k]
    for k, name in enumerate(CONTROL_NAMES):
        cols[name] = u[k]
    for k, name in enumerate(STATE_NAMES):
        cols[_STATE_TO_FINAL[name]] = yf[k]
    cols["status"] = status.astype(np.int8)
    cols["converged"] = status == 0
    cols["n_steps"] = nsteps.astype(np.int32)
    order = (["sim_id"] + list(INITIAL_COLUMNS) + list(CONTROL_COLUMNS)
             + list(FINAL_COLUMNS) + ["status", "converged", "n_steps"])
    return pd.DataFrame(cols)[order]


def _simulate_rows(start, stop, seed, ranges, params, rtol, t_end, method):
    y0, u = sample_inputs(start, stop, seed, ranges)
    yf, status, nsteps = METHODS[method].integrate(params, y0, u, t_end,
                                                   rtol=rtol)
    return _frame(start, y0, u, yf, status, nsteps)


def _drop_duplicate_controls(df: pd.DataFrame) -> pd.DataFrame:
    dup = df.duplicated(subset=list(CONTROL_COLUMNS), keep="first")
    if dup.any():
        df = df.loc[~dup].reset_index(drop=True)
    return df


def _common_checks(n, seed, t_end, rtol, method, func):
    n = check_int(n, "n", func, min_value=1)
    seed = check_int(seed, "seed", func, min_value=0)
    t_end = check_float(t_end, "t_end", func, min_value=0.0,
                        min_inclusive=False)
    check_choice(method, ("auto",) + tuple(METHODS), "method", func)
    rtol = check_float(rtol, "rtol", func, min_value=1e-12, max_value=1e-2)
    return n, seed, t_end, rtol


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
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
    n, seed, t_end, rtol = _common_checks(n, seed, t_end, rtol, method, func)
    ranges = _check_ranges(ranges, func)
    p = _params_from(s, params, func)
    if method == "auto":
        method = _auto_method(p, rtol, t_end)
    batch = 4 * _moth_rk.DEFAULT_BATCH
    frames = []
    starts = range(0, n, batch)
    if progress and len(starts) > 1:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="moth simulate", unit="batch")
    for start in starts:
        frames.append(_simulate_rows(start, min(start + batch, n), seed,
                                     ranges, p, rtol, t_end, method))
    df = pd.concat(frames, ignore_index=True)
    if drop_duplicates:
        df = _drop_duplicate_controls(df)
    return df


def _reference_rows(job):
    y0, u, pdict, t_end, method, kw = job
    from scipy.integrate import solve_ivp
    from ._moth_model import scalar_rhs
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
        kw["atol"] = rtol * _moth_rk.STATE_SCALE if atol is None else atol
    elif atol is not None:
        kw["atol"] = atol
    pdict = p.to_dict()
    parts = np.array_split(np.arange(len(y0)), min(workers, len(y0)))
    jobs = [(y0[i], u[i], pdict, float(t_end), method, kw) for i in parts]
    if len(jobs) == 1:
        results = [_reference_rows(jobs[0])]
    else:
        with _pool(len(jobs)) as ex:
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
    from ._moth_model import scalar_rhs
    p = params or MothParams()
    n_points = check_int(n_points, "n_points", "trajectory", min_value=2)
    y0 = np.asarray(y0, dtype=np.float64).reshape(8)
    F, al, tau = (float(v) for v in np.asarray(u, dtype=np.float64))
    t = np.linspace(0.0, t_end, n_points)
    sol = solve_ivp(scalar_rhs(p, F, al, tau), (0.0, t_end), y0,
                    method="LSODA", t_eval=t, rtol=1e-8,
                    atol=1e-8 * _moth_rk.STATE_SCALE)
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


# --------------------------------------------------------------------------
# network data set
# --------------------------------------------------------------------------
class MothScaler:
    """Per-column min-max scaling to [-0.5, 0.5], fitted on training data.

    ``x~ = (x - min) / (max - min) - 0.5``; a column with ``max == min`` maps
    to 0. ``transform_x``/``transform_y`` scale network inputs/outputs,
    ``inverse_x``/``inverse_y`` undo it. ``input_names``/``output_names`` are
    the column names in order.
    """

    def __init__(self, x_min, x_max, y_min, y_max,
                 input_names=INPUT_COLUMNS, output_names=OUTPUT_COLUMNS):
        self.x_min = np.asarray(x_min, dtype=np.float64)
        self.x_max = np.asarray(x_max, dtype=np.float64)
        self.y_min = np.asarray(y_min, dtype=np.float64)
        self.y_max = np.asarray(y_max, dtype=np.float64)
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)

    @classmethod
    def fit(cls, x, y, input_names=INPUT_COLUMNS,
            output_names=OUTPUT_COLUMNS) -> "MothScaler":
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return cls(x.min(0), x.max(0), y.min(0), y.max(0), input_names,
                   output_names)

    @staticmethod
    def _span(lo, hi):
        span = hi - lo
        return np.where(span > 0, span, 1.0)

    def _fwd(self, a, lo, hi, dtype):
        a = np.asarray(a, dtype=np.float64)
        out = (a - lo) / self._span(lo, hi) - 0.5
        return out.astype(dtype) if dtype is not None else out

    def _inv(self, a, lo, hi):
        a = np.asarray(a, dtype=np.float64)
        return (a + 0.5) * self._span(lo, hi) + lo

    def transform_x(self, x, dtype=np.float32):
        """Scale raw inputs (m, 10) to [-0.5, 0.5] (training range)."""
        return self._fwd(x, self.x_min, self.x_max, dtype)

    def transform_y(self, y, dtype=np.float32):
        """Scale raw outputs (m, 7) to [-0.5, 0.5] (training range)."""
        return self._fwd(y, self.y_min, self.y_max, dtype)

    def inverse_x(self, x):
        """Scaled inputs back to CGS units / radians (float64)."""
        return self._inv(x, self.x_min, self.x_max)

    def inverse_y(self, y):
        """Scaled outputs back to CGS units (float64)."""
        return self._inv(y, self.y_min, self.y_max)

    def to_dict(self) -> dict:
        return {"x_min": self.x_min.tolist(), "x_max": self.x_max.tolist(),
                "y_min": self.y_min.tolist(), "y_max": self.y_max.tolist(),
                "input_names": list(self.input_names),
                "output_names": list(self.output_names)}

    @classmethod
    def from_dict(cls, d: dict) -> "MothScaler":
        return cls(d["x_min"], d["x_max"], d["y_min"], d["y_max"],
                   d.get("input_names", INPUT_COLUMNS),
                   d.get("output_names", OUTPUT_COLUMNS))

    def __repr__(self):
        return (f"MothScaler(inputs={list(self.input_names)}, "
                f"outputs={list(self.output_names)})")


class MothDataset(NamedTuple):
    """Scaled splits of the controller data: ``(x, y)`` float32 each."""

    train: tuple
    val: tuple
    test: tuple
    scaler: MothScaler


def network_arrays(df: pd.DataFrame):
    """Raw network inputs (m, 10) and outputs (m, 7) of a simulation frame."""
    x = df[list(INPUT_COLUMNS)].to_numpy(np.float64)
    F = df["F"].to_numpy(np.float64)
    al = df["alpha"].to_numpy(np.float64)
    y = np.stack([F * np.cos(al), F * np.sin(al),
                  df["tau"].to_numpy(np.float64),
                  df["xdotf"].to_numpy(np.float64),
                  df["ydotf"].to_numpy(np.float64),
                  df["phidotf"].to_numpy(np.float64),
                  df["thetadotf"].to_numpy(np.float64)], axis=1)
    return x, y


def make_dataset(n: int | None = None, seed: int = 0, *, data=None,
                 test_fraction: float = 0.2, val_fraction: float = 0.2,
                 split_seed: int = 123, dtype=np.float32,
                 **simulate_kwargs) -> MothDataset:
    """Controller data set: 10 inputs, 7 outputs, scaled and split.

    Simulates ``n`` flights (or uses ``data``), drops rows whose integration
    did not converge (with a warning) and rows with duplicate controls,
    shuffles with ``split_seed`` and splits: ``test_fraction`` of the rows to
    the test set, then ``val_fraction`` of the rest to validation (defaults
    80/20 then 80/20: the multi-network version of the study; use
    ``test_fraction=0`` for its 80/20 train/val TF version). The min-max
    scaler to [-0.5, 0.5] is fitted on the training split only.

    Args:
        n: number of simulations (ignored when ``data`` is given, except that
            ``n`` rows are taken from it when smaller).
        seed: simulation seed.
        data: a DataFrame from :func:`simulate` / :func:`load_simulations`,
            or a folder written by :func:`simulate_to_disk`.
        test_fraction: fraction of rows for the test split, in [0, 1).
        val_fraction: fraction of the remaining rows for validation, [0, 1).
        split_seed: seed of the shuffle before splitting.
        dtype: dtype of the returned arrays.
        **simulate_kwargs: passed to :func:`simulate` (``s``, ranges, ...).

    Returns:
        ``MothDataset(train, val, test, scaler)``; each split is ``(x, y)``
        with ``x`` (m, 10) in ``INPUT_COLUMNS`` order and ``y`` (m, 7) in
        ``OUTPUT_COLUMNS`` order, scaled by ``scaler`` (a
        :class:`MothScaler`).
    """
    func = "make_dataset"
    test_fraction = check_float(test_fraction, "test_fraction", func, 0.0,
                                1.0, max_inclusive=False)
    val_fraction = check_float(val_fraction, "val_fraction", func, 0.0, 1.0,
                               max_inclusive=False)
    split_seed = check_int(split_seed, "split_seed", func, min_value=0)
    if data is None:
        if n is None:
            raise InvalidParameterError(
                f"{func}(): give the number of simulations 'n' or existing "
                "simulations as 'data'.")
        df = simulate(n, seed, **simulate_kwargs)
    else:
        if simulate_kwargs:
            raise TypeError(
                f"{func}(): simulation arguments "
                f"{sorted(simulate_kwargs)} cannot be used with 'data'.")
        if isinstance(data, (str, os.PathLike)):
            df = load_simulations(data)
        elif isinstance(data, pd.DataFrame):
            df = data
        else:
            raise TypeError(f"{func}(): 'data' must be a DataFrame or a "
                            f"folder path; got {type(data).__name__}.")
        missing = [c for c in set(INPUT_COLUMNS) | {"F", "alpha", "tau",
                   "xdotf", "ydotf", "phidotf", "thetadotf"}
                   if c not in df.columns]
        if missing:
            raise InvalidParameterError(
                f"{func}(): 'data' lacks the columns {sorted(missing)}; pass "
                "the output of simulate() or load_simulations().")
        if n is not None:
            n = check_int(n, "n", func, min_value=1)
            df = df.iloc[:n]
    if "converged" in df.columns:
        bad = ~df["converged"].to_numpy(bool)
        if bad.any():
            warnings.warn(f"{func}(): dropping {int(bad.sum())} simulations "
                          "whose integration did not converge.",
                          RuntimeWarning, stacklevel=2)
            df = df.loc[~bad]
    df = _drop_duplicate_controls(df.reset_index(drop=True))
    x, y = network_arrays(df)
    m = len(x)
    n_test = int(round(test_fraction * m))
    n_val = int(round(val_fraction * (m - n_test)))
    n_train = m - n_test - n_val
    if n_train < 1:
        raise InvalidParameterError(
            f"{func}(): {m} simulations leave no training rows with "
            f"test_fraction={test_fraction}, val_fraction={val_fraction}.")
    idx = np.random.default_rng(split_seed).permutation(m)
    te, va, tr = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
    scaler = MothScaler.fit(x[tr], y[tr])

    def part(i):
        return (scaler.transform_x(x[i], dtype),
                scaler.transform_y(y[i], dtype))

    return MothDataset(part(tr), part(va), part(te), scaler)


# --------------------------------------------------------------------------
# generation to disk
# --------------------------------------------------------------------------
def _shard_name(i: int) -> str:
    return f"shard_{i:06d}.npz"


def _run_chunk(job):
    (i, start, stop, seed, ranges, pdict, rtol, t_end, method, out_dir) = job
    from .._io import atomic_save_npz
    df = _simulate_rows(start, stop, seed, ranges, MothParams(**pdict), rtol,
                        t_end, method)
    atomic_save_npz(Path(out_dir) / _shard_name(i),
                    **{c: df[c].to_numpy() for c in df.columns})
    return i, int((~df["converged"]).sum())


def _pool(workers):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method))


def simulate_to_disk(n: int, out_dir, seed: int = 0, chunk_size: int = 50_000,
                     workers: int | None = None, progress: bool = True, *,
                     s: float = 1.0, params: MothParams | None = None,
                     t_end: float = T_END, method: str = "auto",
                     rtol: float = DEFAULT_RTOL, **ranges) -> Path:
    """Simulate ``n`` flights in chunks on all cores, written as they finish.

    Each chunk becomes ``shard_XXXXXX.npz`` (written atomically) in
    ``out_dir``; ``manifest.json`` records the seed, ranges, parameters and
    chunking and ``units/`` one commit record per finished chunk. Running again with the
    same arguments resumes: finished shards are not recomputed; other
    arguments are refused (``ResumeMismatchError``). The rows are the rows of
    ``simulate(n, seed, ...)`` (before duplicate removal), bit for bit,
    whatever ``chunk_size`` and ``workers``.

    Args:
        n: number of simulations.
        out_dir: folder for the shards (created if needed).
        seed: random seed.
        chunk_size: simulations per shard.
        workers: processes (default: all cores; 1 runs in this process).
        progress: show a progress bar over chunks.
        s, params, t_end, method, rtol, **ranges: as in :func:`simulate`.

    Returns:
        The folder; load it with :func:`load_simulations` or pass it to
        :func:`make_dataset` as ``data``.
    """
    from .._runstate import RunDir
    func = "simulate_to_disk"
    n, seed, t_end, rtol = _common_checks(n, seed, t_end, rtol, method, func)
    chunk_size = check_int(chunk_size, "chunk_size", func, min_value=1)
    workers = check_int(workers, "workers", func, min_value=1,
                        allow_none=True) or os.cpu_count() or 1
    ranges = _check_ranges(ranges, func)
    p = _params_from(s, params, func)
    if method == "auto":
        method = _auto_method(p, rtol, t_end)
    n_chunks = -(-n // chunk_size)
    run = RunDir(out_dir, {"n": n, "seed": seed, "chunk_size": chunk_size,
                           "n_chunks": n_chunks, "t_end": t_end, "rtol": rtol,
                           "ranges": {k: list(v) for k, v in ranges.items()},
                           "params": p.to_dict(),
                           "sample_block": SAMPLE_BLOCK,
                           "method": method,
                           "integrator": METHODS[method].METHOD},
                 kind="moth_simulations", func=func)
    done = set(run.done())
    todo = [i for i in range(n_chunks)
            if i not in done or not run.file(_shard_name(i)).exists()]
    jobs = [(i, i * chunk_size, min((i + 1) * chunk_size, n), seed, ranges,
             p.to_dict(), rtol, t_end, method, str(run.path)) for i in todo]
    bar = progress_bar(progress, n_chunks, initial=n_chunks - len(todo),
                       desc="moth simulate", unit="chunk")
    failed = 0
    try:
        if workers == 1 or len(jobs) <= 1:
            results = map(_run_chunk, jobs)
            for i, nbad in results:
                failed += nbad
                run.mark_done(i)
                bar.update(1)
        else:
            from concurrent.futures import as_completed
            with _pool(min(workers, len(jobs))) as ex:
                futs = [ex.submit(_run_chunk, j) for j in jobs]
                for fut in as_completed(futs):
                    i, nbad = fut.result()
                    failed += nbad
                    run.mark_done(i)
                    bar.update(1)
    finally:
        bar.close()
    if failed:
        warnings.warn(f"{func}(): {failed} simulations did not converge; "
                      "they are flagged in the 'converged' column.",
                      RuntimeWarning, stacklevel=2)
    return run.path


def load_simulations(path, drop_duplicates: bool = True) -> pd.DataFrame:
    """Read the shards of a :func:`simulate_to_disk` folder into one frame.

    Raises:
        ValueError: when the folder has no manifest or misses shards (an
            unfinished run: call ``simulate_to_disk`` again to finish it).
    """
    from .._io import read_json
    func = "load_simulations"
    path = Path(path)
    mpath = path / "manifest.json"
    if not mpath.exists():
        raise InvalidParameterError(
            f"{func}(): {str(path)!r} has no manifest.json; give a folder "
            "written by simulate_to_disk().")
    manifest = read_json(mpath)
    n_chunks = manifest["params"]["n_chunks"]
    missing = [i for i in range(n_chunks)
               if not (path / _shard_name(i)).exists()]
    if missing:
        raise InvalidParameterError(
            f"{func}(): {len(missing)} of {n_chunks} shards are missing in "
            f"{str(path)!r} (first: {_shard_name(missing[0])}); run "
            "simulate_to_disk() again with the same arguments to finish it.")
    frames = []
    for i in range(n_chunks):
        with np.load(path / _shard_name(i)) as z:
            frames.append(pd.DataFrame({k: z[k] for k in z.files}))
    df = pd.concat(frames, ignore_index=True)
    if drop_duplicates:
        df = _drop_duplicate_controls(df)
    return df
