"""Calibration of the Reconstructions page's tests against chance (``core.reconstruction``).

- Pairwise identification (p against 0.5). Null: 20 test faces as smooth images (8 × 8 pixels,
  neighbouring pixels correlated, a mean face shared by all) and reconstructions drawn independently the
  same way, so they carry no information about which face they belong to. Planted: each reconstruction is
  its face plus independent smooth noise.
- Gender decoded from the brain-decoded latents (p against chance). Null: 80 training and 30 test codes of
  20 correlated dimensions, 70 % of one gender, no gender information in the codes. Planted: gender shifts
  the codes along one direction.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase

__all__ = ["CASES"]

N_FACES = 20
N_PERMUTATIONS = 199
#: Noise SD of the planted reconstructions, relative to a face's own variation.
PLANTED_NOISE = 3.0
N_TRAIN, N_TEST, LATENT_DIM = 80, 30, 20
MAJORITY = 0.7
N_GENDER_PERMUTATIONS = 199
#: Shift of the planted codes along one unit direction, per gender (codes have SD ~1 per dimension).
PLANTED_SHIFT = 1.2


def _smooth_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` 8 × 8 images: a shared mean face plus smooth variation (3 × 3 box blur of noise), (n, 8, 8)."""
    from scipy.ndimage import uniform_filter

    mean_face = np.outer(np.hanning(8), np.hanning(8))
    variation = uniform_filter(rng.standard_normal((n, 10, 10)), size=(1, 3, 3))[:, 1:-1, 1:-1]
    return 2 * mean_face + variation / variation.std()


def _p(planted: bool, rng: np.random.Generator) -> float:
    from core.reconstruction import pairwise_identification

    originals = _smooth_images(rng, N_FACES)
    if planted:
        reconstructions = originals + PLANTED_NOISE * (_smooth_images(rng, N_FACES) - _smooth_images(rng, 1))
    else:
        reconstructions = _smooth_images(rng, N_FACES)
    return pairwise_identification(reconstructions, originals, n_permutations=N_PERMUTATIONS,
                                   random_state=rng).p_value


def _gender_p(planted: bool, rng: np.random.Generator) -> float:
    from core.calibration._data import factor_features
    from core.reconstruction import gender_decoding

    n = N_TRAIN + N_TEST
    gender = np.where(rng.random(n) < MAJORITY, "m", "f")
    codes = factor_features(rng, n, LATENT_DIM)
    codes /= codes.std(axis=0)
    if planted:
        direction = rng.standard_normal(LATENT_DIM)
        codes += PLANTED_SHIFT * np.where(gender == "m", 0.5, -0.5)[:, None] * direction / np.linalg.norm(direction)
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, n)
    return gender_decoding(codes[train], gender[train], codes[test], gender[test],
                           n_permutations=N_GENDER_PERMUTATIONS, random_state=rng).p_value


CASES = [
    CalibrationCase(
        name="pairwise identification vs chance",
        null=functools.partial(_p, False), planted=functools.partial(_p, True),
        null_structure=f"{N_FACES} smooth faces with a shared mean; reconstructions independent",
        effect=f"reconstruction = its face + smooth noise (SD {PLANTED_NOISE:g})"),
    CalibrationCase(
        name="gender from decoded latents vs chance",
        null=functools.partial(_gender_p, False), planted=functools.partial(_gender_p, True),
        null_structure=f"{N_TRAIN}/{N_TEST} codes, {LATENT_DIM} correlated dims, {MAJORITY:.0%} majority",
        effect=f"gender shifts the codes by {PLANTED_SHIFT:g} SD along one direction"),
]
