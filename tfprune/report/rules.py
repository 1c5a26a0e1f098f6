"""FLOP rules: the registry, the cost record and the shared arithmetic.

A rule counts one call of one layer: ``rule(layer, input_shapes,
output_shapes) -> LayerCost`` with shapes as int tuples, batch first. Rules
are looked up by the **exact class** of the layer, the package's one lookup
rule for per-layer-type tables (see :mod:`tfprune.surgery.facts`); a
subclass gets its parent's rule with ``register_layer(MyConv,
like=tp.keras.layers.Conv2D)``. tfmot pruning wrappers are counted as the
layer they wrap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .._keras import keras
from ..surgery.facts import lookup

__all__ = ["LayerCost", "register_layer", "unregister_layer", "find_rule",
           "layer_cost", "is_prune_wrapper", "unwrap", "rule_for",
           "call_rule_for", "prod", "n_of", "activation_cost", "add_costs",
           "spatial", "conv_positions", "bias_adds"]

layers = keras.layers


@dataclass
class LayerCost:
    """The cost of one call of one layer (batch included)."""
    macs: int = 0
    flops: int = 0
    counted: bool = True
    note: str = ""


_RULES: dict[type, Callable] = {}
#: Rules that also read the call's arguments: ``rule(layer, node, ins,
#: outs)`` (a TF function called on symbolic tensors).
_CALL_RULES: dict[type, Callable] = {}


def register_layer(layer_cls: type, rule: Callable | None = None, *,
                   like: type | None = None):
    """Register how to count a layer class (usable as a decorator).

    Lookup is by exact class: a subclass of ``Conv2D`` is not counted as a
    ``Conv2D`` unless registered, e.g. ``register_layer(MyConv,
    like=tp.keras.layers.Conv2D)`` (a subclass may compute something else).

    Args:
        layer_cls: a ``tp.keras.layers.Layer`` subclass.
        rule: ``rule(layer, input_shapes, output_shapes) -> LayerCost`` where
            shapes are lists of int tuples including the batch dimension.
        like: a class with a rule to reuse instead of ``rule``.

    Returns:
        ``rule`` (or a decorator when ``rule`` and ``like`` are None).

    Raises:
        TypeError: if ``layer_cls`` is not a Keras layer class or ``rule`` is
            not callable.
        ValueError: ``like`` has no rule.
    """
    if not (isinstance(layer_cls, type) and
            issubclass(layer_cls, layers.Layer)):
        raise TypeError("register_layer(): 'layer_cls' must be a tf_keras "
                        f"Layer subclass; got {layer_cls!r}.")
    if like is not None:
        rule = _RULES.get(like)
        if rule is None:
            from ..errors import InvalidParameterError
            raise InvalidParameterError(
                "register_layer(): 'like' must be a layer class with a FLOP "
                f"rule; got {getattr(like, '__name__', like)!r}.")

    def deco(fn):
        if not callable(fn):
            raise TypeError("register_layer(): 'rule' must be callable; got "
                            f"{type(fn).__name__}.")
        _RULES[layer_cls] = fn
        return fn

    return deco if rule is None else deco(rule)


def unregister_layer(layer_cls: type) -> None:
    """Remove the FLOP rule of ``layer_cls`` (its layers count as 0, with a
    warning)."""
    _RULES.pop(layer_cls, None)


def rule_for(*classes):
    """Decorator registering a built-in rule for several classes (None
    entries, for classes missing from this tf_keras, are skipped)."""
    def deco(fn):
        for cls in classes:
            if cls is not None:
                _RULES[cls] = fn
        return fn
    return deco


def call_rule_for(cls):
    """Decorator registering a rule that reads the call's arguments."""
    def deco(fn):
        if cls is not None:
            _CALL_RULES[cls] = fn
        return fn
    return deco


def prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def n_of(shape) -> int:
    return prod(shape)


ZERO_ACTIVATIONS = {"linear", "relu", "elu", "selu", "sigmoid", "tanh",
                     "softplus", "softsign", "exponential", "relu6",
                     "leaky_relu", "hard_tanh"}
ACTIVATION_COST = {"softmax": 5, "gelu": 4, "hard_sigmoid": 4, "swish": 2,
                    "silu": 2, "mish": 1}


def activation_cost(fn, shape) -> LayerCost:
    """Profiler FLOPs of a Keras activation function on a tensor of
    ``shape``."""
    if fn is None:
        return LayerCost()
    name = getattr(fn, "__name__", type(fn).__name__)
    if name in ZERO_ACTIVATIONS:
        return LayerCost()
    if name in ACTIVATION_COST:
        return LayerCost(flops=ACTIVATION_COST[name] * n_of(shape))
    return LayerCost(counted=False,
                     note=f"activation {name!r} not counted (0)")


def add_costs(*costs) -> LayerCost:
    out = LayerCost()
    notes = []
    for c in costs:
        out.macs += c.macs
        out.flops += c.flops
        out.counted = out.counted and c.counted
        if c.note:
            notes.append(c.note)
    out.note = "; ".join(notes)
    return out


def spatial(shape, data_format):
    if data_format == "channels_first":
        return tuple(shape[2:]), shape[1]
    return tuple(shape[1:-1]), shape[-1]


def _s2b_positions(in_spatial, kernel, rate, padding):
    """Output positions of a dilated conv run through space-to-batch.

    tf.nn.convolution runs a dilated convolution as SpaceToBatchND -> VALID
    conv -> BatchToSpaceND, and the profiler counts the conv on the padded
    space-to-batch tensor (``with_space_to_batch`` in nn_ops.py).
    """
    positions = 1
    for size, k, r in zip(in_spatial, kernel, rate):
        if padding == "same":
            dilated = k + (k - 1) * (r - 1)
            start = (dilated - 1) // 2
            end = dilated - 1 - start
        else:
            start = end = 0
        full = size + start + end
        end += (r - full % r) % r
        padded = (size + start + end) // r
        positions *= r * (padded - k + 1)
    return positions


def conv_positions(layer, in_spatial, out_spatial):
    rate = tuple(layer.dilation_rate)
    if all(r == 1 for r in rate):
        return prod(out_spatial)
    padding = layer.padding
    in_spatial = list(in_spatial)
    if padding == "causal":
        in_spatial[0] += (layer.kernel_size[0] - 1) * rate[0]
        padding = "valid"
    return _s2b_positions(in_spatial, layer.kernel_size, rate, padding)


def bias_adds(layer, out_shape):
    return n_of(out_shape) if getattr(layer, "use_bias", False) else 0



def find_rule(layer):
    """The FLOP rule of ``layer``'s exact class, or None."""
    return lookup(_RULES, layer)


def is_prune_wrapper(layer):
    """True for a tfmot pruning wrapper (``PruneLowMagnitude`` anywhere in
    the class's MRO: subclasses that prune biases too)."""
    return (isinstance(layer, layers.Wrapper) and any(
        c.__name__ == "PruneLowMagnitude" for c in type(layer).__mro__))


def unwrap(layer):
    """The layer a tfmot pruning wrapper wraps, else ``layer``."""
    return layer.layer if is_prune_wrapper(layer) else layer


def layer_cost(layer, ins, outs, node=None) -> LayerCost:
    """The cost of one call of ``layer`` (input and output shapes, batch
    included; ``node`` for rules that read the call's arguments)."""
    inner = unwrap(layer)
    if any(s is None or any(d is None for d in s) for s in ins + outs):
        return LayerCost(counted=False, note="shape not fully known; not "
                         "counted (0)")
    call_rule = lookup(_CALL_RULES, inner)
    rule = find_rule(inner)
    if call_rule is None and rule is None:
        return LayerCost(counted=False, note=(
            f"no FLOP rule for {type(inner).__name__}: not counted (0); add "
            "one with tp.report.register_layer"))
    try:
        cost = (call_rule(inner, node, ins, outs) if call_rule is not None
                else rule(inner, ins, outs))
    except (AttributeError, TypeError, ValueError, IndexError) as e:
        return LayerCost(counted=False, note=(
            f"{type(inner).__name__} not counted (0): {e}"))
    if inner is not layer:
        cost.note = "; ".join(filter(None, ["tfmot pruning wrapper (params "
                                            "include mask, threshold, step)",
                                            cost.note]))
    return cost
