"""Feature visualisation of the default experiment: images that maximise a cluster's or an area's predicted response."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError

__all__ = [
    "VISUALISATION_SETTINGS",
    "FeatureVisualisationRun",
    "area_vertices",
    "run_feature_visualisation",
    "target_vertex_weights",
]

#: Settings of the feature visualisations (ResNet-50 at this size, Gaussian-noise starts).
VISUALISATION_SETTINGS = {"n_starts": 4, "image_size": 128}
#: Allowed optimisation steps.
VISUALISATION_STEPS = (10, 1000)


@dataclass(frozen=True)
class FeatureVisualisationRun:
    """``images``: (n_starts, size, size, 3) uint8; ``objective``: (n_steps + 1, n_starts) predicted response of
    the target per step and start; ``target``: ``"cluster:<k>"`` or ``"roi:<area>"``."""

    target: str
    n_steps: int
    images: np.ndarray
    objective: np.ndarray


def area_vertices(name: str) -> np.ndarray | None:
    """Grayordinates of Glasser area ``name`` in both hemispheres (fsLR-32k), or None for an unknown area."""
    from core.subject import fslr_roi_vertices

    roi_vertices = fslr_roi_vertices()
    parts = [roi_vertices[(name, h)] for h in ("L", "R") if (name, h) in roi_vertices]
    return np.concatenate(parts) if parts else None


def target_vertex_weights(result, target: str) -> np.ndarray:
    """(n_vertices,) weights of a visualisation target of experiment ``result``: a cluster's average category
    map centred over categories, on the predictable vertices, scaled to unit L1 (``"cluster:<k>"``); or
    1/n on each vertex of a Glasser area (``"roi:<area>"``)."""
    from core.workflows.clusters import category_clustering, predictable_mask

    kind, _, name = target.partition(":")
    if kind == "cluster":
        clustering = category_clustering(result)
        if not name.isdigit() or int(name) >= clustering.best_k:
            raise UserError(f"Unknown cluster {name!r}; clusters are 0..{clustering.best_k - 1}")
        mask, _ = predictable_mask(result)
        members = np.flatnonzero(clustering.cluster_labels == int(name))
        centred = result.category_maps[members].mean(axis=0) - result.category_maps.mean(axis=0)
        weights = np.where(mask, centred, 0.0)
        return weights / np.abs(weights).sum()
    idx = area_vertices(name) if kind == "roi" else None
    if idx is None:
        raise UserError(f"Unknown target={target!r}; use 'cluster:<k>' or 'roi:<area driven in the subject>'")
    weights = np.zeros(result.category_maps.shape[1])
    weights[idx] = 1.0 / idx.size
    return weights


def run_feature_visualisation(key: str, target: str, n_steps: int, *, n_starts: int | None = None,
                              image_size: int | None = None, progress=None) -> FeatureVisualisationRun:
    """Activation maximisation of a target's predicted response under experiment ``key``'s encoding model.

    The objective is the target's weighted predicted response (:func:`target_vertex_weights`) through the
    experiment's network and encoding model (``core.visualisation``), from ``n_starts`` Gaussian-noise images
    of ``image_size`` pixels (defaults: ``VISUALISATION_SETTINGS``). ``progress(fraction, message)``.
    """
    from core.activation_maximisation import encoding_objective_weights, maximise_activation
    from core.features import reduction_options
    from core.models import build_model
    from core.workflows.clusters import experiment_inputs

    if not VISUALISATION_STEPS[0] <= int(n_steps) <= VISUALISATION_STEPS[1]:
        raise UserError(f"Steps must be a whole number from {VISUALISATION_STEPS[0]} to {VISUALISATION_STEPS[1]} "
                        f"(got {n_steps})")
    result, model = experiment_inputs(key)
    weights = target_vertex_weights(result, target)
    layer_weights, offset = encoding_objective_weights(model, weights)
    settings = {"n_starts": n_starts or VISUALISATION_SETTINGS["n_starts"],
                "image_size": image_size or VISUALISATION_SETTINGS["image_size"]}
    run = maximise_activation(
        build_model(model.meta_.get("model", "resnet50")), layer_weights, n_steps=int(n_steps), random_state=0,
        **settings, objective_offset=offset, reduction=reduction_options(model.meta_), progress=progress)
    return FeatureVisualisationRun(target=target, n_steps=int(n_steps),
                                   images=(run.images * 255).round().astype(np.uint8),
                                   objective=run.objective + offset)
