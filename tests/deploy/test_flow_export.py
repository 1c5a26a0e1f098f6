"""The flows' ``--export tflite``: the final network is written as TFLite
and measured next to the unpruned one."""
import pytest

import tfprune as tp


@pytest.mark.slow
def test_moth_train_exports_the_sparsest_network(tmp_path, capsys):
    out = tmp_path / "moth"
    code = tp.cli.main(["moth", "train", "--n", "600", "--hidden", "8,4",
                        "--sparsities", "0.5", "--max-epochs", "1",
                        "--threshold", "10", "--output-rate", "1.0",
                        "--export", "tflite", "--out", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0
    assert (out / "sparsest.tflite").stat().st_size > 0
    for artifact in ("reference", "keras", "tflite"):
        assert artifact in text


def test_export_flags_are_checked_by_argparse(tmp_path, capsys):
    assert tp.cli.main(["moth", "train", "--n", "10", "--export", "onnx",
                        "--out", str(tmp_path)]) == 2
    assert "--export" in capsys.readouterr().err
    assert tp.cli.main(["moth", "train", "--n", "10", "--output-rate", "2",
                        "--out", str(tmp_path)]) == 2
    assert "--output-rate" in capsys.readouterr().err
    assert tp.cli.main(["filters", "--dataset", "digits", "--export", "x",
                        "--out", str(tmp_path)]) == 2
