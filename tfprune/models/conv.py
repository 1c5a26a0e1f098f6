"""Convolutional builders: LTH Conv-2/4/6 and the CIFAR VGG-16 of D-Score."""
from __future__ import annotations

from .._keras import keras
from .._validate import check_choice, check_int, check_type
from ._init import Seeder

layers = keras.layers

__all__ = ["conv_net", "vgg16"]


def _check_shape(input_shape, func, ndim=3):
    check_type(input_shape, (tuple, list), "input_shape", func,
               f"a tuple of {ndim} ints (height, width, channels)")
    if len(input_shape) != ndim:
        from ..errors import InvalidParameterError
        raise InvalidParameterError(
            f"{func}(): 'input_shape' must have {ndim} entries (height, width, "
            f"channels); got {tuple(input_shape)!r}.")
    return tuple(check_int(v, f"input_shape[{i}]", func, min_value=1)
                 for i, v in enumerate(input_shape))


def conv_net(depth, input_shape=(32, 32, 3), classes=10, seed=None
             ) -> keras.Model:
    """Conv-2/4/6 of the lottery-ticket paper: pairs of 3x3 convs (64, 128,
    256) each followed by 2x2 max-pooling, then FC 256-256-classes."""
    func = "conv_net"
    check_choice(depth, (2, 4, 6), "depth", func)
    shape = _check_shape(input_shape, func)
    classes = check_int(classes, "classes", func, min_value=2)
    init = Seeder(seed, func)
    x = inp = keras.Input(shape, name="inputs")
    for s, width in enumerate((64, 128, 256)[: depth // 2], 1):
        for c in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", activation="relu",
                              kernel_initializer=init("glorot_normal"),
                              name=f"conv{s}_{c}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{s}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(256, activation="relu", name=f"fc{i}",
                         kernel_initializer=init("glorot_normal"))(x)
    out = layers.Dense(classes, name="output",
                       kernel_initializer=init("glorot_normal"))(x)
    return keras.Model(inp, out, name=f"conv{depth}")


# (filters, dropout after the block's BN-ReLU) for the 13 convs of the
# D-Score paper's CIFAR VGG-16
_VGG16 = [(64, 0.3), (64, None), "M",
          (128, 0.4), (128, None), "M",
          (256, 0.4), (256, 0.4), (256, None), "M",
          (512, 0.4), (512, 0.4), (512, None), "M",
          (512, 0.4), (512, 0.4), (512, None), "M"]


def vgg16(input_shape=(32, 32, 3), classes=10, seed=None, weight_decay=1e-3
          ) -> keras.Model:
    """CIFAR VGG-16 with BN and dropout (the D-Score paper's), softmax output.

    13 x (conv 3x3 'same' with bias and L2 -> BN -> ReLU [-> Dropout]), a max
    pool after each stage, Dropout 0.5, Flatten, Dense 4096 -> BN -> ReLU ->
    Dropout 0.5 -> Dense 512 -> BN -> ReLU -> Dropout 0.5 -> Dense classes.
    At 32x32x3 and 10 classes: 18,954,058 parameters, 317.4 M MACs. Layers
    are named ``conv1``..``conv13`` (with ``bn1``.., ``relu1``..), ``fc1``,
    ``fc2`` and ``output``.
    """
    func = "vgg16"
    shape = _check_shape(input_shape, func)
    classes = check_int(classes, "classes", func, min_value=2)
    reg = keras.regularizers.l2(weight_decay) if weight_decay else None
    init = Seeder(seed, func)
    x = inp = keras.Input(shape, name="inputs")
    i = pool = 0
    for spec in _VGG16:
        if spec == "M":
            pool += 1
            x = layers.MaxPooling2D(2, name=f"pool{pool}")(x)
            continue
        i += 1
        filters, drop = spec
        x = layers.Conv2D(filters, 3, padding="same", kernel_regularizer=reg,
                          kernel_initializer=init(), name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if drop:
            x = layers.Dropout(drop, name=f"drop{i}")(x)
    x = layers.Dropout(0.5, name="drop_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for j, width in enumerate((4096, 512), 1):
        x = layers.Dense(width, kernel_regularizer=reg, name=f"fc{j}",
                         kernel_initializer=init())(x)
        x = layers.BatchNormalization(name=f"fc{j}_bn")(x)
        x = layers.ReLU(name=f"fc{j}_relu")(x)
        x = layers.Dropout(0.5, name=f"fc{j}_drop")(x)
    out = layers.Dense(classes, activation="softmax", name="output",
                       kernel_initializer=init())(x)
    return keras.Model(inp, out, name="vgg16")
