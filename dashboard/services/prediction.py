"""The Virtual fMRI page: model-quality maps, per-area scores and the model comparison, predicted maps of images."""

from __future__ import annotations

import numpy as np

from core import cortex
from core.cortex import CorticalMap
from core.workflows.roi_scores import ROI_RESAMPLES
from dashboard.services.experiment import (
    ENCODING_NETWORK_NAMES,
    LAYER_MAPS,
    MASKED_QUALITY_MAPS,
    PREDICTED_Q_MAX,
    PREDICTED_R_MIN,
    QUALITY_MAPS,
    _empty_rule_note,
    _require,
    predicted_rule,
    predicted_vertices,
)
from dashboard.services.experiment_job import _roi_accuracy, _roi_comparison
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


def roi_scores(key: str) -> dict:
    """Mean test r over the vertices of each driven Glasser area (both hemispheres pooled), with a 95 %
    bootstrap interval over the test images (``core.workflows.roi_scores.roi_accuracy``; stored by the job).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``means``, ``ci_low``, ``ci_high`` and ``ceiling`` (n_rois,), and
    ``n_test``.
    """
    accuracy = _roi_accuracy(key)
    streams = {roi.name: roi.stream for roi in cortex.roi_table()}
    return {"roi_names": list(accuracy.roi_names), "streams": [streams.get(n, "other") for n in accuracy.roi_names],
            "means": accuracy.means, "ci_low": accuracy.ci_low, "ci_high": accuracy.ci_high,
            "n_test": accuracy.n_test, "ceiling": accuracy.ceiling}


def model_comparison(key_a: str, key_b: str) -> dict:
    """Per-ROI test r of two encoding models fitted to the same responses, compared over the test images
    (``core.workflows.roi_scores.roi_comparison``: sign-flip test, Holm across areas; stored by the job).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``models`` (two display names), ``means``, ``ci_low`` and
    ``ci_high`` (2, n_rois): each model's area-mean r and interval, ``ceiling`` (n_rois,), ``difference``,
    ``difference_low``, ``difference_high``, ``p`` and ``p_holm`` (n_rois,), and ``n_test``.
    """
    test = _roi_comparison(key_a, key_b)
    a, b = roi_scores(key_a), roi_scores(key_b)
    return {"roi_names": a["roi_names"], "streams": a["streams"],
            "models": [ENCODING_NETWORK_NAMES[network] for network in test.networks],
            "means": np.stack([a["means"], b["means"]]), "ci_low": np.stack([a["ci_low"], b["ci_low"]]),
            "ci_high": np.stack([a["ci_high"], b["ci_high"]]), "ceiling": a["ceiling"],
            "difference": test.difference, "difference_low": test.difference_low,
            "difference_high": test.difference_high, "p": test.p, "p_holm": test.p_holm, "n_test": test.n_test}


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
