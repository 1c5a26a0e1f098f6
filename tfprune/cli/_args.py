"""Argument types shared by the subcommands: bad values fail in argparse
(one line, exit 2) before any simulation, training or surgery starts."""
from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "nonnegative_int", "positive_float",
           "nonnegative_float", "unit_interval", "fraction", "int_list",
           "fraction_list", "float_list", "shard"]


def _number(kind, text, what):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be {what}; got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
    return value


def positive_int(text):
    value = _number(int, text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer; got {text!r}")
    return value


def nonnegative_int(text):
    value = _number(int, text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got "
                                         f"{text!r}")
    return value


def positive_float(text):
    value = _number(float, text, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number; got {text!r}")
    return value


def nonnegative_float(text):
    value = _number(float, text, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a number >= 0; got {text!r}")
    return value


def unit_interval(text):
    value = _number(float, text, "a number in [0, 1]")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"must be a number in [0, 1]; got {text!r}")
    return value


def fraction(text):
    value = _number(float, text, "a fraction in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a fraction in [0, 1); got {text!r}")
    return value


def int_list(text):
    """``"400,400,16"`` -> ``(400, 400, 16)``: positive integers."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers; got {text!r}")
    try:
        return tuple(positive_int(p) for p in parts)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers; got {text!r}"
        ) from None


def fraction_list(text):
    """``"0.5,0.8"`` -> ``[0.5, 0.8]``: strictly increasing fractions."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    what = "comma-separated, strictly increasing fractions in [0, 1)"
    try:
        values = [fraction(p) for p in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}"
                                         ) from None
    if not values or any(b <= a for a, b in zip(values, values[1:])):
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
    return values


def float_list(text):
    """``"-0.01,0.9"`` -> ``[-0.01, 0.9]``: finite numbers."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    what = "comma-separated numbers"
    try:
        values = [_number(float, p, what) for p in parts]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}"
                                         ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
    return values


def shard(text):
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``."""
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be i/N with 0 <= i < N (e.g. 0/4); got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(
            f"must be i/N with 0 <= i < N (e.g. 0/4); got {text!r}")
    return i, n
