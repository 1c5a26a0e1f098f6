"""Shared by the surgery tests: random weights and the masking-equivalence
check (pruned(x) == zeroed(x) on the kept output channels)."""
import numpy as np

import tfprune as tp
from tfprune.surgery.graph import DependencyGraph
from tfprune.surgery.ops import _resolve

RTOL = 1e-5


def randomize(model, seed=0):
    """Random weights everywhere (biases and BN statistics included) so that
    a forgotten slice or an unzeroed beta shows up in the outputs."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for v, w in zip(layer.weights, ws):
            if "variance" in v.name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            else:
                fan = max(1, int(np.prod(w.shape[:-1])) if w.ndim > 1 else 1)
                scale = 1.0 / np.sqrt(fan) if w.ndim > 1 else 0.5
                new.append((rng.normal(0, scale, w.shape)).astype(w.dtype))
        layer.set_weights(new)
    return model


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, tp.keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def kept_outputs(model, plan):
    """Per model output: (channel axis, kept positions or None)."""
    g = DependencyGraph(model)
    dead = _resolve(g, plan, "test")
    out = []
    for info in g.output_infos:
        if info is None or dead is None or not dead[info.atoms].any():
            out.append((None, None))
        else:
            out.append((info.axis, np.flatnonzero(~dead[info.atoms])))
    return out


def as_list(y):
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    return [np.asarray(y)]


def assert_close(a, b, rtol=RTOL, what=""):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    err = float(np.abs(a - b).max()) if a.size else 0.0
    assert err <= rtol * scale, f"{what}: max abs diff {err} > {rtol} * {scale}"


def check_equivalent(model, plan, x, inplace=False):
    """pruned(x) equals zero_channels(model)(x) on the kept outputs.

    With ``inplace`` the test's own ``model`` is zeroed in place
    (``apply_zeroing``) instead of rebuilt, which is faster; the model is
    then spent."""
    pruned = tp.surgery.prune_channels(model, plan)
    kept = kept_outputs(model, plan)
    if inplace:
        tp.surgery.apply_zeroing(model, tp.surgery.zeroing_spec(model, plan))
        zeroed = model
    else:
        zeroed = tp.surgery.zero_channels(model, plan)
    ya = as_list(pruned(x, training=False))
    yb = as_list(zeroed(x, training=False))
    for (axis, kept), a, b in zip(kept, ya, yb):
        if kept is not None:
            b = np.take(b, kept, axis=axis)
        assert_close(a, b, what="pruned vs zeroed")
    return pruned


class MaskedLayerNorm(tp.keras.layers.Layer):
    """A LayerNormalization over the last axis that sees only the ``keep``
    channels (the deleted ones output 0): what a pruned LayerNormalization
    computes, written independently of surgery."""

    def __init__(self, keep, epsilon, center, scale, **kw):
        super().__init__(**kw)
        self.keep = np.asarray(keep, dtype="float64")
        self.epsilon, self.center, self.scale = epsilon, center, scale

    def build(self, shape):
        n = int(shape[-1])
        self.gamma = self.add_weight("gamma", (n,)) if self.scale else None
        self.beta = self.add_weight("beta", (n,)) if self.center else None

    def call(self, x):
        tf = tp._keras.tf
        m = tf.constant(self.keep, x.dtype)
        mean = tf.reduce_sum(x * m, -1, keepdims=True) / tf.reduce_sum(m)
        d = (x - mean) * m
        var = tf.reduce_sum(d * d, -1, keepdims=True) / tf.reduce_sum(m)
        y = d / tf.sqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y * m


def rebuilt_reference(model, plan):
    """The reference a pruned model must equal: ``zero_channels`` (which
    warns where a LayerNormalization sees deleted channels), with every such
    LayerNormalization replaced by a :class:`MaskedLayerNorm` over the kept
    channels. Returns ``(reference, replaced layer names)``."""
    import warnings
    g = DependencyGraph(model)
    dead = _resolve(g, plan, "test")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "zero_channels", RuntimeWarning)
        ref = tp.surgery.zero_channels(model, plan)
    jobs = []
    for rec in g.records.values():
        if type(rec.layer) is not tp.keras.layers.LayerNormalization:
            continue
        d = dead[g.io(rec.nodes[0])[0][0].atoms]
        if d.any():
            la = rec.layer
            new = MaskedLayerNorm(~d, la.epsilon, la.center, la.scale,
                                  name=la.name, dtype=la.dtype)
            jobs.append((rec.name, new, la.get_weights()))
    if not jobs:
        return ref, []
    surgeon = tp.surgery.Surgeon(ref)
    for name, new, _ in jobs:
        surgeon.add_job("replace_layer", name, new_layer=new)
    ref = surgeon.operate()
    for name, _, w in jobs:
        tp.surgery.get_layer(ref, name).set_weights(w)
    return ref, [name for name, _, _ in jobs]


def unit_plan(model, fraction, seed=0):
    """A plan removing ``fraction`` of the independent units of every
    prunable group (at least one, never all): a unit is a channel, or a
    whole group of a grouped convolution. Named on each group's first
    member."""
    rng = np.random.default_rng(seed)
    g = DependencyGraph(model)
    labels = g.components.labels
    plan = {}
    for group in g.groups():
        if not group.prunable:
            continue
        rec = g.records[group.layers[0]]
        lab = labels[rec.out_atoms]
        units = np.unique(lab)
        k = max(1, int(round(fraction * len(units))))
        if k < len(units):
            chosen = rng.choice(units, k, replace=False)
            plan[rec.name] = np.flatnonzero(np.isin(lab, chosen))
    return plan


def max_rel_error(model, pruned, reference, plan, x):
    """Largest relative difference between ``pruned(x)`` and the reference
    on the kept output channels."""
    kept = kept_outputs(model, plan)
    err = 0.0
    for (axis, k), a, b in zip(kept, as_list(pruned(x, training=False)),
                               as_list(reference(x, training=False))):
        if k is not None:
            b = np.take(b, k, axis=axis)
        scale = max(float(np.abs(b).max()), 1e-300)
        err = max(err, float(np.abs(a - b).max()) / scale)
    return err
