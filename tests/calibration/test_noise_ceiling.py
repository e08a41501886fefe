"""Calibration of the ceiling-reliability test and of the layer-refit vertex selection
(``core.calibration.noise_ceiling``)."""

from __future__ import annotations

import pytest

from core.calibration.noise_ceiling import CASES
from tests.calibration.test_roi_comparison import _check_calibrated


def test_ceiling_reliability_is_calibrated_quick():
    _check_calibrated(CASES[0], n_null=200, n_planted=100)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_selections_are_calibrated(case):
    _check_calibrated(case, n_null=400, n_planted=200)
