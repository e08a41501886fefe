"""Known-answer tests for core.stats."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from core.stats import (
    block_permutation_test,
    compare_models_over_stimuli,
    fdr_bh,
    holm,
    pearson_r_columns,
    pearson_r_pvalue,
    r2_columns,
    r_per_sample,
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


def test_pearson_r_pvalue_matches_scipy_one_sided(rng):
    a, b = rng.standard_normal((2, 25))
    r = pearson_r_columns(a, b)
    expected = scipy.stats.pearsonr(a, b, alternative="greater").pvalue
    np.testing.assert_allclose(pearson_r_pvalue(r, 25), [expected], rtol=1e-10)
    np.testing.assert_allclose(pearson_r_pvalue([1.0, -1.0, 0.0], 10), [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="at least 3"):
        pearson_r_pvalue(0.5, 2)


def test_holm_hand_computed_and_bounded_by_bonferroni(rng):
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    p = rng.uniform(size=25)
    adjusted = holm(p)
    assert (adjusted >= p).all() and (adjusted <= np.minimum(25 * p, 1)).all()
    assert holm(p.reshape(5, 5)).shape == (5, 5)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        holm([0.2, 1.5])


def test_r_per_sample_averages_to_r_per_session_mean(rng):
    pred = rng.standard_normal((40, 6))
    sessions = pred + 2 * rng.standard_normal((3, 40, 6))
    sessions[1, :, 5] = 1.0  # constant in one session: r = 0 there
    h = r_per_sample(sessions, pred, n_columns_batch=4)
    expected = np.mean([pearson_r_columns(s, pred) for s in sessions], axis=0)
    np.testing.assert_allclose(h.mean(axis=0), expected, atol=1e-12)
    np.testing.assert_allclose(r_per_sample(sessions[0], pred).mean(axis=0), pearson_r_columns(sessions[0], pred),
                               atol=1e-12)


def test_r_per_sample_spread_gives_the_sampling_variance_of_r():
    """Gaussian pairs with ρ = 0.5: var(h) / n matches r's variance over repeated samples, (1 - ρ²)² / n."""
    rng = np.random.default_rng(1)
    n, rho = 200, 0.5
    x = rng.standard_normal((n, 2000))
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, 2000))
    delta_variance = r_per_sample(y, x).var(axis=0, ddof=1).mean() / n
    assert delta_variance == pytest.approx(pearson_r_columns(y, x).var(), rel=0.1)
    assert delta_variance == pytest.approx((1 - rho**2) ** 2 / n, rel=0.1)


def test_compare_models_over_stimuli_matches_exact_sign_flips(rng):
    a = rng.standard_normal((8, 2)) + [0.8, 0.0]
    b = rng.standard_normal((8, 2))
    out = compare_models_over_stimuli(a, b, n_permutations=40_000, n_bootstraps=2000, random_state=0)
    d = a - b
    np.testing.assert_allclose(out.difference, d.mean(axis=0))
    signs = np.array(np.meshgrid(*[[-1, 1]] * 8)).reshape(8, -1).T  # all 256 sign vectors
    exact = (np.abs(signs @ d) >= np.abs(d.sum(axis=0)) - 1e-12).mean(axis=0)
    np.testing.assert_allclose(out.p, exact, atol=0.01)
    np.testing.assert_allclose(out.p_holm, holm(out.p))
    assert (out.ci_low <= out.difference).all() and (out.difference <= out.ci_high).all()
    assert out.n_stimuli == 8 and out.confidence == 0.95


def test_compare_models_over_stimuli_interval_width_and_errors(rng):
    d = rng.standard_normal(400)
    out = compare_models_over_stimuli(d, np.zeros(400), n_bootstraps=5000, random_state=0)
    width = out.ci_high[0] - out.ci_low[0]
    assert width == pytest.approx(2 * 1.96 * d.std() / np.sqrt(400), rel=0.1)
    with pytest.raises(ValueError, match="same shape"):
        compare_models_over_stimuli(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 3 stimuli"):
        compare_models_over_stimuli(np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="confidence"):
        compare_models_over_stimuli(d, d, confidence=95)


def test_scores_are_the_same_whatever_the_batch_of_columns(monkeypatch):
    """Column batches only bound memory (whole float64 copies of NSD-size responses are ~3 GB each): same r, R², p, q."""
    from core.encoding import scoring

    rng = np.random.default_rng(3)
    pred = rng.normal(size=(30, 23))
    sessions = pred + rng.normal(size=(2, 30, 23)) * np.linspace(0.2, 5, 23)
    sessions[:, :, 5] = 1.0  # a constant vertex: warned about, r = R² = 0 in every batch
    with pytest.warns(UserWarning, match="constant"):
        whole = scoring.evaluate_predictions(sessions, pred, block_size=3, n_permutations=50, random_state=0)
    monkeypatch.setattr(scoring, "SCORE_BATCH", 4)
    with pytest.warns(UserWarning, match="constant"):
        batched = scoring.evaluate_predictions(sessions, pred, block_size=3, n_permutations=50, random_state=0)
    for name in ("r", "r_sessions", "r2", "p", "q"):
        np.testing.assert_array_equal(getattr(batched, name), getattr(whole, name))
    np.testing.assert_array_equal(
        block_permutation_test(sessions, pred, block_size=3, n_permutations=50, random_state=0, n_columns_batch=5),
        whole.p)
