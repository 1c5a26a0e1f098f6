"""Training: per-network gradients, Adam and early stopping; masks hold."""
import numpy as np
import pytest

import tfprune as tp
from tfprune.ensemble import (EnsembleTrainer, PatienceStopping,
                              RatioStopping, StackedMLP, monte_carlo,
                              prune_count, prune_ensemble)

tf = tp._keras.tf

KW = dict(hidden=(16, 12), sparsities=[0.5, 0.8], max_batches=60,
          early_stopping=PatienceStopping(patience=1, check_every=10,
                                          min_delta=3e-3),
          progress=False)


@pytest.fixture(scope="module")
def three(teacher):
    return monte_carlo(teacher, n_networks=3, seed=7, **KW)


def test_one_network_alone_equals_its_ensemble_slice(teacher, three):
    hist = three.history
    # the networks stop at different batches: per-network stopping is used
    assert hist.groupby("level")["batches"].nunique().max() > 1
    i = 1
    alone = monte_carlo(teacher, seeds=[three.ensemble.seeds[i]], **KW)
    a = alone.history.sort_values("level")
    b = hist[hist["network"] == i].sort_values("level")
    np.testing.assert_array_equal(a["batches"], b["batches"])
    # bit for bit: a network trains the same in a stack of any size (what
    # sharded Monte Carlo relies on)
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])
    for va, vb in zip(alone.ensemble.trainable_variables +
                      alone.ensemble.kernel_masks,
                      three.ensemble.trainable_variables +
                      three.ensemble.kernel_masks):
        np.testing.assert_array_equal(va.numpy()[0], vb.numpy()[i])


def test_per_network_adam_step_equals_the_fused_kernel(teacher):
    """The per-network Adam path (used once networks stop at different
    batches) computes what the fused kernel computes, bit for bit."""
    from tfprune.ensemble import StackedAdam
    rng = np.random.default_rng(0)
    shapes = [(3, 10, 16), (3, 16)]
    init = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[tf.constant(rng.normal(size=s).astype("float32") * 0.01)
              for s in shapes] for _ in range(5)]
    results = []
    for fused in (True, False):
        variables = [tf.Variable(v) for v in init]
        opt = StackedAdam(variables, None, 3, learning_rate=5e-4)
        step = tf.function(opt.apply_uniform if fused else opt.apply)
        for g in grads:
            step(g)
        results.append([v.numpy() for v in variables + opt.m + opt.v])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_export_matches_ensemble_slice(teacher, three):
    x = teacher[2][0]
    pred = three.ensemble.predict(x)
    for i in range(3):
        model = three.export(i, "final")
        np.testing.assert_allclose(model.predict(x, verbose=0), pred[i],
                                   rtol=1e-5, atol=1e-6)
        # the exported kernels have exactly the final sparsity
        zeros = sum(int((l.kernel.numpy() == 0).sum())
                    for l in model.layers[1:])
        assert zeros >= sum(prune_count(int(np.prod(k.shape[1:])), 0.8)
                            for k in three.ensemble.kernels)


def test_pruned_weights_get_zero_gradient_and_stay_zero(teacher):
    ens = StackedMLP(2, hidden=(10, 8), seed=0)
    trainer = EnsembleTrainer(ens, batch_size=64)
    trainer.train_level(teacher[0], max_batches=20, early_stopping=None,
                        progress=False)
    before = None
    for c in (0.3, 0.6, 0.9):
        prune_ensemble(ens, c, prune_biases=True, bias_sparsity=c / 2,
                       optimizer=trainer.optimizer)
        masks = [m.numpy().astype(bool) for m in ens.kernel_masks]
        if before is not None:
            for old, new in zip(before, masks):
                assert not (new & ~old).any()
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ens.call(tf.constant(teacher[0][0][:64])))
        grads = tape.gradient(loss, ens.kernels)
        for g, m in zip(grads, masks):
            assert not g.numpy()[~m].any()
        trainer.train_level(teacher[0], max_batches=30, early_stopping=None,
                            progress=False)
        for w, m, bm, b in zip(ens.kernels, masks, ens.bias_masks,
                               ens.biases):
            assert not w.numpy()[~m].any()
            assert not b.numpy()[bm.numpy() == 0].any()
            n = int(np.prod(m.shape[1:]))
            assert ((~m).reshape(2, -1).sum(1) == prune_count(n, c)).all()
        for bm in ens.bias_masks:
            n = bm.shape[1]
            assert ((bm.numpy() == 0).sum(1) == prune_count(n, c / 2)).all()
        before = masks


class _StopFirst(RatioStopping):
    """Stops network 0 at the first check and nobody else."""

    def update(self, val):
        out = np.zeros(val.shape[1], bool)
        out[0] = True
        return out


def test_stopped_network_is_frozen_while_others_train(teacher):
    def fresh():
        ens = StackedMLP(3, hidden=(8,), seed=4)
        return ens, EnsembleTrainer(ens, batch_size=32)
    ens, tr = fresh()
    log = tr.train_level(teacher[0], teacher[1], max_batches=40,
                         early_stopping=_StopFirst(check_every=10),
                         progress=False)
    assert log.batches.tolist() == [10, 40, 40]
    assert log.stopped.tolist() == [True, False, False]
    assert tr.optimizer.t.numpy().tolist() == [10, 40, 40]
    ref, rtr = fresh()
    rtr.train_level(teacher[0], max_batches=10, early_stopping=None,
                    progress=False)
    for v, r in zip(ens.trainable_variables, ref.trainable_variables):
        np.testing.assert_allclose(v.numpy()[0], r.numpy()[0], rtol=1e-6,
                                   atol=1e-7)
        assert not np.allclose(v.numpy()[1:], r.numpy()[1:])


def test_two_device_strategy_matches_one_device(teacher, two_cpu_strategy):
    kw = dict(KW, max_batches=30)
    one = monte_carlo(teacher, n_networks=2, seed=3, **kw)
    two = monte_carlo(teacher, n_networks=2, seed=3,
                      strategy=two_cpu_strategy, **kw)
    np.testing.assert_allclose(one.history["train_loss"],
                               two.history["train_loss"], rtol=1e-4)
    for a, b in zip(one.ensemble.trainable_variables,
                    two.ensemble.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4,
                                   atol=1e-6)


def test_out_of_memory_suggests_smaller_batch_or_fewer_networks(
        teacher, monkeypatch):
    ens = StackedMLP(2, hidden=(4,), seed=0)
    tr = EnsembleTrainer(ens, batch_size=32)

    def boom(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None,
                                               "OOM when allocating tensor")
    monkeypatch.setattr(tr, "_steps_fn", lambda *a, **k: boom)
    with pytest.raises(tf.errors.ResourceExhaustedError,
                       match="--batch-size.*--networks"):
        tr.train_level(teacher[0], max_batches=5, early_stopping=None,
                       progress=False)


def test_trainer_validation(teacher):
    ens = StackedMLP(2, hidden=(4,), seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        EnsembleTrainer(ens, batch_size=0)
    tr = EnsembleTrainer(ens, batch_size=16)
    with pytest.raises(ValueError, match="needs 'val'"):
        tr.train_level(teacher[0], progress=False)
    with pytest.raises(ValueError, match=r"shape \(n, 10\)"):
        tr.train_level((teacher[0][0][:, :9], teacher[0][1]),
                       early_stopping=None, progress=False)
    with pytest.raises(ValueError, match="early_stopping"):
        tr.train_level(teacher[0], teacher[1], early_stopping="soon",
                       progress=False)


def test_fused_adam_path_equals_per_network_path(teacher):
    """The fused kernel (all networks active, one step count) and the
    per-network update give the same weights, moments and zeros."""
    def run(fuse):
        ens = StackedMLP(3, hidden=(8, 6), seed=5)
        tr = EnsembleTrainer(ens, batch_size=32)
        tr.optimizer.can_fuse = fuse
        for c in (0.0, 0.5):
            if c:
                prune_ensemble(ens, c, optimizer=tr.optimizer)
            assert tr.optimizer.uniform() == fuse
            tr.train_level(teacher[0], max_batches=40, early_stopping=None,
                           progress=False)
        return ens, tr.optimizer
    (a, oa), (b, ob) = run(True), run(False)
    for va, vb in zip(a.trainable_variables + oa.m + oa.v,
                      b.trainable_variables + ob.m + ob.v):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), rtol=1e-5,
                                   atol=1e-7)
    for w, m in zip(a.kernels, a.kernel_masks):
        assert not w.numpy()[m.numpy() == 0].any()
    assert oa.t.numpy().tolist() == ob.t.numpy().tolist() == [80, 80, 80]
