"""Boundary checks shared by every entry point: finite data, targets that
fit the model."""
import numpy as np
import pytest

import tfprune as tp
from tfprune._validate import check_dataset, check_finite


def test_non_finite_values_name_array_count_and_row():
    x = np.zeros((6, 3), "float32")
    x[4, 1] = np.nan
    x[5, 0] = np.inf
    with pytest.raises(ValueError, match=r"'train x' holds 2 non-finite.*"
                       r"in 2 row\(s\), the first at row 4"):
        check_dataset((x, np.zeros(6)), "train", "f")
    assert check_finite(np.arange(3), "y") is not None


def test_targets_checked_against_outputs(digits):
    x_train, y_train, _, _ = digits
    model = tp.models.lenet_300_100(input_dim=64, classes=3, seed=0)
    with pytest.raises(ValueError, match="labels from 0 to 9.*3 outputs"):
        check_dataset((x_train, y_train), "train", "f", model=model)
    model = tp.models.lenet_300_100(input_dim=64, classes=10, seed=0)
    check_dataset((x_train, y_train), "train", "f", model=model)
    model.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match="one-hot"):
        check_dataset((x_train, y_train), "train", "f", model=model)
    onehot = np.eye(10)[y_train]
    check_dataset((x_train, onehot), "train", "f", model=model)
    reg = tp.models.moth_controller(hidden=(4,), seed=0)
    with pytest.raises(ValueError, match=r"per-sample shape \(3,\).*\(7,\)"):
        check_dataset((np.zeros((5, 10)), np.zeros((5, 3))), "val", "f",
                      model=reg)
