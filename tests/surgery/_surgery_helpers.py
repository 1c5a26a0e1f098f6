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
