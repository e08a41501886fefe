"""A study's regions of interest: its own ROI masks when it has some, else Glasser's areas on fsLR-32k.

:func:`study_roi_sets` gives ROI class → region → study-vertex indices, the sets every ROI chart and ROI
analysis of a study uses; :func:`study_roi_source` says, in words for the pages, which atlas that is (or why
there is none).

- **The study's own classes** (Algonauts 2023 ``roi_masks`` classes such as ``floc-faces``, a folder study's
  ``rois/<class>.npy``): one set per class. Where a class labels vertices in both hemispheres its regions are
  kept apart per hemisphere and named ``"L FFA-1"`` / ``"R FFA-1"``; a class confined to one hemisphere keeps
  the plain region names.
- **Else** (no masks, or masks that label no vertex), **on fsLR-32k**: :data:`GLASSER` (Glasser et al. 2016, HCP-MMP 1.0; ``core.cortex.roi_table``), its 360
  areas named ``"L V1"`` … ``"R V1"``. A study's fsLR-32k vertices are the space's data vertices, left then
  right, which are exactly the 59,412 HCP cortical grayordinates in their order.
- **Else** (fsaverage5 / fsaverage without masks) no sets: no Glasser atlas on fsaverage ships with the
  studio's installed packages, and projecting fsLR-32k labels onto fsaverage needs the HCP registration
  spheres, which are not at hand offline.

Regions without a study vertex are left out.
"""

from __future__ import annotations

import numpy as np

from core.studies.study import SPACES, Study

__all__ = ["GLASSER", "NO_ROIS", "study_roi_sets", "study_roi_source"]

#: Name of the ROI class of Glasser's areas.
GLASSER = "Glasser 2016"

#: Why a study without masks off fsLR-32k has no ROI sets, and how to give it some.
NO_ROIS = ("no ROI masks: this study has none, and Glasser's areas are only available on fsLR-32k. Import the "
           "study with masks (an Algonauts 2023 folder's roi_masks/, or rois/<class>.npy in a study folder: one "
           "value per response column, region ids named by rois/<class>.tsv) to get ROI charts")


def _positions(vertices, within: np.ndarray) -> np.ndarray:
    """Sorted study-vertex indices (int64) of the space vertices ``vertices`` that the study has."""
    position = within[np.asarray(vertices, dtype=np.int64)]
    return np.sort(position[position >= 0]).astype(np.int64)


def _own_classes(study: Study) -> dict[str, dict[str, np.ndarray]]:
    hemispheres = study.hemispheres
    sets = {}
    for roi_class in study.roi_classes.values():
        labelled = roi_class.labels != 0
        sides = [h for h in ("L", "R") if (labelled & (hemispheres == h)).any()]
        regions = {}
        for region_id, name in sorted(roi_class.names.items()):
            members = roi_class.labels == region_id
            for side in sides:
                where = np.flatnonzero(members & (hemispheres == side)) if len(sides) == 2 else np.flatnonzero(members)
                if len(where):
                    regions[f"{side} {name}" if len(sides) == 2 else name] = where.astype(np.int64)
        if regions:
            sets[roi_class.name] = regions
    return sets


def _glasser(study: Study) -> dict[str, np.ndarray]:
    from core.cortex import roi_table

    within = np.full(sum(SPACES["fsLR32k"]), -1, np.int64)
    within[study.vertices] = np.arange(study.n_vertices)
    regions = {}
    for roi in roi_table():
        where = _positions(roi.grayordinates, within)
        if len(where):
            regions[f"{roi.hemisphere} {roi.name}"] = where
    return regions


def study_roi_sets(study: Study) -> dict[str, dict[str, np.ndarray]]:
    """The ROI sets of a study (see the module docstring for which).

    Parameters
    ----------
    study : Study

    Returns
    -------
    dict of str to dict of str to ndarray of int64
        ROI class (e.g. ``"floc-faces"``, or :data:`GLASSER`) → region name (``"L FFA-1"``, ``"R V1"``) → sorted
        indices of the study's vertices (columns of ``study.responses``) in that region; regions in class order
        (by region id, left before right). Empty when the study's masks label no vertex (or it has none) and it
        is not on fsLR-32k (:func:`study_roi_source` says why).
    """
    own = _own_classes(study)
    if own:
        return own
    if study.space == "fsLR32k":
        glasser = _glasser(study)
        return {GLASSER: glasser} if glasser else {}
    return {}


def study_roi_source(study: Study) -> str:
    """Which atlas :func:`study_roi_sets` uses, in words for the pages.

    ``"the study's own masks: floc-faces, prf-visualrois"``, ``"Glasser 2016 areas (HCP-MMP 1.0 on fsLR-32k)"``,
    or :data:`NO_ROIS` (why there are none and how to import masks).
    """
    own = _own_classes(study)
    if own:
        return "the study's own masks: " + ", ".join(own)
    if study.space == "fsLR32k":
        return f"{GLASSER} areas (HCP-MMP 1.0 on fsLR-32k)"
    return NO_ROIS
