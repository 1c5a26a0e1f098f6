"""``tfprune surgery``: channels removed from a saved model equal the
Python API's result, coupled groups are listed, bad input is refused."""
import json

import numpy as np
import pytest

import tfprune as tp
from tfprune.cli.cmd_surgery import parse_channels
from tfprune.errors import InvalidParameterError

from _surgery_helpers import randomize


@pytest.fixture(scope="module")
def saved_resnet(tmp_path_factory):
    model = randomize(tp.models.resnet_cifar(20, input_shape=(8, 8, 3),
                                             seed=0), seed=1)
    path = tmp_path_factory.mktemp("cli") / "resnet.keras"
    model.save(path)
    return model, path


def test_parse_channels_indices_ranges_and_negatives():
    assert parse_channels("conv1:0,3,8-11") == ("conv1", [0, 3, 8, 9, 10, 11])
    assert parse_channels("sub/conv:-1") == ("sub/conv", [-1])
    for bad in ("conv1", "conv1:", ":1", "conv1:a", "conv1:5-2"):
        with pytest.raises(InvalidParameterError, match="--delete"):
            parse_channels(bad)


def test_cli_surgery_equals_prune_channels(saved_resnet, tmp_path, capsys):
    model, path = saved_resnet
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"stage2_block2_conv1": [0, 5]}))
    out = tmp_path / "pruned.keras"
    code = tp.cli.main(["surgery", str(path), "--delete",
                        "stage1_block1_conv1:1,4-6", "--delete", "conv1:-1",
                        "--plan", str(plan), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    want = tp.surgery.prune_channels(model, {
        "stage1_block1_conv1": [1, 4, 5, 6], "conv1": [15],
        "stage2_block2_conv1": [0, 5]})
    got = tp.report.load_model(out)
    assert got.count_params() == want.count_params() < model.count_params()
    # conv1 sits in the first residual group: all its members lose channel 15.
    assert "stage1_block3_conv2: 1 channel removed" in text
    assert "stage1_block1_conv1: 4 channels removed" in text
    assert f"{tp.report.count_flops(want):,}" in text
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(got.predict(x, verbose=0),
                               want.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-5)


def test_cli_surgery_groups_and_errors(saved_resnet, tmp_path, capsys):
    _, path = saved_resnet
    assert tp.cli.main(["surgery", str(path), "--groups"]) == 0
    text = capsys.readouterr().out
    groups = tp.surgery.dependency_groups(tp.report.load_model(path))
    assert f"{len(groups)} groups" in text
    assert "stage2_block1_shortcut_conv, stage2_block1_conv2" in text
    assert tp.cli.main(["surgery", str(path)]) == 2
    assert "nothing to remove" in capsys.readouterr().err
    assert tp.cli.main(["surgery", str(path), "--delete", "conv1:0"]) == 2
    assert "--out" in capsys.readouterr().err
    assert tp.cli.main(["surgery", str(path), "--delete", "nope:0", "--out",
                        str(tmp_path / "x.keras")]) == 2
    assert "nope" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"conv1": "all"}')
    assert tp.cli.main(["surgery", str(path), "--plan", str(bad), "--out",
                        str(tmp_path / "x.keras")]) == 2
    assert "lists of channel indices" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists()
    assert tp.cli.main(["surgery", str(path), "--delete", "conv1:0", "--out",
                        str(tmp_path / "pruned")]) == 2
    assert "ending in .keras" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*tmp*"))
