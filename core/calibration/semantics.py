"""Calibration of the semantic–cortical correlation (RDM Clusters page, ``core.semantics.semantic_cortical_test``).

The page correlates the semantic similarity of the categories (WordNet, GloVe, MiniLM) with the correlation
of their centred cortical maps over the category pairs and tests r by permuting the categories of one
matrix. Null: 12 categories; maps are smooth fields on a 60-vertex patch of the mesh; the semantic
similarity is the cosine of word vectors with correlated dimensions, drawn independently. Planted: the maps
read the word vectors through a fixed smooth projection, plus smooth noise.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase
from core.calibration._data import factor_features, smooth_patch_fields

__all__ = ["CASES"]

N_CATEGORIES = 12
N_VERTICES = 60
N_PERMUTATIONS = 199
#: Noise SD of the planted maps, relative to the projected word vectors.
PLANTED_NOISE = 0.7


def _p(planted: bool, rng: np.random.Generator) -> float:
    from core.rsa import category_similarity
    from core.semantics import semantic_cortical_test

    vectors = factor_features(rng, N_CATEGORIES, 50)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    maps = smooth_patch_fields(rng, N_CATEGORIES, N_VERTICES)
    if planted:
        signal = vectors @ smooth_patch_fields(rng, vectors.shape[1], N_VERTICES)
        maps = signal / signal.std() + PLANTED_NOISE * maps
    return semantic_cortical_test(unit @ unit.T, category_similarity(maps, centre=True),
                                  n_permutations=N_PERMUTATIONS, random_state=rng).p_value


CASES = [CalibrationCase(
    name="semantic vs cortical similarity, category permutation",
    null=functools.partial(_p, False), planted=functools.partial(_p, True),
    null_structure=f"{N_CATEGORIES} smooth patch maps; cosine of correlated word vectors",
    effect=f"maps = smooth projection of the word vectors + noise (SD {PLANTED_NOISE:g})")]
