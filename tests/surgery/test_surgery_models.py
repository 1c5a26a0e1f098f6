"""Surgery on the project's big builders and MobileNetV2: one rebuild, one
forward pass at a small input size, masking equivalence, expected sizes."""
import numpy as np
import pytest

import tfprune as tp
from _surgery_helpers import as_list, assert_close, kept_outputs

L = tp.keras.layers

try:  # the report module is optional for these tests
    from tfprune import report as _report
except ImportError:  # pragma: no cover
    _report = None


def _random_bn(model, seed=0):
    """Non-trivial BN statistics, so a forgotten gamma/beta shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, .5, n),
                               rng.normal(0, .5, n), rng.uniform(.5, 1.5, n)])


def _half(model, names):
    return {n: np.arange(0, model.get_layer(n).output_shape[-1], 2)
            for n in names}


def _check(model, plan, shape, seed=0):
    """Prune, then zero the same channels in place (the test owns
    ``model``) and compare one forward pass."""
    pruned = tp.surgery.prune_channels(model, plan)
    x = np.random.default_rng(seed).normal(size=(2,) + shape
                                           ).astype("float32")
    ya = as_list(pruned(x, training=False))
    kept = kept_outputs(model, plan)
    tp.surgery.apply_zeroing(model, tp.surgery.zeroing_spec(model, plan))
    yb = as_list(model(x, training=False))
    for (axis, k), a, b in zip(kept, ya, yb):
        assert_close(a, b if k is None else np.take(b, k, axis=axis))
    return pruned


def test_vgg16_half_of_every_conv_and_fc():
    model = tp.models.vgg16(seed=0)
    _random_bn(model)
    names = [f"conv{i}" for i in range(1, 14)] + ["fc1", "fc2"]
    groups = tp.surgery.dependency_groups(model)
    assert all(g.kind == "single" for g in groups)
    assert len(groups) == 16  # 13 convs, 2 hidden Dense, the output
    original = tp.models.vgg16(seed=0)
    pruned = _check(model, _half(model, names), (32, 32, 3))
    widths = [64, 64, 128, 128, 256, 256, 256] + [512] * 6
    expected, cin = 0, 3
    for w in widths:
        w //= 2
        expected += 9 * cin * w + w + 4 * w
        cin = w
    expected += (cin * 2048 + 2048 + 4 * 2048) + (2048 * 256 + 256 + 4 * 256)
    expected += 256 * 10 + 10
    assert pruned.count_params() == expected
    if _report is not None:
        table = _report.compare(original, pruned).set_index("layer")
        assert table.at["TOTAL", "params_after"] == expected
        for i, w in enumerate(widths, 1):
            row = table.loc[f"conv{i}"]
            c_in = 3 if i == 1 else widths[i - 2]
            hw = row.flops_before / (2 * 9 * c_in * w + w)
            c_in2 = 3 if i == 1 else c_in // 2
            assert row.flops_after == pytest.approx(
                hw * (2 * 9 * c_in2 * (w // 2) + w // 2))
        assert table.at["TOTAL", "flops_reduction_pct"] > 70


def test_resnet18_dscore_layers_and_the_stem_group():
    model = tp.models.resnet(18, input_shape=(32, 32, 3), classes=10, seed=0)
    _random_bn(model)
    groups = tp.surgery.dependency_groups(model)
    by = {n: g for g in groups for n in g.layers}
    assert by["stage2_block1_conv2"] is by["stage2_block1_shortcut_conv"]
    assert by["stage2_block1_conv2"].kind == "add"
    singles = [n for n in tp.surgery.prunable_layers(model, coupled=False)
               if n != "output"]
    assert len(singles) == 8  # conv1 of each block; the stem meets an Add
    plan = _half(model, singles + ["conv1"])
    pruned = _check(model, plan, (32, 32, 3))
    assert pruned.get_layer("stage1_block2_conv2").filters == 32


def test_resnet50_bottleneck_convs():
    model = tp.models.resnet(50, input_shape=(32, 32, 3), classes=10, seed=0)
    _random_bn(model)
    names = [n for n in tp.surgery.prunable_layers(model, coupled=False)
             if n != "output"]
    assert len(names) == 33  # stem + conv1, conv2 of 16 bottlenecks
    pruned = _check(model, _half(model, names), (32, 32, 3))
    assert pruned.count_params() < 0.7 * model.count_params()


def test_resnet_cifar56():
    model = tp.models.resnet_cifar(56, seed=0)
    _random_bn(model)
    names = [f"stage{s}_block{b}_conv1" for s in (1, 2, 3)
             for b in range(1, 10)]
    plan = _half(model, names)
    plan["stage2_block3_conv2"] = [0, 7]  # a residual group, expanded
    expanded = tp.surgery.expand_plan(model, plan)
    assert "stage2_block1_shortcut_conv" in expanded
    pruned = _check(model, plan, (32, 32, 3))
    assert pruned.get_layer("stage2_block9_conv2").filters == 30


def test_mobilenet_v2_all_groups():
    model = tp.keras.applications.MobileNetV2(input_shape=(32, 32, 3),
                                              weights=None, classes=10)
    _random_bn(model)
    plan = {}
    for g in tp.surgery.dependency_groups(model):
        if g.prunable and not g.reaches_output and g.channels >= 4:
            first = g.layers[0]
            n = model.get_layer(first).output_shape[-1]
            plan[first] = np.arange(0, n, 4)
    assert len(plan) > 20
    pruned = _check(model, plan, (32, 32, 3))
    assert pruned.count_params() < model.count_params()
    dw = pruned.get_layer("block_1_depthwise")
    assert dw.get_weights()[0].shape[2] == pruned.get_layer(
        "block_1_expand").filters
