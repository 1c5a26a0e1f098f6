"""Which layers of a model tfmot wraps and prunes, and at what rate.

The lowest module of ``tp.sparsity``: wrapping (:mod:`.wrap`) and mask
arithmetic (:mod:`.masks`) both read these facts, and neither imports the
other's internals. Layers are named by their *inner* name everywhere (the
name of the layer inside a ``prune_low_magnitude_<name>`` wrapper), so a
wrapped model, its stripped copy and the original share names.
"""
from __future__ import annotations

from .._keras import keras
from .._tfmot import PrunableLayer, PruneLowMagnitude, registry_weight_names
from .._validate import check_float, check_type
from ..errors import InvalidParameterError

__all__ = ["PruneLowMagnitude", "wrappers", "is_wrapped", "inner_layer",
           "inner_name", "kernel_vars", "prunable_weight_names",
           "prunable_layer_names", "output_layer_names", "layer_rates",
           "layer_weights", "set_layer_weights"]


def wrappers(model) -> list:
    """The tfmot pruning wrappers of ``model``, in layer order."""
    return [la for la in model.layers if isinstance(la, PruneLowMagnitude)]


def is_wrapped(model) -> bool:
    """True when ``model`` holds at least one tfmot pruning wrapper."""
    return bool(wrappers(model))


def inner_layer(layer):
    """The layer inside a pruning wrapper, or ``layer`` itself."""
    return layer.layer if isinstance(layer, PruneLowMagnitude) else layer


def inner_name(layer) -> str:
    return inner_layer(layer).name


def kernel_vars(layer) -> list:
    """The kernel-like variable of a plain layer (kernel, pointwise kernel,
    embeddings, else its first trainable weight)."""
    kernel = getattr(layer, "kernel", None)
    if kernel is not None:
        return [kernel]
    for attr in ("pointwise_kernel", "embeddings"):
        if getattr(layer, attr, None) is not None:
            return [getattr(layer, attr)]
    return [layer.trainable_weights[0]] if layer.trainable_weights else []


def prunable_weight_names(layer):
    """Names of the weights tfmot prunes in ``layer``; None if unsupported."""
    if isinstance(layer, PrunableLayer) or hasattr(layer,
                                                   "get_prunable_weights"):
        return ["<custom>"]
    return registry_weight_names(layer)


def prunable_layer_names(model) -> list[str]:
    """Layers of a plain model that tfmot can prune (they have a kernel)."""
    return [la.name for la in model.layers
            if la.weights and not isinstance(la, keras.layers.InputLayer)
            and not isinstance(la, keras.Model)
            and prunable_weight_names(la)]


def output_layer_names(model, among) -> list[str]:
    """The last layer of ``among`` on the path to each model output."""
    among = set(among)
    by_name = {la.name: la for la in model.layers}
    found = []
    for name in model.output_names:
        todo = [by_name[name]] if name in by_name else []
        seen = set()
        while todo:
            la = todo.pop()
            if la.name in seen:
                continue
            seen.add(la.name)
            if la.name in among:
                if la.name not in found:
                    found.append(la.name)
                continue
            for node in la._inbound_nodes:
                inbound = node.inbound_layers
                if not isinstance(inbound, (list, tuple)):
                    inbound = [inbound]
                todo.extend(inbound)
    return found


def layer_rates(model, targets=None, output_rate=1.0, rates=None,
                func="wrap") -> dict:
    """``{inner layer name: multiplier}`` of the requested sparsity.

    Args:
        model: a plain or wrapped model.
        targets: inner names of the pruned layers (default: the wrapped
            layers of a wrapped model, every prunable layer of a plain one).
        output_rate: multiplier of the last pruned layer before each output.
        rates: ``{layer: multiplier}`` for other layers, each in [0, 1].
        func: the public function, for error messages.

    Raises:
        InvalidParameterError: a rate outside [0, 1], or ``rates`` naming a
            layer that is not pruned.
    """
    outer = {w.layer.name: w.name for w in wrappers(model)}
    if targets is None:
        targets = list(outer) if outer else prunable_layer_names(model)
    output_rate = check_float(output_rate, "output_rate", func, 0.0, 1.0)
    out = {name: 1.0 for name in targets}
    inner_of = {v: k for k, v in outer.items()}
    for name in output_layer_names(model, [outer.get(n, n) for n in out]):
        out[inner_of.get(name, name)] = output_rate
    if rates:
        check_type(rates, dict, "layer_rates", func)
        for name, r in rates.items():
            if name not in out:
                raise InvalidParameterError(
                    f"{func}(): 'layer_rates' names {name!r}, which is not a "
                    f"pruned layer; pruned layers are {list(out)}.")
            out[name] = check_float(r, f"layer_rates[{name!r}]", func, 0.0,
                                    1.0)
    return out


def layer_weights(model) -> list:
    """Every weight of ``model`` as arrays, layer by layer (the inner
    layer's weights for a wrapper, without tfmot's masks and counters): the
    order :func:`set_layer_weights` reads back, for a plain model, its
    wrapped copy and its stripped copy alike."""
    return [w for la in model.layers for w in inner_layer(la).get_weights()]


def set_layer_weights(model, arrays) -> None:
    """Inverse of :func:`layer_weights`: load ``arrays`` (in place)."""
    arrays = list(arrays)
    start = 0
    for la in model.layers:
        inner = inner_layer(la)
        n = len(inner.weights)
        if n:
            inner.set_weights(arrays[start:start + n])
        start += n
    if start != len(arrays):
        raise InvalidParameterError(
            f"model '{model.name}' holds {start} weight arrays, not "
            f"{len(arrays)}: the saved weights belong to another "
            "architecture.")
