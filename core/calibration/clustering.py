"""Calibration of the clustering significance (RDM Clusters page, ``core.clustering.clustering_significance``).

The page clusters the centred category maps by k-means for k = 2..10 and keeps the k with the largest
signed modularity Q; the test re-runs that whole selection on spun maps. Null: 8 independent category maps,
smooth on the whole fsaverage5 cortex (20,484 vertices), tested with the fsaverage5 spin null as the CLI
does. Planted: three groups (3 + 3 + 2 categories) share a smooth group map, plus each category's own.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase
from core.calibration._data import smooth_sphere_maps

__all__ = ["CASES"]

N_CATEGORIES = 8
N_PERMUTATIONS = 99
#: Rotations in the spin null's pool (the page uses 300; 100 keep the pool quick to build here).
N_ROTATIONS = 100
#: Amplitude of the shared group maps relative to each category's own map.
PLANTED_GROUP_SD = 1.0
GROUPS = np.array([0, 0, 0, 1, 1, 1, 2, 2])


def _p(planted: bool, rng: np.random.Generator) -> float:
    from core.clustering import SpinNull, clustering_significance

    maps = smooth_sphere_maps(rng, N_CATEGORIES)
    if planted:
        maps += PLANTED_GROUP_SD * smooth_sphere_maps(rng, 3)[GROUPS]
    return clustering_significance(maps, k_range=range(2, N_CATEGORIES), n_permutations=N_PERMUTATIONS,
                                   null=SpinNull("fsaverage5", n_rotations=N_ROTATIONS),
                                   random_state=rng).p_value


CASES = [CalibrationCase(
    name="clustering: best Q of k-means over k, spin test",
    null=functools.partial(_p, False), planted=functools.partial(_p, True),
    null_structure=f"{N_CATEGORIES} independent smooth maps on the fsaverage5 sphere",
    effect=f"3 groups share a smooth map (SD {PLANTED_GROUP_SD:g} × each map's own)")]
