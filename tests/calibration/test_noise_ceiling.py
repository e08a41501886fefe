"""Calibration of the ceiling-reliability test and of the layer-refit vertex selection
(``core.calibration.noise_ceiling``). Every case at full size: ``test_full_suite.py``."""

from __future__ import annotations

from core.calibration.noise_ceiling import CASES
from tests.calibration.test_roi_comparison import _check_calibrated


def test_ceiling_reliability_is_calibrated_quick():
    _check_calibrated(CASES[0], n_null=200, n_planted=100)

