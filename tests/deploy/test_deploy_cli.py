"""tfprune export and tfprune report --measure."""
import numpy as np
import pytest

import tfprune as tp

from _deploy_helpers import sparse_copy


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    dense = tp.models.moth_controller(hidden=(64, 64, 8), seed=0)
    sparse_copy(dense, 0.9).save(folder / "moth.keras")
    return folder


def test_export_prints_before_after_and_writes_the_file(saved, tmp_path,
                                                        capsys):
    out = tmp_path / "m.tflite"
    rc = tp.cli.main(["export", str(saved / "moth.keras"), "--out", str(out),
                      "--quantize", "int8", "--data", "moth", "--repeats",
                      "2"])
    assert rc == 0
    text = capsys.readouterr().out
    header = next(ln for ln in text.splitlines() if ln.startswith("artifact"))
    for col in ("params", "FLOPs", "size", "gzip size", "latency"):
        assert col in header
    assert any(ln.startswith("tflite (int8)") for ln in text.splitlines())
    assert "mse" in text
    assert out.stat().st_size > 0


def test_export_npz_data(saved, tmp_path, capsys):
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (50, 10))
    np.savez(tmp_path / "d.npz", x=x.astype("float32"))
    rc = tp.cli.main(["export", str(saved / "moth.keras"), "--out",
                      str(tmp_path / "m.tflite"), "--quantize", "int8",
                      "--data", str(tmp_path / "d.npz"), "--repeats", "2"])
    assert rc == 0
    np.savez(tmp_path / "bad.npz", inputs=x)
    rc = tp.cli.main(["export", str(saved / "moth.keras"), "--out",
                      str(tmp_path / "m.tflite"), "--data",
                      str(tmp_path / "bad.npz")])
    assert rc == 2
    assert "'x'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, match", [
    (["--quantize", "int8"], "representative_data"),
    (["--data", "digits"], r"\(64,\).*\(10,\)"),
    (["--data", "cifar"], "digits, moth"),
])
def test_export_bad_input_is_one_line_exit_2(saved, tmp_path, capsys, extra,
                                             match):
    rc = tp.cli.main(["export", str(saved / "moth.keras"), "--out",
                      str(tmp_path / "m.tflite")] + extra)
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    import re
    assert re.search(match, err)


def test_export_to_a_path_that_is_not_tflite(saved, tmp_path, capsys):
    rc = tp.cli.main(["export", str(saved / "moth.keras"), "--out",
                      str(tmp_path / "m.keras")])
    assert rc == 2
    assert ".tflite" in capsys.readouterr().err


def test_report_measure(saved, capsys):
    rc = tp.cli.main(["report", str(saved / "moth.keras"), "--measure",
                      "--repeats", "2", "--batch-size", "4"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Measured latency" in text and "gzip_bytes" in text
    lines = [ln.split() for ln in text.splitlines()]
    timed = {(ln[0], ln[1]) for ln in lines if len(ln) == 5 and
             ln[1] in ("tf", "tflite")}
    assert timed == {("1", "tf"), ("4", "tf"), ("1", "tflite"),
                     ("4", "tflite")}
