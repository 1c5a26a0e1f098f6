"""Figures for the moth flow: simulated flights and the data set's outputs.

Each function takes a simulation DataFrame (or a ``MothDataset``) and
returns a matplotlib ``Figure`` (not registered with pyplot).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_trajectories", "plot_output_histograms"]

_OUTPUT_UNITS = {"Fx": "dyn", "Fy": "dyn", "tau": "dyn cm",
                 "xdotf": "cm/s", "ydotf": "cm/s", "phidotf": "rad/s",
                 "thetadotf": "rad/s"}


def _body_patches(ax, state, p, style):
    from matplotlib.patches import Ellipse
    d = p.derived
    x, y, th, ph = state[0], state[2], state[4], state[6]
    for L, a, b, ang, color in ((d["L1"], d["ah"], d["bh"], th, "tab:blue"),
                                (d["L2"], d["ab"], d["bb"], ph,
                                 "tab:orange")):
        cx, cy = x + L * math.cos(ang), y + L * math.sin(ang)
        ax.add_patch(Ellipse((cx, cy), 2 * a, 2 * b,
                             angle=math.degrees(ang), facecolor=color,
                             edgecolor="k", **style))
        ax.plot([x, cx], [y, cy], color="k", lw=0.8, alpha=style["alpha"])
    ax.plot([x], [y], "k.", ms=4)


def plot_trajectories(data, n: int = 4, *, params=None, n_points: int = 101):
    """A few simulated flights: the moth at start and end, the joint's path.

    The head-thorax (blue) and abdomen (orange) are drawn as ellipses with
    their true semi-axes, faint at t = 0 and solid at the end; the line is
    the path of the petiole joint (x, y), re-integrated densely.

    Args:
        data: a DataFrame from ``tp.data.moth.simulate`` (or
            ``load_simulations``), or a tuple ``(y0, u)`` of initial states
            (m, 8) in ``STATE_NAMES`` order and controls (m, 3).
        n: number of flights to draw (the first ``n`` rows).
        params: ``MothParams`` used for the simulations (default: base case).
        n_points: samples of each path.

    Returns:
        matplotlib Figure.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    from .._validate import check_int
    from ..data import moth
    n = check_int(n, "n", "plot_trajectories", min_value=1)
    if isinstance(data, pd.DataFrame):
        y0, u = moth.states_of(data), moth.controls_of(data)
    else:
        y0, u = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in data)
    n = min(n, len(y0))
    p = params or moth.MothParams()
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k in range(rows * cols):
        ax = axes.flat[k]
        if k >= n:
            ax.axis("off")
            continue
        t, states = moth.trajectory(y0[k], u[k], params=p,
                                    n_points=n_points)
        _body_patches(ax, states[0], p, {"alpha": 0.3, "lw": 0.5})
        _body_patches(ax, states[-1], p, {"alpha": 0.85, "lw": 0.8})
        ax.plot(states[:, 0], states[:, 2], "k-", lw=1.2, label="joint path")
        F, al, tau = u[k]
        ax.set_title(f"F={F:.0f} dyn, α={al:.2f}, τ={tau:.0f} dyn·cm",
                     fontsize=8)
        ax.set_aspect("equal")
        ax.autoscale_view()
        ax.set_xlabel("x (cm)")
        ax.set_ylabel("y (cm)")
    fig.suptitle(f"Moth flights over {t[-1] * 1e3:.0f} ms (faint: start)")
    fig.tight_layout()
    return fig


def plot_output_histograms(data, bins: int = 50):
    """Histograms of the 7 network outputs in physical units.

    Args:
        data: a ``MothDataset`` (its scaled outputs are mapped back with the
            scaler; all splits) or a simulation DataFrame.
        bins: histogram bins.

    Returns:
        matplotlib Figure.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    from ..data import moth
    if isinstance(data, moth.MothDataset):
        y = np.concatenate([data.scaler.inverse_y(split[1])
                            for split in (data.train, data.val, data.test)
                            if len(split[1])])
        names = data.scaler.output_names
    elif isinstance(data, pd.DataFrame):
        _, y = moth.network_arrays(data)
        names = moth.OUTPUT_COLUMNS
    else:
        raise TypeError("plot_output_histograms(): 'data' must be a "
                        "MothDataset or a simulation DataFrame; got "
                        f"{type(data).__name__}.")
    fig = Figure(figsize=(14, 6))
    axes = fig.subplots(2, 4)
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.axis("off")
            continue
        ax.hist(y[:, k], bins=bins, color="tab:blue", alpha=0.8)
        ax.set_xlabel(f"{names[k]} ({_OUTPUT_UNITS.get(names[k], '')})")
    axes.flat[0].set_ylabel("count")
    fig.suptitle(f"Network outputs of {len(y)} simulations")
    fig.tight_layout()
    return fig
