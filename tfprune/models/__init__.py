"""Model builders. Each returns a new, uncompiled ``tp.keras.Model`` whose
initial weights are reproducible for a given ``seed``.

Pruning wrappers live in ``tp.sparsity.wrap``; ``pruning_wrapped`` is its
deprecated old name.
"""
import warnings

from .mlp import mlp, moth_controller, penguin_mlp, lenet_300_100
from .conv import conv_net, vgg16
from .resnet import resnet, resnet_cifar
from .digits import digits_cnn


def __getattr__(name):
    if name == "pruning_wrapped":
        warnings.warn("tp.models.pruning_wrapped is deprecated and will be "
                      "removed in the next release; use tp.sparsity.wrap "
                      "(same arguments).", DeprecationWarning, stacklevel=2)
        from ..sparsity.wrap import wrap
        return wrap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["mlp", "moth_controller", "penguin_mlp", "lenet_300_100",
           "conv_net", "vgg16", "resnet", "resnet_cifar", "digits_cnn"]
