"""Calibration of the per-ROI model comparison: false-positive rate on structured null data, power on a
planted difference (``core.calibration.roi_comparison``)."""

from __future__ import annotations

import numpy as np
import scipy.stats

from core.calibration.roi_comparison import CASES, comparison_data
from core.stats import pearson_r_columns

ALPHA = 0.05
MIN_POWER = 0.8


def _rejection_rate(run, n_sets: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([run(rng) < ALPHA for _ in range(n_sets)]))


def _check_calibrated(case, n_null: int, n_planted: int) -> None:
    """False-positive rate inside the binomial 99 % interval of α; power not below 0.8 (one-sided 99 %)."""
    low, high = scipy.stats.binom.ppf([0.005, 0.995], n_null, ALPHA) / n_null
    false_positives = _rejection_rate(case.null, n_null, seed=1)
    assert low <= false_positives <= high, f"{case.name}: false-positive rate {false_positives:.3f} outside [{low}, {high}]"
    power = _rejection_rate(case.planted, n_planted, seed=2)
    assert power >= scipy.stats.binom.ppf(0.01, n_planted, MIN_POWER) / n_planted, f"{case.name}: power {power:.2f}"


def test_roi_comparison_is_calibrated_quick():
    _check_calibrated(CASES[0], n_null=100, n_planted=60)


def test_null_data_defeat_a_paired_t_test_over_vertices():
    """The null sets keep the structure that made the old test invalid: its false-positive rate is far above α."""
    rng = np.random.default_rng(3)
    rejections = []
    for _ in range(30):
        sessions, pred_a, pred_b = comparison_data(rng)
        r_a = np.mean([pearson_r_columns(s, pred_a) for s in sessions], axis=0)
        r_b = np.mean([pearson_r_columns(s, pred_b) for s in sessions], axis=0)
        rejections.append(scipy.stats.ttest_rel(r_a, r_b).pvalue < ALPHA)
    assert np.mean(rejections) > 0.4
