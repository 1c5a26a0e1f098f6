"""Model builders. Each returns a new, uncompiled ``tp.keras.Model`` whose
initial weights are reproducible for a given ``seed``.

``pruning_wrapped(model, ...)`` returns a copy wrapped with tfmot
``prune_low_magnitude`` (see ``tp.sparsity.wrap``).
"""
from .mlp import mlp, moth_controller, penguin_mlp, lenet_300_100
from .conv import conv_net, vgg16
from .resnet import resnet, resnet_cifar
from .digits import digits_cnn


def pruning_wrapped(model, sparsity=0.5, schedule=None, **kwargs):
    """Return ``model`` wrapped with tfmot ``prune_low_magnitude`` wrappers.

    Shortcut for :func:`tfprune.sparsity.wrap.wrap` (same arguments)."""
    from ..sparsity.wrap import wrap
    return wrap(model, sparsity=sparsity, schedule=schedule, **kwargs)


__all__ = ["mlp", "moth_controller", "penguin_mlp", "lenet_300_100",
           "conv_net", "vgg16", "resnet", "resnet_cifar", "digits_cnn",
           "pruning_wrapped"]
