"""Per-area test accuracy of the default experiment's encoding models, over test images.

:func:`roi_accuracy`: each area's mean test r with a bootstrap interval over the test images (each image's term of
the area-mean r, ``ExperimentResult.roi_image_r``: vertices are not independent samples, images are).
:func:`roi_comparison`: two networks' experiments fitted to the same responses, compared per area by a sign-flip
test over test images (two-sided, Holm across areas) with a bootstrap interval of the difference
(``core.stats.compare_models_over_stimuli``). Both are seconds of work at the full library's test set, so the
dashboard runs them in its experiment job and stores them (:func:`core.workflows.store.save_result`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.errors import UserError

__all__ = ["ROI_RESAMPLES", "RoiAccuracy", "RoiComparison", "area_spread", "roi_accuracy", "roi_comparison"]

#: Resamples of the per-area intervals and sign-flip tests over test images.
ROI_RESAMPLES = 10_000


@dataclass(frozen=True)
class RoiAccuracy:
    """Mean test r per area (:func:`roi_accuracy`).

    ``roi_names`` (n_rois,); ``means``, ``ci_low``, ``ci_high`` (n_rois,): the area-mean test r and its 95 %
    bootstrap interval over test images; ``ceiling`` (n_rois,): the area's mean noise ceiling; ``n_test``.
    """

    roi_names: tuple
    means: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ceiling: np.ndarray
    n_test: int


@dataclass(frozen=True)
class RoiComparison:
    """Two experiments' per-area test r compared over the same test images (:func:`roi_comparison`).

    ``networks`` (a, b); ``roi_names`` (n_rois,); ``difference`` (n_rois,): mean over images of a − b, with its
    95 % bootstrap interval ``difference_low``/``difference_high``; ``p`` and ``p_holm`` (n_rois,): two-sided
    sign-flip p, Holm-adjusted across areas; ``n_test``.
    """

    networks: tuple
    roi_names: tuple
    difference: np.ndarray
    difference_low: np.ndarray
    difference_high: np.ndarray
    p: np.ndarray
    p_holm: np.ndarray
    n_test: int


def _image_r(result, names) -> np.ndarray:
    """(n_test, n_rois) per-image terms of the area-mean test r of the areas ``names``, float64."""
    rois = list(result.rois)
    missing = [name for name in names if name not in rois]
    if missing:
        raise UserError(f"The experiment has no test scores for the areas {missing}; run it again")
    return result.roi_image_r[:, [rois.index(name) for name in names]].astype(np.float64)


def roi_accuracy(result, rois: Mapping[str, np.ndarray], *, n_resamples: int = ROI_RESAMPLES,
                 random_state=0) -> RoiAccuracy:
    """Mean test r of each area in ``rois`` with a 95 % bootstrap interval over the test images.

    Parameters
    ----------
    result : core.experiments.ExperimentResult
    rois : mapping of str to ndarray of int
        Area name (one of ``result.rois``) → its grayordinates (for the area's mean noise ceiling).
    n_resamples : int
        Bootstrap samples of the test images.
    random_state : int, Generator or None

    Returns
    -------
    RoiAccuracy
    """
    from core.stats import bootstrap_mean_interval

    scores = _image_r(result, list(rois))
    low, high = bootstrap_mean_interval(scores, n_bootstraps=n_resamples, random_state=random_state)
    ceiling = np.array([float(result.maps["noise_ceiling"][idx].mean()) for idx in rois.values()])
    return RoiAccuracy(roi_names=tuple(rois), means=scores.mean(axis=0), ci_low=low, ci_high=high, ceiling=ceiling,
                       n_test=int(scores.shape[0]))


def roi_comparison(result_a, result_b, rois: Mapping[str, np.ndarray], *, n_resamples: int = ROI_RESAMPLES,
                   random_state=0) -> RoiComparison:
    """Per-area test r of two experiments (networks) on the same test responses, compared over test images.

    Each test image contributes one paired difference per area: its term of the area-mean r under ``result_a``
    minus that under ``result_b``. A sign-flip permutation test over images (two-sided, ``n_resamples``) gives
    p, Holm-adjusted across the areas; a bootstrap over images gives the 95 % interval of the difference.

    Parameters
    ----------
    result_a, result_b : core.experiments.ExperimentResult
        Fitted to the same test responses (``meta["test_responses"]``), else a ``UserError``.
    rois : mapping of str to ndarray of int
        As in :func:`roi_accuracy` (only the names are used).
    n_resamples : int
    random_state : int, Generator or None

    Returns
    -------
    RoiComparison
    """
    from core.stats import compare_models_over_stimuli

    if result_a.meta.get("test_responses") != result_b.meta.get("test_responses"):
        raise UserError("The two encoding models were not tested on the same responses; re-run both experiments")
    names = list(rois)
    test = compare_models_over_stimuli(_image_r(result_a, names), _image_r(result_b, names),
                                       n_permutations=n_resamples, n_bootstraps=n_resamples,
                                       random_state=random_state)
    return RoiComparison(networks=(result_a.meta["network"], result_b.meta["network"]), roi_names=tuple(names),
                         difference=test.difference, difference_low=test.ci_low, difference_high=test.ci_high,
                         p=test.p, p_holm=test.p_holm, n_test=int(test.n_stimuli))


def area_spread(values, areas: Mapping) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and spread of a vertex map over each area's finite values (NaN marks vertices left out).

    Parameters
    ----------
    values : ndarray of shape (n_vertices,)
        Summed in its own dtype (float32 maps give float32 sums).
    areas : mapping of area (any key, e.g. a name) to ndarray of int
        Area → its vertex indices.

    Returns
    -------
    kept : list
        The areas (keys) with at least one finite value, in ``areas`` order.
    means, sds : ndarray of shape (n_kept,), float64
        Mean and SD (ddof=1; 0 for one vertex: a spread, not an error of the mean, since neighbouring vertices
        are not independent).
    n_vertices : ndarray of shape (n_kept,), int
    """
    values = np.asarray(values)
    names, means, sds, counts = [], [], [], []
    for name, idx in areas.items():
        kept = values[np.asarray(idx)]
        kept = kept[np.isfinite(kept)]
        if kept.size:
            names.append(name)
            means.append(float(kept.mean()))
            sds.append(float(kept.std(ddof=1)) if kept.size > 1 else 0.0)
            counts.append(int(kept.size))
    return names, np.array(means, dtype=float), np.array(sds, dtype=float), np.array(counts, dtype=int)
