"""Known-answer tests for core.stats."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from core.stats import (
    block_permutation_test,
    compare_models_per_roi,
    fdr_bh,
    pearson_r_columns,
    r2_columns,
    torch_device,
)


def test_pearson_r_columns_matches_scipy_per_column(rng):
    a = rng.standard_normal((30, 5))
    b = a + rng.standard_normal((30, 5))
    expected = [scipy.stats.pearsonr(a[:, j], b[:, j]).statistic for j in range(5)]
    np.testing.assert_allclose(pearson_r_columns(a, b), expected, rtol=1e-12)


def test_pearson_r_columns_hand_computed_and_constant_column_is_zero():
    a = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    b = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    np.testing.assert_allclose(pearson_r_columns(a, b), [-1.0, 0.0])


def test_perfect_prediction_has_r_and_r2_of_one(rng):
    y = rng.standard_normal((20, 4))
    np.testing.assert_allclose(pearson_r_columns(y, y), 1.0)
    np.testing.assert_allclose(r2_columns(y, y), 1.0)


def test_r2_columns_matches_sklearn_and_constant_target_is_zero(rng):
    from sklearn.metrics import r2_score

    y = rng.standard_normal((25, 3))
    pred = y + 0.5 * rng.standard_normal((25, 3))
    np.testing.assert_allclose(r2_columns(y, pred), r2_score(y, pred, multioutput="raw_values"))
    np.testing.assert_allclose(r2_columns(np.ones(5), np.arange(5.0)), [0.0])


def test_pearson_r_columns_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        pearson_r_columns(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="1 NaN"):
        pearson_r_columns(np.array([1.0, np.nan, 2.0]), np.ones(3))


def test_fdr_bh_equals_scipy_reference(rng):
    p = rng.uniform(size=200) ** 3
    np.testing.assert_allclose(fdr_bh(p), scipy.stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    grid = p.reshape(20, 10)
    assert fdr_bh(grid).shape == (20, 10)


def test_fdr_bh_hand_computed():
    # sorted p = .01 .02 .03 .5 (m=4): p*m/rank = .04 .04 .04 .5
    np.testing.assert_allclose(fdr_bh([0.03, 0.5, 0.01, 0.02]), [0.04, 0.5, 0.04, 0.04])


def test_fdr_bh_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fdr_bh([0.2, 1.5])


def test_block_permutation_p_uniform_under_null(rng):
    n_samples, n_vertices = 60, 500
    y_true = rng.standard_normal((n_samples, n_vertices))
    y_pred = rng.standard_normal((n_samples, n_vertices))
    p = block_permutation_test(y_true, y_pred, block_size=3, n_permutations=199, random_state=1)
    assert p.shape == (n_vertices,)
    assert p.min() >= 1 / 200
    assert scipy.stats.kstest(p, "uniform").pvalue > 0.01


def test_block_permutation_detects_signal_and_sessions_average(rng):
    signal = rng.standard_normal((80, 3))
    sessions = signal + 0.3 * rng.standard_normal((2, 80, 3))
    p = block_permutation_test(sessions, signal, block_size=4, n_permutations=99, random_state=0)
    np.testing.assert_allclose(p, 1 / 100)


def test_block_permutation_blocks_stay_contiguous(rng):
    from core.stats import _block_permutations

    perms = _block_permutations(10, 4, 5, rng)
    for perm in perms:
        assert sorted(perm) == list(range(10))
        # each block (0-3, 4-7, 8-9) appears as consecutive increasing indices
        for block in ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9]):
            start = int(np.flatnonzero(perm == block[0])[0])
            assert list(perm[start:start + len(block)]) == block


def test_block_permutation_rejects_bad_input(rng):
    y = rng.standard_normal((20, 2))
    with pytest.raises(ValueError, match="block_size=0"):
        block_permutation_test(y, y, block_size=0)
    with pytest.raises(ValueError, match="does not match"):
        block_permutation_test(y, y[:, :1], block_size=2)


def test_torch_device_rejects_unknown():
    with pytest.raises(ValueError, match="choose from"):
        torch_device("tpu")


def test_compare_models_per_roi_matches_scipy(rng):
    a = rng.standard_normal(30)
    b = a - 0.3 + 0.1 * rng.standard_normal(30)
    rois = {"V1": np.arange(10), "FFA": np.arange(10, 30)}
    out = compare_models_per_roi(a, b, rois)
    reference = scipy.stats.ttest_rel(a[10:], b[10:])
    assert out["FFA"].t == pytest.approx(reference.statistic)
    assert out["FFA"].p == pytest.approx(reference.pvalue)
    assert out["V1"].mean_difference == pytest.approx(np.mean(a[:10] - b[:10]))
    with pytest.raises(ValueError, match="'tiny' needs at least 2"):
        compare_models_per_roi(a, b, {"tiny": [3]})
