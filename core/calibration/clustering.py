"""Calibration of the clustering significance (RDM Clusters page, ``core.clustering.clustering_significance``).

The page clusters the centred category maps by k-means for k = 2..10 and keeps the k with the largest
signed modularity Q; the test re-runs that whole selection on spun maps. Null: 8 independent category maps,
smooth on the cortex, tested with the sphere's spin null as the CLI does: on fsaverage5 (20,484 vertices, no
medial wall) and on the page's fsLR-32k grayordinates (59,412, where the rotated medial wall is filled from
its nearest cortical vertices). Planted: three groups (3 + 3 + 2 categories) share a smooth group map, plus
each category's own.

A study's category maps are known on its predicted vertices only (``core.studies.categories``): the partial
spin test is calibrated on the same smooth maps on fsaverage5, known only on a posterior cap of the sphere
(about a quarter of the vertices, as visual cortex is), NaN elsewhere.
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
#: Neighbour-averaging steps of the fsLR-32k maps (vertices ~2 mm apart: about as smooth as fsaverage5's 20).
FSLR_SMOOTHING = 40


def _smooth_maps(space: str, rng: np.random.Generator, n_maps: int) -> np.ndarray:
    from core.cortex import N_VERTICES, smooth_on_surface

    if space == "fsaverage5":
        return smooth_sphere_maps(rng, n_maps)
    noise = rng.standard_normal((n_maps, N_VERTICES[space])).astype(np.float32)
    return smooth_on_surface(noise, n_iter=FSLR_SMOOTHING).astype(np.float64)


def _p(space: str, planted: bool, rng: np.random.Generator) -> float:
    from core.clustering import SpinNull, clustering_significance

    maps = _smooth_maps(space, rng, N_CATEGORIES)
    if planted:
        maps += PLANTED_GROUP_SD * _smooth_maps(space, rng, 3)[GROUPS]
    return clustering_significance(maps, k_range=range(2, N_CATEGORIES), n_permutations=N_PERMUTATIONS,
                                   null=SpinNull(space, n_rotations=N_ROTATIONS), random_state=rng).p_value


CASES = [CalibrationCase(
    name=f"clustering: best Q of k-means over k, spin test{'' if space == 'fsaverage5' else ' (fsLR-32k)'}",
    null=functools.partial(_p, space, False), planted=functools.partial(_p, space, True),
    null_structure=f"{N_CATEGORIES} independent smooth maps on the {space} sphere",
    effect=f"3 groups share a smooth map (SD {PLANTED_GROUP_SD:g} × each map's own)")
    for space in ("fsaverage5", "fsLR32k")]


#: The known part of the partial spin test: fsaverage5 sphere vertices with y below this (mm; posterior cap).
PARTIAL_CAP_Y = -45.0


@functools.cache
def _posterior_cap() -> np.ndarray:
    from core import cortex

    sphere = cortex.load_fsaverage5("sphere")
    return np.concatenate([h.vertices[h.vertex_index][:, 1] < PARTIAL_CAP_Y for h in (sphere.left, sphere.right)])


def _partial_p(planted: bool, rng: np.random.Generator) -> float:
    from core.studies.categories import partial_spin_significance

    maps = _smooth_maps("fsaverage5", rng, N_CATEGORIES)
    if planted:
        maps += PLANTED_GROUP_SD * _smooth_maps("fsaverage5", rng, 3)[GROUPS]
    maps[:, ~_posterior_cap()] = np.nan
    return partial_spin_significance(maps, "fsaverage5", k_range=range(2, N_CATEGORIES),
                                     n_permutations=N_PERMUTATIONS, n_rotations=N_ROTATIONS).p_value


CASES.append(CalibrationCase(
    name="clustering: spin test of maps known on part of the sphere (a study's predicted vertices)",
    null=functools.partial(_partial_p, False), planted=functools.partial(_partial_p, True),
    null_structure=f"{N_CATEGORIES} independent smooth maps on the fsaverage5 sphere, known on a posterior cap only",
    effect=f"3 groups share a smooth map (SD {PLANTED_GROUP_SD:g} × each map's own)"))
