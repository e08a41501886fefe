"""The calibration suite: its runner (known answers) and a fast subset of the cases, in the default test run.

The fast subset draws fewer data sets than ``python -m core calibrate`` (the full suite is
``test_full_suite.py``, marked slow) but enough to fail when a test's null is made invalid: e.g. the
clustering test of issue 15 (shuffling the similarity matrix with the data-chosen partition held fixed)
rejects in every null set.
"""

from __future__ import annotations

import pkgutil

import numpy as np
import pytest
import scipy.stats
from threadpoolctl import threadpool_limits

import core.calibration
from core.calibration import ALPHA, MODULES, CalibrationCase, all_cases, calibrate, format_table


def _case(null, planted=lambda rng: 0.0, name="toy"):
    return CalibrationCase(name=name, null=null, planted=planted, null_structure="toy", effect="toy")


def test_runner_known_answers():
    uniform = calibrate(_case(lambda rng: rng.random()), n_null=400, n_planted=10)
    assert uniform.calibrated and uniform.powered and uniform.power == 1.0
    expected = scipy.stats.binomtest(round(uniform.false_positive_rate * 400), 400).proportion_ci(0.99, "exact")
    assert uniform.interval == pytest.approx((expected.low, expected.high))
    always = calibrate(_case(lambda rng: 0.01), n_null=50, n_planted=10)
    assert always.false_positive_rate == 1.0 and not always.calibrated
    never = calibrate(_case(lambda rng: 1.0, planted=lambda rng: 1.0), n_null=200, n_planted=10)
    assert not never.calibrated and not never.powered  # a test that never rejects is miscalibrated too
    table = format_table([uniform, always])
    assert "MISCALIBRATED" in table and table.count("\n") == 3
    with pytest.raises(ValueError, match="expected a value in"):
        calibrate(_case(lambda rng: 2.0), n_null=1, n_planted=0)


def test_runner_draws_are_reproducible_and_independent_of_other_cases():
    draws = []
    case = _case(lambda rng: draws.append(rng.random()) or 0.5, name="same name")
    calibrate(case, n_null=5, n_planted=0, seed=3)
    calibrate(_case(lambda rng: rng.random(), name="other"), n_null=5, n_planted=0, seed=3)
    calibrate(case, n_null=5, n_planted=0, seed=3)
    assert draws[:5] == draws[5:] and len(set(draws[:5])) == 5


def test_every_module_is_gathered_and_names_are_unique():
    modules = {m.name for m in pkgutil.iter_modules(core.calibration.__path__) if not m.name.startswith("_")}
    assert modules == set(MODULES), "add every calibration module's name to core.calibration.MODULES"
    cases = all_cases()
    assert all(isinstance(c, CalibrationCase) for c in cases)
    assert len({c.name for c in cases}) == len(cases)


#: (case name, null sets, planted sets) of the fast subset: cheap cases get more sets.
FAST = [
    ("RDM comparison (spearman), condition permutation", 150, 20),
    ("RDM comparison (kendall_tau_a), condition permutation", 100, 20),
    ("semantic vs cortical similarity, category permutation", 150, 20),
    ("pairwise identification vs chance", 200, 20),
    ("encoding r, permutation p (stimuli)", 100, 20),
    ("clustering: best Q of k-means over k, spin test", 30, 10),
]


@pytest.mark.parametrize(("name", "n_null", "n_planted"), FAST, ids=[f[0].split(",")[0] for f in FAST])
def test_fast_calibration(name, n_null, n_planted):
    case = next(c for c in all_cases() if c.name == name)
    result = calibrate(case, n_null=n_null, n_planted=n_planted)
    assert result.calibrated, (f"{name}: false-positive rate {result.false_positive_rate:.3f} at α = {ALPHA}, "
                               f"99 % interval {result.interval}")
    assert result.powered, f"{name}: power {result.power:.2f} on {case.effect}"


def test_decoding_transfer_permutation_p_known_answers():
    """Identities read perfectly → the smallest p; no permutations → NaN; shuffles keep each fold's classes."""
    from core.faces import decoding_transfer

    identities = np.repeat(list("abcd"), 3)
    expressions = np.tile(list("xyz"), 4)
    features = np.eye(4)[np.repeat(np.arange(4), 3)] * 5 + np.random.default_rng(0).normal(0, 0.1, (12, 4))
    with threadpool_limits(limits=1):  # tiny fits: one BLAS thread is fastest
        result = decoding_transfer({"l": features}, identities, expressions, classifier="linear_svc",
                                   n_permutations=19, random_state=0)
    assert result.identity_accuracy[0] == 1.0 and result.identity_p[0] == pytest.approx(1 / 20)
    assert result.n_permutations == 19 and 0 < result.expression_p[0] <= 1
    assert np.isnan(decoding_transfer({"l": features}, identities, expressions).identity_p[0])
