"""The full calibration suite (``python -m core calibrate``): every case on 200 null and 100 planted sets."""

from __future__ import annotations

import pytest

from core.calibration import all_cases, calibrate

CASES = all_cases()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_calibrated_and_powered(case):
    result = calibrate(case, n_null=200, n_planted=100)
    assert result.calibrated, (f"false-positive rate {result.false_positive_rate:.3f}, 99 % interval "
                               f"{result.interval}, on {case.null_structure}")
    assert result.powered, f"power {result.power:.2f} on {case.effect}"
