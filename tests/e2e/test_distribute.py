"""tf.distribute: two logical CPU devices give the one-device results."""
from __future__ import annotations

import numpy as np

import tfprune as tp


def _run(strategy, metrics=None):
    data = tp.data.load_penguins(seed=0)
    model = tp.models.penguin_mlp(seed=3)
    model.compile(tp.keras.optimizers.Adam(1e-2),
                  tp.keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=metrics)
    return tp.sparsity.sequential_prune(
        model, data.train, data.val, [0.0, 0.5, 0.75], max_epochs=3,
        patience=10, batch_size=50, seed=0, strategy=strategy,
        progress=False)


def test_sequential_prune_mirrored_matches_one_device(two_cpu_strategy):
    one, two = _run(None), _run(two_cpu_strategy)
    h1, h2 = one.history, two.history
    assert list(h1["epochs"]) == list(h2["epochs"])
    np.testing.assert_allclose(h1["achieved"], h2["achieved"])
    np.testing.assert_allclose(h1["val_loss"], h2["val_loss"], rtol=1e-4)
    for a, b in zip(one.model_at(2).get_weights(),
                    two.model_at(2).get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        assert np.array_equal(a == 0, b == 0) or a.ndim == 1


def test_metric_objects_under_mirrored_strategy(two_cpu_strategy):
    """Metric objects created outside the strategy scope used to break
    training under tf.distribute; compile_like makes fresh ones inside."""
    metric = tp.keras.metrics.CategoricalAccuracy()
    res = _run(two_cpu_strategy, metrics=[metric])
    assert "val_categorical_accuracy" in res.history.columns
    assert res.history["val_categorical_accuracy"].iloc[0] > 0.5

    digits = tp.data.load_digits(seed=0, flatten=False)
    cnn = tp.models.digits_cnn(seed=0)
    cnn.compile("adam", "sparse_categorical_crossentropy",
                metrics=[tp.keras.metrics.SparseCategoricalAccuracy()])
    new = tp.filters.retrain(cnn, digits.train, epochs=1,
                             strategy=two_cpu_strategy)
    assert new.metrics_names[-1] == "sparse_categorical_accuracy"
    assert new.compiled_metrics is not cnn.compiled_metrics


def test_strategies_with_metric_objects_under_mirrored_strategy(
        two_cpu_strategy):
    """dynamic and lottery_ticket build their copies and compile state
    inside the strategy's scope, so Metric objects train there too."""
    data = tp.data.load_penguins(seed=0)
    model = tp.models.penguin_mlp(seed=3)
    model.compile(tp.keras.optimizers.Adam(1e-2),
                  tp.keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[tp.keras.metrics.CategoricalAccuracy()])
    dyn = tp.sparsity.dynamic(model, data.train, data.val, epochs=6,
                              strategy=two_cpu_strategy, test=data.test)
    assert dyn.sparsity == 56 / 180
    assert 0.0 <= dyn.metrics["test_categorical_accuracy"] <= 1.0
    lt = tp.sparsity.lottery_ticket(model, data.train, data.val, rounds=1,
                                    epochs=2, strategy=two_cpu_strategy,
                                    test=data.test, progress=False)
    assert list(lt.history["round"]) == [0, 1]
    assert "val_categorical_accuracy" in lt.history.columns
