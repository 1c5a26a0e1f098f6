"""Connectivity of a pruned MLP: input-to-output paths and dead hidden units.

Magnitude pruning can cut an output off from every input while the loss only
rises by that output's share: the output then predicts a constant (its bias,
plus the constant activations of units that lost their inputs). The loss
alone cannot tell this apart from a gradual loss of accuracy; the counts here
can.

For a chain of dense kernels ``W_1 ... W_L`` (``W_l`` of shape
``(fan_in, fan_out)``) with nonzero patterns ``B_l = (W_l != 0)``, the number
of paths from input ``i`` to output ``k`` is ``(B_1 @ ... @ B_L)[i, k]``. An
output with no path is *dead*. A hidden unit is *dead* when it has no
surviving incoming weight (it outputs a constant) or no surviving outgoing
weight (nothing reads it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._keras import keras
from .._validate import check_type
from ..errors import InvalidParameterError, ModelTypeError
from .wrap import PruneLowMagnitude

__all__ = ["connectivity", "Connectivity", "CONNECTIVITY_COLUMNS",
           "history_columns"]

#: History columns of :func:`history_columns` (``Connectivity.summary``).
CONNECTIVITY_COLUMNS = ["dead_outputs", "dead_units"]


@dataclass(frozen=True)
class Connectivity:
    """What :func:`connectivity` returns.

    Attributes:
        layers: names of the kernels, input side first.
        outputs: output names (``output_0``, ... unless given).
        paths: ``(n_outputs,)`` number of input-to-output paths (float, exact
            below 2**53).
        inputs_used: ``(n_outputs,)`` number of inputs with at least one
            path to each output.
        no_incoming: per hidden layer, a boolean array: the unit has no
            surviving incoming weight.
        no_outgoing: per hidden layer, a boolean array: the unit has no
            surviving outgoing weight.
    """

    layers: tuple
    outputs: tuple
    paths: np.ndarray
    inputs_used: np.ndarray
    no_incoming: tuple
    no_outgoing: tuple

    @property
    def dead_outputs(self) -> int:
        """Number of outputs without a path from any input."""
        return int(np.count_nonzero(self.paths == 0))

    @property
    def dead_output_names(self) -> list:
        return [n for n, p in zip(self.outputs, self.paths) if p == 0]

    @property
    def dead_units(self) -> int:
        """Hidden units with no surviving incoming or outgoing weight."""
        return int(sum(np.count_nonzero(a | b) for a, b in
                       zip(self.no_incoming, self.no_outgoing)))

    def summary(self) -> dict:
        """``{"dead_outputs": k, "dead_units": m}`` (history columns)."""
        return {"dead_outputs": self.dead_outputs,
                "dead_units": self.dead_units}

    def to_frame(self) -> pd.DataFrame:
        """One row per output: ``output, paths, inputs_used, dead``."""
        return pd.DataFrame({"output": list(self.outputs),
                             "paths": self.paths,
                             "inputs_used": self.inputs_used,
                             "dead": self.paths == 0})

    def units_frame(self) -> pd.DataFrame:
        """One row per hidden layer: ``layer, units, no_incoming,
        no_outgoing, dead``."""
        rows = [{"layer": name, "units": int(a.size),
                 "no_incoming": int(a.sum()), "no_outgoing": int(b.sum()),
                 "dead": int((a | b).sum())}
                for name, a, b in zip(self.layers[:-1], self.no_incoming,
                                      self.no_outgoing)]
        return pd.DataFrame(rows, columns=["layer", "units", "no_incoming",
                                           "no_outgoing", "dead"])


def _model_kernels(model, func):
    """``(names, kernels)`` of a plain or wrapped chain of Dense layers."""
    names, kernels, previous = [], [], None
    for la in model.layers:
        if isinstance(la, keras.layers.InputLayer):
            previous = la
            continue
        inbound = [n.inbound_layers for n in la._inbound_nodes]
        if len(inbound) != 1 or isinstance(inbound[0], (list, tuple)) or (
                previous is not None and inbound[0] is not previous):
            raise ModelTypeError(
                f"{func}(): model '{model.name}' is not a chain of layers "
                f"(layer '{la.name}' does not take exactly the previous "
                "layer's output); pass the kernels as a list instead.")
        previous = la
        inner = la.layer if isinstance(la, PruneLowMagnitude) else la
        if isinstance(inner, keras.layers.Dense):
            k = inner.kernel.numpy()
            if isinstance(la, PruneLowMagnitude):
                k = k * la.pruning_vars[0][1].numpy()
            names.append(inner.name)
            kernels.append(k)
        elif la.weights and not isinstance(
                inner, keras.layers.BatchNormalization):
            raise ModelTypeError(
                f"{func}(): layer '{la.name}' ({type(inner).__name__}) is "
                "not a Dense layer; connectivity covers chains of Dense "
                "layers (pass the kernels as a list for other models).")
    return names, kernels


def _kernel_list(kernels, func):
    check_type(kernels, (list, tuple), "model", func,
               "a tf_keras model or a list of 2-D kernels or masks")
    out = []
    for i, k in enumerate(kernels):
        a = np.asarray(k)
        if a.ndim != 2:
            raise InvalidParameterError(
                f"{func}(): kernel {i} has shape {a.shape}; pass 2-D "
                "(fan_in, fan_out) kernels or masks.")
        out.append(a)
    return [f"layer_{i}" for i in range(len(out))], out


def connectivity(model, output_names=None) -> Connectivity:
    """Paths from the inputs to each output, and dead hidden units.

    Args:
        model: a tf_keras model that is a chain of Dense layers (plain, or
            wrapped by ``tp.sparsity.wrap``: the masks are applied), or a
            list of 2-D kernels or 0/1 masks, input side first.
        output_names: names of the outputs, for ``to_frame``.

    Returns:
        Connectivity.

    Raises:
        ModelTypeError: a model that is not a chain of Dense layers.
        InvalidParameterError: kernels that are not 2-D or do not chain,
            or ``output_names`` of the wrong length.
    """
    func = "connectivity"
    if isinstance(model, keras.Model):
        names, kernels = _model_kernels(model, func)
    else:
        names, kernels = _kernel_list(model, func)
    if not kernels:
        raise InvalidParameterError(f"{func}(): no kernel to analyse.")
    for i in range(1, len(kernels)):
        if kernels[i - 1].shape[1] != kernels[i].shape[0]:
            raise InvalidParameterError(
                f"{func}(): kernel '{names[i - 1]}' has {kernels[i - 1].shape[1]}"
                f" outputs but kernel '{names[i]}' has {kernels[i].shape[0]} "
                "inputs; the kernels must form a chain.")
    alive = [(k != 0).astype(np.float64) for k in kernels]
    reach = alive[0]
    for b in alive[1:]:
        reach = reach @ b
    n_out = kernels[-1].shape[1]
    if output_names is None:
        output_names = [f"output_{j}" for j in range(n_out)]
    output_names = tuple(str(n) for n in output_names)
    if len(output_names) != n_out:
        raise InvalidParameterError(
            f"{func}(): 'output_names' has {len(output_names)} names; the "
            f"network has {n_out} outputs.")
    return Connectivity(
        layers=tuple(names), outputs=output_names, paths=reach.sum(axis=0),
        inputs_used=np.count_nonzero(reach, axis=0),
        no_incoming=tuple(~b.any(axis=0) for b in alive[:-1]),
        no_outgoing=tuple(~b.any(axis=1) for b in alive[1:]))


def history_columns(model) -> dict:
    """``{"dead_outputs": k, "dead_units": m}`` of a chain of Dense layers,
    or ``{}`` for a model of another kind (the history then has no such
    columns)."""
    try:
        return connectivity(model).summary()
    except (ModelTypeError, InvalidParameterError):
        return {}
