"""Calibration of the model–brain RSA inference (``core.model_brain_rsa``): the bootstrap 95 % interval over
stimuli and the stimulus-permutation p of a region's subject mean.

Null: 24 stimuli in 4 categories. A network layer's features and a region's voxel patterns each have their own
structure — category means (a random partition each, drawn independently), correlated channels (a few latent
factors with a decaying spectrum, as network units and neighbouring voxels are) and unique noise whose size
varies over stimuli — so both RDMs have the blocks and the outlying stimuli real RDMs have (the structure that
makes a test shuffling dissimilarities instead of stimuli too liberal), but share nothing. A region has 3 subjects: one region
pattern plus subject noise. Planted: the region's patterns read the layer's features through a fixed random
projection, mixed with its own structure (:data:`PLANTED_SIGNAL`; :data:`PLANTED_SIGNAL_INTERVAL` for the interval).

The interval is rsatoolbox's percentile interval of ``eval_bootstrap_pattern``, and it is conservative: a
resample weights each stimulus pair by ``c_u c_v`` (variance 3) where a new sample of stimuli weights it 1, so
the pairwise part of the comparison's variance is counted about three times (the bootstrap spread is ≈ 1.8×
the sampling spread on these null data) and under the null it excludes 0 in far fewer than 5 % of data sets.
Use the permutation p (calibrated) to decide whether a layer matches a region; read the interval as a
generous range of the score.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase

__all__ = ["CASES", "CONSERVATIVE_CASES"]

N_STIMULI = 24
N_CATEGORIES = 4
N_CHANNELS = 60
N_FACTORS = 6
N_SUBJECTS = 3
N_PERMUTATIONS = 199
N_BOOTSTRAP = 200
#: Median SD of each stimulus's unique noise and the spread (lognormal sigma) of that SD over stimuli.
UNIQUE_NOISE = 0.7
DISTINCTNESS_SPREAD = 1.0
#: Weight of the shared (planted) signal in the region's patterns, relative to its own structure: for the
#: permutation test, and larger for the (conservative) interval, which needs it for 80 % power.
PLANTED_SIGNAL = 0.35
PLANTED_SIGNAL_INTERVAL = 0.5


def _structured_patterns(rng: np.random.Generator, n_channels: int) -> np.ndarray:
    """(N_STIMULI, n_channels): category means + correlated item variation (decaying latent factors) + unique
    noise whose size varies over stimuli (lognormal), so some stimuli stand apart from all others."""
    categories = rng.permutation(np.arange(N_STIMULI) % N_CATEGORIES)
    means = rng.standard_normal((N_CATEGORIES, n_channels))[categories]
    factors = rng.standard_normal((N_STIMULI, N_FACTORS)) * 0.7 ** np.arange(N_FACTORS)
    items = factors @ rng.standard_normal((N_FACTORS, n_channels))
    distinct = UNIQUE_NOISE * rng.lognormal(0.0, DISTINCTNESS_SPREAD, size=(N_STIMULI, 1))
    return means + items + distinct * rng.standard_normal((N_STIMULI, n_channels))


def _rdms(rng: np.random.Generator, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """One layer RDM (n_pairs,) and a region's subject RDMs (N_SUBJECTS, n_pairs), correlation distance."""
    from core.rsa import compute_rdm

    features = _structured_patterns(rng, N_CHANNELS)
    region = _structured_patterns(rng, N_CHANNELS)
    if signal:
        shared = features @ rng.standard_normal((N_CHANNELS, N_CHANNELS))
        region = signal * shared / shared.std() + (1 - signal) * region / region.std()
    subjects = [region + 0.5 * region.std() * rng.standard_normal(region.shape) for _ in range(N_SUBJECTS)]
    return (compute_rdm(features).dissimilarities[0],
            np.concatenate([compute_rdm(s).dissimilarities for s in subjects]))


def _interval_excludes_zero(method: str, planted: bool, rng: np.random.Generator) -> float:
    from core.rdm_inference import bootstrap_evaluations, bootstrap_interval, draw_bootstrap_indices

    model, brain = _rdms(rng, PLANTED_SIGNAL_INTERVAL if planted else 0.0)
    indices = draw_bootstrap_indices(N_STIMULI, N_BOOTSTRAP, rng)
    low, high = bootstrap_interval(bootstrap_evaluations(model[None], brain, indices, method=method))
    return 0.0 if low[0] > 0 or high[0] < 0 else 1.0


def _permutation_p(method: str, planted: bool, rng: np.random.Generator) -> float:
    from core.rdm_inference import group_permutation_test

    model, brain = _rdms(rng, PLANTED_SIGNAL if planted else 0.0)
    return group_permutation_test(model, brain, method=method, n_permutations=N_PERMUTATIONS,
                                  random_state=int(rng.integers(2**63 - 1)))[1]


_NULL = (f"{N_STIMULI} stimuli; layer and region ({N_SUBJECTS} subjects) with independent category blocks "
         "and correlated channels")
def _effect(signal: float) -> str:
    return f"region = {signal:g} × projected layer features + {1 - signal:g} × its own structure"


def _permutation_case(method: str) -> CalibrationCase:
    return CalibrationCase(name=f"model–brain RSA ({method}), stimulus permutation of the subject mean",
                           null=functools.partial(_permutation_p, method, False),
                           planted=functools.partial(_permutation_p, method, True),
                           null_structure=_NULL, effect=_effect(PLANTED_SIGNAL))


def _interval_case(method: str) -> CalibrationCase:
    return CalibrationCase(name=f"model–brain RSA ({method}), bootstrap 95% interval over stimuli",
                           null=functools.partial(_interval_excludes_zero, method, False),
                           planted=functools.partial(_interval_excludes_zero, method, True),
                           null_structure=_NULL, effect=_effect(PLANTED_SIGNAL_INTERVAL))


#: The calibrated tests (the suite requires a false-positive rate of 5 %).
CASES = [_permutation_case("spearman"), _permutation_case("pearson")]
#: rsatoolbox's bootstrap interval: conservative (false-positive rate ≈ 0), so kept out of :data:`CASES`;
#: ``tests/calibration/test_model_brain_rsa.py`` checks it is never liberal and still powered.
CONSERVATIVE_CASES = [_interval_case("spearman"), _interval_case("pearson")]
