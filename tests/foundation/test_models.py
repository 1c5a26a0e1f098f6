"""tp.models builders: seeded reproducibility, architecture sizes, errors."""
import numpy as np
import pytest

import tfprune as tp

BUILDERS = {
    "moth_controller": lambda s: tp.models.moth_controller(seed=s),
    "penguin_mlp": lambda s: tp.models.penguin_mlp(seed=s),
    "lenet_300_100": lambda s: tp.models.lenet_300_100(seed=s),
    "mlp": lambda s: tp.models.mlp(6, (5, 4), 3, seed=s),
    "conv_net": lambda s: tp.models.conv_net(4, input_shape=(16, 16, 3),
                                             seed=s),
    "vgg16": lambda s: tp.models.vgg16(seed=s),
    "resnet": lambda s: tp.models.resnet(18, input_shape=(32, 32, 3),
                                         classes=10, seed=s),
    "resnet_cifar": lambda s: tp.models.resnet_cifar(20, seed=s),
}


def _weights(model):
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_is_reproducible_and_seed_dependent(name):
    a, b, c = (BUILDERS[name](seed) for seed in (3, 3, 4))
    assert isinstance(a, tp.keras.Model)
    assert not a._is_compiled
    assert [lay.name for lay in a.layers] == [lay.name for lay in b.layers]
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc)
               for wa, wc in zip(_weights(a), _weights(c)))


def test_unseeded_builds_differ():
    a, b = tp.models.penguin_mlp(), tp.models.penguin_mlp()
    assert any(not np.array_equal(wa, wb)
               for wa, wb in zip(_weights(a), _weights(b)))


def _dense_params(sizes):
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def test_param_counts_from_the_specs():
    moth = tp.models.moth_controller(seed=0)
    assert moth.count_params() == 331_735
    assert moth.count_params() == _dense_params([10, 400, 400, 400, 16, 7])
    assert [lay.activation.__name__ for lay in moth.layers[1:]] == \
        ["tanh"] * 4 + ["linear"]
    assert tp.models.penguin_mlp(seed=0).count_params() == \
        _dense_params([12, 12, 3])
    assert tp.models.lenet_300_100(seed=0).count_params() == \
        _dense_params([784, 300, 100, 10])
    assert tp.models.vgg16(seed=0).count_params() == 18_954_058


def test_conv_net_layout():
    for depth in (2, 4, 6):
        model = tp.models.conv_net(depth, seed=0)
        convs = [lay for lay in model.layers
                 if isinstance(lay, tp.keras.layers.Conv2D)]
        assert [c.filters for c in convs] == \
            [64, 64, 128, 128, 256, 256][:depth]
        side = 32 // 2 ** (depth // 2)
        flat = side * side * convs[-1].filters
        expected = sum((9 * c.input.shape[-1] + 1) * c.filters for c in convs)
        expected += _dense_params([flat, 256, 256, 10])
        assert model.count_params() == expected


def test_resnet_cifar_sizes_match_the_paper():
    # He et al. 2016, table 6: 0.27 M and 0.46 M parameters
    for depth, millions in ((20, 0.27), (32, 0.46)):
        model = tp.models.resnet_cifar(depth, seed=0)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert abs(trainable / 1e6 - millions) < 0.02
        convs = [lay for lay in model.layers
                 if isinstance(lay, tp.keras.layers.Conv2D)]
        assert sum("shortcut" not in c.name for c in convs) == depth - 1


@pytest.mark.parametrize("call, error", [
    (lambda: tp.models.conv_net(3), ValueError),
    (lambda: tp.models.conv_net(2, input_shape=(32, 32)), ValueError),
    (lambda: tp.models.vgg16(input_shape="32x32"), TypeError),
    (lambda: tp.models.vgg16(classes=1), ValueError),
    (lambda: tp.models.resnet(19), ValueError),
    (lambda: tp.models.resnet_cifar(21), ValueError),
    (lambda: tp.models.moth_controller(hidden=400), TypeError),
    (lambda: tp.models.moth_controller(hidden=(400, 0)), ValueError),
    (lambda: tp.models.lenet_300_100(input_dim=0), ValueError),
    (lambda: tp.models.penguin_mlp(seed=-1), ValueError),
    (lambda: tp.models.penguin_mlp(seed=1.5), TypeError),
    (lambda: tp.models.mlp(4, (3,), 2.0), TypeError),
])
def test_bad_arguments_raise(call, error):
    with pytest.raises(error):
        call()


def test_pruning_wrapped_is_a_deprecated_alias_of_wrap():
    base = tp.models.penguin_mlp(seed=0)
    with pytest.warns(DeprecationWarning, match="tp.sparsity.wrap"):
        wrapped = tp.models.pruning_wrapped(base, sparsity=0.5)
    assert wrapped is not base
    kinds = {type(lay).__name__ for lay in wrapped.layers}
    assert "PruneLowMagnitude" in kinds
    assert all(type(lay).__name__ != "PruneLowMagnitude"
               for lay in base.layers)
    assert tp.report.count_flops(wrapped) == tp.report.count_flops(base)
