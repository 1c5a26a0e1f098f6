"""The command line refuses bad input in one line (exit 2), before any work,
and agrees with the Python API."""
import argparse

import pytest

import tfprune as tp
from tfprune.cli import _in_cli_terms, build_parser
from tfprune.errors import ResumeMismatchError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = tp.models.lenet_300_100(input_dim=16, classes=4, seed=0)
    path = tmp_path_factory.mktemp("cli") / "m.keras"
    model.save(path)
    return path


def _fails(argv, capsys, *needles):
    code = tp.cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def test_surgery_bad_arguments_fail_before_work(saved, tmp_path, capsys):
    _fails(["surgery", str(saved), "--delete", "hidden_1:a"], capsys,
           "--delete", "not a channel index")
    _fails(["surgery", str(saved), "--batch-size", "0", "--groups"], capsys,
           "--batch-size", "positive integer")
    _fails(["surgery", str(saved), "--plan", str(tmp_path / "none.json"),
            "--out", str(tmp_path / "o.keras")], capsys, "--plan")
    # --out is checked before the model is even read
    _fails(["surgery", str(tmp_path / "missing.keras"), "--delete", "hidden_1:0",
            "--out", str(tmp_path / "out")], capsys, ".keras or .h5")
    existing = tmp_path / "exists.keras"
    existing.write_bytes(b"x")
    _fails(["surgery", str(saved), "--delete", "hidden_1:0", "--out",
            str(existing)], capsys, "--overwrite")
    assert existing.read_bytes() == b"x"


def test_surgery_refuses_duplicate_channels_like_the_api(saved, tmp_path,
                                                         capsys):
    model = tp.report.load_model(saved)
    with pytest.raises(ValueError, match="duplicate"):
        tp.surgery.prune_channels(model, {"hidden_1": [0, 1, 1]})
    out = tmp_path / "o.keras"
    _fails(["surgery", str(saved), "--delete", "hidden_1:0-2", "--delete",
            "hidden_1:1", "--out", str(out)], capsys, "duplicate")
    assert not out.exists()
    assert tp.cli.main(["surgery", str(saved), "--delete", "hidden_1:0-2",
                        "--out", str(out)]) == 0
    assert tp.cli.main(["surgery", str(saved), "--delete", "hidden_1:3",
                        "--out", str(out), "--overwrite"]) == 0
    assert "replaced" in capsys.readouterr().out


def test_report_batch_size_checked(saved, capsys):
    _fails(["report", str(saved), "--batch-size", "-3"], capsys,
           "--batch-size")


def test_resume_refusal_names_the_flags():
    parser = build_parser()
    args = argparse.Namespace(flags={"model": "--seed"})
    err = ResumeMismatchError("x")
    err.differences = [("max_epochs", 5, 6), ("model", {"model": "a"},
                                              {"model": "b"})]
    text = _in_cli_terms(err, args, parser)
    assert "--max-epochs: 5 in the folder, 6 now" in text
    assert "--seed:" in text and "max_epochs" not in text
