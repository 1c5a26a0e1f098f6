"""sequential_prune: resume, manual method, polynomial ramp, find_sparsest."""
import numpy as np
import pandas as pd
import pytest

import tfprune as tp
from tfprune.errors import InvalidParameterError, ResumeMismatchError

from _sparsity_helpers import digits_mlp, digits_splits, zeros_of

keras = tp.keras
sp = tp.sparsity


class _Crash(keras.callbacks.Callback):
    """Raises when the n-th level's fit starts: a kill between levels."""

    def __init__(self, at_fit):
        super().__init__()
        self.at_fit, self.fits = at_fit, 0

    def on_train_begin(self, logs=None):
        self.fits += 1
        if self.fits == self.at_fit:
            raise KeyboardInterrupt("killed between levels")


def _run(run_dir=None, callbacks=None, levels=(0.5, 0.75), **kw):
    d = digits_splits()
    return sp.sequential_prune(digits_mlp(seed=11), d.train, d.val,
                               list(levels), max_epochs=4, patience=1,
                               batch_size=64, run_dir=run_dir, seed=3,
                               callbacks=callbacks, progress=False, **kw)


@pytest.mark.slow
def test_resume_after_kill_gives_identical_history(tmp_path):
    full = _run()
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "run", callbacks=[_Crash(at_fit=2)])
    assert (tmp_path / "run" / "level_00.npz").exists()
    assert not (tmp_path / "run" / "level_01.npz").exists()
    resumed = _run(tmp_path / "run")
    cols = [c for c in full.history.columns if c != "time_s"]
    pd.testing.assert_frame_equal(resumed.history[cols], full.history[cols])
    for i in range(2):
        for a, b in zip(resumed.model_at(i).get_weights(),
                        full.model_at(i).get_weights()):
            np.testing.assert_array_equal(a, b)
    on_disk = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(on_disk["sparsity"]) == [0.5, 0.75]
    # A finished folder reloads without training; other parameters refuse.
    again = _run(tmp_path / "run")
    pd.testing.assert_frame_equal(again.history, resumed.history)
    with pytest.raises(ResumeMismatchError, match="patience|max_epochs"):
        d = digits_splits()
        sp.sequential_prune(digits_mlp(seed=11), d.train, d.val,
                            [0.5, 0.75], max_epochs=5, patience=1,
                            batch_size=64, run_dir=tmp_path / "run", seed=3,
                            progress=False)


def test_manual_method_percentile_zeroing():
    res = _run(levels=(0.3, 0.6), method="manual")
    h = res.history
    assert list(h.columns[:10]) == sp.HISTORY_COLUMNS
    m0, m1 = res.model_at(0), res.model_at(1)
    for m, level in ((m0, 0.3), (m1, 0.6)):
        for la in ("hidden_1", "output"):
            k = m.get_layer(la).kernel.numpy()
            assert abs((k == 0).mean() - level) < 0.02
        b = m.get_layer("hidden_1").bias.numpy()   # biases too (original)
        assert (b == 0).sum() >= int(0.3 * b.size) - 1
    z0, z1 = zeros_of(m0), zeros_of(m1)
    for name in z0:
        assert np.all(z1[name][z0[name]])


def test_polynomial_ramp_output_half_rate_and_summaries(tmp_path):
    res = _run(levels=(0.4, 0.8), schedule="polynomial", ramp_epochs=1,
               output_rate=0.5, tensorboard_dir=str(tmp_path / "tb"))
    h = res.history
    assert h["achieved_hidden_1"].tolist() == pytest.approx([0.4, 0.8],
                                                            abs=1 / 2048)
    assert h["achieved_output"].tolist() == pytest.approx([0.2, 0.4],
                                                          abs=1 / 320)
    assert (h["epochs"] >= 2).all()     # the ramp epoch is not counted
    assert any((tmp_path / "tb").rglob("events.out.tfevents*"))


def test_sequential_prune_validates_inputs():
    d = digits_splits()
    with pytest.raises(InvalidParameterError, match="not compiled"):
        sp.sequential_prune(tp.models.mlp(64, (8,), 10), d.train, d.val,
                            [0.5])
    with pytest.raises(TypeError, match="train"):
        sp.sequential_prune(digits_mlp(), d.train[0], d.val, [0.5])
    with pytest.raises(InvalidParameterError, match="method"):
        sp.sequential_prune(digits_mlp(), d.train, d.val, [0.5],
                            method="other")


def test_find_sparsest_rule():
    h = pd.DataFrame({"sparsity": [0.0, 0.5, 0.9, 0.93, 0.95],
                      "train_loss": [2e-4, 3e-4, 1.2e-3, 9e-4, 5e-3]})
    row = sp.find_sparsest(h, 1e-3)
    assert row["sparsity"] == 0.93     # the last under, despite 0.9 above
    assert sp.find_sparsest(h, 1e-4) is None
    assert sp.find_sparsest(h, 2e-3, column="train_loss")["sparsity"] == 0.93
    with pytest.raises(InvalidParameterError, match="val_loss"):
        sp.find_sparsest(h, 1e-3, column="val_loss")
    fig = tp.plots.plot_loss_vs_sparsity(h, threshold=1e-3)
    assert fig.axes and fig.axes[0].get_yscale() == "log"


@pytest.mark.parametrize("where", ["train x", "val y"])
def test_sequential_prune_refuses_non_finite_data(where, tmp_path):
    """Regression: NaN data used to train to the end and be reported as a
    result; it is refused before any work, naming the array and row."""
    d = digits_splits()
    train = [a.astype("float32") for a in d.train]
    val = [a.astype("float32") for a in d.val]
    split, part = where.split()
    arrays = train if split == "train" else val
    arrays[0 if part == "x" else 1][3] = np.nan
    with pytest.raises(InvalidParameterError,
                       match=f"'{where}' holds .* non-finite.*row 3"):
        sp.sequential_prune(digits_mlp(), tuple(train), tuple(val), [0.5],
                            run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()     # refused before the folder


def _moth_data():
    return tp.data.moth.make_dataset(200, seed=0)


def test_prune_moth_controller_validates_before_training(tmp_path):
    ds = _moth_data()
    # Regression: a negative learning rate trained by gradient ascent.
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        sp.prune_moth_controller(ds, learning_rate=-1.0, run_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="schedule"):
        sp.prune_moth_controller(ds, schedule="cosine", run_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match=r"hidden\[1\]"):
        sp.prune_moth_controller(ds, hidden=(8, 0), run_dir=tmp_path)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        sp.prune_moth_controller(ds, nope=1)
    assert not any(tmp_path.iterdir())        # nothing written


def test_prune_moth_controller_old_argument_names():
    ds = _moth_data()
    with pytest.warns(DeprecationWarning, match="'lr' is deprecated.*"
                      "'learning_rate'"):
        with pytest.raises(InvalidParameterError, match="learning_rate"):
            sp.prune_moth_controller(ds, lr=0.0)
    with pytest.warns(DeprecationWarning, match="'levels'.*'sparsities'"):
        with pytest.raises(InvalidParameterError, match="sparsities"):
            sp.prune_moth_controller(ds, levels=[0.5, 0.4])
    with pytest.raises(InvalidParameterError, match="both 'learning_rate'"):
        sp.prune_moth_controller(ds, lr=1e-3, learning_rate=1e-2)


def test_prune_moth_controller_small_run_and_threshold(tmp_path):
    ds = _moth_data()
    kw = dict(hidden=(8,), sparsities=[0.5], max_epochs=2, seed=1,
              run_dir=tmp_path, progress=False)
    res = sp.prune_moth_controller(ds, threshold=10.0, **kw)
    assert list(res.to_frame()["sparsity"]) == [0.0, 0.5]
    assert res.sparsest["sparsity"] == 0.5
    assert (tmp_path / "levels" / "units" / "000001.json").exists()
    # The threshold is not part of the run: a rerun reuses the levels.
    again = sp.prune_moth_controller(ds, threshold=1e-12, **kw)
    assert again.sparsest is None and again.sparsest_model() is None
    pd.testing.assert_frame_equal(again.history, res.history)
    with pytest.raises(ResumeMismatchError, match="learning_rate"):
        sp.prune_moth_controller(ds, learning_rate=1e-2, **kw)


def test_refused_options_leave_no_run_folder_behind(tmp_path):
    """Options that only the model can check (layer names) are checked
    before the run folder is written, so the corrected call can use it."""
    d = digits_splits()
    with pytest.raises(InvalidParameterError, match="nope"):
        sp.sequential_prune(digits_mlp(), d.train, d.val, [0.5],
                            layers=["nope"], run_dir=tmp_path / "a",
                            progress=False)
    with pytest.raises(InvalidParameterError, match="nope"):
        sp.sequential_prune(digits_mlp(), d.train, d.val, [0.5],
                            method="manual", layers=["nope"],
                            run_dir=tmp_path / "b", progress=False)
    ds = _moth_data()
    with pytest.raises(InvalidParameterError, match="layer_rates"):
        sp.prune_moth_controller(ds, hidden=(8,), layer_rates={"nope": 0.5},
                                 run_dir=tmp_path / "c", progress=False)
    x = ds.val[0].copy()
    x[1, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="'dataset.val x'"):
        sp.prune_moth_controller(ds._replace(val=(x, ds.val[1])),
                                 hidden=(8,), run_dir=tmp_path / "d")
    assert not any(tmp_path.iterdir())
