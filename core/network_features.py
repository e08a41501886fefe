"""Features of a zoo network through the shared feature cache: the one recipe of build, digest and cache.

The cache key of a network's features is ``"<network>:<sha256 of its weights>"`` (``core.features.model_digest``),
so features computed by any part of the project (the default experiment, model–brain RSA, the dashboard, the
Celery workers) are found again by every other part.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.features import FeatureCache, Features, extract_features, model_digest
from core.runtime import Progress, cache_folder

__all__ = ["feature_cache", "network_features", "zoo_network"]


def zoo_network(network: str, *, device: str = "cpu"):
    """``(model, digest)``: the zoo network ``network`` (``core.models.build_model``) and its weights' sha256."""
    from core.models import build_model

    model = build_model(network, device=device)
    return model, model_digest(model)


def feature_cache() -> FeatureCache:
    """The shared feature cache (``cache_folder("features")``)."""
    return FeatureCache(cache_folder("features"))


def network_features(stimuli, network: str, layers: str | Sequence[str], *, reduction: str = "mean",
                     device: str = "cpu", progress: Progress | None = None, model=None,
                     digest: str | None = None) -> Features:
    """Features of ``stimuli`` for zoo network ``network`` through :func:`feature_cache`.

    Parameters
    ----------
    stimuli : StimulusSet or ndarray of shape (n, h, w, 3)
    network : str
        Key of ``core.models.MODEL_REGISTRY``.
    layers : str or sequence of str
        As ``core.features.extract_features`` takes them.
    reduction, device, progress
        As ``core.features.extract_features`` takes them.
    model, digest : optional
        The network already built by :func:`zoo_network` (both or neither), to build it only once.

    Returns
    -------
    Features
    """
    if model is None:
        model, digest = zoo_network(network, device=device)
    return extract_features(model, stimuli, layers=layers, reduction=reduction, device=device, cache=feature_cache(),
                            model_key=f"{network}:{digest}", progress=progress)
