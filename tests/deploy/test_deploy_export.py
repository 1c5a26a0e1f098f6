"""TFLite export (tp.export.to_tflite, deploy_table): outputs, files, errors."""
import os

import numpy as np
import pytest

import tfprune as tp
from tfprune import _tflite
from tfprune.errors import InvalidParameterError

from _deploy_helpers import sparse_copy, tiny_cnn


@pytest.fixture(scope="module")
def digits():
    return tp.data.load_digits(seed=0, flatten=False)


@pytest.fixture(scope="module")
def trained_cnn(digits):
    return tp.filters.train_model(tiny_cnn(seed=0), digits.train, epochs=2,
                                  progress=False)


def _run(path, x):
    return _tflite.Runner(open(path, "rb").read(), len(x)).run([x])[0]


def test_float_export_matches_keras(tmp_path, trained_cnn, digits):
    x = digits.test[0][:50]
    out = tp.export.to_tflite(trained_cnn, tmp_path / "cnn.tflite",
                              validation_data=digits.test)
    assert out.matches is True
    assert out.max_rel_error <= tp.export.FLOAT_TOLERANCE
    np.testing.assert_allclose(_run(out, x), trained_cnn.predict(x, verbose=0),
                               rtol=0, atol=1e-5)
    assert out.metric == "accuracy"
    assert out.metric_tflite == pytest.approx(out.metric_keras, abs=1e-9)
    assert out.bytes == os.path.getsize(out) and out.gzip_bytes > 0
    assert out.to_frame()["path"].iloc[0] == str(tmp_path / "cnn.tflite")


def test_float_mismatch_warns(tmp_path, monkeypatch):
    model = tp.models.penguin_mlp(seed=0)
    other = tp.models.penguin_mlp(seed=1)
    real = _tflite.convert
    monkeypatch.setattr(_tflite, "convert",
                        lambda m, *a, **k: real(other, *a, **k))
    with pytest.warns(RuntimeWarning, match="differ"):
        out = tp.export.to_tflite(model, tmp_path / "p.tflite")
    assert out.matches is False


def test_int8_export_reports_the_accuracy_change(tmp_path, trained_cnn,
                                                 digits):
    out = tp.export.to_tflite(trained_cnn, tmp_path / "cnn8.tflite",
                              quantize="int8",
                              representative_data=digits.train,
                              validation_data=digits.test)
    runner = _tflite.Runner(open(out, "rb").read(), 1)
    assert runner.inputs[0]["dtype"] == np.int8
    assert out.matches is None and out.tolerance is None
    assert out.metric == "accuracy"
    assert abs(out.metric_change) < 0.05
    dense = tp.export.to_tflite(trained_cnn, tmp_path / "f.tflite",
                                check=False)
    assert out.bytes < 0.6 * dense.bytes
    assert dense.max_rel_error is None


@pytest.mark.parametrize("quantize", ["dynamic", "float16"])
def test_weight_quantization_shrinks_the_file(tmp_path, quantize):
    model = tp.models.moth_controller(hidden=(64, 64, 8), seed=0)
    flt = tp.export.to_tflite(model, tmp_path / "f.tflite", check=False)
    out = tp.export.to_tflite(model, tmp_path / f"{quantize}.tflite",
                              quantize=quantize)
    assert out.bytes < 0.7 * flt.bytes
    assert out.max_rel_error < 0.1


def test_wrapped_model_is_stripped_and_sparse_encoding_shrinks_it(tmp_path):
    dense = tp.models.moth_controller(hidden=(64, 64, 8), seed=0)
    sparse = sparse_copy(dense, 0.9)
    wrapped = tp.sparsity.wrap(sparse, sparsity=0.0)
    plain = tp.export.to_tflite(wrapped, tmp_path / "w.tflite")
    assert plain.matches is True
    packed = tp.export.to_tflite(sparse, tmp_path / "s.tflite", sparse=True)
    assert packed.matches is True
    assert packed.bytes < 0.5 * plain.bytes
    assert tp.sparsity.is_wrapped(wrapped)        # the input is unchanged


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("converter failed")
    monkeypatch.setattr(_tflite, "convert", broken)
    with pytest.raises(RuntimeError):
        tp.export.to_tflite(tp.models.penguin_mlp(seed=0), path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["m.tflite"]


def test_int8_without_data_is_refused(tmp_path):
    with pytest.raises(InvalidParameterError, match="representative_data"):
        tp.export.to_tflite(tp.models.penguin_mlp(seed=0),
                            tmp_path / "m.tflite", quantize="int8")
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
def test_sparse_8bit_weights_are_refused(tmp_path, quantize):
    # With TF 2.21 such files load with wrong int8 outputs or not at all.
    with pytest.raises(InvalidParameterError, match="sparse=True"):
        tp.export.to_tflite(tp.models.penguin_mlp(seed=0),
                            tmp_path / "m.tflite", quantize=quantize,
                            sparse=True,
                            representative_data=np.zeros((4, 12)))


def test_unknown_quantize_lists_the_choices(tmp_path):
    with pytest.raises(InvalidParameterError, match="'int8'"):
        tp.export.to_tflite(tp.models.penguin_mlp(seed=0),
                            tmp_path / "m.tflite", quantize="int4")


@pytest.mark.parametrize("name, match", [
    ("m.h5", r"\.tflite"), ("blocker/m.tflite", "path"),
    ("folder.tflite", "folder")])
def test_unwritable_or_wrong_paths_are_refused(tmp_path, name, match):
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "folder.tflite").mkdir()
    with pytest.raises(InvalidParameterError, match=match):
        tp.export.to_tflite(tp.models.penguin_mlp(seed=0), tmp_path / name)


def test_keras3_and_subclassed_models_are_refused(tmp_path):
    class Sub(tp.keras.Model):
        def call(self, x):
            return x
    with pytest.raises(TypeError, match="subclassed"):
        tp.export.to_tflite(Sub(), tmp_path / "m.tflite")
    keras3 = pytest.importorskip("keras")
    m3 = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])
    with pytest.raises(TypeError, match="tp.keras"):
        tp.export.to_tflite(m3, tmp_path / "m.tflite")


def test_data_that_does_not_fit_names_both_shapes(tmp_path):
    with pytest.raises(InvalidParameterError, match=r"\(5,\).*\(12,\)"):
        tp.export.to_tflite(tp.models.penguin_mlp(seed=0),
                            tmp_path / "m.tflite", quantize="int8",
                            representative_data=np.zeros((10, 5)))


def test_deploy_table_has_one_row_per_artifact(tmp_path):
    dense = tp.models.moth_controller(hidden=(64, 64, 8), seed=0)
    sparse = sparse_copy(dense, 0.9)
    table = tp.export.deploy_table(sparse, tmp_path / "s.tflite",
                                   reference=dense, repeats=2, warmup=1)
    assert list(table.columns) == list(tp.export.DEPLOY_COLUMNS)
    assert table["artifact"].tolist() == ["reference", "keras", "tflite"]
    assert table["runtime"].tolist() == ["tf", "tf", "tflite"]
    assert table["params"].nunique() == 1
    ref, pruned, lite = table.itertuples(index=False)
    assert pruned.gzip_bytes < 0.5 * ref.gzip_bytes
    assert lite.bytes == os.path.getsize(tmp_path / "s.tflite")
    text = tp.export.render_deploy(table)
    assert "match" in text and "gzip" in text
