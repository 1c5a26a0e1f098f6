"""Small models and data for the deploy tests."""
from __future__ import annotations

import numpy as np

import tfprune as tp


def tiny_cnn(seed=0):
    """Conv2D -> BN -> ReLU -> pool -> Dense on 8x8x1 digits."""
    layers = tp.keras.layers
    tp.utils.set_seed(seed)
    inputs = tp.keras.Input((8, 8, 1))
    x = layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu",
                      name="conv2")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", name="out")(x)
    return tp.keras.Model(inputs, outputs, name="tiny_cnn")


def sparse_copy(model, fraction, seed=0):
    """A copy of ``model`` whose kernels have ``fraction`` exact zeros (the
    smallest magnitudes, per kernel)."""
    clone = tp.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for v in clone.weights:
        if v.name.split("/")[-1].startswith("kernel"):
            w = v.numpy()
            k = int(round(fraction * w.size))
            order = np.argsort(np.abs(w), axis=None, kind="stable")
            flat = w.reshape(-1).copy()
            flat[order[:k]] = 0.0
            v.assign(flat.reshape(w.shape))
    return clone


def kernel_zeros(model) -> dict:
    """``{layer name: zero fraction of its kernel}``."""
    return {la.name: float(np.mean(la.kernel.numpy() == 0))
            for la in model.layers if hasattr(la, "kernel")}
