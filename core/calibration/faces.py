"""Calibration of the Identity & Expression tests (``core.faces``).

- The identity − expression difference: a region's RDM correlates (Spearman) with an identity network's
  and an expression network's RDM; the page shows the difference with a 95 % stimulus-bootstrap interval
  and a two-sided bootstrap p (``identity_vs_expression_difference``, the region's 4 noisy repetitions as
  in the default analysis). Null: 24 stimuli; the two networks' features are independent draws of
  correlated features with the same loadings, and the region's patterns (a 30-vertex smooth patch) read
  their sum through one smooth projection, plus smooth noise, so the true difference is 0. Planted: the region reads the identity network with a larger weight.
- Cross-factor decoding against chance (``decoding_transfer``): identity decoded across expressions
  (leave-one-expression-out). Null: 4 identities × 3 expressions; the features (correlated) carry the
  expression and no identity. Planted: each identity adds its own pattern.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase
from core.calibration._data import factor_features, smooth_patch_fields

__all__ = ["CASES"]

N_STIMULI = 24
N_VERTICES = 30
N_REPEATS = 4
N_BOOTSTRAP = 199
#: Weights of the identity and expression features in the planted region (equal under the null).
PLANTED_WEIGHTS = (1.0, 0.0)
REPEAT_NOISE = 1.0
N_IDENTITIES, N_EXPRESSIONS = 4, 3
N_DECODING_PERMUTATIONS = 19
#: SD of each identity's own feature pattern in the planted decoding sets (the noise has SD ~1 per unit).
PLANTED_IDENTITY_SD = 1.2


def _difference(planted: bool, rng: np.random.Generator):
    from core.faces import brain_rdms_from_patterns, identity_vs_expression_difference
    from core.rsa import compute_rdm

    # the two networks' features share their loadings and the region reads their weighted sum through one
    # projection: under the null, swapping the networks leaves the region unchanged, so the difference is
    # 0 in the population of stimuli for this data set's parameters, not only on average over data sets
    identity, expression = np.split(factor_features(rng, 2 * N_STIMULI, 40), 2)
    weights = PLANTED_WEIGHTS if planted else (1.0, 1.0)
    signal = (weights[0] * identity + weights[1] * expression) @ smooth_patch_fields(rng, 40, N_VERTICES)
    signal /= signal.std()
    repeats = signal + REPEAT_NOISE * smooth_patch_fields(rng, N_REPEATS * N_STIMULI, N_VERTICES).reshape(
        N_REPEATS, N_STIMULI, N_VERTICES)
    brain = brain_rdms_from_patterns({"region": repeats})
    return identity_vs_expression_difference(brain, compute_rdm(identity), compute_rdm(expression),
                                             method="spearman", n_bootstrap=N_BOOTSTRAP, random_state=rng)


def _difference_p(planted: bool, rng: np.random.Generator) -> float:
    return float(_difference(planted, rng).p[0])


def _difference_interval(planted: bool, rng: np.random.Generator) -> float:
    test = _difference(planted, rng)
    return 0.0 if test.ci_low[0] > 0 or test.ci_high[0] < 0 else 1.0


def _decoding_p(planted: bool, rng: np.random.Generator) -> float:
    from core.faces import decoding_transfer

    identities = np.repeat(np.arange(N_IDENTITIES), N_EXPRESSIONS).astype(str)
    expressions = np.tile(np.arange(N_EXPRESSIONS), N_IDENTITIES).astype(str)
    n = N_IDENTITIES * N_EXPRESSIONS
    features = factor_features(rng, n, 12) + factor_features(rng, N_EXPRESSIONS, 12)[np.tile(
        np.arange(N_EXPRESSIONS), N_IDENTITIES)]
    if planted:
        features += PLANTED_IDENTITY_SD * rng.standard_normal((N_IDENTITIES, 12))[np.repeat(
            np.arange(N_IDENTITIES), N_EXPRESSIONS)] * features.std(axis=0)
    result = decoding_transfer({"layer": features}, identities, expressions,
                               n_permutations=N_DECODING_PERMUTATIONS, random_state=rng)
    return float(result.identity_p[0])


_DIFFERENCE_NULL = f"{N_STIMULI} stimuli, {N_REPEATS} repeats; smooth patch region reads both nets equally"
_DIFFERENCE_EFFECT = f"region reads the identity net {PLANTED_WEIGHTS[0]:g} : {PLANTED_WEIGHTS[1]:g}"

CASES = [
    CalibrationCase(
        name="identity − expression difference, bootstrap p",
        null=functools.partial(_difference_p, False), planted=functools.partial(_difference_p, True),
        null_structure=_DIFFERENCE_NULL, effect=_DIFFERENCE_EFFECT),
    CalibrationCase(
        name="identity − expression difference, 95% interval",
        null=functools.partial(_difference_interval, False), planted=functools.partial(_difference_interval, True),
        null_structure=_DIFFERENCE_NULL, effect=_DIFFERENCE_EFFECT),
    CalibrationCase(
        name="identity decoded across expressions vs chance",
        null=functools.partial(_decoding_p, False), planted=functools.partial(_decoding_p, True),
        null_structure=f"{N_IDENTITIES} ids × {N_EXPRESSIONS} expressions; correlated features carry expression",
        effect=f"each identity adds a pattern (SD {PLANTED_IDENTITY_SD:g} × unit SD)"),
]
