"""The controller network's data set: inputs, outputs, splits, scaling."""
from __future__ import annotations

import os
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..._validate import check_float, check_int
from ...errors import InvalidParameterError
from .sampling import INPUT_COLUMNS, OUTPUT_COLUMNS
from .simulate import drop_duplicate_controls, simulate

__all__ = ["MothScaler", "MothDataset", "network_arrays", "make_dataset"]


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


_NEEDED = set(INPUT_COLUMNS) | {"F", "alpha", "tau", "xdotf", "ydotf",
                                "phidotf", "thetadotf"}


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


def _given_frame(data, n, simulate_kwargs, func) -> pd.DataFrame:
    """The rows of ``data`` (a frame or a simulation folder) to use: the
    first ``n`` when ``n`` is given, refusing an ``n`` the data lack."""
    from .disk import load_simulations
    if simulate_kwargs:
        raise TypeError(
            f"{func}(): simulation arguments {sorted(simulate_kwargs)} "
            "cannot be used with 'data'.")
    if isinstance(data, (str, os.PathLike)):
        df = load_simulations(data, drop_duplicates=False)
        what = f"the folder {str(data)!r} holds {len(df)} simulations"
    elif isinstance(data, pd.DataFrame):
        df, what = data, f"'data' holds {len(data)} rows"
    else:
        raise TypeError(f"{func}(): 'data' must be a DataFrame or a "
                        f"folder path; got {type(data).__name__}.")
    missing = sorted(c for c in _NEEDED if c not in df.columns)
    if missing:
        raise InvalidParameterError(
            f"{func}(): 'data' lacks the columns {missing}; pass the output "
            "of simulate() or load_simulations().")
    if n is not None:
        n = check_int(n, "n", func, min_value=1)
        if n > len(df):
            raise InvalidParameterError(
                f"{func}(): n={n} asks for more simulations than {what}; "
                f"pass n <= {len(df)}, or simulate {n} flights into a new "
                "folder.")
        df = df.iloc[:n]
    return df


def _usable(df: pd.DataFrame, func) -> pd.DataFrame:
    if "converged" in df.columns:
        bad = ~df["converged"].to_numpy(bool)
        if bad.any():
            warnings.warn(f"{func}(): dropping {int(bad.sum())} simulations "
                          "whose integration did not converge.",
                          RuntimeWarning, stacklevel=3)
            df = df.loc[~bad]
    return drop_duplicate_controls(df.reset_index(drop=True))


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
        n: number of simulations; with ``data``, its first ``n`` rows (the
            rows of ``simulate(n, seed)`` for a folder simulated with
            ``seed``). ``None`` with ``data``: all of it.
        seed: simulation seed.
        data: a DataFrame from :func:`simulate` / :func:`load_simulations`,
            or a complete folder written by :func:`simulate_to_disk`.
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

    Raises:
        ValueError: bad fractions, ``n`` larger than ``data``, an incomplete
            or damaged folder, or no training rows left.
    """
    func = "make_dataset"
    test_fraction = check_float(test_fraction, "test_fraction", func, 0.0,
                                1.0, max_inclusive=False)
    val_fraction = check_float(val_fraction, "val_fraction", func, 0.0, 1.0,
                               max_inclusive=False)
    split_seed = check_int(split_seed, "split_seed", func, min_value=0)
    if data is not None:
        df = _given_frame(data, n, simulate_kwargs, func)
    elif n is None:
        raise InvalidParameterError(
            f"{func}(): give the number of simulations 'n' or existing "
            "simulations as 'data'.")
    else:
        df = simulate(n, seed, **simulate_kwargs)
    x, y = network_arrays(_usable(df, func))
    m = len(x)
    n_test = int(round(test_fraction * m))
    n_val = int(round(val_fraction * (m - n_test)))
    if m - n_test - n_val < 1:
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
