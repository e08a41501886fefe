"""Calibration of the RDM comparison permutation test (``core.rsa.rdm_permutation_test``), every method.

The studio compares a network layer's RDM with a region's RDM by each method of
``core.rsa.COMPARE_METHODS`` and tests it by permuting the conditions of one RDM. Null: 12 conditions; the
region's patterns are smooth fields on a 30-vertex patch of the mesh (one field per condition), the layer's
are correlated features of independent stimuli; both RDMs are correlation distances. Planted: the region's
patterns read the layer's features through a fixed smooth projection, plus smooth noise.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase
from core.calibration._data import factor_features, smooth_patch_fields

__all__ = ["CASES"]

N_CONDITIONS = 12
N_VERTICES = 30
N_PERMUTATIONS = 199
#: Noise SD of the planted region patterns, relative to the projected features.
PLANTED_NOISE = 0.5


def _rdms(rng: np.random.Generator, planted: bool):
    from core.rsa import compute_rdm

    features = factor_features(rng, N_CONDITIONS, 40)
    noise = smooth_patch_fields(rng, N_CONDITIONS, N_VERTICES)
    if planted:
        projection = smooth_patch_fields(rng, features.shape[1], N_VERTICES)
        signal = features @ projection
        patterns = signal / signal.std() + PLANTED_NOISE * noise
    else:
        patterns = noise
    return compute_rdm(features), compute_rdm(patterns)


def _p(method: str, planted: bool, rng: np.random.Generator) -> float:
    from core.rsa import rdm_permutation_test

    model, region = _rdms(rng, planted)
    return rdm_permutation_test(model, region, method=method, n_permutations=N_PERMUTATIONS,
                                random_state=rng).p_value


def _case(method: str) -> CalibrationCase:
    return CalibrationCase(
        name=f"RDM comparison ({method}), condition permutation",
        null=functools.partial(_p, method, False), planted=functools.partial(_p, method, True),
        null_structure=f"{N_CONDITIONS} conditions; smooth patch patterns vs correlated features",
        effect=f"region = smooth projection of the features + noise (SD {PLANTED_NOISE:g})")


def _methods() -> tuple:
    from core.rsa import COMPARE_METHODS

    return tuple(COMPARE_METHODS)


CASES = [_case(method) for method in _methods()]
