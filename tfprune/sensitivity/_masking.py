"""Masked evaluation of a Keras graph: zero channels without rebuilding.

The engine of the sensitivity sweep (``tfprune.sensitivity``), which owns
it. For one pruning unit (a layer or a dependency group) the graph is split
into

* a *prefix*: every node whose value does not depend on the zeroed channels,
  run once per unit (its results, the *frontier* tensors, are cached when
  they fit in memory), and
* a *suffix*: the remaining nodes, run once per ratio by one traced function
  per unit (no re-tracing across ratios: masks are tensor arguments).

Two ways to zero channels, both equal to surgery (``zeroing_spec`` lists the
weights surgery's zeroed model sets to 0):

* *activation mask* (fast path): when every zeroed weight belongs to the
  unit's layers and the BatchNormalization/activation layers that follow
  each of them, and those activations map 0 to 0, the channel is exactly 0
  at the end of that chain; the prefix then includes the chain and the
  suffix multiplies the cached chain output by a 0/1 channel mask;
* *weight mask* (general): the zeroed weights are assigned ``w * mask`` on a
  private copy of the model before each ratio and the suffix starts at the
  input of the first zeroed layer.
"""
from __future__ import annotations

import functools

import numpy as np

from .._kgraph import top_layer
from .._keras import keras, tf
from ..filters.criteria import layer_by_name

__all__ = ["as_functional", "MaskedUnit", "ZERO_AT_ZERO"]

ZERO_AT_ZERO = {"relu", "linear", "tanh", "elu", "selu", "gelu", "swish",
                "silu", "softsign", "relu6", "leaky_relu", "hard_swish"}


def as_functional(model) -> keras.Model:
    """A private, functional copy of ``model`` with the same weights."""
    clone = keras.models.clone_model(model)
    if not getattr(clone, "_is_graph_network", False):
        inp = keras.Input(batch_shape=model.input_shape)
        x = inp
        for layer in clone.layers:
            x = layer(x)
        clone = keras.Model(inp, x, name=model.name)
    clone.set_weights(model.get_weights())
    return clone


class _Repeat:
    """A tensor_dict entry that can be popped any number of times."""
    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t

    def pop(self):
        return self.t


def _topo_nodes(model):
    from ..surgery.graph import model_nodes
    return model_nodes(model)


def _call(node, values):
    args, kwargs = node.map_arguments(values)
    layer = node.layer
    if "training" not in kwargs and getattr(layer, "_expects_training_arg",
                                            False):
        kwargs["training"] = False
    return tf.nest.flatten(layer(*args, **kwargs))


def _activation_of(layer):
    L = keras.layers
    if isinstance(layer, L.ReLU):
        return "relu"
    if isinstance(layer, (L.LeakyReLU, L.ELU)):
        return "relu"
    if isinstance(layer, L.BatchNormalization):
        return "linear"
    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    return getattr(act, "__name__", "?").lower()


def _chain(model, layer):
    """``layer`` and its single-consumer BN/activation followers."""
    L = keras.layers
    chain = [layer]
    cur = layer
    while len(cur._inbound_nodes) == 1:
        consumers = [n for n in cur._outbound_nodes if n.layer in model.layers]
        if len(consumers) != 1:
            break
        nxt = consumers[0].layer
        if len(nxt._inbound_nodes) != 1:
            break
        if not isinstance(nxt, (L.BatchNormalization, L.ReLU, L.LeakyReLU,
                                L.ELU, L.Activation)):
            break
        chain.append(nxt)
        cur = nxt
    return chain


def _channel_axis(layer, rank):
    fmt = getattr(layer, "data_format", "channels_last")
    return 1 if fmt == "channels_first" and rank > 2 else rank - 1


def _frontier(changed, out_ids):
    """Tensor ids the ``changed`` nodes read but do not produce, and the
    outputs they do not produce, in order."""
    produced = {i for n in changed for i in n.flat_output_ids}
    need = []
    for i in [i for n in changed for i in n.flat_input_ids] + list(out_ids):
        if i not in produced and i not in need:
            need.append(i)
    return need


class MaskedUnit:
    """Evaluate ``work`` (a private functional model) with channels of one
    unit zeroed, for many channel sets, with one trace.

    Args:
        work: functional model owned by the caller (weights may be assigned).
        members: names of the unit's layers (they share output channels).
        spec: ``zeroing_spec`` entries ``(layer, weight_index, axis, idx)``
            for the largest channel set of the sweep (which layers/weights
            get zeroed; indices are ignored here).
        spec_fn: ``channels -> spec`` for one channel set (weight-mask path).
        cache_bytes: cache the frontier when it fits in this many bytes.
    """

    def __init__(self, work, members, spec, spec_fn, cache_bytes):
        self.work = work
        self.members = list(members)
        self.spec_fn = spec_fn
        self.cache_bytes = cache_bytes
        self._n = None
        nodes = _topo_nodes(work)
        spec_layers = {s[0] for s in spec}
        chains = {m: _chain(work, top_layer(work, m)) for m in self.members}
        chain_names = {l.name for c in chains.values() for l in c}
        fast = (bool(spec) and spec_layers <= chain_names and all(
            _activation_of(l) in ZERO_AT_ZERO and len(l._inbound_nodes) == 1
            for c in chains.values() for l in c))
        self.fast = fast
        self._orig = {}
        if fast:
            self.cut_ids, self.cut_axes = [], []
            for m, c in chains.items():
                t = c[-1].output
                self.cut_ids.append(str(id(t)))
                self.cut_axes.append(_channel_axis(layer_by_name(work, m),
                                                   t.shape.rank))
            dirty = set(self.cut_ids)
            changed = []
            for node in nodes:
                if any(i in dirty for i in node.flat_input_ids):
                    changed.append(node)
                    dirty.update(node.flat_output_ids)
        else:
            self.cut_ids, self.cut_axes = [], []
            # a layer inside a nested model changes the nested model's node
            masked = {id(top_layer(work, n)) for n in spec_layers}
            dirty = set()
            changed = []
            for node in nodes:
                if id(node.layer) in masked or any(
                        i in dirty for i in node.flat_input_ids):
                    changed.append(node)
                    dirty.update(node.flat_output_ids)
        changed_ids = {id(n) for n in changed}
        self.prefix_nodes = [n for n in nodes if id(n) not in changed_ids]
        self.suffix_nodes = changed
        self.out_ids = [str(id(t)) for t in work.outputs]
        self.frontier_ids = need = _frontier(changed, self.out_ids)
        self.in_ids = [str(id(t)) for t in work.inputs]
        by_id = {}
        for n in nodes:
            for i, t in zip(n.flat_output_ids, tf.nest.flatten(n.outputs)):
                by_id[i] = t
        for i, t in zip(self.in_ids, work.inputs):
            by_id[i] = t
        self.frontier_specs = [
            tf.TensorSpec([None] + list(by_id[i].shape[1:]), by_id[i].dtype)
            for i in need]
        self.cut_masks = {i: (j, a) for j, (i, a) in
                          enumerate(zip(self.cut_ids, self.cut_axes))}
        self.cut_widths = [int(by_id[i].shape[a]) for i, a in
                           zip(self.cut_ids, self.cut_axes)]
        in_specs = [tf.TensorSpec([None] + list(t.shape[1:]), t.dtype)
                    for t in work.inputs]
        mask_specs = [tf.TensorSpec([w], tf.float32) for w in self.cut_widths]
        # partial objects: each unit's functions are traced once and are
        # not counted as re-traces of one another
        self._prefix = tf.function(functools.partial(self._prefix_py),
                                   input_signature=in_specs)
        self._suffix = tf.function(
            functools.partial(self._suffix_py),
            input_signature=self.frontier_specs + mask_specs)
        self._full = tf.function(functools.partial(self._full_py),
                                 input_signature=in_specs + mask_specs)
        self._cache = None

    # -- graph pieces -------------------------------------------------------
    def _run(self, nodes, values, masks=None):
        for node in nodes:
            if any(i not in values for i in node.flat_input_ids):
                continue
            outs = _call(node, values)
            for i, y in zip(node.flat_output_ids, outs):
                if masks is not None and i in self.cut_masks:
                    y = self._apply(y, i, masks)
                values[i] = _Repeat(y)
        return values

    def _apply(self, t, tid, masks):
        j, axis = self.cut_masks[tid]
        shape = [1] * t.shape.rank
        shape[axis] = -1
        return t * tf.cast(tf.reshape(masks[j], shape), t.dtype)

    def _prefix_py(self, *inputs):
        values = {i: _Repeat(t) for i, t in zip(self.in_ids, inputs)}
        values = self._run(self.prefix_nodes, values)
        return [values[i].t for i in self.frontier_ids]

    def _suffix_py(self, *args):
        n = len(self.frontier_ids)
        frontier, masks = list(args[:n]), args[n:]
        values = {}
        for i, t in zip(self.frontier_ids, frontier):
            if i in self.cut_masks:
                t = self._apply(t, i, masks)
            values[i] = _Repeat(t)
        values = self._run(self.suffix_nodes, values, masks)
        return [values[i].t for i in self.out_ids]

    def _full_py(self, *args):
        k = len(self.in_ids)
        return self._suffix_py(*self._prefix_py(*args[:k]), *args[k:])

    # -- evaluation ---------------------------------------------------------
    def prepare(self, batches):
        """Run the prefix once over ``batches`` (lists of input arrays) and
        cache the frontier when it fits in ``cache_bytes``."""
        self._batches = batches
        per_sample = sum(int(np.prod(s.shape[1:])) * s.dtype.size
                         for s in self.frontier_specs)
        n = sum(len(b[0]) for b in batches)
        if per_sample * n <= self.cache_bytes:
            self._cache = [[t for t in self._prefix(*b)] for b in batches]
        else:
            self._cache = None

    def _masks(self, channels):
        out = []
        for w in self.cut_widths:
            m = np.ones(w, np.float32)
            m[np.asarray(channels, dtype=np.int64)] = 0.0
            out.append(tf.constant(m))
        return out

    def zero_weights(self, channels):
        """Set the private model's weights to surgery's zeroed model for
        ``channels`` (all other weights back to their original values)."""
        spec = self.spec_fn(channels) if len(channels) else []
        zero = {}
        for name, widx, axis, idx in spec:
            key = (name, widx)
            if key not in self._orig:
                var = layer_by_name(self.work, name).weights[widx]
                self._orig[key] = (var, var.numpy())
            zero.setdefault(key, []).append((axis, idx))
        for key, (var, orig) in self._orig.items():
            w = orig
            if key in zero:
                w = orig.copy()
                for axis, idx in zero[key]:
                    sl = [slice(None)] * w.ndim
                    sl[axis] = np.asarray(idx, dtype=np.int64)
                    w[tuple(sl)] = 0
            var.assign(w)

    def restore(self):
        """Put every weight this unit touched back to its original value."""
        for var, orig in self._orig.values():
            var.assign(orig)

    def predict(self, channels):
        """Model outputs (list of numpy arrays, one per output) over all
        prepared batches with ``channels`` of the unit zeroed."""
        if self.fast:
            masks = self._masks(channels)
        else:
            self.zero_weights(channels)
            masks = []
        outs = []
        for b, batch in enumerate(self._batches):
            if self._cache is not None:
                res = self._suffix(*self._cache[b], *masks)
            else:
                res = self._full(*batch, *masks)
            outs.append([r.numpy() for r in res])
        return [np.concatenate([o[j] for o in outs]) for j in
                range(len(self.out_ids))]

