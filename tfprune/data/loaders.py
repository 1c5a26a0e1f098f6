"""Small real data sets, split and preprocessed the way the studies did.

Every loader returns a :class:`Splits` ``(train, val, test)`` whose entries
are ``(x, y)`` tuples of numpy arrays, split with a seeded shuffle so that the
same ``seed`` always gives the same split.
"""
from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._validate import check_choice, check_fraction, check_int, check_type

__all__ = ["Splits", "load_penguins", "load_digits", "load_mnist",
           "load_cifar10", "PENGUIN_FEATURES", "PENGUIN_CLASSES"]

PENGUIN_CLASSES = ("Adelie", "Gentoo", "Chinstrap")
PENGUIN_FEATURES = (
    "island_Torgersen", "island_Biscoe", "island_Dream",
    "bill_length_mm/50", "bill_depth_mm/20", "flipper_length_mm/200",
    "body_mass_g/5000", "sex_male", "sex_female",
    "year_2007", "year_2008", "year_2009")

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class Splits(NamedTuple):
    """Train / validation / test splits, each an ``(x, y)`` tuple of arrays."""

    train: tuple
    val: tuple
    test: tuple


def _check_seed(seed, func):
    return check_int(seed, "seed", func, min_value=0)


def _penguin_frame() -> pd.DataFrame:
    path = resources.files("palmerpenguins") / "data" / "penguins.csv"
    with resources.as_file(path) as p:
        return pd.read_csv(p)


def load_penguins(seed: int = 0, one_hot: bool = True) -> Splits:
    """Palmer penguins, preprocessed as in the dynamic-pruning project.

    Rows with any missing value are dropped (344 -> 333). The 12 features are,
    in order: island one-hot (Torgersen, Biscoe, Dream), bill length / 50,
    bill depth / 20, flipper length / 200, body mass / 5000, sex one-hot
    (male, female), year one-hot (2007, 2008, 2009); see
    ``PENGUIN_FEATURES``. After a shuffle seeded by ``seed`` the rows are
    split by position: 200 train, 100 validation, 33 test. The data ship with
    the ``palmerpenguins`` package, so no network is needed.

    Args:
        seed: seed of the shuffle.
        one_hot: labels as one-hot float32 rows in the order
            ``PENGUIN_CLASSES`` (Adelie, Gentoo, Chinstrap); otherwise int64
            class indices in that order.

    Returns:
        ``Splits``; ``x`` is float32 of shape ``(n, 12)``, ``y`` is
        ``(n, 3)`` float32 or ``(n,)`` int64.

    Raises:
        ValueError: for a negative seed.
    """
    func = "load_penguins"
    seed = _check_seed(seed, func)
    check_type(one_hot, bool, "one_hot", func)
    df = _penguin_frame().dropna().reset_index(drop=True)
    cols = []
    for island in ("Torgersen", "Biscoe", "Dream"):
        cols.append((df["island"] == island).astype(float))
    cols.append(df["bill_length_mm"] / 50.0)
    cols.append(df["bill_depth_mm"] / 20.0)
    cols.append(df["flipper_length_mm"] / 200.0)
    cols.append(df["body_mass_g"] / 5000.0)
    for sex in ("male", "female"):
        cols.append((df["sex"] == sex).astype(float))
    for year in (2007, 2008, 2009):
        cols.append((df["year"] == year).astype(float))
    x = np.stack([np.asarray(c, dtype=np.float64) for c in cols],
                 axis=1).astype(np.float32)
    labels = df["species"].map({c: i for i, c in
                                enumerate(PENGUIN_CLASSES)})
    if labels.isna().any():
        raise ValueError(f"{func}(): unexpected species "
                         f"{sorted(set(df['species']) - set(PENGUIN_CLASSES))}"
                         " in the palmerpenguins data.")
    y = labels.to_numpy().astype(np.int64)
    if one_hot:
        y = np.eye(len(PENGUIN_CLASSES), dtype=np.float32)[y]
    idx = np.random.default_rng(seed).permutation(len(x))
    x, y = x[idx], y[idx]
    return Splits((x[:200], y[:200]), (x[200:300], y[200:300]),
                  (x[300:], y[300:]))


def _stratified_split(y, val_fraction, test_fraction, seed):
    from sklearn.model_selection import train_test_split
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction,
                                  random_state=seed, stratify=y)
    if val_fraction > 0:
        train, val = train_test_split(
            rest, test_size=val_fraction / (1.0 - test_fraction),
            random_state=seed, stratify=y[rest])
    else:
        train, val = rest, rest[:0]
    return train, val, test


def load_digits(seed: int = 0, flatten: bool = True,
                val_fraction: float = 0.1,
                test_fraction: float = 0.2) -> Splits:
    """scikit-learn's 8x8 digits (1,797 images), scaled to [0, 1].

    A stratified split seeded by ``seed``: ``test_fraction`` and
    ``val_fraction`` are fractions of all images.

    Args:
        seed: seed of the split.
        flatten: ``x`` of shape ``(n, 64)`` (for LeNet-style MLPs); otherwise
            ``(n, 8, 8, 1)`` (for convnets).
        val_fraction: fraction of the images for validation, in [0, 1).
        test_fraction: fraction of the images for the test split, in (0, 1).

    Returns:
        ``Splits`` with float32 ``x`` and int64 labels ``y`` of shape ``(n,)``.

    Raises:
        ValueError: for fractions out of range or summing to 1 or more.
    """
    func = "load_digits"
    seed = _check_seed(seed, func)
    check_type(flatten, bool, "flatten", func)
    val_fraction = check_fraction(val_fraction, "val_fraction", func)
    test_fraction = check_fraction(test_fraction, "test_fraction", func,
                                   allow_zero=False)
    if val_fraction + test_fraction >= 0.9:
        raise ValueError(
            f"{func}(): 'val_fraction' + 'test_fraction' must leave at least "
            f"10% for training; got {val_fraction} + {test_fraction}.")
    from sklearn.datasets import load_digits as _sk_digits
    d = _sk_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    if not flatten:
        x = x.reshape(-1, 8, 8, 1)
    tr, va, te = _stratified_split(y, val_fraction, test_fraction, seed)
    return Splits((x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]))


def _split_train_val(x, y, val_size, seed, func):
    val_size = check_int(val_size, "val_size", func, min_value=0,
                         max_value=len(x) - 1)
    idx = np.random.default_rng(seed).permutation(len(x))
    va, tr = idx[:val_size], idx[val_size:]
    return (x[tr], y[tr]), (x[va], y[va])


def load_mnist(seed: int = 0, flatten: bool = True, normalize: str = "unit",
               val_size: int = 5000) -> Splits:
    """MNIST through ``keras.datasets`` (downloaded once, then cached).

    The lottery-ticket split: 55,000 train and 5,000 validation images carved
    from the 60,000 training images by a shuffle seeded by ``seed``, and the
    10,000 test images.

    Args:
        seed: seed of the train/validation shuffle.
        flatten: ``x`` of shape ``(n, 784)``; otherwise ``(n, 28, 28, 1)``.
        normalize: ``"unit"`` scales pixels to [0, 1]; ``"standard"`` then
            subtracts the mean 0.1307 and divides by the std 0.3081 (the
            normalisation that best matches the lottery-ticket curves).
        val_size: number of training images held out for validation.

    Returns:
        ``Splits`` with float32 ``x`` and int64 labels ``y`` of shape ``(n,)``.
    """
    func = "load_mnist"
    seed = _check_seed(seed, func)
    check_type(flatten, bool, "flatten", func)
    check_choice(normalize, ("unit", "standard"), "normalize", func)
    from .._keras import keras
    (x, y), (xt, yt) = keras.datasets.mnist.load_data()

    def prep(a):
        a = a.astype(np.float32) / 255.0
        if normalize == "standard":
            a = (a - MNIST_MEAN) / MNIST_STD
        return a.reshape(len(a), -1) if flatten else a[..., None]

    x, xt = prep(x), prep(xt)
    y, yt = y.astype(np.int64).ravel(), yt.astype(np.int64).ravel()
    train, val = _split_train_val(x, y, val_size, seed, func)
    return Splits(train, val, (xt, yt))


def load_cifar10(seed: int = 0, normalize: str = "unit",
                 val_size: int = 5000) -> Splits:
    """CIFAR-10 through ``keras.datasets`` (downloaded once, then cached).

    45,000 train and 5,000 validation images carved from the 50,000 training
    images by a shuffle seeded by ``seed``, and the 10,000 test images.

    Args:
        seed: seed of the train/validation shuffle.
        normalize: ``"unit"`` scales pixels to [0, 1]; ``"standard"`` then
            standardises each channel with the usual CIFAR-10 training-set
            mean ``CIFAR10_MEAN`` and std ``CIFAR10_STD``.
        val_size: number of training images held out for validation.

    Returns:
        ``Splits`` with float32 ``x`` of shape ``(n, 32, 32, 3)`` and int64
        labels ``y`` of shape ``(n,)``.
    """
    func = "load_cifar10"
    seed = _check_seed(seed, func)
    check_choice(normalize, ("unit", "standard"), "normalize", func)
    from .._keras import keras
    (x, y), (xt, yt) = keras.datasets.cifar10.load_data()

    def prep(a):
        a = a.astype(np.float32) / 255.0
        if normalize == "standard":
            a = ((a - np.asarray(CIFAR10_MEAN, np.float32))
                 / np.asarray(CIFAR10_STD, np.float32))
        return a

    x, xt = prep(x), prep(xt)
    y, yt = y.astype(np.int64).ravel(), yt.astype(np.int64).ravel()
    train, val = _split_train_val(x, y, val_size, seed, func)
    return Splits(train, val, (xt, yt))
