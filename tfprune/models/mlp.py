"""Fully connected builders: moth controller, penguin MLP, LeNet-300-100."""
from __future__ import annotations

from .._keras import keras
from .._validate import check_int, check_type
from ._init import Seeder

layers = keras.layers

__all__ = ["mlp", "moth_controller", "penguin_mlp", "lenet_300_100"]


def mlp(inputs: int, hidden, outputs: int, activation="relu",
        output_activation=None, seed=None, name="mlp",
        kernel_initializer="glorot_uniform", func="mlp") -> keras.Model:
    """A plain Dense stack ``inputs -> hidden... -> outputs``.

    Layers are named ``hidden_1 ... hidden_k`` and ``output``.
    """
    inputs = check_int(inputs, "inputs", func, min_value=1)
    outputs = check_int(outputs, "outputs", func, min_value=1)
    check_type(hidden, (tuple, list), "hidden", func, "a tuple of widths")
    widths = [check_int(h, f"hidden[{i}]", func, min_value=1)
              for i, h in enumerate(hidden)]
    init = Seeder(seed, func)
    x = inp = keras.Input((inputs,), name="inputs")
    for i, w in enumerate(widths, 1):
        x = layers.Dense(w, activation=activation, name=f"hidden_{i}",
                         kernel_initializer=init(kernel_initializer))(x)
    out = layers.Dense(outputs, activation=output_activation, name="output",
                       kernel_initializer=init(kernel_initializer))(x)
    return keras.Model(inp, out, name=name)


def moth_controller(hidden=(400, 400, 400, 16), inputs=10, outputs=7,
                    activation="tanh", seed=None) -> keras.Model:
    """The moth flight-controller MLP (tanh hidden layers, linear output).

    The default 10-400-400-400-16-7 net has 331,735 parameters (the moth
    study's controller, ``docs/sections/sparsity.md``).
    """
    return mlp(inputs, hidden, outputs, activation=activation, seed=seed,
               name="moth_controller", func="moth_controller")


def penguin_mlp(seed=None, output_activation=None) -> keras.Model:
    """12 -> 12 (ReLU) -> 3. Linear logits by default; ``"tanh"`` reproduces
    the original class project (``docs/sections/sparsity.md``)."""
    return mlp(12, (12,), 3, activation="relu",
               output_activation=output_activation, seed=seed,
               name="penguin_mlp", func="penguin_mlp")


def lenet_300_100(input_dim=784, classes=10, seed=None) -> keras.Model:
    """LeNet-300-100 of the lottery-ticket paper (Gaussian Glorot init)."""
    return mlp(input_dim, (300, 100), classes, activation="relu", seed=seed,
               name="lenet_300_100", kernel_initializer="glorot_normal",
               func="lenet_300_100")
