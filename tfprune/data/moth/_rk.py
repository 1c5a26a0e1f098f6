"""Batched adaptive Dormand-Prince 5(4) integrator for the moth model.

Thousands of trajectories advance together in numpy; each has its own time,
step size and error control, and finished trajectories leave the working set.

Stiffness. The joint damper relaxes the relative rotation of thorax and
abdomen at the rate ``lambda = c e^T M^-1 e`` (``e = (0, 0, 1, -1)``), between
about 2.4e4 and 6.5e4 1/s depending on the angle between the two bodies,
while every other eigenvalue of the Jacobian is below ~100 1/s. An explicit
method is stable only for ``h * lambda`` inside its stability interval
(3.307 for Dormand-Prince), and at those steps (5e-5 to 1.4e-4 s) its local
error is already far below the tolerance, so each step is capped at
``0.9 * 3.307 / lambda``, computed per trajectory from its current angles.
This avoids the rejected steps a plain error controller makes at the
stability boundary. (An IMEX or implicit 5th-order method needs as many
function evaluations here: the slow dynamics, resolved to 1e-8, hold it to
similar steps.)

Cost. ``np.sin``/``np.cos`` cost ~30 multiplications each, so the stage
angles, which differ from the step's start by ``|delta| < 0.1`` rad, use
``sin(a + d) = sin a C(d) + cos a S(d)`` with Taylor polynomials ``S``, ``C``
exact to double precision there (and the library functions for any element
where ``|delta|`` is larger). The positions ``x``, ``y`` do not enter the
dynamics and are only accumulated.

Determinism. Every operation is elementwise, so a trajectory's result does
not depend on which others share its batch; chunking and worker count do not
change the output.
"""
from __future__ import annotations

import numpy as np

from ._model import MothParams

__all__ = ["integrate", "METHOD", "STATE_SCALE", "DEFAULT_BATCH"]

METHOD = "DOPRI5(4), stability-capped steps"
#: Typical magnitudes of (x, xdot, y, ydot, theta, thetadot, phi, phidot):
#: absolute tolerance = rtol * STATE_SCALE.
STATE_SCALE = np.array([1.0, 1e3, 1.0, 1e3, 1.0, 10.0, 1.0, 10.0])
DEFAULT_BATCH = 16384
MAX_STEPS = 20000
STAB = 3.306567892635437
CAP = 0.9
DELTA_MAX = 0.1

# Dormand & Prince (1980) coefficients.
_A = [[],
      [1 / 5],
      [3 / 40, 9 / 40],
      [44 / 45, -56 / 15, 32 / 9],
      [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
      [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
      [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]]
_B = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0]
_BS = [5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200,
       187 / 2100, 1 / 40]
_E = [b - bs for b, bs in zip(_B, _BS)]

# Dynamic state z = (xdot, ydot, theta, thetadot, phi, phidot).
_Z_OF_Y = [1, 3, 4, 5, 6, 7]
_SCALE_Z = STATE_SCALE[_Z_OF_Y][:, None]
_SCALE_P = STATE_SCALE[[0, 2]][:, None]

# Taylor coefficients of sin(d)/d and cos(d) in d^2, exact for |d| <= 0.1.
_SIN_C = [1.0, -1 / 6, 1 / 120, -1 / 5040, 1 / 362880, -1 / 39916800]
_COS_C = [1.0, -1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800,
          1 / 479001600]


def _poly(d2, coef):
    out = coef[-1] * d2
    for c in coef[-2:0:-1]:
        out += c
        out *= d2
    out += coef[0]
    return out


def _sincos_near(a, s0, c0, delta):
    """sin, cos of ``a = a0 + delta`` from ``s0 = sin a0``, ``c0 = cos a0``."""
    d2 = delta * delta
    S = _poly(d2, _SIN_C)
    S *= delta
    C = _poly(d2, _COS_C)
    s = s0 * C
    s += c0 * S
    c = c0 * C
    c -= s0 * S
    far = np.abs(delta) > DELTA_MAX
    if far.any():
        i = np.flatnonzero(far)
        s[i] = np.sin(a[i])
        c[i] = np.cos(a[i])
    return s, c


class _Model:
    """Right-hand side of the dynamic state, constants bound once."""

    def __init__(self, p: MothParams):
        d = p.derived
        self.a, self.b = d["a"], d["b"]
        self.inv_m = 1.0 / d["m"]
        self.M11, self.M22, self.M12c = d["M11"], d["M22"], d["M12c"]
        self.c, self.K = d["c"], d["K"]
        self.ag, self.bg = d["a"] * d["g"], d["b"] * d["g"]
        self.rest, self.L3 = d["rest"], d["L3"]
        self.mg = d["m"] * d["g"]
        self.drag = p.drag
        self.re_h, self.re_b = d["re_h"], d["re_b"]
        self.dh = d["half_rho"] * d["Sh"]
        self.db = d["half_rho"] * d["Sb"]

    def controls(self, u):
        F, al, tau = u[0], u[1], u[2]
        sa, ca = np.sin(al), np.cos(al)
        return (F * ca, F * sa, tau + self.L3 * F * sa, tau)

    def stiffness(self, trig):
        """``lambda = c e^T M^-1 e`` (1/s), the damper's relaxation rate."""
        sth, cth, sph, cph = trig
        M12 = self.M12c * (cth * cph + sth * sph)
        det = self.M11 * self.M22 - M12 * M12
        return self.c * (self.M11 + self.M22 + 2.0 * M12) / det

    def f(self, z, trig, ctl, out=None, damper=True):
        """dz/dt (6, n) of z = (xd, yd, th, thd, ph, phd) given trig of angles.

        ``damper=False`` leaves the joint damper out (the IMEX explicit part).
        """
        xd, yd, th, thd, ph, phd = z
        sth, cth, sph, cph = trig
        Fca, Fsa, tq_th, tau = ctl
        a, b, inv_m = self.a, self.b, self.inv_m
        M12 = self.M12c * (cth * cph + sth * sph)
        inv_det = 1.0 / (self.M11 * self.M22 - M12 * M12)
        ct = a * thd * thd
        cp = b * phd * phd
        # F (cos(alpha+theta), sin(alpha+theta)) + centripetal terms.
        Qx = Fca * cth - Fsa * sth + ct * cth + cp * cph
        Qy = Fsa * cth + Fca * sth + ct * sth + cp * sph - self.mg
        if self.drag:
            sp2 = xd * xd + yd * yd
            speed = np.sqrt(sp2)
            with np.errstate(divide="ignore", invalid="ignore"):
                rh = self.re_h * speed
                rb = self.re_b * speed
                D = (self.dh * (24.0 / rh + 6.0 / (1.0 + np.sqrt(rh)) + 0.4)
                     + self.db * (24.0 / rb + 6.0 / (1.0 + np.sqrt(rb))
                                  + 0.4))
            if not np.all(sp2 > 0.0):
                D = np.where(sp2 > 0.0, D, 0.0)
            Qx -= D * np.abs(xd) * xd
            Qy -= D * np.abs(yd) * yd
        joint = self.K * (ph - th - self.rest)
        if damper:
            joint += self.c * (phd - thd)
        Qth = tq_th - self.ag * cth + joint
        Qph = -tau - self.bg * cph - joint
        R1 = Qth - a * inv_m * (cth * Qy - sth * Qx)
        R2 = Qph - b * inv_m * (cph * Qy - sph * Qx)
        thdd = (self.M22 * R1 - M12 * R2) * inv_det
        phdd = (self.M11 * R2 - M12 * R1) * inv_det
        xdd = (Qx + a * sth * thdd + b * sph * phdd) * inv_m
        ydd = (Qy - a * cth * thdd - b * cph * phdd) * inv_m
        if out is None:
            out = np.empty((6, xd.shape[0]))
        out[0], out[1], out[2], out[3], out[4], out[5] = (xdd, ydd, thd, thdd,
                                                          phd, phdd)
        return out


def _trig(th, ph):
    return np.sin(th), np.cos(th), np.sin(ph), np.cos(ph)


class _Work:
    """Scratch arrays of one batch size, reused across steps."""

    def __init__(self, n):
        self.n = n
        self.K = np.empty((7, 6, n))
        self.V = np.empty((7, 2, n))
        self.Z = np.empty((6, n))
        self.tmp = np.empty((6, n))


def _step(model, z, pos, K1, trig, ctl, h, w):
    """One Dormand-Prince step of size ``h`` (n,) for every trajectory.

    ``K1`` is the derivative at ``z`` (FSAL). Returns the new dynamic state,
    positions, the derivative there and the trig of its angles, and the error
    estimates of z and of the positions.
    """
    sth, cth, sph, cph = trig
    th0, ph0 = z[2], z[4]
    K, V, Z, tmp = w.K, w.V, w.Z, w.tmp
    K[0] = K1
    V[0] = z[:2]
    for i in range(1, 7):
        a_i = _A[i]
        np.multiply(K[0], a_i[0], out=Z)
        for j in range(1, i):
            if a_i[j] != 0.0:
                np.multiply(K[j], a_i[j], out=tmp)
                Z += tmp
        Z *= h
        Z += z
        st, ct = _sincos_near(Z[2], sth, cth, Z[2] - th0)
        sp, cp = _sincos_near(Z[4], sph, cph, Z[4] - ph0)
        model.f(Z, (st, ct, sp, cp), ctl, out=K[i])
        V[i] = Z[:2]
    znew = Z.copy()
    trig_new = (st, ct, sp, cp)
    # Positions: x' = xdot, so their stages are the stage velocities.
    pnew = V[0] * _B[0]
    perr = V[0] * _E[0]
    zerr = K[0] * _E[0]
    for j in range(2, 7):
        if _B[j] != 0.0:
            np.multiply(V[j], _B[j], out=tmp[:2])
            pnew += tmp[:2]
        np.multiply(V[j], _E[j], out=tmp[:2])
        perr += tmp[:2]
        np.multiply(K[j], _E[j], out=tmp)
        zerr += tmp
    pnew *= h
    pnew += pos
    perr *= h
    zerr *= h
    return znew, pnew, K[6].copy(), trig_new, zerr, perr


class _Dopri:
    """Hooks of the Dormand-Prince method for :func:`adaptive`; the carried
    per-trajectory arrays are the FSAL derivative and the angles' trig."""

    @staticmethod
    def start(model, z, ctl, t_end):
        trig = _trig(z[2], z[4])
        with np.errstate(divide="ignore"):
            h = np.minimum(CAP * STAB / model.stiffness(trig), 1e-5)
        return [model.f(z, trig, ctl), *trig], h

    @staticmethod
    def step(model, z, pos, carry, ctl, hs, work):
        znew, pnew, knew, trig_new, zerr, perr = _step(
            model, z, pos, carry[0], tuple(carry[1:]), ctl, hs, work)
        return znew, pnew, [knew, *trig_new], zerr, perr

    @staticmethod
    def cap(model, carry):
        with np.errstate(divide="ignore"):
            return CAP * STAB / model.stiffness(tuple(carry[1:]))

    work = _Work


def integrate(params: MothParams, y0, u, t_end: float, rtol: float = 1e-9,
              batch: int | None = None, max_steps: int = MAX_STEPS):
    """Integrate trajectories ``y0`` (8, n) under constant controls ``u`` (3, n).

    Returns:
        ``(yf, status, n_steps)``: final states (8, n) in ``STATE_NAMES``
        order (NaN where the integration failed), status per trajectory (0
        converged, 1 too many steps, 2 step size underflow, 3 non-finite
        state) and the number of accepted steps.
    """
    return run_batches(_Dopri, _Model(params), y0, u, t_end, rtol, batch,
                       max_steps)


def run_batches(method, model, y0, u, t_end, rtol, batch, max_steps):
    """:func:`adaptive` with ``method``'s hooks in equal column batches of at
    most ``batch`` trajectories (equal, so that no small remainder batch pays
    numpy's per-call overhead alone)."""
    y0 = np.asarray(y0, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    n = y0.shape[1]
    batch = batch or DEFAULT_BATCH
    batch = -(-n // -(-n // batch)) if n else batch
    yf = np.empty_like(y0)
    status = np.zeros(n, dtype=np.int8)
    nsteps = np.zeros(n, dtype=np.int32)
    for lo in range(0, n, batch):
        hi = min(lo + batch, n)
        yf[:, lo:hi], status[lo:hi], nsteps[lo:hi] = adaptive(
            method, model, y0[:, lo:hi], u[:, lo:hi], float(t_end),
            float(rtol), int(max_steps))
    return yf, status, nsteps


def _accept(method, model, ok, old, new):
    """``(z, pos, carry)``: the new values where the step was accepted."""
    z, pos, carry = old
    znew, pnew, carry_new = new
    if ok.all():
        z, pos = znew, pnew
    else:
        z = np.where(ok, znew, z)
        pos = np.where(ok, pnew, pos)
    if carry_new is None:
        carry = method.refresh(model, z)
    elif ok.all():
        carry = carry_new
    else:
        carry = [np.where(ok, a, b) for a, b in zip(carry_new, carry)]
    return z, pos, carry


def _step_factor(en, finite, ok):
    """The next step size over this one: 0.9 en^-1/5 in [0.2, 5] (at most 1
    after a rejection, 0.2 after a non-finite step)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        fac = 0.9 * en ** -0.2
    fac = np.where(finite, fac, 0.2)
    return np.clip(np.nan_to_num(fac, nan=0.2, posinf=5.0), 0.2,
                   np.where(ok, 5.0, 1.0))


def adaptive(method, model, y0, u, t_end, rtol, max_steps):
    """The adaptive loop shared by the integrators, for one batch.

    Every trajectory has its own time, step size and error control; finished
    or failed ones leave the working set. ``method`` supplies
    ``start(model, z, ctl, t_end) -> (carry, h0)``, ``step(model, z, pos,
    carry, ctl, h, work) -> (z, pos, carry or None, z_err, pos_err)``,
    ``cap(model, carry)`` (a per-trajectory step limit, or ``None``), a
    ``work(n)`` scratch factory and, when ``step`` returns no carry,
    ``refresh(model, z) -> carry``. ``carry`` is a list of arrays whose last
    axis runs over the trajectories.
    """
    n = y0.shape[1]
    atol_z = rtol * _SCALE_Z
    atol_p = rtol * _SCALE_P
    z_out = np.full((6, n), np.nan)
    p_out = np.full((2, n), np.nan)
    status = np.zeros(n, dtype=np.int8)
    steps = np.zeros(n, dtype=np.int32)
    idx = np.arange(n)
    z = y0[_Z_OF_Y].copy()
    pos = y0[[0, 2]].copy()
    ctl = model.controls(u)
    carry, h = method.start(model, z, ctl, t_end)
    t = np.zeros(n)
    nacc = np.zeros(n, dtype=np.int32)
    ntry = np.zeros(n, dtype=np.int32)
    h_min = 1e-13 * t_end
    work = method.work(n)
    while idx.size:
        if work.n != idx.size:
            work = method.work(idx.size)
        rem = t_end - t
        last = h >= rem * (1.0 - 1e-12)
        hs = np.where(last, rem, h)
        znew, pnew, carry_new, zerr, perr = method.step(model, z, pos, carry,
                                                        ctl, hs, work)
        qz = zerr / (atol_z + rtol * np.maximum(np.abs(z), np.abs(znew)))
        qp = perr / (atol_p + rtol * np.maximum(np.abs(pos), np.abs(pnew)))
        en = np.sqrt(((qz * qz).sum(0) + (qp * qp).sum(0)) * 0.125)
        finite = np.isfinite(znew).all(0) & np.isfinite(pnew).all(0)
        ok = (en <= 1.0) & finite
        ntry += 1
        nacc += ok
        z, pos, carry = _accept(method, model, ok, (z, pos, carry),
                                (znew, pnew, carry_new))
        t = np.where(ok, np.where(last, t_end, t + hs), t)
        h = hs * _step_factor(en, finite, ok)
        cap = method.cap(model, carry)
        if cap is not None:
            h = np.minimum(h, cap)
        finished = ok & last
        too_many = ntry >= max_steps
        tiny = h < h_min
        fail = ~finished & (too_many | tiny)
        out = finished | fail
        if out.any():
            ii = idx[out]
            fin_rows = finished[out]
            z_out[:, ii[fin_rows]] = z[:, finished]
            p_out[:, ii[fin_rows]] = pos[:, finished]
            code = np.where(~np.isfinite(z).all(0) | ~finite, 3,
                            np.where(tiny, 2, 1)).astype(np.int8)
            status[ii] = np.where(fin_rows, 0, code[out])
            steps[ii] = nacc[out]
            keep = ~out
            idx = idx[keep]
            z, pos = z[:, keep], pos[:, keep]
            carry = [v[..., keep] for v in carry]
            ctl = tuple(v[keep] for v in ctl)
            t, h, nacc, ntry = t[keep], h[keep], nacc[keep], ntry[keep]
    y_out = np.empty((8, n))
    y_out[[0, 2]] = p_out
    y_out[_Z_OF_Y] = z_out
    return y_out, status, steps
