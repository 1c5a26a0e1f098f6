"""The moth simulator: equations, accuracy, conservation, the data set.

Simulation to disk (run state, shards, verification) is tested in
test_moth_disk.py."""
import json
import math

import numpy as np
import pytest

import tfprune as tp
from tfprune.data import moth
from tfprune.data.moth import _ark as _moth_ark
from tfprune.data.moth import _model as _moth_model
from tfprune.data.moth import _rk as _moth_rk
from tfprune.data.moth._model import MothParams, rhs, scalar_rhs

SCALE = _moth_rk.STATE_SCALE


def _rel_err(a, ref):
    """|a - ref| relative to |ref|, floored at each state's typical size."""
    return np.abs(a - ref) / np.maximum(np.abs(ref), SCALE)


def test_derived_parameters_match_the_spec_table():
    d = MothParams().derived
    expected = {"m1": 0.84823, "m2": 1.79071, "I1": 0.17982, "I2": 1.49435,
                "Sh": 0.78540, "Sb": 1.76715}
    for k, v in expected.items():
        assert d[k] == pytest.approx(v, abs=6e-6), k
    # Lengths scale with s, densities do not: masses go as s^3.
    d2 = MothParams(s=0.5).derived
    assert d2["m1"] == pytest.approx(d["m1"] / 8)
    assert d2["L2"] == pytest.approx(d["L2"] / 2)
    assert d2["I2"] == pytest.approx(d["I2"] / 32)


def _mass_matrix_accel(p, y, u):
    """q'' from the spec's 4x4 mass-matrix form, solved numerically."""
    d = p.derived
    m1, m2, L1, L2 = d["m1"], d["m2"], d["L1"], d["L2"]
    m, A, B, g = m1 + m2, d["I1"] + m1 * L1 ** 2, d["I2"] + m2 * L2 ** 2, 980.
    _, xd, _, yd, th, thd, ph, phd = y
    F, al, tau = u
    v = math.hypot(xd, yd)
    D = 0.0
    if v > 0:
        re_h = 0.00118 * v * 2 * d["bh"] / 0.000186
        re_b = 0.00118 * v * 2 * d["bb"] / 0.000186
        cd = [24 / r + 6 / (1 + math.sqrt(r)) + 0.4 for r in (re_h, re_b)]
        D = 0.5 * 0.00118 * (cd[0] * d["Sh"] + cd[1] * d["Sb"])
    M = np.array([
        [m, 0, -m1 * L1 * math.sin(th), -m2 * L2 * math.sin(ph)],
        [0, m, m1 * L1 * math.cos(th), m2 * L2 * math.cos(ph)],
        [-m1 * L1 * math.sin(th), m1 * L1 * math.cos(th), A, 0],
        [-m2 * L2 * math.sin(ph), m2 * L2 * math.cos(ph), 0, B]])
    spring = 23000 * (ph - th - math.pi) + 14075.8 * (phd - thd)
    Q = np.array([
        F * math.cos(al + th) - D * abs(xd) * xd
        + m1 * L1 * thd ** 2 * math.cos(th) + m2 * L2 * phd ** 2 * math.cos(ph),
        F * math.sin(al + th) - D * abs(yd) * yd
        + m1 * L1 * thd ** 2 * math.sin(th) + m2 * L2 * phd ** 2 * math.sin(ph)
        - m * g,
        tau + F * 0.75 * math.sin(al) - m1 * g * L1 * math.cos(th) + spring,
        -tau - m2 * g * L2 * math.cos(ph) - spring])
    return np.linalg.solve(M, Q)


def test_equations_of_motion_match_the_mass_matrix_form():
    p = MothParams()
    y0, u = moth.sample_inputs(0, 50, 7, moth.DEFAULT_RANGES)
    model = _moth_rk._Model(p)
    z = y0[_moth_rk._Z_OF_Y]
    fast = model.f(z, _moth_rk._trig(z[2], z[4]), model.controls(u))
    ref = rhs(p, y0, u)
    for k in range(y0.shape[1]):
        acc = _mass_matrix_accel(p, y0[:, k], u[:, k])
        np.testing.assert_allclose(ref[[1, 3, 5, 7], k], acc, rtol=1e-9,
                                   atol=1e-9 * np.abs(acc).max())
        np.testing.assert_allclose(
            scalar_rhs(p, *u[:, k])(0.0, y0[:, k]), ref[:, k], rtol=1e-12,
            atol=1e-12 * np.abs(ref[:, k]).max())
    np.testing.assert_allclose(fast, ref[_moth_rk._Z_OF_Y], rtol=1e-11,
                               atol=1e-11 * np.abs(ref).max())
    # Zero speed: drag is defined as 0 (no 0/0).
    y_still = y0[:, :3].copy()
    y_still[[1, 3]] = 0.0
    assert np.isfinite(rhs(p, y_still, u[:, :3])).all()


@pytest.fixture(scope="module")
def thousand():
    """1,000 random flights: vectorised and tight-tolerance LSODA finals."""
    df = moth.simulate(1000, seed=11, drop_duplicates=False)
    ref, status = moth.reference_solve(moth.states_of(df),
                                       moth.controls_of(df), rtol=1e-10,
                                       workers=2)
    assert (status == 0).all()
    return df, ref


def test_final_states_match_tight_reference_to_1e6(thousand):
    df, ref = thousand
    assert df["converged"].all() and (df["status"] == 0).all()
    err = _rel_err(moth.states_of(df, "final"), ref)
    assert err.max() <= 1e-6, err.max(0)


def test_imex_method_is_accurate_to_its_documented_level(thousand):
    df, ref = thousand
    sub = df.iloc[:300]
    yf, status, _ = _moth_ark.integrate(
        MothParams(), moth.states_of(sub).T, moth.controls_of(sub).T,
        moth.T_END, rtol=1e-4)
    assert (status == 0).all()
    assert _rel_err(yf.T, ref[:300]).max() <= 2e-3
    yf6, _, _ = _moth_ark.integrate(
        MothParams(), moth.states_of(sub).T, moth.controls_of(sub).T,
        moth.T_END, rtol=1e-7)
    assert _rel_err(yf6.T, ref[:300]).max() <= 1e-5


def _momentum_energy(p, y):
    d = p.derived
    px = (d["m"] * y[1] - d["a"] * np.sin(y[4]) * y[5]
          - d["b"] * np.sin(y[6]) * y[7])
    py = (d["m"] * y[3] + d["a"] * np.cos(y[4]) * y[5]
          + d["b"] * np.cos(y[6]) * y[7])
    return px, py, _moth_model.energy(p, y)


def test_free_joint_conserves_energy_and_momentum():
    """F = tau = 0, no damping, no drag: energy, p_x conserved; p_y falls."""
    p = MothParams(damping=False, drag=False)
    df = moth.simulate(200, seed=5, params=p, F=0.0, tau=0.0)
    assert df["converged"].all()
    y0, yf = moth.states_of(df).T, moth.states_of(df, "final").T
    px0, py0, e0 = _momentum_energy(p, y0)
    px1, py1, e1 = _momentum_energy(p, yf)
    scale_e = np.abs(e0) + 0.5 * p.derived["m"] * 1500 ** 2
    np.testing.assert_allclose(e1, e0, atol=1e-7 * scale_e.max())
    np.testing.assert_allclose(px1, px0, atol=1e-7 * np.abs(px0).max())
    np.testing.assert_allclose(py1, py0 - p.derived["m"] * 980 * moth.T_END,
                               atol=1e-7 * np.abs(py0).max())
    # With the damper the joint loses energy; without gravity the spring
    # alone moves no centre of mass.
    damped = moth.simulate(200, seed=5, params=MothParams(drag=False),
                           F=0.0, tau=0.0)
    pd_ = MothParams(drag=False)
    _, _, e_start = _momentum_energy(pd_, moth.states_of(damped).T)
    _, _, e_end = _momentum_energy(pd_, moth.states_of(damped, "final").T)
    assert (e_end < e_start).all()


def test_spring_rest_position_and_symmetry():
    """At rest (phi = theta + pi, no motion, no gravity) nothing moves."""
    p = MothParams(gravity=False)
    df = moth.simulate(20, seed=1, params=p, F=0.0, tau=0.0, xdot0=0.0,
                       ydot0=0.0, thetadot0=0.0, phidot0=0.0, phi0=math.pi,
                       theta0=0.0)
    final = moth.states_of(df, "final")
    np.testing.assert_allclose(final, moth.states_of(df), atol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    ({"F": (10.0, 1.0)}, "low > high"),
    ({"tau": (float("nan"), 1.0)}, "finite"),
    ({"alpha": (0.0, float("inf"))}, "finite"),
    ({"n": -5}, "'n'"),
    ({"n": 0}, "'n'"),
    ({"seed": -1}, "seed"),
    ({"s": 0.0}, "'s'"),
    ({"rtol": 0.5}, "rtol"),
    ({"method": "rk4"}, "method"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    kw = {"n": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        moth.simulate(**kw)


def test_bad_arguments_other_entry_points(tmp_path):
    with pytest.raises(TypeError, match="unknown argument 'speed'"):
        moth.simulate(10, speed=(0, 1))
    with pytest.raises(ValueError, match="chunk_size"):
        moth.simulate_to_disk(10, tmp_path, chunk_size=0, progress=False)
    with pytest.raises(ValueError, match="F"):
        moth.simulate_to_disk(10, tmp_path, F=(5, 1), progress=False)
    with pytest.raises(ValueError, match="test_fraction"):
        moth.make_dataset(10, test_fraction=1.0)
    with pytest.raises(ValueError, match="'n'"):
        moth.make_dataset()


def test_non_converged_rows_are_flagged_and_dropped():
    y0, u = moth.sample_inputs(0, 40, 0, moth.DEFAULT_RANGES)
    yf, status, steps = _moth_rk.integrate(MothParams(), y0, u, moth.T_END,
                                           max_steps=20)
    assert (status == 1).all() and np.isnan(yf).all()
    df = moth.simulate(60, seed=0)
    df.loc[[3, 7], "converged"] = False
    with pytest.warns(RuntimeWarning, match="2 simulations"):
        ds = moth.make_dataset(data=df, test_fraction=0.0, val_fraction=0.0)
    assert len(ds.train[0]) == 58


def test_duplicate_controls_are_dropped():
    df = moth.simulate(30, seed=0, F=1000.0, alpha=0.5, tau=0.0)
    assert len(df) == 1
    assert len(moth.simulate(30, seed=0, F=1000.0, alpha=0.5, tau=0.0,
                             drop_duplicates=False)) == 30


def test_make_dataset_layout_scaling_and_inverse():
    df = moth.simulate(500, seed=9)
    ds = moth.make_dataset(data=df)
    train, val, test, scaler = ds
    assert ds.train is train and isinstance(ds, moth.MothDataset)
    assert (len(test[0]), len(val[0]), len(train[0])) == (100, 80, 320)
    assert scaler.input_names == moth.INPUT_COLUMNS == (
        "phi0", "theta0", "xf", "yf", "phif", "thetaf", "xdot0", "ydot0",
        "phidot0", "thetadot0")
    assert scaler.output_names == ("Fx", "Fy", "tau", "xdotf", "ydotf",
                                   "phidotf", "thetadotf")
    for a in (train[0], train[1]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.min(0), -0.5, atol=1e-6)
        np.testing.assert_allclose(a.max(0), 0.5, atol=1e-6)
    x_raw = scaler.inverse_x(np.concatenate([train[0], val[0], test[0]]))
    y_raw = scaler.inverse_y(np.concatenate([train[1], val[1], test[1]]))
    # Rows are a permutation of the frame: match them by tau (unique).
    order = np.argsort(y_raw[:, 2])
    df_sorted = df.sort_values("tau")
    np.testing.assert_allclose(y_raw[order, 0],
                               df_sorted.F * np.cos(df_sorted.alpha),
                               rtol=1e-5, atol=0.05)
    np.testing.assert_allclose(y_raw[order, 1],
                               df_sorted.F * np.sin(df_sorted.alpha),
                               rtol=1e-5, atol=0.05)
    np.testing.assert_allclose(x_raw[order, 2], df_sorted.xf, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(x_raw[order, 4], df_sorted.phif, rtol=1e-5,
                               atol=1e-5)
    # The scaler is fitted on the training split only.
    x_train_raw = scaler.inverse_x(train[0])
    np.testing.assert_allclose(scaler.x_min, x_train_raw.min(0), rtol=1e-6,
                               atol=1e-6)
    rt = moth.MothScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(rt.transform_y(y_raw),
                                  scaler.transform_y(y_raw))
    # Same data through a simulation and through the seed: same data set.
    again = moth.make_dataset(500, seed=9)
    np.testing.assert_array_equal(again.train[0], train[0])
    tf_version = moth.make_dataset(data=df, test_fraction=0.0)
    assert (len(tf_version.train[0]), len(tf_version.val[0]),
            len(tf_version.test[0])) == (400, 100, 0)


def test_size_scale_changes_the_flights():
    """A smaller moth (stiffer joint, ~s^-5) against the reference."""
    base = moth.simulate(20, seed=1)
    small = moth.simulate(20, seed=1, s=0.9)
    np.testing.assert_array_equal(base["F"], small["F"])
    assert not np.allclose(base["thetaf"], small["thetaf"])
    assert small["converged"].all()
    ref, _ = moth.reference_solve(moth.states_of(small),
                                  moth.controls_of(small),
                                  params=MothParams(s=0.9), rtol=1e-10)
    assert _rel_err(moth.states_of(small, "final"), ref).max() <= 1e-6


def test_plots_return_figures():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    open_before = plt.get_fignums()
    df = moth.simulate(30, seed=2, rtol=1e-4)
    fig = tp.plots.plot_trajectories(df, n=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig2 = tp.plots.plot_output_histograms(moth.make_dataset(data=df))
    fig3 = tp.plots.plot_output_histograms(df)
    assert isinstance(fig2, Figure) and isinstance(fig3, Figure)
    assert plt.get_fignums() == open_before  # nothing left open in pyplot
