"""ResNet builders: ImageNet layout (18/34/50) and CIFAR layout (20/32/56).

Post-activation ResNets (conv -> BN -> ReLU, the block output is
ReLU(Add(branch, shortcut))). Names follow one scheme so that flows can find
layers: the stem is ``conv1``/``bn1``/``relu1``; block b of stage s has
``stage{s}_block{b}_conv{i}``, ``..._bn{i}``, ``..._relu{i}``, the shortcut
``..._shortcut_conv``/``..._shortcut_bn`` (only where shapes change), and
``..._add``/``..._out``. The last conv of a block feeds the residual ``Add``
and is coupled with the block's shortcut (see ``tp.surgery.dependency_groups``).
"""
from __future__ import annotations

from .._keras import keras
from .._validate import check_choice, check_int
from ._init import Seeder
from .conv import _check_shape

layers = keras.layers

__all__ = ["resnet", "resnet_cifar"]

_IMAGENET = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
             50: ("bottleneck", (3, 4, 6, 3))}


def _conv_bn(x, filters, kernel, stride, name, init, reg, relu=True,
             conv_name=None, bn_name=None):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same",
                      use_bias=False, kernel_initializer=init("he_normal"),
                      kernel_regularizer=reg, name=conv_name or f"{name}_conv")(x)
    x = layers.BatchNormalization(name=bn_name or f"{name}_bn")(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _block(x, kind, filters, stride, prefix, init, reg):
    in_ch = x.shape[-1]
    expansion = 4 if kind == "bottleneck" else 1
    out_ch = filters * expansion
    if kind == "basic":
        specs = [(filters, 3, stride), (filters, 3, 1)]
    else:
        specs = [(filters, 1, 1), (filters, 3, stride), (out_ch, 1, 1)]
    y = x
    for i, (f, k, s) in enumerate(specs, 1):
        last = i == len(specs)
        y = layers.Conv2D(f, k, strides=s, padding="same", use_bias=False,
                          kernel_initializer=init("he_normal"),
                          kernel_regularizer=reg, name=f"{prefix}_conv{i}")(y)
        y = layers.BatchNormalization(name=f"{prefix}_bn{i}")(y)
        if not last:
            y = layers.ReLU(name=f"{prefix}_relu{i}")(y)
    shortcut = x
    if stride != 1 or in_ch != out_ch:
        shortcut = layers.Conv2D(out_ch, 1, strides=stride, use_bias=False,
                                 kernel_initializer=init("he_normal"),
                                 kernel_regularizer=reg,
                                 name=f"{prefix}_shortcut_conv")(x)
        shortcut = layers.BatchNormalization(
            name=f"{prefix}_shortcut_bn")(shortcut)
    y = layers.Add(name=f"{prefix}_add")([y, shortcut])
    return layers.ReLU(name=f"{prefix}_out")(y)


def resnet(depth, input_shape=(224, 224, 3), classes=1000, seed=None,
           weight_decay=None) -> keras.Model:
    """ResNet-18/34/50, ImageNet layout (7x7/2 stem, 3x3/2 max pool, four
    stages 64-128-256-512, stride on the 3x3 conv; ResNet-50 has ~4.1 G MACs
    at 224x224)."""
    func = "resnet"
    check_choice(depth, tuple(_IMAGENET), "depth", func)
    shape = _check_shape(input_shape, func)
    classes = check_int(classes, "classes", func, min_value=2)
    reg = keras.regularizers.l2(weight_decay) if weight_decay else None
    init = Seeder(seed, func)
    kind, counts = _IMAGENET[depth]
    x = inp = keras.Input(shape, name="inputs")
    x = _conv_bn(x, 64, 7, 2, "conv1", init, reg, conv_name="conv1",
                 bn_name="bn1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for s, (filters, n) in enumerate(zip((64, 128, 256, 512), counts), 1):
        for b in range(1, n + 1):
            stride = 2 if (b == 1 and s > 1) else 1
            x = _block(x, kind, filters, stride, f"stage{s}_block{b}", init,
                       reg)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = layers.Dense(classes, activation="softmax", name="output",
                       kernel_initializer=init())(x)
    return keras.Model(inp, out, name=f"resnet{depth}")


def resnet_cifar(depth, input_shape=(32, 32, 3), classes=10, seed=None,
                 weight_decay=1e-4) -> keras.Model:
    """ResNet-20/32/56 for CIFAR (He et al. 2016 §4.2): a 3x3 stem of 16, three
    stages of (depth-2)/6 basic blocks with 16/32/64 filters, identity
    shortcuts inside a stage and a 1x1 projection where the shape changes
    (the Keras-examples layout; option A's zero-padding has no layer)."""
    func = "resnet_cifar"
    check_choice(depth, (20, 32, 44, 56, 110), "depth", func)
    shape = _check_shape(input_shape, func)
    classes = check_int(classes, "classes", func, min_value=2)
    reg = keras.regularizers.l2(weight_decay) if weight_decay else None
    init = Seeder(seed, func)
    n = (depth - 2) // 6
    x = inp = keras.Input(shape, name="inputs")
    x = _conv_bn(x, 16, 3, 1, "conv1", init, reg, conv_name="conv1",
                 bn_name="bn1")
    for s, filters in enumerate((16, 32, 64), 1):
        for b in range(1, n + 1):
            stride = 2 if (b == 1 and s > 1) else 1
            x = _block(x, "basic", filters, stride, f"stage{s}_block{b}",
                       init, reg)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = layers.Dense(classes, activation="softmax", name="output",
                       kernel_initializer=init())(x)
    return keras.Model(inp, out, name=f"resnet{depth}_cifar")
