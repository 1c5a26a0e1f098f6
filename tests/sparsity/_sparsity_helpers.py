"""Small real data and models shared by the sparsity tests."""
import functools

import numpy as np

import tfprune as tp


@functools.lru_cache(maxsize=None)
def digits_splits():
    """sklearn digits, flattened, seeded split (train, val, test)."""
    return tp.data.load_digits(seed=0)


@functools.lru_cache(maxsize=None)
def penguins():
    """Palmer penguins, one-hot labels, seeded split."""
    return tp.data.load_penguins(seed=0)


def digits_mlp(seed=1, hidden=(32,), lr=1e-2):
    """A small compiled digits classifier (64 -> hidden -> 10)."""
    m = tp.models.mlp(64, hidden, 10, seed=seed)
    m.compile(tp.keras.optimizers.Adam(lr),
              tp.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def penguin_model(seed=0, lr=1e-2):
    m = tp.models.penguin_mlp(seed=seed)
    m.compile(tp.keras.optimizers.Adam(lr),
              tp.keras.losses.CategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def zeros_of(model):
    """Boolean zero pattern of every kernel of a plain model."""
    return {la.name: np.asarray(la.kernel.numpy() == 0)
            for la in model.layers if hasattr(la, "kernel")}
