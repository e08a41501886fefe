"""Calibration of the model–brain RSA inference (``core.calibration.model_brain_rsa``).

The stimulus-permutation p of a region's subject mean must reject 5 % of null data sets (the Clopper–Pearson
99 % interval of its false-positive rate contains 0.05) and ≥ 80 % of planted ones. The bootstrap 95 % interval
(rsatoolbox's ``eval_bootstrap_pattern`` percentile interval) is conservative: resampling stimuli weights each
pair by ``c_u c_v`` (variance 3), where a new stimulus sample weights it 1, so the pairwise (second-order)
part of the comparison's variance is counted about 3 times — its spread is about √3 ≈ 1.7 times the sampling
spread on these data, and under the null it excludes 0 far less often than 5 %. Its test here is that it is
never anti-conservative and still powered. Fast: few draws; slow: ≥ 200.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from core.calibration.model_brain_rsa import CASES, CONSERVATIVE_CASES

ALPHA = 0.05
MIN_POWER = 0.8


def _rate(draw, name: str, kind: str, n: int) -> tuple[float, tuple[float, float]]:
    """Fraction of ``n`` draws with p ≤ α, and its Clopper–Pearson 99 % interval."""
    seeds = np.random.SeedSequence([sum(map(ord, name)), sum(map(ord, kind))]).spawn(n)
    hits = sum(draw(np.random.default_rng(seed)) <= ALPHA for seed in seeds)
    interval = scipy.stats.binomtest(int(hits), n).proportion_ci(0.99, method="exact")
    return hits / n, (interval.low, interval.high)


def _check(case, n_null: int, n_planted: int, *, conservative: bool) -> None:
    rate, (low, high) = _rate(case.null, case.name, "null", n_null)
    message = f"{case.name}: false-positive rate {rate:.3f}, 99 % interval ({low:.3f}, {high:.3f})"
    assert low <= ALPHA if conservative else low <= ALPHA <= high, message
    power, _ = _rate(case.planted, case.name, "planted", n_planted)
    assert power >= MIN_POWER, f"{case.name}: power {power:.2f} on {case.effect}"


def test_cases_follow_the_protocol():
    assert len({case.name for case in CASES + CONSERVATIVE_CASES}) == 4
    assert 0 < CASES[0].null(np.random.default_rng(0)) <= 1
    assert CONSERVATIVE_CASES[0].null(np.random.default_rng(0)) in (0.0, 1.0)


def test_fast_calibration_of_the_permutation_test():
    _check(CASES[0], n_null=150, n_planted=40, conservative=False)


def test_fast_calibration_of_the_interval():
    _check(CONSERVATIVE_CASES[0], n_null=100, n_planted=40, conservative=True)


@pytest.mark.slow
@pytest.mark.parametrize("case", CONSERVATIVE_CASES, ids=[c.name for c in CONSERVATIVE_CASES])
def test_full_calibration_of_the_intervals(case):
    """The intervals (not in ``test_full_suite.py``, whose protocol is a calibrated p) at full size."""
    _check(case, n_null=300, n_planted=100, conservative=True)
