"""tp.report: params, MACs, FLOPs (profiler convention), tables, rendering."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import tfprune as tp
from tfprune import report

keras = tp.keras
L = keras.layers
tf = tp._keras.tf


def _layer_scale():
    from tfprune import _kgraph
    return _kgraph.applications_layer("convnext", "LayerScale")(0.5, 6)


def _seq(input_shape, *layers, name=None):
    x = inp = keras.Input(input_shape)
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x, name=name)


def _quiet_profiler(model, batch_size=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return report.profiler_flops(model, batch_size)


@pytest.fixture(scope="module")
def vgg():
    return tp.models.vgg16(seed=0)


# ---------------------------------------------------------------- params

BUILDERS = {
    "moth_controller": lambda: tp.models.moth_controller(seed=0),
    "penguin_mlp": lambda: tp.models.penguin_mlp(seed=0),
    "lenet_300_100": lambda: tp.models.lenet_300_100(seed=0),
    "mlp": lambda: tp.models.mlp(5, (7, 3), 2, seed=0),
    "conv2": lambda: tp.models.conv_net(2, seed=0),
    "conv4": lambda: tp.models.conv_net(4, seed=0),
    "conv6": lambda: tp.models.conv_net(6, seed=0),
    "resnet18": lambda: tp.models.resnet(18, input_shape=(32, 32, 3), seed=0),
    "resnet20": lambda: tp.models.resnet_cifar(20, seed=0),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_count_params_equals_keras_for_every_builder(name):
    model = BUILDERS[name]()
    table = report.layer_table(model)
    assert report.count_params(model) == model.count_params()
    assert int(table["params"].sum()) == model.count_params()
    assert table.attrs["params"] == model.count_params()
    assert report.count_flops(model) == int(table["flops"].sum()) > 0


def test_vgg16_params_macs_and_flops(vgg):
    assert report.count_params(vgg) == vgg.count_params() == 18_954_058
    # MACs rebuilt independently from the CIFAR VGG-16 layout.
    widths = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
              512, 512, 512, "M", 512, 512, 512, "M"]
    size, c_in, macs = 32, 3, 0
    for w in widths:
        if w == "M":
            size //= 2
            continue
        macs += size * size * 9 * c_in * w
        c_in = w
    macs += 512 * 4096 + 4096 * 512 + 512 * 10
    assert report.count_macs(vgg) == macs
    assert abs(macs / 317.4e6 - 1) < 0.005
    flops = report.count_flops(vgg)
    assert abs(flops / 0.635e9 - 1) < 0.005
    assert flops >= 2 * macs


def test_resnet50_imagenet_macs_in_published_range():
    model = tp.models.resnet(50, seed=0)
    assert report.count_params(model) == model.count_params()
    # torchvision's ResNet-50 has 25,557,032 (trainable) parameters
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) \
        == 25_557_032
    macs = report.count_macs(model)
    assert 3.8e9 <= macs <= 4.1e9
    flops = report.count_flops(model)
    assert 2 * macs < flops < 2 * macs * 1.01


# ------------------------------------------------- exact profiler agreement

def _worked_example():
    return _seq((32, 32, 3), L.Conv2D(16, 3, padding="same"), L.Flatten(),
                L.Dense(10), name="worked_example")


def _depthwise_net():
    return _seq((24, 24, 3),
                L.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
                L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
                L.Conv2D(12, 1),
                L.SeparableConv2D(16, 3, strides=2, activation="relu"),
                L.DepthwiseConv2D(3, use_bias=False, dilation_rate=2,
                                  padding="same"),
                L.Flatten(), L.Dense(10, activation="softmax"),
                name="depthwise_net")


def _conv_1d_3d_net():
    a = keras.Input((20, 4))
    x = L.Conv1D(6, 3, padding="causal", dilation_rate=2)(a)
    x = L.SeparableConv1D(5, 3, strides=2)(x)
    x = L.Conv1DTranspose(4, 3, strides=2)(x)
    x = L.Flatten()(x)
    b = keras.Input((6, 6, 6, 2))
    y = L.Conv3D(4, 3, padding="same", strides=2)(b)
    y = L.Flatten()(y)
    out = L.Dense(3)(L.Concatenate()([x, y]))
    return keras.Model([a, b], out, name="conv_1d_3d")


def _nested_shared():
    inner = keras.Sequential([L.Conv2D(4, 3, input_shape=(None, None, 3)),
                              L.BatchNormalization(), L.ReLU()],
                             name="inner")
    a, b = keras.Input((12, 12, 3)), keras.Input((12, 12, 3))
    shared = L.Conv2D(3, 1, name="shared")
    y = L.Add()([inner(shared(a)), inner(shared(b))])
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model([a, b], [L.Dense(5, activation="softmax")(y),
                                L.Dense(2)(y)], name="nested")


EXACT = {
    "lenet_300_100": lambda: tp.models.lenet_300_100(seed=0),
    "moth_controller": lambda: tp.models.moth_controller(seed=0),
    "conv2_16px": lambda: tp.models.conv_net(2, input_shape=(16, 16, 3),
                                             seed=0),
    "depthwise_net": _depthwise_net,
    "conv_1d_3d": _conv_1d_3d_net,
    "resnet20_16px": lambda: tp.models.resnet_cifar(
        20, input_shape=(16, 16, 3), seed=0),
    "nested_shared": _nested_shared,
}


def test_worked_example_from_the_spec():
    model = _worked_example()
    assert report.count_macs(model) == 442_368 + 163_840
    assert report.count_flops(model) == 1_228_810
    assert _quiet_profiler(model) == 1_228_810


@pytest.mark.parametrize("name", sorted(EXACT))
def test_count_flops_equals_profiler(name):
    model = EXACT[name]()
    assert report.count_flops(model) == _quiet_profiler(model)


def test_count_flops_equals_profiler_at_batch_3():
    model = _seq((6,), L.Dense(8), L.BatchNormalization(), L.PReLU(),
                 L.Dense(3, activation="softmax"))
    assert report.count_flops(model, 3) == _quiet_profiler(model, 3)
    assert report.count_flops(model, 3) != 3 * report.count_flops(model, 1)


LAYERS = {
    "Conv2D_valid_stride": ((11, 11, 3), L.Conv2D(5, 3, strides=2)),
    "Conv2D_dilated_same": ((15, 15, 3), L.Conv2D(4, 3, dilation_rate=2,
                                                  padding="same")),
    "Conv2D_channels_first": ((3, 6, 6), L.Conv2D(
        4, 3, data_format="channels_first")),
    "Conv3D_dilated": ((7, 7, 7, 2), L.Conv3D(3, 3, dilation_rate=2,
                                              padding="same")),
    "Conv2DTranspose_valid": ((5, 5, 3), L.Conv2DTranspose(4, 3, strides=2)),
    "Conv2DTranspose_same": ((5, 6, 3), L.Conv2DTranspose(
        4, (4, 2), strides=(3, 2), padding="same")),
    "Conv1DTranspose_op": ((5, 3), L.Conv1DTranspose(4, 3, strides=2,
                                                     output_padding=1)),
    "DepthwiseConv1D": ((15, 3), L.DepthwiseConv1D(3, depth_multiplier=2)),
    "SeparableConv2D_dilated": ((15, 15, 3), L.SeparableConv2D(
        5, 3, dilation_rate=2, padding="same")),
    "Dense_rank4": ((2, 4, 10), L.Dense(7, activation="swish")),
    "BatchNorm_2d": ((10,), L.BatchNormalization(scale=False)),
    "BatchNorm_3d_axis1": ((3, 8), L.BatchNormalization(axis=1)),
    "BatchNorm_4d_fused": ((4, 4, 3), L.BatchNormalization()),
    "BatchNorm_4d_unfused": ((4, 4, 3), L.BatchNormalization(fused=False)),
    "LayerNormalization": ((4, 10), L.LayerNormalization()),
    "MaxPooling2D_same": ((9, 9, 3), L.MaxPooling2D(3, strides=2,
                                                    padding="same")),
    "AveragePooling1D": ((8, 3), L.AveragePooling1D(2)),
    "MaxPooling3D": ((4, 4, 4, 3), L.MaxPooling3D(2)),
    "GlobalAveragePooling3D": ((4, 4, 4, 3), L.GlobalAveragePooling3D()),
    "GlobalMaxPooling2D": ((8, 8, 3), L.GlobalMaxPooling2D()),
    "ReLU_threshold_clip_slope": ((4, 10), L.ReLU(max_value=5.0,
                                                  negative_slope=0.1,
                                                  threshold=0.5)),
    "ReLU6": ((4, 10), L.ReLU(max_value=6.0)),
    "ELU_alpha": ((4, 10), L.ELU(alpha=0.5)),
    "PReLU_shared": ((4, 10), L.PReLU(shared_axes=[1])),
    "Softmax_axis1": ((4, 10), L.Softmax(axis=1)),
    "Activation_gelu": ((4, 10), L.Activation("gelu")),
    "Activation_hard_sigmoid": ((4, 10), L.Activation("hard_sigmoid")),
    "Activation_tanh": ((4, 10), L.Activation("tanh")),
    "UpSampling2D": ((4, 4, 3), L.UpSampling2D(2)),
    "Rescaling": ((4, 10), L.Rescaling(0.5)),
    "Flatten_Dropout_Reshape": ((4, 6), keras.Sequential(
        [L.Flatten(), L.Dropout(0.5), L.Reshape((6, 4))])),
    # LayerNormalization without the fused kernel (epsilon < 1.001e-5, as
    # ConvNeXt uses), every scale / center combination and axis
    "LayerNorm_unfused": ((4, 4, 6), L.LayerNormalization(epsilon=1e-6)),
    "LayerNorm_unfused_no_scale": ((4, 4, 6), L.LayerNormalization(
        epsilon=1e-6, scale=False)),
    "LayerNorm_unfused_no_center": ((4, 4, 6), L.LayerNormalization(
        epsilon=1e-6, center=False)),
    "LayerNorm_unfused_plain": ((4, 4, 6), L.LayerNormalization(
        epsilon=1e-6, center=False, scale=False)),
    "LayerNorm_unfused_axes": ((4, 5, 6), L.LayerNormalization(
        axis=[1, 2], epsilon=1e-6)),
    "LayerNorm_fused_4d": ((4, 4, 6), L.LayerNormalization()),
    "Normalization": ((4, 4, 3), L.Normalization(mean=[1.0, 2.0, 3.0],
                                                 variance=[1.0, 4.0, 9.0])),
    "Normalization_all_axes": ((4, 3), L.Normalization(axis=None, mean=1.0,
                                                       variance=2.0)),
    "LayerScale": ((4, 4, 6), _layer_scale()),
    "TF_hard_swish": ((4, 6), lambda x: x * (tf.nn.relu6(x + 3.0) / 6.0)),
    "TF_functions": ((4, 6), lambda x: tf.clip_by_value(
        tf.nn.silu(-x) ** 2 - tf.sigmoid(x), 0.0, 1.0)),
    "TF_reduce_and_slice": ((4, 6), lambda x: tf.reduce_mean(
        x[:, :, :3], axis=1)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_rule_equals_profiler(name):
    shape, layer = LAYERS[name]
    model = _seq(shape, layer)
    assert report.count_flops(model) == _quiet_profiler(model)


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Multiply", "Average",
                                   "Maximum", "Minimum", "Concatenate"])
def test_merge_layers_equal_profiler(merge):
    n = 2 if merge == "Subtract" else 3
    shapes = [(4, 5), (1, 5), (4, 5)][:n]
    inputs = [keras.Input(s) for s in shapes]
    if merge == "Concatenate":
        inputs = [keras.Input((4, 5)) for _ in range(n)]
    model = keras.Model(inputs, getattr(L, merge)()(inputs))
    assert report.count_flops(model) == _quiet_profiler(model)


def test_inception_resnet_scaled_sum_equals_profiler():
    from tfprune import _kgraph
    cls = _kgraph.applications_layer("inception_resnet_v2",
                                      "CustomScaleLayer")
    a, b = keras.Input((4, 4, 5)), keras.Input((4, 4, 5))
    model = keras.Model([a, b], cls(0.17)([a, b]))
    assert report.count_flops(model) == _quiet_profiler(model)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(kind=st.sampled_from(["conv", "depthwise", "separable"]),
       size=st.integers(5, 12), kernel=st.integers(1, 4),
       stride=st.integers(1, 3), dilation=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same"]),
       filters=st.integers(1, 6), use_bias=st.booleans())
def test_random_conv_layers_equal_profiler(kind, size, kernel, stride,
                                           dilation, padding, filters,
                                           use_bias):
    if dilation > 1:
        stride = 1
    if padding == "valid" and (kernel - 1) * dilation + 1 > size:
        kernel = 1
    kw = dict(strides=stride, dilation_rate=dilation, padding=padding,
              use_bias=use_bias)
    if kind == "conv":
        layer = L.Conv2D(filters, kernel, **kw)
    elif kind == "depthwise":
        layer = L.DepthwiseConv2D(kernel, depth_multiplier=filters % 3 + 1,
                                  **kw)
    else:
        layer = L.SeparableConv2D(filters, kernel,
                                  depth_multiplier=filters % 2 + 1, **kw)
    model = _seq((size, size + 1, 3), layer, L.Flatten(), L.Dense(2))
    assert report.count_flops(model) == _quiet_profiler(model)


def _split_groups(groups, c_in, filters, size, **kw):
    """A grouped convolution written as ``groups`` plain convolutions on
    slices of the input: what the profiler can count on its own."""
    inp = keras.Input((size, size, c_in))
    step = c_in // groups
    parts = [L.Conv2D(filters // groups, 3, **kw)(inp[..., g * step:
                                                      (g + 1) * step])
             for g in range(groups)]
    return keras.Model(inp, L.Concatenate()(parts))


@pytest.mark.parametrize("groups,c_in,filters,kw", [
    (2, 4, 8, {}), (4, 8, 4, {"padding": "same"}),
    (6, 6, 6, {"strides": 2, "use_bias": False})])
def test_grouped_conv_equals_an_independent_count(groups, c_in, filters, kw):
    size = 9
    model = _seq((size, size, c_in), L.Conv2D(filters, 3, groups=groups,
                                              **kw))
    row = report.layer_table(model).iloc[-1]
    out = model.output_shape
    elements = out[1] * out[2] * out[3]
    macs = elements * 9 * (c_in // groups)           # by hand
    assert row["macs"] == macs
    assert row["flops"] == 2 * macs + (elements if kw.get("use_bias", True)
                                       else 0)
    # the profiler on the same convolution split into its groups
    assert row["flops"] == _quiet_profiler(_split_groups(
        groups, c_in, filters, size, **kw))
    # the raw profiler does not see the grouped convolution ...
    assert "profiler" in row["note"]
    assert _quiet_profiler(model) < row["flops"]
    # ... and sees it once it is traced as one plain convolution op
    assert report.profiler_flops(model, inline_grouped=True) == row["flops"]


def test_the_raw_profiler_loses_every_shape_after_a_grouped_conv():
    model = _seq((10, 10, 4), L.Conv2D(8, 3, groups=2), L.ReLU(),
                 L.Conv2D(8, 3), L.GlobalAveragePooling2D(), L.Dense(3))
    flops = report.count_flops(model)
    assert _quiet_profiler(model) < flops - report.layer_table(
        model)["flops"].iloc[1]
    assert report.profiler_flops(model, inline_grouped=True) == flops
    assert report.count_flops(model) == flops        # the model is unchanged


def test_lookup_is_by_exact_class_and_like_reuses_a_rule():
    class MyDense(L.Dense):
        pass

    model = _seq((5,), MyDense(4, name="mine"))
    with pytest.warns(UserWarning, match="MyDense"):
        report.count_flops(model)
    try:
        report.register_layer(MyDense, like=L.Dense)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert report.count_flops(model) == 2 * 5 * 4 + 4
    finally:
        report.unregister_layer(MyDense)
    with pytest.raises(ValueError, match="like"):
        report.register_layer(MyDense, like=L.Layer)


def test_fused_batchnorm_is_zero_and_noted():
    model = _seq((8, 8, 3), L.Conv2D(4, 3), L.BatchNormalization())
    table = report.layer_table(model)
    bn = table[table["type"] == "BatchNormalization"].iloc[0]
    assert bn["flops"] == 0 and bn["counted"]
    assert "FusedBatchNormV3" in bn["note"]


# --------------------------------------------------------------- tables

def test_layer_table_columns_and_totals():
    model = tp.models.conv_net(2, input_shape=(16, 16, 3), seed=0)
    table = report.layer_table(model)
    assert isinstance(table, pd.DataFrame)
    assert tuple(table.columns[:7]) == ("layer", "type", "output_shape",
                                        "params", "macs", "flops",
                                        "sparsity")
    assert list(table["layer"]) == [layer.name for layer in model.layers]
    assert table["counted"].all()
    conv = table.set_index("layer").loc["conv1_1"]
    assert conv["type"] == "Conv2D"
    assert tuple(conv["output_shape"]) == (1, 16, 16, 64)
    assert conv["macs"] == 16 * 16 * 64 * 27
    assert conv["flops"] == 2 * conv["macs"] + 16 * 16 * 64
    assert table.attrs["flops"] == report.count_flops(model)
    table4 = report.layer_table(model, batch_size=4)
    assert tuple(table4.set_index("layer").loc["conv1_1", "output_shape"]) \
        == (4, 16, 16, 64)
    assert table4.attrs["flops"] == 4 * table.attrs["flops"]


def _small_conv(f1, f2, units, seed=0):
    init = keras.initializers.GlorotUniform(seed)
    return _seq((12, 12, 3),
                L.Conv2D(f1, 3, padding="same", name="c1",
                         kernel_initializer=init),
                L.Conv2D(f2, 3, name="c2", kernel_initializer=init),
                L.MaxPooling2D(2, name="pool"), L.Flatten(name="flat"),
                L.Dense(units, name="fc", kernel_initializer=init),
                L.Dense(10, name="out", kernel_initializer=init))


def test_compare_reductions_against_hand_built_smaller_model():
    big, small = _small_conv(16, 32, 64), _small_conv(8, 16, 32)
    table = report.compare(big, small)
    assert list(table.columns[:8]) == [
        "layer", "type", "params_before", "params_after",
        "params_reduction_pct", "flops_before", "flops_after",
        "flops_reduction_pct"]
    rows = table.set_index("layer")
    assert rows.loc["c1", "params_before"] == 27 * 16 + 16
    assert rows.loc["c1", "params_after"] == 27 * 8 + 8
    assert rows.loc["c1", "params_reduction_pct"] == pytest.approx(50.0)
    # c2 loses half its inputs and half its outputs: 3/4 of the multiply-adds
    c2_before = 2 * 10 * 10 * 32 * 9 * 16 + 10 * 10 * 32
    c2_after = 2 * 10 * 10 * 16 * 9 * 8 + 10 * 10 * 16
    assert rows.loc["c2", "flops_before"] == c2_before
    assert rows.loc["c2", "flops_after"] == c2_after
    assert rows.loc["c2", "flops_reduction_pct"] == pytest.approx(
        100 * (1 - c2_after / c2_before))
    assert math.isnan(rows.loc["flat", "params_reduction_pct"])
    total = rows.loc["TOTAL"]
    assert total["params_before"] == big.count_params()
    assert total["params_after"] == small.count_params()
    assert total["flops_after"] == report.count_flops(small)
    assert table.attrs["speedup"] == pytest.approx(
        report.count_flops(big) / report.count_flops(small))
    text = report.render(table)
    assert "FLOPs before" in text and "TOTAL" in text


def test_compare_matches_layers_by_name_and_keeps_missing_ones():
    big = _small_conv(4, 4, 8)
    x = inp = keras.Input((12, 12, 3))
    x = L.Conv2D(4, 3, padding="same", name="c1")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(10, name="out")(x)
    table = report.compare(big, keras.Model(inp, x)).set_index("layer")
    assert table.loc["c2", "params_after"] == 0
    assert table.loc["c2", "params_reduction_pct"] == pytest.approx(100.0)
    assert table.loc["c1", "params_reduction_pct"] == pytest.approx(0.0)


def test_sparsity_column_counts_exact_zeros():
    model = _small_conv(8, 8, 16)
    fc = model.get_layer("fc")
    kernel = fc.kernel.numpy()
    kernel.reshape(-1)[: kernel.size // 4] = 0.0
    fc.kernel.assign(kernel)
    model.get_layer("c1").kernel.assign(
        np.zeros(model.get_layer("c1").kernel.shape, "float32"))
    rows = report.layer_table(model).set_index("layer")
    assert rows.loc["fc", "sparsity"] == pytest.approx(
        (kernel.size // 4) / kernel.size)
    assert rows.loc["c1", "sparsity"] == 1.0
    assert rows.loc["c2", "sparsity"] == 0.0
    assert math.isnan(rows.loc["pool", "sparsity"])


def test_pruning_wrappers_report_inner_layer_and_masked_zeros():
    tfmot = pytest.importorskip("tensorflow_model_optimization")
    base = _small_conv(8, 8, 16)
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(
        base, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0))
    for layer in wrapped.layers:
        for _, mask, _ in getattr(layer, "pruning_vars", []):
            m = np.ones(mask.shape, "float32")
            m.reshape(-1)[::2] = 0.0
            mask.assign(m)
    table = report.layer_table(wrapped)
    assert list(table["layer"]) == [lay.name for lay in base.layers]
    rows = table.set_index("layer")
    assert rows.loc["c1", "type"] == "Conv2D"
    assert rows.loc["fc", "sparsity"] == pytest.approx(0.5)
    assert report.count_flops(wrapped) == report.count_flops(base)
    assert report.count_params(wrapped) == int(table["params"].sum())
    with pytest.raises(ValueError, match="strip_pruning"):
        report.profiler_flops(wrapped)


def test_render_aligned_with_unit_and_thousands_separators(vgg):
    text = report.render(vgg)
    lines = text.splitlines()
    assert "FLOPs (2 per MAC + bias adds)" in text
    assert f"{report.count_flops(vgg):,}" in text
    assert f"{vgg.count_params():,}" in text
    table_lines = lines[1:len(vgg.layers) + 5]
    assert len({len(line.rstrip()) for line in table_lines
                if line.startswith(("-", "conv"))}) <= 2
    assert any(line.startswith("TOTAL") for line in lines)
    assert "FusedBatchNormV3" in text


def test_unknown_layer_is_flagged_warned_and_registrable():
    class Scale(L.Layer):
        def call(self, x):
            return x * 2.0

    model = _seq((5,), L.Dense(4), Scale(name="scale"))
    with pytest.warns(UserWarning, match="Scale"):
        flops = report.count_flops(model)
    row = report.layer_table(model).set_index("layer").loc["scale"]
    assert not row["counted"] and row["flops"] == 0
    assert "register_layer" in row["note"]
    assert "not counted" in report.render(model)
    try:
        report.register_layer(Scale, lambda layer, ins, outs: report.LayerCost(
            flops=math.prod(outs[0])))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert report.count_flops(model) == flops + 4
    finally:
        report.unregister_layer(Scale)


def test_load_model_reads_h5_and_rejects_bad_files(tmp_path):
    model = _small_conv(4, 4, 8)
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    loaded = report.load_model(path)
    assert report.count_flops(loaded) == report.count_flops(model)
    with pytest.raises(FileNotFoundError):
        report.load_model(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match="cannot read"):
        report.load_model(bad)


# --------------------------------------------------------------- errors

def test_bad_arguments_raise_clear_errors():
    model = _small_conv(4, 4, 8)
    with pytest.raises(ValueError, match="batch_size"):
        report.count_flops(model, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        report.count_flops(model, batch_size=1.5)
    with pytest.raises(TypeError, match="tfprune.keras"):
        report.layer_table(np.zeros(3))
    with pytest.raises(TypeError):
        report.compare(model, "model")
    with pytest.raises(TypeError):
        report.render(42)
    with pytest.raises(TypeError):
        report.render(pd.DataFrame({"a": [1]}))
    with pytest.raises(TypeError):
        report.register_layer(int, lambda *a: None)
    unbuilt = keras.Sequential([L.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        report.count_params(unbuilt)
    fcn = _seq((None, None, 3), L.Conv2D(4, 3), L.GlobalAveragePooling2D())
    with pytest.raises(ValueError, match="fixed input shape"):
        report.count_flops(fcn)
    with pytest.raises(ValueError, match="fixed input shape"):
        report.profiler_flops(fcn)
