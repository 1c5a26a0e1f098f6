"""Exact-count magnitude pruning (docs/methods/moth.md §5, the pruning rule)."""
import numpy as np
import pytest

from tfprune.ensemble import magnitude_masks, prune_count


def test_prune_count_floor_and_original_off_by_one():
    assert prune_count(100, 0.29) == 29
    assert prune_count(112, 0.93) == 104
    assert prune_count(112, 0.93, off_by_one=True) == 105
    assert prune_count(10, 0.0, off_by_one=True) == 0
    assert prune_count(7, 0.99, off_by_one=True) == 7


def test_off_by_one_reproduces_original_kept_counts():
    # docs/methods/moth.md §5: at 93 % the original kept 279, 11199, 11199, 447, 7.
    sizes = [4000, 160000, 160000, 6400, 112]
    kept = [n - prune_count(n, 0.93, off_by_one=True) for n in sizes]
    assert kept == [279, 11199, 11199, 447, 7]
    assert [n - prune_count(n, 0.93) for n in sizes] == [
        280, 11200, 11200, 448, 8]


def test_smallest_magnitudes_pruned_per_network():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 6, 5))
    new = magnitude_masks(w, np.ones_like(w), 0.4)
    for p in range(3):
        a = np.abs(w[p]).ravel()
        pruned = np.sort(np.flatnonzero(~new[p].ravel()))
        assert len(pruned) == 12
        np.testing.assert_array_equal(pruned, np.sort(np.argsort(a)[:12]))


def test_ties_go_to_lower_flat_index():
    w = np.array([[0.5, 0.1, 0.1, 0.1, 0.9]])
    new = magnitude_masks(w, np.ones_like(w), 0.4)  # prune 2 of 5
    np.testing.assert_array_equal(new[0], [True, False, False, True, True])


def test_already_pruned_first_and_no_revival():
    # A pruned entry with a large stored value must stay pruned (the
    # original's revival bug ranked the unmasked |W|).
    w = np.array([[5.0, 0.2, 0.3, 0.4, 0.0]])
    m = np.array([[0, 1, 1, 1, 1]], bool)
    new = magnitude_masks(w, m, 0.4)  # 2 entries: the pruned one, then 0.0
    np.testing.assert_array_equal(new[0], [False, True, True, True, False])
    # when more are already pruned than the target, nothing changes
    m2 = np.array([[0, 0, 0, 1, 1]], bool)
    np.testing.assert_array_equal(magnitude_masks(w, m2, 0.2), m2)


def test_masks_only_shrink_over_a_schedule():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 20, 9))
    mask = np.ones_like(w, bool)
    for c in (0.15, 0.5, 0.75, 0.9, 0.93):
        w = w + rng.normal(scale=0.5, size=w.shape) * mask  # training noise
        new = magnitude_masks(w, mask, c)
        assert not (new & ~mask).any()
        assert (~new).reshape(4, -1).sum(1).tolist() == [
            prune_count(180, c)] * 4
        mask = new


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        magnitude_masks(np.ones((2, 3)), np.ones((2, 4)), 0.5)
