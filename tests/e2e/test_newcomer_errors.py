"""The errors a newcomer hits first are caught early, with the fix."""
from __future__ import annotations

import warnings

import pytest

import tfprune as tp
from tfprune import utils


def _compiled_mlp():
    m = tp.models.penguin_mlp(seed=0)
    m.compile("adam", tp.keras.losses.CategoricalCrossentropy(from_logits=True))
    return m


def test_data_that_does_not_fit_the_model_names_both_shapes():
    data = tp.data.load_penguins(seed=0)
    x, y = data.train
    with pytest.raises(ValueError, match=r"\(11,\).*expects \(12,\)"):
        tp.sparsity.sequential_prune(_compiled_mlp(), (x[:, :11], y),
                                     data.val, [0.5], max_epochs=1,
                                     progress=False)


def test_unbatched_dataset_is_explained():
    import tensorflow as tf
    data = tp.data.load_penguins(seed=0)
    ds = tf.data.Dataset.from_tensor_slices(data.train)
    with pytest.raises(ValueError, match=r"\.batch"):
        tp.sparsity.sequential_prune(_compiled_mlp(), ds, data.val, [0.5],
                                     max_epochs=1, progress=False)


def test_keras3_model_is_refused_with_the_fix():
    keras3 = pytest.importorskip("keras")
    m = keras3.Sequential([keras3.Input((12,)), keras3.layers.Dense(3)])
    data = tp.data.load_penguins(seed=0)
    with pytest.raises(TypeError, match="tfprune.keras"):
        tp.sparsity.sequential_prune(m, data.train, data.val, [0.5])


def test_output_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="choose a folder"):
        tp.demo.run_demo(blocker / "out", flows=["moth"], progress=False)


def test_unknown_demo_flow_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="moth, montecarlo, filters"):
        tp.demo.run_demo(tmp_path, flows=["nope"])


def test_no_gpu_warns_once(monkeypatch):
    monkeypatch.setattr(utils, "_GPU_WARNED", False)
    monkeypatch.setattr(utils.tf.config, "list_physical_devices",
                        lambda kind=None: [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert utils.ensure_device() == "CPU"
        assert utils.ensure_device() == "CPU"
    assert sum("No GPU found" in str(w.message) for w in caught) == 1
