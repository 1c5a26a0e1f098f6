"""Measured latency and size on disk (tp.report.measure, compare(measure=True))."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.errors import InvalidParameterError

from _deploy_helpers import sparse_copy, tiny_cnn

FAST = {"repeats": 3, "warmup": 1, "min_repeat_s": 0.0}


def test_measure_columns_and_throughput_follow_latency():
    model = tp.models.penguin_mlp(seed=0)
    table = tp.report.measure(model, batch_sizes=(1, 8), **FAST)
    assert list(table.columns) == ["batch_size", "runtime",
                                   "latency_ms_median", "latency_ms_iqr",
                                   "samples_per_s"]
    assert table["batch_size"].tolist() == [1, 8]
    assert set(table["runtime"]) == {"tf"}
    assert (table["latency_ms_median"] > 0).all()
    assert (table["latency_ms_iqr"] >= 0).all()
    expected = table["batch_size"] / (table["latency_ms_median"] / 1e3)
    np.testing.assert_allclose(table["samples_per_s"], expected)


def test_measure_tflite_from_a_model_and_from_a_file(tmp_path):
    model = tp.models.penguin_mlp(seed=0)
    converted = tp.report.measure(model, batch_sizes=4, runtime="tflite",
                                  **FAST)
    assert converted["runtime"].tolist() == ["tflite"]
    path = tp.export.to_tflite(model, tmp_path / "p.tflite")
    for source in (path, str(path.path), path.path.read_bytes()):
        table = tp.report.measure(source, batch_sizes=(1, 3), **FAST)
        assert table["runtime"].tolist() == ["tflite", "tflite"]
        assert (table["latency_ms_median"] > 0).all()


def test_measure_models_times_every_model_and_batch():
    a, b = tp.models.penguin_mlp(seed=0), tp.models.penguin_mlp(seed=1)
    table = tp.report.measure_models({"a": a, "b": b}, batch_sizes=(1, 2),
                                     **FAST)
    assert sorted(zip(table["model"], table["batch_size"])) == [
        ("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert table.attrs["repeats"] == 3
    assert table.attrs["tflite_runtime"] in ("ai_edge_litert", "tf.lite")


def test_measure_speedup_has_the_flop_ratio_as_theory():
    vgg_like = tiny_cnn(seed=0)
    half = tp.filters.prune(vgg_like, {"conv1": 0.5, "conv2": 0.5},
                            method="l1")
    table = tp.report.measure_speedup(vgg_like, half, batch_sizes=(1, 4),
                                      **FAST)
    theory = (tp.report.count_flops(vgg_like) /
              tp.report.count_flops(half))
    assert table["theoretical_speedup"].tolist() == pytest.approx(
        [theory, theory])
    np.testing.assert_allclose(
        table["measured_speedup"],
        table["latency_ms_before"] / table["latency_ms_after"])
    np.testing.assert_allclose(table["speedup_ratio"],
                               table["measured_speedup"] / theory)


def test_compare_measure_adds_sizes_and_speedups_in_the_total_row():
    dense = tp.models.moth_controller(hidden=(64, 64, 8), seed=0)
    sparse = sparse_copy(dense, 0.9)
    plain = tp.report.compare(dense, sparse)
    table = tp.report.compare(dense, sparse, measure=True, **FAST)
    assert list(table.columns[:len(plain.columns)]) == list(plain.columns)
    total = table[table["layer"] == "TOTAL"].iloc[0]
    for col in ("bytes_before", "bytes_after", "gzip_bytes_before",
                "gzip_bytes_after", "latency_ms_before", "latency_ms_after",
                "measured_speedup", "speedup_ratio", "theoretical_speedup"):
        assert np.isfinite(total[col]) and total[col] > 0, col
        assert table.loc[table["layer"] != "TOTAL", col].isna().all()
    # Zeros do not shrink the HDF5 file but do shrink its compressed size.
    assert total["bytes_after"] == pytest.approx(total["bytes_before"],
                                                 rel=0.01)
    assert total["gzip_bytes_after"] < 0.5 * total["gzip_bytes_before"]
    assert "Measured speed-up" in tp.report.render(table)
    assert "Measured" not in tp.report.render(plain)


def test_compare_measure_tflite_sizes_are_the_tflite_files():
    dense = tp.models.penguin_mlp(seed=0)
    table = tp.report.compare(dense, dense, measure=True, runtime="tflite",
                              **FAST)
    total = table[table["layer"] == "TOTAL"].iloc[0]
    tflite = tp.report.size_on_disk(dense, formats="tflite")
    assert total["bytes_before"] == tflite["bytes"].iloc[0]
    assert table.attrs["runtime"] == "tflite"


def test_size_on_disk_shows_sparsity_only_compressed():
    dense = tp.models.moth_controller(hidden=(64, 64, 8), seed=0)
    sizes = {f: tp.report.size_on_disk(m).set_index("format")
             for f, m in (("dense", dense), ("sparse",
                                             sparse_copy(dense, 0.9)))}
    assert list(sizes["dense"].index) == ["keras", "tflite"]
    for fmt in ("keras", "tflite"):
        assert sizes["sparse"].at[fmt, "gzip_bytes"] < \
            0.5 * sizes["dense"].at[fmt, "gzip_bytes"]


def test_gzip_size_of_bytes_and_of_a_file(tmp_path):
    data = bytes(10000)
    path = tmp_path / "zeros.bin"
    path.write_bytes(data)
    assert tp.report.gzip_size(data) < 200
    assert abs(tp.report.gzip_size(path) - tp.report.gzip_size(data)) < 20
    with pytest.raises(TypeError, match="data"):
        tp.report.gzip_size(123)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_sizes": 0}, "batch_sizes"),
    ({"batch_sizes": ()}, "batch_sizes"),
    ({"runtime": "onnx"}, "runtime"),
    ({"repeats": 0}, "repeats"),
])
def test_measure_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tp.report.measure(tp.models.penguin_mlp(seed=0), **kwargs)


def test_measure_refuses_wrapped_and_shapeless_models(tmp_path):
    wrapped = tp.sparsity.wrap(tp.models.penguin_mlp(seed=0))
    with pytest.raises(InvalidParameterError, match=r"tp\.sparsity\.strip"):
        tp.report.measure(wrapped)
    inputs = tp.keras.Input((None, 3))
    free = tp.keras.Model(inputs, tp.keras.layers.Dense(2)(inputs))
    with pytest.raises(InvalidParameterError, match="fixed input shape"):
        tp.report.measure(free)
    with pytest.raises(FileNotFoundError):
        tp.report.measure(tmp_path / "missing.tflite")
    with pytest.raises(InvalidParameterError, match="load_model"):
        tp.report.measure(str(tmp_path / "model.keras"))


def test_measure_times_a_model_with_integer_inputs():
    layers = tp.keras.layers
    ids = layers.Input((5,), dtype="int32")
    out = layers.Dense(2)(layers.Flatten()(layers.Embedding(10, 3)(ids)))
    table = tp.report.measure(tp.keras.Model(ids, out), batch_sizes=2,
                              **FAST)
    assert table["latency_ms_median"].iloc[0] > 0


def test_measure_refuses_keras3_and_subclassed_models():
    class Sub(tp.keras.Model):
        def call(self, x):
            return x
    with pytest.raises(TypeError, match="subclassed"):
        tp.report.measure(Sub())
    keras3 = pytest.importorskip("keras")
    m3 = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="Keras 3"):
        tp.report.measure(m3)

