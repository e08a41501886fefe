"""Calibration of every p-value and interval the studio shows, on null data with the structure of real data.

Each module named in :data:`MODULES` exposes ``CASES``, a list of :class:`CalibrationCase`: the test as the
studio runs it, a draw of one small null data set (smooth maps on the mesh, correlated features,
autocorrelated time series) and one with a stated planted effect. :func:`calibrate` runs a case on many
draws and reports the false-positive rate at α = 0.05 with its Clopper–Pearson 99 % interval (calibrated
when that interval contains 0.05) and the power on planted data (enough when ≥ 0.8).
``python -m core calibrate [--quick]`` prints the table.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from core.calibration._case import CalibrationCase

__all__ = ["ALPHA", "MODULES", "CalibrationCase", "CalibrationResult", "all_cases", "calibrate", "format_table"]

#: Modules of ``core.calibration`` with a ``CASES`` list, one per family of tests.
MODULES = ("encoding", "rsa", "faces", "clustering", "semantics", "reconstruction", "categories", "model_brain_rsa",
           "roi_comparison", "noise_ceiling")
#: Level of every test; the power threshold; the confidence of the false-positive rate's interval.
ALPHA = 0.05
MIN_POWER = 0.8
INTERVAL = 0.99


def all_cases(modules: Sequence[str] = MODULES) -> list[CalibrationCase]:
    """The cases of ``modules`` (names in ``core.calibration``), in order."""
    return [case for name in modules for case in importlib.import_module(f"core.calibration.{name}").CASES]


@dataclass(frozen=True)
class CalibrationResult:
    """A case run on ``n_null`` null and ``n_planted`` planted data sets.

    Attributes
    ----------
    case : CalibrationCase
    false_positive_rate : float
        Fraction of null sets with p ≤ α.
    interval : tuple of float
        Clopper–Pearson interval (``INTERVAL``) of the false-positive rate.
    power : float
        Fraction of planted sets with p ≤ α.
    n_null, n_planted : int
    """

    case: CalibrationCase
    false_positive_rate: float
    interval: tuple
    power: float
    n_null: int
    n_planted: int

    @property
    def calibrated(self) -> bool:
        """The interval of the false-positive rate contains α."""
        return self.interval[0] <= ALPHA <= self.interval[1]

    @property
    def powered(self) -> bool:
        return self.power >= MIN_POWER


def _generators(seed: int, name: str, kind: str, n: int) -> list[np.random.Generator]:
    """``n`` independent generators for one case and kind, the same for a name whatever the other cases."""
    entropy = [seed, zlib.crc32(name.encode()), zlib.crc32(kind.encode())]
    return [np.random.default_rng(child) for child in np.random.SeedSequence(entropy).spawn(n)]


def calibrate(case: CalibrationCase, *, n_null: int = 200, n_planted: int = 100, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> CalibrationResult:
    """Run ``case`` on ``n_null`` null and ``n_planted`` planted draws.

    Parameters
    ----------
    case : CalibrationCase
    n_null, n_planted : int
        Data sets drawn (≥ 1 null; 0 planted skips the power).
    seed : int
        Each draw's generator comes from ``seed``, the case name and the kind of draw.
    progress : callable(done, total), optional

    Returns
    -------
    CalibrationResult
    """
    from threadpoolctl import threadpool_limits

    if n_null < 1 or n_planted < 0:
        raise ValueError(f"n_null must be >= 1 and n_planted >= 0, got {n_null} and {n_planted}")
    total, done = n_null + n_planted, 0
    rejected = {}
    # the data sets are small: one BLAS thread each is faster than a pool fighting over the cores
    with threadpool_limits(limits=1):
        for kind, draw, n in (("null", case.null, n_null), ("planted", case.planted, n_planted)):
            count = 0
            for rng in _generators(seed, case.name, kind, n):
                p = float(draw(rng))
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"case {case.name!r} returned p = {p} on {kind} data; expected a value in "
                                     "[0, 1]")
                count += p <= ALPHA
                done += 1
                if progress is not None:
                    progress(done, total)
            rejected[kind] = count
    interval = scipy.stats.binomtest(rejected["null"], n_null).proportion_ci(INTERVAL, method="exact")
    return CalibrationResult(case, rejected["null"] / n_null, (float(interval.low), float(interval.high)),
                             rejected["planted"] / n_planted if n_planted else float("nan"), n_null, n_planted)


def format_table(results: Sequence[CalibrationResult]) -> str:
    """The results as a plain-text table: test, null structure, n, false-positive rate [99 % interval],
    planted effect, power, and whether each is within its bound."""
    rows = [("test", "null structure", "n null", f"FPR at α={ALPHA} [99% CI]", "planted effect", "n", "power",
             "ok")]
    for r in results:
        ok = ("calibrated" if r.calibrated else "MISCALIBRATED") + ("" if r.powered else ", UNDERPOWERED")
        rows.append((r.case.name, r.case.null_structure, str(r.n_null),
                     f"{r.false_positive_rate:.3f} [{r.interval[0]:.3f}, {r.interval[1]:.3f}]", r.case.effect,
                     str(r.n_planted), f"{r.power:.2f}", ok))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
