"""Batched adaptive IMEX Runge-Kutta integrator for the moth model.

The joint damper makes the equations stiff: the relative rotation of thorax
and abdomen relaxes at a rate ``c * e^T M^-1 e`` of 2.4e4-6.5e4 1/s (largest
with the abdomen at rest behind the thorax), which would hold an explicit
method to steps of about 5e-5 s. The damper force is linear in the
velocities, ``M^-1 Q_damper = -c (thetadot - phidot) w(theta, phi)`` with
``w = M^-1 (0, 0, 1, -1)``, and the positions of an implicit stage are known
before its velocities, so each implicit stage equation is linear with a
rank-one matrix and is solved exactly in closed form (Sherman-Morrison). The
additive pair is Kennedy & Carpenter's ARK5(4)8L[2]SA (2003): an L-stable,
stiffly accurate ESDIRK for the damper and an explicit RK for everything else,
5th order with an embedded 4th-order error estimate.

Each trajectory has its own time, step size and error control; finished
trajectories leave the working set. Every operation is an elementwise ufunc,
so a trajectory's result does not depend on which others share its batch.
"""
from __future__ import annotations

import numpy as np

from ._moth_model import MothParams

__all__ = ["integrate", "METHOD", "STATE_SCALE", "DEFAULT_BATCH"]

METHOD = "ARK5(4)8L[2]SA"
#: Typical magnitudes of the state components (x, xdot, y, ydot, theta,
#: thetadot, phi, phidot): absolute tolerance = rtol * STATE_SCALE.
STATE_SCALE = np.array([1.0, 1e3, 1.0, 1e3, 1.0, 10.0, 1.0, 10.0])
DEFAULT_BATCH = 8192
MAX_STEPS = 20000
H0 = 1e-5

# Kennedy & Carpenter (2003), ARK5(4)8L[2]SA; rational coefficients.
_G = 41.0 / 200.0
_AE = np.zeros((8, 8))
_AI = np.zeros((8, 8))
_AE[1, 0] = 41.0 / 100.0
_AE[2, 0] = 367902744464.0 / 2072280473677.0
_AE[2, 1] = 677623207551.0 / 8224143866563.0
_AE[3, 0] = 1268023523408.0 / 10340822734521.0
_AE[3, 2] = 1029933939417.0 / 13636558850479.0
_AE[4, 0] = 14463281900351.0 / 6315353703477.0
_AE[4, 2] = 66114435211212.0 / 5879490589093.0
_AE[4, 3] = -54053170152839.0 / 4284798021562.0
_AE[5, 0] = 14090043504691.0 / 34967701212078.0
_AE[5, 2] = 15191511035443.0 / 11219624916014.0
_AE[5, 3] = -18461159152457.0 / 12425892160975.0
_AE[5, 4] = -281667163811.0 / 9011619295870.0
_AE[6, 0] = 19230459214898.0 / 13134317526959.0
_AE[6, 2] = 21275331358303.0 / 2942455364971.0
_AE[6, 3] = -38145345988419.0 / 4862620318723.0
_AE[6, 4] = -1.0 / 8.0
_AE[6, 5] = -1.0 / 8.0
_AE[7, 0] = -19977161125411.0 / 11928030595625.0
_AE[7, 2] = -40795976796054.0 / 6384907823539.0
_AE[7, 3] = 177454434618887.0 / 12078138498510.0
_AE[7, 4] = 782672205425.0 / 8267701900261.0
_AE[7, 5] = -69563011059811.0 / 9646580694205.0
_AE[7, 6] = 7356628210526.0 / 4942186776405.0

_AI[1, 0] = 41.0 / 200.0
_AI[2, 0] = 41.0 / 400.0
_AI[2, 1] = -567603406766.0 / 11931857230679.0
_AI[3, 0] = 683785636431.0 / 9252920307686.0
_AI[3, 2] = -110385047103.0 / 1367015193373.0
_AI[4, 0] = 3016520224154.0 / 10081342136671.0
_AI[4, 2] = 30586259806659.0 / 12414158314087.0
_AI[4, 3] = -22760509404356.0 / 11113319521817.0
_AI[5, 0] = 218866479029.0 / 1489978393911.0
_AI[5, 2] = 638256894668.0 / 5436446318841.0
_AI[5, 3] = -1179710474555.0 / 5321154724896.0
_AI[5, 4] = -60928119172.0 / 8023461067671.0
_AI[6, 0] = 1020004230633.0 / 5715676835656.0
_AI[6, 2] = 25762820946817.0 / 25263940353407.0
_AI[6, 3] = -2161375909145.0 / 9755907335909.0
_AI[6, 4] = -211217309593.0 / 5846859502534.0
_AI[6, 5] = -4269925059573.0 / 7827059040749.0
_AI[7, 0] = -872700587467.0 / 9133579230613.0
_AI[7, 3] = 22348218063261.0 / 9555858737531.0
_AI[7, 4] = -1143369518992.0 / 8141816002931.0
_AI[7, 5] = -39379526789629.0 / 19018526304540.0
_AI[7, 6] = 32727382324388.0 / 42900044865799.0
for _i in range(1, 8):
    _AI[_i, _i] = _G

_B = np.array([-872700587467.0 / 9133579230613.0, 0.0, 0.0,
               22348218063261.0 / 9555858737531.0,
               -1143369518992.0 / 8141816002931.0,
               -39379526789629.0 / 19018526304540.0,
               32727382324388.0 / 42900044865799.0, 41.0 / 200.0])
_BHAT = np.array([-975461918565.0 / 9796059967033.0, 0.0, 0.0,
                  78070527104295.0 / 32432590147079.0,
                  -548382580838.0 / 3424219808633.0,
                  -33438840321285.0 / 15594753105479.0,
                  3629800801594.0 / 4656183773603.0,
                  4035322873751.0 / 18575991585200.0])
_C = np.array([0.0, 41.0 / 100.0, 2935347310677.0 / 11292855782101.0,
               1426016391358.0 / 7196633302097.0, 92.0 / 100.0,
               24.0 / 100.0, 3.0 / 5.0, 1.0])
_E = _B - _BHAT
_STAGES = 8


class _Model:
    """The moth right-hand side split into geometry, damper and the rest."""

    def __init__(self, p: MothParams):
        d = p.derived
        self.a, self.b, self.m = d["a"], d["b"], d["m"]
        self.inv_m = 1.0 / d["m"]
        self.M11, self.M22, self.M12c = d["M11"], d["M22"], d["M12c"]
        self.c, self.g, self.K = d["c"], d["g"], d["K"]
        self.rest, self.L3 = d["rest"], d["L3"]
        self.drag = p.drag
        self.re_h, self.re_b = d["re_h"], d["re_b"]
        self.dh = d["half_rho"] * d["Sh"]
        self.db = d["half_rho"] * d["Sb"]
        self.mg = d["m"] * d["g"]

    def geometry(self, th, ph):
        sth, cth, sph, cph = np.sin(th), np.cos(th), np.sin(ph), np.cos(ph)
        M12 = self.M12c * (cth * cph + sth * sph)
        inv_det = 1.0 / (self.M11 * self.M22 - M12 * M12)
        # w = M^-1 (0, 0, 1, -1) in the angles; e^T w for the implicit solve.
        wth = (self.M22 + M12) * inv_det
        wph = (-self.M11 - M12) * inv_det
        return sth, cth, sph, cph, M12, inv_det, wth, wph

    def damper(self, geo, s):
        """Damper accelerations (xdd, ydd, thdd, phdd) for ``s = thd - phd``."""
        sth, cth, sph, cph, _, _, wth, wph = geo
        k = -self.c * s
        fth = k * wth
        fph = k * wph
        fx = (self.a * sth * fth + self.b * sph * fph) * self.inv_m
        fy = -(self.a * cth * fth + self.b * cph * fph) * self.inv_m
        return fx, fy, fth, fph

    def rest_accel(self, geo, th, ph, xd, yd, thd, phd, F, Fsin_al_L3,
                   al, tau):
        """Accelerations from everything except the damper."""
        sth, cth, sph, cph, M12, inv_det, _, _ = geo
        a, b = self.a, self.b
        sa, ca = np.sin(al), np.cos(al)
        cfa = ca * cth - sa * sth
        sfa = sa * cth + ca * sth
        cen_t = a * thd * thd
        cen_p = b * phd * phd
        Qx = F * cfa + cen_t * cth + cen_p * cph
        Qy = F * sfa + cen_t * sth + cen_p * sph - self.mg
        if self.drag:
            ax, ay = np.abs(xd), np.abs(yd)
            speed = np.sqrt(xd * xd + yd * yd)
            re_h = self.re_h * speed
            re_b = self.re_b * speed
            with np.errstate(divide="ignore", invalid="ignore"):
                D = (self.dh * (24.0 / re_h + 6.0 / (1.0 + np.sqrt(re_h))
                                + 0.4)
                     + self.db * (24.0 / re_b + 6.0 / (1.0 + np.sqrt(re_b))
                                  + 0.4))
            D = np.where(speed > 0.0, D, 0.0)
            Qx = Qx - D * ax * xd
            Qy = Qy - D * ay * yd
        spring = self.K * (ph - th - self.rest)
        Qth = tau + Fsin_al_L3 - a * self.g * cth + spring
        Qph = -tau - b * self.g * cph - spring
        R1 = Qth - a * (cth * Qy - sth * Qx) * self.inv_m
        R2 = Qph - b * (cph * Qy - sph * Qx) * self.inv_m
        thdd = (self.M22 * R1 - M12 * R2) * inv_det
        phdd = (self.M11 * R2 - M12 * R1) * inv_det
        xdd = (Qx + a * sth * thdd + b * sph * phdd) * self.inv_m
        ydd = (Qy - a * cth * thdd - b * cph * phdd) * self.inv_m
        return xdd, ydd, thdd, phdd


def _step(model, y, u, h):
    """One ARK5(4)8L[2]SA step of size ``h`` (n,) from ``y`` (8, n).

    Returns the new state and the error estimate (both (8, n)).
    """
    F, al, tau = u[0], u[1], u[2]
    FL3 = F * np.sin(al) * model.L3
    kE = [None] * _STAGES
    kI = [None] * _STAGES
    hg = h * _G
    for i in range(_STAGES):
        if i == 0:
            Y = y
        else:
            Y = y.copy()
            for j in range(i):
                aE, aI = _AE[i, j], _AI[i, j]
                if aE != 0.0:
                    Y += (h * aE) * kE[j]
                if aI != 0.0:
                    Y[1::2] += (h * aI) * kI[j]
        th, ph = Y[4], Y[6]
        geo = model.geometry(th, ph)
        if i == 0:
            s = Y[5] - Y[7]
        else:
            # Implicit damper: V = R + h*g*(-c s w), s = e^T V, solved exactly.
            s = (Y[5] - Y[7]) / (1.0 + hg * model.c * (geo[6] - geo[7]))
        fd = model.damper(geo, s)
        kIi = np.stack(fd)
        if i > 0:
            Y[1::2] += hg * kIi
        xd, yd, thd, phd = Y[1], Y[3], Y[5], Y[7]
        acc = model.rest_accel(geo, th, ph, xd, yd, thd, phd, F, FL3, al,
                               tau)
        kEi = np.empty_like(y)
        kEi[0], kEi[2], kEi[4], kEi[6] = xd, yd, thd, phd
        kEi[1], kEi[3], kEi[5], kEi[7] = acc
        kE[i] = kEi
        kI[i] = kIi
    ynew = y.copy()
    err = np.zeros_like(y)
    for j in range(_STAGES):
        if _B[j] != 0.0:
            ynew += (h * _B[j]) * kE[j]
            ynew[1::2] += (h * _B[j]) * kI[j]
        if _E[j] != 0.0:
            err += (h * _E[j]) * kE[j]
            err[1::2] += (h * _E[j]) * kI[j]
    return ynew, err


def integrate(params: MothParams, y0, u, t_end: float, rtol: float = 1e-9,
              batch: int | None = None, max_steps: int = MAX_STEPS):
    """Integrate trajectories ``y0`` (8, n) under controls ``u`` (3, n).

    Returns:
        ``(yf, status, n_steps)``: final states (8, n) (NaN where the
        integration failed), status per trajectory (0 converged, 1 too many
        steps, 2 step size underflow, 3 non-finite state) and the number of
        accepted steps.
    """
    y0 = np.asarray(y0, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    n = y0.shape[1]
    batch = batch or DEFAULT_BATCH
    yf = np.empty_like(y0)
    status = np.zeros(n, dtype=np.int8)
    nsteps = np.zeros(n, dtype=np.int32)
    model = _Model(params)
    for lo in range(0, n, batch):
        hi = min(lo + batch, n)
        yf[:, lo:hi], status[lo:hi], nsteps[lo:hi] = _integrate_batch(
            model, y0[:, lo:hi], u[:, lo:hi], float(t_end), rtol, max_steps)
    return yf, status, nsteps


def _integrate_batch(model, y0, u, t_end, rtol, max_steps):
    n = y0.shape[1]
    atol = (rtol * STATE_SCALE)[:, None]
    y_out = np.full_like(y0, np.nan)
    status = np.zeros(n, dtype=np.int8)
    steps = np.zeros(n, dtype=np.int32)
    idx = np.arange(n)
    y = y0.copy()
    uu = u.copy()
    t = np.zeros(n)
    h = np.full(n, min(H0, t_end))
    nst = np.zeros(n, dtype=np.int32)
    ntry = np.zeros(n, dtype=np.int32)
    h_min = 1e-14 * t_end
    while idx.size:
        rem = t_end - t
        last = h >= rem * (1.0 - 1e-12)
        hs = np.where(last, rem, h)
        ynew, err = _step(model, y, uu, hs)
        sc = atol + rtol * np.maximum(np.abs(y), np.abs(ynew))
        q = err / sc
        en = np.sqrt(np.mean(q * q, axis=0))
        ok = en <= 1.0
        ok &= np.isfinite(ynew).all(axis=0)
        ntry += 1
        y[:, ok] = ynew[:, ok]
        t = np.where(ok, np.where(last, t_end, t + hs), t)
        nst += ok
        with np.errstate(divide="ignore", invalid="ignore"):
            fac = 0.9 * en ** -0.2
        fac = np.where(np.isfinite(fac), fac, np.where(en == 0, 5.0, 0.2))
        fac = np.clip(fac, 0.2, np.where(ok, 5.0, 1.0))
        h = hs * fac
        finished = ok & last
        bad_y = ~np.isfinite(y).all(axis=0)
        too_many = ntry >= max_steps
        tiny = h < h_min
        fail = ~finished & (bad_y | too_many | tiny)
        out = finished | fail
        if out.any():
            code = np.where(bad_y, 3, np.where(tiny, 2, 1)).astype(np.int8)
            ii = idx[out]
            y_out[:, ii[finished[out]]] = y[:, finished]
            status[ii] = np.where(finished[out], 0, code[out])
            steps[ii] = nst[out]
            keep = ~out
            idx, y, uu, t, h = idx[keep], y[:, keep], uu[:, keep], t[keep], \
                h[keep]
            nst, ntry = nst[keep], ntry[keep]
    return y_out, status, steps
