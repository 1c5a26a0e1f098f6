"""Pruning that survives quantization: quantize_aware keeps exact zeros,
and so does the int8 TFLite file."""
import numpy as np
import pytest

import tfprune as tp
from tfprune import _tflite
from tfprune.errors import InvalidParameterError

from _deploy_helpers import kernel_zeros, sparse_copy


@pytest.fixture(scope="module")
def moth():
    return tp.data.moth.make_dataset(1500, seed=0)


@pytest.fixture(scope="module")
def sparse_controller():
    model = sparse_copy(tp.models.moth_controller(hidden=(32, 32, 8),
                                                  seed=0), 0.8)
    model.compile(tp.keras.optimizers.Adam(1e-3), "mse")
    return model


def _tflite_kernel_zeros(path, model):
    """Zero fraction of each Dense kernel in the file (TFLite stores it
    transposed), matched by layer name and shape."""
    interp = _tflite.interpreter(open(path, "rb").read())
    interp.allocate_tensors()
    out = {}
    for la in model.layers:
        if not hasattr(la, "kernel"):
            continue
        shape = tuple(reversed(la.kernel.shape))
        found = [d for d in interp.get_tensor_details()
                 if la.name in d["name"] and tuple(d["shape"]) == shape
                 and d["dtype"] == np.int8]
        assert len(found) == 1, (la.name, [d["name"] for d in found])
        out[la.name] = float(np.mean(interp.get_tensor(found[0]["index"])
                                     == 0))
    return out


def test_sparsity_survives_quantize_aware_and_int8_export(
        tmp_path, moth, sparse_controller):
    qat = tp.sparsity.quantize_aware(sparse_controller, moth.train,
                                     moth.val, epochs=2)
    kept = tp.sparsity.kept_sparsity(sparse_controller, qat, moth.test)
    assert kept["kept"].all()
    np.testing.assert_array_equal(kept["zeros_before"], kept["zeros_after"])
    assert (kept["zeros_before"] > 0.75).all()
    evaluation = kept.attrs["evaluation"]
    assert list(evaluation.index) == ["before", "after"]
    out = tp.export.to_tflite(qat, tmp_path / "q.tflite", quantize="int8",
                              validation_data=moth.test)
    assert out.metric == "mse" and np.isfinite(out.metric_change)
    before = kernel_zeros(sparse_controller)
    assert _tflite_kernel_zeros(out, sparse_controller) == before
    assert sparse_controller.get_layer("hidden_1").kernel.shape == (10, 32)


def test_kept_sparsity_sees_a_lost_zero(sparse_controller):
    changed = tp.keras.models.clone_model(sparse_controller)
    changed.set_weights(sparse_controller.get_weights())
    kernel = changed.get_layer("hidden_2").kernel
    w = kernel.numpy()
    w[w == 0] = 1e-3
    kernel.assign(w)
    kept = tp.sparsity.kept_sparsity(sparse_controller, changed)
    assert kept.set_index("weight").loc["hidden_2/kernel:0", "kept"] == \
        np.False_
    assert kept["kept"].sum() == len(kept) - 1


def test_quantize_aware_strips_wrappers_and_leaves_the_input(moth):
    wrapped = tp.sparsity.wrap(tp.models.moth_controller(hidden=(16, 8),
                                                         seed=0))
    qat = tp.sparsity.quantize_aware(wrapped)
    names = [type(la).__name__ for la in qat.layers]
    assert "QuantizeWrapperV2" in names
    assert tp.sparsity.is_wrapped(wrapped)


def test_quantize_aware_needs_a_loss_to_fine_tune(moth):
    plain = tp.models.moth_controller(hidden=(16, 8), seed=0)
    with pytest.raises(InvalidParameterError, match="loss"):
        tp.sparsity.quantize_aware(plain, moth.train)
    qat = tp.sparsity.quantize_aware(plain, moth.train, loss="mse",
                                     epochs=1)
    assert qat.compiled_loss is not None


def test_quantize_aware_refuses_keras3_and_subclassed():
    class Sub(tp.keras.Model):
        def call(self, x):
            return x
    with pytest.raises(TypeError, match="subclassed"):
        tp.sparsity.quantize_aware(Sub())
