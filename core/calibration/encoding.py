"""Calibration of the encoding model's per-vertex test (``core.encoding.evaluate_predictions``).

The studio scores a prediction per vertex by its test r, a one-sided block-permutation p and Benjamini–
Hochberg q across vertices; maps are thresholded at q < 0.05. Three cases:

- stimuli in random order (the Virtual fMRI experiment: ``block_size=1``): 40 test stimuli, 30 vertices of a
  smooth mesh patch; measured responses are smooth noise, the prediction is a linear read-out of correlated
  features of the same stimuli through smooth weights (as a fitted model's is), drawn independently. The p
  of one vertex is tested. Planted: the responses contain the prediction (r ≈ 0.5 at every vertex).
- a TR time series (the CLI's ``--block-size``): 200 TRs; measured noise and prediction are both AR(1)
  (φ = 0.5), independent; blocks of 10 TRs. Planted as above.
- FDR across vertices: the smallest q of the 30 smooth vertices (a false discovery anywhere); planted: the
  smallest q among 10 vertices that carry the prediction.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase
from core.calibration._data import ar1_series, factor_features, smooth_patch_fields

__all__ = ["CASES"]

N_STIMULI = 40
N_VERTICES = 30
N_TRS = 200
BLOCK_SIZE = 10
PHI = 0.5
N_PERMUTATIONS = 199
#: Weight of the prediction in the planted responses (unit noise): r ≈ 0.5.
PLANTED_WEIGHT = 0.6
N_PLANTED_VERTICES = 10


def _prediction(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """A fitted model's prediction: correlated features read through smooth weights, (n_samples, n_vertices)."""
    features = factor_features(rng, n_samples, 40)
    prediction = features @ smooth_patch_fields(rng, features.shape[1], N_VERTICES)
    return prediction / prediction.std(axis=0)


def _scores(rng: np.random.Generator, planted: np.ndarray, *, series: bool):
    from core.encoding import evaluate_predictions

    if series:
        prediction = ar1_series(rng, N_TRS, 1, phi=PHI) * np.ones(N_VERTICES)
        noise = ar1_series(rng, N_TRS, N_VERTICES, phi=PHI)
    else:
        prediction = _prediction(rng, N_STIMULI)
        noise = smooth_patch_fields(rng, N_STIMULI, N_VERTICES)
    measured = noise + PLANTED_WEIGHT * planted * prediction
    return evaluate_predictions(measured, prediction, block_size=BLOCK_SIZE if series else 1,
                                n_permutations=N_PERMUTATIONS, random_state=rng)


def _vertex_p(planted: bool, series: bool, rng: np.random.Generator) -> float:
    return float(_scores(rng, np.full(N_VERTICES, float(planted)), series=series).p[0])


def _min_q(planted: bool, rng: np.random.Generator) -> float:
    carriers = np.arange(N_VERTICES) < (N_PLANTED_VERTICES if planted else 0)
    scores = _scores(rng, carriers.astype(float), series=False)
    return float(scores.q[carriers].min() if planted else scores.q.min())


CASES = [
    CalibrationCase(
        name="encoding r, permutation p (stimuli)",
        null=functools.partial(_vertex_p, False, False), planted=functools.partial(_vertex_p, True, False),
        null_structure=f"{N_STIMULI} stimuli; smooth patch noise; prediction from correlated features",
        effect=f"responses = noise + {PLANTED_WEIGHT:g} × prediction"),
    CalibrationCase(
        name=f"encoding r, block permutation p (TR series, blocks of {BLOCK_SIZE})",
        null=functools.partial(_vertex_p, False, True), planted=functools.partial(_vertex_p, True, True),
        null_structure=f"{N_TRS} TRs; AR(1) φ = {PHI:g} noise and prediction",
        effect=f"responses = noise + {PLANTED_WEIGHT:g} × prediction"),
    CalibrationCase(
        name="encoding FDR q across vertices (any q ≤ 0.05)",
        null=functools.partial(_min_q, False), planted=functools.partial(_min_q, True),
        null_structure=f"{N_VERTICES} smooth patch vertices, all null",
        effect=f"{N_PLANTED_VERTICES} of {N_VERTICES} vertices carry the prediction"),
]
