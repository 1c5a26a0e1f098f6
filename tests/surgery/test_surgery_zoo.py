"""The keras.applications zoo, as a user with a real network meets it: 14
architectures nobody here wrote, random weights, float64, small inputs.

For each: every group is prunable except where a documented semantic limit
says why; pruning about 25 % of every prunable group at once equals the
masked reference (or, behind a LayerNormalization, the rebuilt reference);
count_flops equals TensorFlow's profiler on the original and on the pruned
model; the pruned model saves, reloads and predicts the same."""
import warnings

import numpy as np
import pytest

import tfprune as tp
from _surgery_helpers import (max_rel_error, randomize, rebuilt_reference,
                              unit_plan)

A = tp.keras.applications

#: architecture -> (builder, input size)
ZOO = {
    "MobileNet": (A.MobileNet, 32), "MobileNetV2": (A.MobileNetV2, 32),
    "MobileNetV3Small": (A.MobileNetV3Small, 32),
    "ResNet50": (A.ResNet50, 32), "ResNet50V2": (A.ResNet50V2, 32),
    "DenseNet121": (A.DenseNet121, 32), "InceptionV3": (A.InceptionV3, 75),
    "Xception": (A.Xception, 71), "NASNetMobile": (A.NASNetMobile, 32),
    "EfficientNetB0": (A.EfficientNetB0, 32),
    "EfficientNetV2B0": (A.EfficientNetV2B0, 32),
    "ConvNeXtTiny": (A.ConvNeXtTiny, 32), "RegNetX002": (A.RegNetX002, 32),
    "VGG16": (A.VGG16, 32),
}

#: The documented semantic limits (docs/sections/surgery.md): channels that
#: reach a model input, or that a softmax normalises over.
SEMANTIC_LIMITS = ("reaches the model input", "normalises over")


def _float64_model(name):
    build, size = ZOO[name]
    old = tp.keras.backend.floatx()
    tp.keras.backend.set_floatx("float64")
    try:
        model = build(weights=None, input_shape=(size, size, 3), classes=10)
    finally:
        tp.keras.backend.set_floatx(old)
    return randomize(model, seed=1), size


def _custom_objects():
    from tfprune import _kgraph
    out = {}
    for name in ("LayerScale", "StochasticDepth"):
        cls = _kgraph.applications_layer("convnext", name)
        if cls is not None:
            out[name] = cls
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_architecture_prunes_exactly_and_counts_exactly(name, tmp_path):
    model, size = _float64_model(name)
    groups = tp.surgery.dependency_groups(model)
    for g in groups:
        assert g.prunable or any(s in g.reason for s in SEMANTIC_LIMITS), \
            (g.layers, g.reason)
    plan = unit_plan(model, 0.25, seed=0)
    assert len(plan) >= sum(g.prunable for g in groups) - 1
    pruned = tp.surgery.prune_channels(model, plan)
    reference, _ = rebuilt_reference(model, plan)
    x = np.random.default_rng(2).normal(size=(2, size, size, 3))
    assert max_rel_error(model, pruned, reference, plan, x) <= 1e-10
    assert pruned.count_params() < model.count_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in (model, pruned):
            assert tp.report.count_flops(m) == tp.report.profiler_flops(
                m, inline_grouped=True)
    path = str(tmp_path / f"{name}.keras")
    pruned.save(path)
    loaded = tp.keras.models.load_model(path, compile=False,
                                        custom_objects=_custom_objects())
    np.testing.assert_allclose(loaded(x, training=False).numpy(),
                               pruned(x, training=False).numpy(),
                               rtol=1e-12, atol=1e-12)
