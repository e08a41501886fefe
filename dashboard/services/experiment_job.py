"""The default experiment as a background job: the experiment itself, then the per-area scores its page reads.

Apart from ``experiment.py`` so that the job's last step (per-area accuracy and the model comparison,
``core.workflows.roi_scores``) can read the experiment's services without an import cycle.
"""

from __future__ import annotations

import os

import numpy as np

from core.errors import UserError
from core.runtime import span
from dashboard.services.experiment import (
    COMPARISON_NETWORK,
    _driven_roi_vertices,
    _experiment_feature_sets,
    _require,
    default_experiment_key,
    experiment_result,
    experiment_settings,
    shard_library_features,
)

__all__ = ["run_experiment", "store_roi_scores"]


def run_experiment(progress=None, network: str = "resnet50") -> str:
    """Run (or load) the default experiment with encoding ``network``; for background jobs. Returns its key.

    With ``REDIS_URL`` set, the library features are first computed chunk by chunk on all the Celery
    workers (:func:`shard_library_features`); the experiment then reads them from the shared cache.
    """
    from core.experiments import DEFAULT_REDUCTION, run_default_experiment

    if os.environ.get("REDIS_URL") and experiment_result(default_experiment_key(network)) is None:
        shard_library_features(_experiment_feature_sets(network), reduction=DEFAULT_REDUCTION,
                               progress=None if progress is None else (
            lambda done, total: progress(done, 2 * total, f"features on the Celery workers: chunk {done}/{total}")))
        progress = span(progress, 0.5, 1.0)  # the experiment's own bar fills the second half

    run_default_experiment(network=network, **experiment_settings(), progress=progress)
    store_roi_scores()
    return default_experiment_key(network)


def _scores_path(key: str, other: str | None = None):
    """Where experiment ``key``'s per-area accuracy (or its comparison with experiment ``other``) is stored: in
    its folder, named by a digest of what the scores read, so a result written again is never read stale."""
    import hashlib

    from core.experiments import experiment_dir

    def digest(k: str) -> str:
        result = _require(k)
        parts = (result.roi_image_r, result.maps["noise_ceiling"], str((result.rois, tuple(_driven_roi_vertices()),
                                                                        result.meta.get("network"),
                                                                        result.meta.get("test_responses"))))
        return hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() if isinstance(p, np.ndarray)
                                       else p.encode() for p in parts)).hexdigest()[:12]

    name = f"roi-comparison-{digest(key)}-{digest(other)}" if other else f"roi-accuracy-{digest(key)}"
    return experiment_dir(key) / f"{name}-v1"


def _stored(path, compute, cls):
    """The result stored at ``path``, else ``compute()`` stored there first."""
    from core.workflows.store import is_stored, load_result, save_result

    if not is_stored(path):
        save_result(compute(), path)
    return load_result(path, cls)


def _roi_accuracy(key: str):
    from core.workflows.roi_scores import RoiAccuracy, roi_accuracy

    return _stored(_scores_path(key), lambda: roi_accuracy(_require(key), _driven_roi_vertices()), RoiAccuracy)


def _roi_comparison(key_a: str, key_b: str):
    from core.workflows.roi_scores import RoiComparison, roi_comparison

    return _stored(_scores_path(key_a, key_b),
                   lambda: roi_comparison(_require(key_a), _require(key_b), _driven_roi_vertices()), RoiComparison)


def store_roi_scores() -> None:
    """Job step after an experiment (``run_experiment``): the per-area accuracy of each of the page's two
    experiments that exists, and their comparison once both do, so the page's requests only read them."""
    keys = [default_experiment_key(), default_experiment_key(COMPARISON_NETWORK)]
    finished = [key for key in keys if experiment_result(key) is not None]
    for key in finished:
        _roi_accuracy(key)
    if len(finished) == 2:
        try:
            _roi_comparison(*keys)
        except UserError:  # not tested on the same responses: the page says so when it reads the comparison
            pass
