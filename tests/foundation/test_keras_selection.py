"""Keras selection: tfprune builds and accepts only tf_keras (Keras 2) models."""
import ast
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import tfprune as tp

PACKAGE = Path(tp.__file__).resolve().parent


def test_tp_keras_is_tf_keras():
    import tf_keras
    assert tp.keras is tf_keras
    assert os.environ.get("TF_USE_LEGACY_KERAS") == "1"


@pytest.fixture(scope="module")
def keras3_model():
    import keras
    assert keras.__version__.startswith("3.")
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])


@pytest.mark.parametrize("func", ["count_params", "count_flops",
                                  "layer_table", "profiler_flops", "render"])
def test_keras3_model_is_rejected_with_the_fix(keras3_model, func):
    with pytest.raises(TypeError, match="tfprune.keras") as info:
        getattr(tp.report, func)(keras3_model)
    assert "Keras 3" in str(info.value)


def test_keras3_model_in_compare_names_the_argument(keras3_model):
    model = tp.models.penguin_mlp(seed=0)
    with pytest.raises(TypeError, match="'pruned'"):
        tp.report.compare(model, keras3_model)


def test_subclassed_model_is_rejected():
    class Net(tp.keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = tp.keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match="subclassed"):
        tp.report.count_flops(net)


@pytest.mark.parametrize("obj", [None, "model.h5", np.zeros((2, 2)),
                                 tp.keras.layers.Dense(3)])
def test_non_model_is_rejected(obj):
    with pytest.raises(TypeError, match="tf_keras Model"):
        tp.report.count_flops(obj)


def test_tensorflow_imported_first_still_works():
    code = (
        "import tensorflow as tf\n"
        "k3 = tf.keras.Sequential([tf.keras.Input((4,)), "
        "tf.keras.layers.Dense(2)])\n"
        "import tfprune as tp\n"
        "m = tp.models.penguin_mlp(seed=0)\n"
        "print('FLOPS', tp.report.count_flops(m))\n"
        "try:\n"
        "    tp.report.count_flops(k3)\n"
        "except TypeError as e:\n"
        "    print('REJECTED', 'tfprune.keras' in str(e))\n")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_USE_LEGACY_KERAS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = tp.report.count_flops(tp.models.penguin_mlp(seed=0))
    assert f"FLOPS {expected}" in out.stdout
    # Touching tf.keras before tfprune leaves tf.keras on Keras 3; a model
    # built with it must be refused with the fix, never silently accepted.
    assert "REJECTED True" in out.stdout


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "")
              == "import_module" and node.args and
              isinstance(node.args[0], ast.Constant)):
            yield str(node.args[0].value)


def test_only_keras_module_imports_tf_keras_or_keras3():
    offenders = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        if path.name == "_keras.py" and path.parent == PACKAGE:
            continue
        for name in _imported_modules(path):
            top = name.split(".")[0]
            if top in ("tf_keras", "keras") or name.startswith(
                    "tensorflow.keras"):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not offenders, "import Keras via tfprune._keras: " + \
        ", ".join(offenders)


def test_cli_help_lists_report(capsys):
    assert tp.cli.main(["--help"]) == 0
    assert "report" in capsys.readouterr().out
    assert tp.cli.main(["report", "--help"]) == 0
    assert "--batch-size" in capsys.readouterr().out


def test_cli_report_prints_table_of_saved_h5(tmp_path, capsys):
    model = tp.models.conv_net(2, input_shape=(16, 16, 3), seed=0)
    path = tmp_path / "conv2.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    csv = tmp_path / "table.csv"
    code = tp.cli.main(["report", str(path), "--batch-size", "2",
                        "--csv", str(csv)])
    out = capsys.readouterr().out
    assert code == 0
    assert "FLOPs (2 per MAC + bias adds)" in out
    assert f"{tp.report.count_flops(model, batch_size=2):,}" in out
    assert f"{model.count_params():,}" in out
    assert "conv1_2" in out and "TOTAL" in out
    import pandas as pd
    table = pd.read_csv(csv)
    assert list(table.columns[:7]) == list(tp.report.COLUMNS)
    assert len(table) == len(model.layers)


def test_cli_report_missing_or_unreadable_file(tmp_path, capsys):
    assert tp.cli.main(["report", str(tmp_path / "missing.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"\x00not a model")
    assert tp.cli.main(["report", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err
