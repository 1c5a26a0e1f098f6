"""tf.distribute: two logical CPU devices give the one-device results."""
from __future__ import annotations

import numpy as np

import tfprune as tp


def _run(strategy):
    data = tp.data.load_penguins(seed=0)
    model = tp.models.penguin_mlp(seed=3)
    model.compile(tp.keras.optimizers.Adam(1e-2),
                  tp.keras.losses.CategoricalCrossentropy(from_logits=True))
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
