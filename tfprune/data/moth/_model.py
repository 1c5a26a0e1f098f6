"""Two-body planar hawkmoth: parameters and equations of motion (CGS units).

State order (per trajectory): ``(x, xdot, y, ydot, theta, thetadot, phi,
phidot)``; controls ``(F, alpha, tau)``. Arrays are laid out component-first,
``y[k]`` being component ``k`` over all trajectories, so every operation is a
plain elementwise ufunc: each trajectory's arithmetic is then independent of
how many others are computed beside it (the basis of bit-identical output
whatever the chunking).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict

import numpy as np

__all__ = ["MothParams", "STATE_NAMES", "CONTROL_NAMES"]

STATE_NAMES = ("x", "xdot", "y", "ydot", "theta", "thetadot", "phi", "phidot")
CONTROL_NAMES = ("F", "alpha", "tau")


@dataclass(frozen=True)
class MothParams:
    """Physical parameters of the moth model; lengths scale with ``s``.

    The defaults are the base case of the study (``s = 1``). Densities, air
    properties, the joint spring ``K``, the damper ``c`` and ``g`` do not
    scale; the semi-axes and the lengths ``L1``-``L3`` are multiplied by
    ``s``. Set ``damping=False`` / ``drag=False`` / ``gravity=False`` to switch
    those terms off (used for conservation checks).
    """

    s: float = 1.0
    bhead: float = 0.5
    ahead: float = 0.9
    bbutt: float = 0.75
    abutt: float = 1.9
    rho_head: float = 0.9
    rho_butt: float = 0.4
    rho_air: float = 0.00118
    mu_air: float = 0.000186
    L1: float = 0.9
    L2: float = 1.9
    L3: float = 0.75
    K: float = 23000.0
    c: float = 14075.8
    g: float = 980.0
    beta_r: float = 0.0
    damping: bool = True
    drag: bool = True
    gravity: bool = True
    derived: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        s = float(self.s)
        bh, ah = self.bhead * s, self.ahead * s
        bb, ab = self.bbutt * s, self.abutt * s
        m1 = self.rho_head * (4.0 / 3.0) * math.pi * bh ** 2 * ah
        m2 = self.rho_butt * (4.0 / 3.0) * math.pi * bb ** 2 * ab
        L1, L2, L3 = self.L1 * s, self.L2 * s, self.L3 * s
        I1 = 0.2 * m1 * (bh ** 2 + ah ** 2)
        I2 = 0.2 * m2 * (bb ** 2 + ab ** 2)
        m = m1 + m2
        a, b = m1 * L1, m2 * L2
        A, B = I1 + m1 * L1 ** 2, I2 + m2 * L2 ** 2
        d = dict(bh=bh, ah=ah, bb=bb, ab=ab, m1=m1, m2=m2, m=m, L1=L1,
                 L2=L2, L3=L3, I1=I1, I2=I2, A=A, B=B, a=a, b=b,
                 Sh=math.pi * bh ** 2, Sb=math.pi * bb ** 2,
                 # Schur complement of the translational block of M:
                 # [[A - a^2/m, -a b cos(theta-phi)/m], [., B - b^2/m]].
                 M11=A - a * a / m, M22=B - b * b / m, M12c=-a * b / m,
                 c=self.c if self.damping else 0.0,
                 g=self.g if self.gravity else 0.0,
                 K=self.K, rest=math.pi + self.beta_r,
                 re_h=self.rho_air * 2.0 * bh / self.mu_air,
                 re_b=self.rho_air * 2.0 * bb / self.mu_air,
                 half_rho=0.5 * self.rho_air)
        object.__setattr__(self, "derived", d)

    def to_dict(self) -> dict:
        """The constructor arguments (for manifests)."""
        out = asdict(self)
        out.pop("derived", None)
        return out


def drag_coefficient(p: MothParams, xd, yd):
    """``D`` of the drag force ``(-D|xd|xd, -D|yd|yd)``; 0 at zero speed."""
    d = p.derived
    if not p.drag:
        return np.zeros_like(xd)
    speed = np.sqrt(xd * xd + yd * yd)
    re_h = d["re_h"] * speed
    re_b = d["re_b"] * speed
    with np.errstate(divide="ignore", invalid="ignore"):
        cdh = 24.0 / re_h + 6.0 / (1.0 + np.sqrt(re_h)) + 0.4
        cdb = 24.0 / re_b + 6.0 / (1.0 + np.sqrt(re_b)) + 0.4
        D = d["half_rho"] * (cdh * d["Sh"] + cdb * d["Sb"])
    return np.where(speed > 0.0, D, 0.0)


def accelerations(p: MothParams, y, u, split=False):
    """Accelerations ``(xdd, ydd, thdd, phdd)`` of the states ``y`` (8, n).

    ``M q'' = Q`` is solved in closed form: the translational rows are
    eliminated and the remaining 2x2 system in the angles solved by Cramer's
    rule. With ``split=True`` the joint damper is left out of the result and
    returned separately as the vector ``w`` (4, n) with
    ``M^-1 Q_damper = -c * w * (thetadot - phidot)``, for the implicit part of
    the IMEX integrator.
    """
    d = p.derived
    xd, yd = y[1], y[3]
    th, thd, ph, phd = y[4], y[5], y[6], y[7]
    F, al, tau = u[0], u[1], u[2]
    sth, cth, sph, cph = np.sin(th), np.cos(th), np.sin(ph), np.cos(ph)
    sfa, cfa = np.sin(al + th), np.cos(al + th)
    a, b, m, g = d["a"], d["b"], d["m"], d["g"]
    D = drag_coefficient(p, xd, yd)
    Qx = F * cfa - D * np.abs(xd) * xd + a * thd * thd * cth + b * phd * phd * cph
    Qy = (F * sfa - D * np.abs(yd) * yd + a * thd * thd * sth
          + b * phd * phd * sph - m * g)
    spring = d["K"] * (ph - th - d["rest"])
    Qth = tau + F * d["L3"] * np.sin(al) - a * g * cth + spring
    Qph = -tau - b * g * cph - spring
    if not split and d["c"] != 0.0:
        damp = d["c"] * (phd - thd)
        Qth = Qth + damp
        Qph = Qph - damp
    cd = cth * cph + sth * sph
    M12 = d["M12c"] * cd
    M11, M22 = d["M11"], d["M22"]
    det = M11 * M22 - M12 * M12
    R1 = Qth - a * (cth * Qy - sth * Qx) / m
    R2 = Qph - b * (cph * Qy - sph * Qx) / m
    thdd = (M22 * R1 - M12 * R2) / det
    phdd = (M11 * R2 - M12 * R1) / det
    xdd = (Qx + a * sth * thdd + b * sph * phdd) / m
    ydd = (Qy - a * cth * thdd - b * cph * phdd) / m
    acc = (xdd, ydd, thdd, phdd)
    if not split:
        return acc
    # M^-1 e with e = (0, 0, 1, -1): the damper torque direction.
    wth = (M22 + M12) / det
    wph = (-M11 - M12) / det
    wx = (a * sth * wth + b * sph * wph) / m
    wy = (-a * cth * wth - b * cph * wph) / m
    return acc, (wx, wy, wth, wph)


def rhs(p: MothParams, y, u):
    """Time derivative of the state ``y`` (8, n) under controls ``u`` (3, n)."""
    xdd, ydd, thdd, phdd = accelerations(p, y, u)
    return np.stack([y[1], xdd, y[3], ydd, y[5], thdd, y[7], phdd])


def energy(p: MothParams, y):
    """Kinetic + spring + gravitational energy of states ``y`` (8, n)."""
    d = p.derived
    xd, yd, th, thd, ph, phd = y[1], y[3], y[4], y[5], y[6], y[7]
    v1x = xd - d["L1"] * np.sin(th) * thd
    v1y = yd + d["L1"] * np.cos(th) * thd
    v2x = xd - d["L2"] * np.sin(ph) * phd
    v2y = yd + d["L2"] * np.cos(ph) * phd
    kin = 0.5 * (d["m1"] * (v1x ** 2 + v1y ** 2) + d["m2"] * (v2x ** 2 + v2y ** 2)
                 + d["I1"] * thd ** 2 + d["I2"] * phd ** 2)
    spring = 0.5 * d["K"] * (ph - th - d["rest"]) ** 2
    grav = d["g"] * (d["m1"] * (y[2] + d["L1"] * np.sin(th))
                     + d["m2"] * (y[2] + d["L2"] * np.sin(ph)))
    return kin + spring + grav


def scalar_rhs(p: MothParams, F: float, alpha: float, tau: float):
    """A plain-Python right-hand side ``f(t, y)`` for one trajectory.

    Same equations as :func:`rhs`, with ``math`` on floats: the fastest form
    for one-trajectory solvers (``scipy.integrate.solve_ivp``/``odeint``).
    """
    d = p.derived
    a, b, m, g = d["a"], d["b"], d["m"], d["g"]
    M11, M22, M12c = d["M11"], d["M22"], d["M12c"]
    K, c, rest, L3 = d["K"], d["c"], d["rest"], d["L3"]
    re_h, re_b, half_rho = d["re_h"], d["re_b"], d["half_rho"]
    Sh, Sb, drag = d["Sh"], d["Sb"], p.drag
    sin, cos, sqrt = math.sin, math.cos, math.sqrt
    Fsa_L3 = F * math.sin(alpha) * L3

    def f(t, y):
        xd, yd, th, thd, ph, phd = y[1], y[3], y[4], y[5], y[6], y[7]
        sth, cth, sph, cph = sin(th), cos(th), sin(ph), cos(ph)
        Qx = F * cos(alpha + th) + a * thd * thd * cth + b * phd * phd * cph
        Qy = (F * sin(alpha + th) + a * thd * thd * sth + b * phd * phd * sph
              - m * g)
        speed = sqrt(xd * xd + yd * yd)
        if drag and speed > 0.0:
            rh, rb = re_h * speed, re_b * speed
            D = half_rho * ((24.0 / rh + 6.0 / (1.0 + sqrt(rh)) + 0.4) * Sh
                            + (24.0 / rb + 6.0 / (1.0 + sqrt(rb)) + 0.4) * Sb)
            Qx -= D * abs(xd) * xd
            Qy -= D * abs(yd) * yd
        joint = K * (ph - th - rest) + c * (phd - thd)
        Qth = tau + Fsa_L3 - a * g * cth + joint
        Qph = -tau - b * g * cph - joint
        M12 = M12c * (cth * cph + sth * sph)
        det = M11 * M22 - M12 * M12
        R1 = Qth - a * (cth * Qy - sth * Qx) / m
        R2 = Qph - b * (cph * Qy - sph * Qx) / m
        thdd = (M22 * R1 - M12 * R2) / det
        phdd = (M11 * R2 - M12 * R1) / det
        return [xd, (Qx + a * sth * thdd + b * sph * phdd) / m,
                yd, (Qy - a * cth * thdd - b * cph * phdd) / m,
                thd, thdd, phd, phdd]

    return f
