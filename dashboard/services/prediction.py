"""The Virtual fMRI page: model-quality maps, per-area scores and the model comparison, predicted maps of images."""

from __future__ import annotations

import numpy as np

from core import cortex
from core.cortex import CorticalMap
from core.errors import UserError
from dashboard.services.experiment import (
    ENCODING_NETWORK_NAMES,
    LAYER_MAPS,
    MASKED_QUALITY_MAPS,
    PREDICTED_Q_MAX,
    PREDICTED_R_MIN,
    QUALITY_MAPS,
    _driven_roi_vertices,
    _empty_rule_note,
    _require,
    predicted_rule,
    predicted_vertices,
)
from dashboard.services.uploads import UPLOAD_PREFIX, _upload_map

#: Space of the default subject and of every map its experiment predicts: the fsLR-32k grayordinates.
_SUBJECT_SPACE = "fsLR32k"

__all__ = [
    "ROI_RESAMPLES",
    "model_comparison",
    "normalized_accuracy_summary",
    "predicted_map",
    "quality_map",
    "roi_scores",
]


def quality_map(key: str, name: str, *, fdr: bool, q_max: float = PREDICTED_Q_MAX,
                r_min: float = PREDICTED_R_MIN) -> np.ndarray:
    """One model-quality map; with ``fdr``, vertices with q ≥ 0.05 are blanked (NaN). ``MASKED_QUALITY_MAPS``
    are also blanked off :func:`predicted_vertices` (``q_max``, ``r_min``); the normalised accuracy is
    NaN where the noise ceiling is not reliable and is never clipped."""
    if name not in QUALITY_MAPS:
        raise ValueError(f"Unknown map={name!r}; choose from {sorted(QUALITY_MAPS)}")
    result = _require(key)
    values = result.maps[name].astype(np.float32)
    if name in LAYER_MAPS:
        values = values + 1  # layers numbered 1..18 as in the paper
    if name in MASKED_QUALITY_MAPS:
        values = np.where(predicted_vertices(key, q_max=q_max, r_min=r_min), values, np.nan)
    if fdr:
        values = np.where(result.maps["q"] < 0.05, values, np.nan)
    return values


def normalized_accuracy_summary(key: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> str:
    """One sentence on the normalised-accuracy map: how many vertices it shows and how many exceed 1."""
    result = _require(key)
    predicted = predicted_vertices(key, q_max=q_max, r_min=r_min)
    reliable = np.isfinite(result.maps["normalized_accuracy"])  # NaN where the ceiling is not reliable
    values = result.maps["normalized_accuracy"][predicted & reliable]
    above = int((values > 1).sum())
    text = (f"Normalised accuracy on {values.size:,} vertices: predicted ({predicted_rule(q_max, r_min)}; "
            f"{int(predicted.sum()):,}) and with a reliable noise ceiling (repeat-reliability FDR q < "
            f"{result.meta['ceiling_q_level']:g}; {int(reliable.sum()):,}).")
    if above:
        text += (f" {above:,} exceed 1 (r above the estimated ceiling, itself an estimate): shown as they are, "
                 "not clipped.")
    if not predicted.any():
        text += _empty_rule_note(key, q_max)
    return text


#: Resamples of the per-ROI intervals and sign-flip tests over test images.
ROI_RESAMPLES = 10_000


def _roi_image_r(result) -> np.ndarray:
    """(n_test, n_rois) per-image terms of the ROI-mean test r for the driven areas (``_driven_roi_vertices``)."""
    rois = list(result.rois)
    return result.roi_image_r[:, [rois.index(name) for name in _driven_roi_vertices()]].astype(np.float64)


def roi_scores(key: str) -> dict:
    """Mean test r over the vertices of each driven Glasser area (both hemispheres pooled), with a 95 %
    bootstrap interval over the test images (each image's term of the area-mean r; vertices are not
    independent samples, images are).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``means``, ``ci_low``, ``ci_high`` and ``ceiling`` (n_rois,), and
    ``n_test``.
    """
    from core.stats import bootstrap_mean_interval

    result = _require(key)
    rois = _driven_roi_vertices()
    streams = {roi.name: roi.stream for roi in cortex.roi_table()}
    scores = _roi_image_r(result)
    low, high = bootstrap_mean_interval(scores, n_bootstraps=ROI_RESAMPLES, random_state=0)
    return {"roi_names": list(rois), "streams": [streams.get(n, "other") for n in rois],
            "means": scores.mean(axis=0), "ci_low": low, "ci_high": high, "n_test": int(scores.shape[0]),
            "ceiling": np.array([float(result.maps["noise_ceiling"][idx].mean()) for idx in rois.values()])}


def model_comparison(key_a: str, key_b: str) -> dict:
    """Per-ROI test r of two encoding models fitted to the same responses, compared over the test images.

    Each test image contributes one paired difference per area: its term of the area-mean r under model A
    minus that under model B (``core.encoding.roi_image_r``). A sign-flip permutation test over images
    (two-sided, ``ROI_RESAMPLES``) gives p, Holm-adjusted across the areas; a bootstrap over images gives
    the 95 % interval of the difference (``core.stats.compare_models_over_stimuli``).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``models`` (two display names), ``means``, ``ci_low`` and
    ``ci_high`` (2, n_rois): each model's area-mean r and interval, ``ceiling`` (n_rois,), ``difference``,
    ``difference_low``, ``difference_high``, ``p`` and ``p_holm`` (n_rois,), and ``n_test``.
    """
    from core.stats import compare_models_over_stimuli

    results = [_require(k) for k in (key_a, key_b)]
    if results[0].meta.get("test_responses") != results[1].meta.get("test_responses"):
        raise UserError("The two encoding models were not tested on the same responses; re-run both experiments")
    a, b = roi_scores(key_a), roi_scores(key_b)
    test = compare_models_over_stimuli(*(_roi_image_r(r) for r in results), n_permutations=ROI_RESAMPLES,
                                       n_bootstraps=ROI_RESAMPLES, random_state=0)
    return {"roi_names": a["roi_names"], "streams": a["streams"],
            "models": [ENCODING_NETWORK_NAMES[r.meta["network"]] for r in results],
            "means": np.stack([a["means"], b["means"]]), "ci_low": np.stack([a["ci_low"], b["ci_low"]]),
            "ci_high": np.stack([a["ci_high"], b["ci_high"]]), "ceiling": a["ceiling"],
            "difference": test.difference, "difference_low": test.ci_low, "difference_high": test.ci_high,
            "p": test.p, "p_holm": test.p_holm, "n_test": test.n_stimuli}


def predicted_map(key: str, stimulus_id: str) -> CorticalMap:
    """Predicted cortical map (fsLR-32k, arbitrary units) of a library image (its id) or an uploaded one (its
    :func:`save_upload` value), named by ``stimulus_id``.

    Library maps were computed by the experiment; an upload's map is computed by the warm predictor
    worker (:func:`start_predictor`) and cached.
    """
    from core.experiments import predicted_maps

    if stimulus_id.startswith(UPLOAD_PREFIX):
        values = _upload_map(key, stimulus_id)
    else:
        result = _require(key)
        if stimulus_id not in result.stimulus_ids:
            raise ValueError(f"Unknown image {stimulus_id!r} for this experiment")
        values = predicted_maps(key)[result.stimulus_ids.index(stimulus_id)]
    return CorticalMap(values, _SUBJECT_SPACE, stimulus_id, "a.u.")
