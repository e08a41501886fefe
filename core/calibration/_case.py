"""One calibration case: a statistical test of the studio, run on null and on planted data."""
from __future__ import annotations
from collections.abc import Callable
from dataclasses import dataclass
import numpy as np
__all__ = ["CalibrationCase"]
@dataclass(frozen=True)
class CalibrationCase:
    """A test as the studio runs it. ``null(rng)`` and ``planted(rng)`` each draw one small data set and
    return the test's p-value (for a 95 % interval: 0.0 when it excludes the null value, else 1.0)."""
    name: str
    null: Callable[[np.random.Generator], float]
    planted: Callable[[np.random.Generator], float]
    null_structure: str
    effect: str
