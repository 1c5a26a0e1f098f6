"""The graph walk of the reports: shapes through the model, one cost per
call, one row per layer (nested models as ``outer/inner`` rows)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from .. import _kgraph
from .._keras import check_model, keras, tf
from .._validate import check_int
from ..errors import InvalidParameterError
from .rules import layer_cost, unwrap

__all__ = ["Row", "analyse", "all_layers", "fix_shape", "known",
           "warn_uncounted"]

layers = keras.layers


@dataclass
class Row:
    """The summed cost of every call of one layer."""
    layer: object
    name: str
    type: str
    output_shape: object = None
    macs: int = 0
    flops: int = 0
    counted: bool = True
    notes: list = field(default_factory=list)
    calls: int = 0

    def add(self, cost, outs) -> None:
        self.calls += 1
        self.macs += int(cost.macs)
        self.flops += int(cost.flops)
        self.counted = self.counted and cost.counted
        if cost.note and cost.note not in self.notes:
            self.notes.append(cost.note)
        if self.output_shape is None:
            self.output_shape = outs[0] if len(outs) == 1 else list(outs)


def fix_shape(shape, batch):
    """``shape`` with the batch dimension set (dimension 0 of every tensor of
    a Keras graph is the batch)."""
    dims = list(shape)
    if dims:
        dims[0] = batch
    return tuple(None if d is None else int(d) for d in dims)


def known(shape) -> bool:
    """True when every dimension of ``shape`` is known."""
    return shape is not None and all(d is not None for d in shape)


def all_layers(model):
    """Every layer of ``model`` and of the models nested in it (the nested
    models themselves excluded)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
        else:
            yield layer


def _rows_for(model, prefix, rows, top):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _rows_for(layer, f"{prefix}{layer.name}/", rows, False)
            continue
        if isinstance(layer, layers.InputLayer) and not top:
            continue
        inner = unwrap(layer)
        rows[id(layer)] = Row(layer, prefix + inner.name,
                              type(inner).__name__)


def _infer(layer, ins, static):
    try:
        arg = ins[0] if len(ins) == 1 else ins
        out = layer.compute_output_shape(
            tf.TensorShape(arg) if len(ins) == 1 else
            [tf.TensorShape(s) for s in ins])
    except Exception:  # noqa: BLE001  (any layer may refuse)
        return static
    if isinstance(out, (list, tuple)) and out and not isinstance(
            out, tf.TensorShape) and isinstance(out[0], (tf.TensorShape,
                                                        list, tuple)):
        return [tuple(tf.TensorShape(o).as_list()) for o in out]
    return [tuple(tf.TensorShape(out).as_list())]


def _walk(model, in_shapes, batch, rows):
    """Propagate shapes through ``model``'s graph and add each call's cost."""
    shapes = {}
    for t, s in zip(model.inputs, in_shapes):
        shapes[_kgraph.tensor_id(t)] = s
        row = rows.get(id(_kgraph.producer(t)))
        if row is not None:
            row.output_shape = s
    for node in _kgraph.model_nodes(model):
        layer = node.layer
        ins = [shapes.get(_kgraph.tensor_id(t)) or fix_shape(t.shape, batch)
               for t in _kgraph.node_inputs(node)]
        if isinstance(layer, keras.Model):
            outs = _walk(layer, ins, batch, rows)
        else:
            outs = [fix_shape(t.shape, batch)
                    for t in _kgraph.node_outputs(node)]
            if not all(known(s) for s in outs) and all(known(s)
                                                       for s in ins):
                outs = _infer(layer, ins, outs)
            row = rows.get(id(layer))
            if row is not None:
                row.add(layer_cost(layer, ins, outs, node), outs)
        for t, s in zip(_kgraph.node_output_ids(node), outs):
            shapes[t] = s
    return [shapes.get(_kgraph.tensor_id(t)) or fix_shape(t.shape, batch)
            for t in model.outputs]


def analyse(model, batch_size, func) -> list[Row]:
    """Validate ``model`` and ``batch_size`` and return one row per layer
    with the summed cost of its calls."""
    check_model(model, "model", func)
    batch = check_int(batch_size, "batch_size", func, min_value=1)
    in_shapes = [fix_shape(t.shape, batch) for t in model.inputs]
    for t, s in zip(model.inputs, in_shapes):
        if not known(s):
            raise InvalidParameterError(
                f"{func}(): model {model.name!r} input {t.name!r} has shape "
                f"{tuple(t.shape)}; counting FLOPs needs every dimension but "
                "the batch. Rebuild the model with a fixed input shape, e.g. "
                "tp.keras.Input((32, 32, 3)).")
    rows: dict[int, Row] = {}
    _rows_for(model, "", rows, True)
    _walk(model, in_shapes, batch, rows)
    return list(rows.values())


def warn_uncounted(rows, func) -> None:
    """Warn once about the layer types whose FLOPs are unknown."""
    missing = sorted({r.type for r in rows if not r.counted})
    if missing:
        warnings.warn(f"{func}(): FLOPs of {', '.join(missing)} layers are "
                      "not counted (0); see layer_table(model)['note'].",
                      stacklevel=3)
