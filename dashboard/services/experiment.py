"""The default experiment: its settings and key, the job that runs it, its stored result and the predicted-vertex rule."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from core import subject
from core.errors import UserError
from core.models import RESNET50_WEN18
from core.workflows.store import READ_LOCK as _experiment_lock

__all__ = [
    "COMPARISON_NETWORK",
    "ENCODING_NETWORK_NAMES",
    "LAYER_MAPS",
    "MASKED_QUALITY_MAPS",
    "PREDICTED_Q_MAX",
    "PREDICTED_R_MIN",
    "QUALITY_MAPS",
    "default_experiment_key",
    "experiment_result",
    "experiment_settings",
    "N_MAP_LAYERS",
    "is_layer_map",
    "library_choices",
    "predicted_mask",
    "predicted_rule",
    "predicted_vertices",
    "shard_library_features",
    "subject_spec_summary",
]


@functools.cache
def _default_subject():
    return subject.load_default_subject()


def subject_spec_summary() -> str:
    """The default simulated subject's declared ground truth, as text."""
    return _default_subject().spec.summary()


def simulation_notes() -> list[str]:
    """What is true by construction in the default simulated subject (``core.subject.construction_notes``),
    one sentence each, for every page its data feed."""
    return subject.construction_notes(_default_subject().spec)


#: Maps of the default experiment shown on the Virtual fMRI page: name → (label, colour-bar units).
QUALITY_MAPS = {
    "r": ("Test r (mean over sessions)", "r"),
    "noise_ceiling": ("Noise ceiling (Monte-Carlo estimate)", "r"),
    "normalized_accuracy": ("Ceiling-normalised accuracy (reliable ceiling, predicted vertices; not clipped)",
                            "r / ceiling"),
    "best_layer": ("Best ResNet-50 layer (paper: other layers zeroed in the joint model)", "layer"),
    "best_layer_refit": ("Best ResNet-50 layer (one model refitted per layer, on vertices predicted in "
                         "cross-validation on the training images, q < 0.05; scored on the test images)", "layer"),
    "cv_r": ("Cross-validated r on the training images (nested CV; chooses the refit vertices)", "r"),
    "true_ceiling": ("True noise ceiling (known from the simulation)", "r"),
    "r2": ("Test R²", "R²"),
}


#: Quality maps whose values are ResNet-50 layer indices (shown 1-based, one colour band per layer).
LAYER_MAPS = ("best_layer", "best_layer_refit")


#: Layers a layer-number map can name: the paper's 18 ResNet-50 layers.
N_MAP_LAYERS = len(RESNET50_WEN18)


def is_layer_map(choice: str) -> bool:
    """Whether a map's values are ResNet-50 layer numbers 1..``N_MAP_LAYERS`` (one colour band per layer).

    ``choice`` is a quality-map name (``LAYER_MAPS``) or a Cortical Maps choice (``"home_layer"``,
    ``"quality:best_layer"``...).
    """
    return choice.removeprefix("quality:") in LAYER_MAPS or choice == "home_layer"


def experiment_settings() -> dict:
    """Settings of the default experiment; ``VFS_EXPERIMENT_MAX_IMAGES`` limits the library and
    ``VFS_EXPERIMENT_N_PERMUTATIONS`` the permutation test (tests, slow laptops)."""
    max_images = os.environ.get("VFS_EXPERIMENT_MAX_IMAGES")
    n_permutations = int(os.environ.get("VFS_EXPERIMENT_N_PERMUTATIONS", "1000"))
    return dict(n_repeats=10, test_fraction=0.2, n_folds=9, n_permutations=n_permutations,
                max_images=int(max_images) if max_images else None, random_state=0)


#: Networks the Virtual fMRI page fits encoding models on (keys of ``core.experiments.ENCODING_NETWORKS``).
ENCODING_NETWORK_NAMES = {"resnet50": "ResNet-50", "efficientnet_lite0": "EfficientNet-Lite0"}


#: The second model of the page's model comparison.
COMPARISON_NETWORK = "efficientnet_lite0"


def default_experiment_key(network: str = "resnet50") -> str:
    """Cache key of the page's default experiment (the current :func:`experiment_settings`) with encoding
    ``network``; ``core.experiments.experiment_key`` takes every setting."""
    from core.experiments import experiment_key as key

    return key(network=network, **experiment_settings())


def _experiment_feature_sets(network: str) -> list[tuple[str, list | str, tuple]]:
    """(network, layers, library image ids) of each feature extraction of the default experiment."""
    from core.experiments import experiment_feature_sets

    library, feature_sets = experiment_feature_sets(network=network, max_images=experiment_settings()["max_images"])
    return [(net, layers, library.ids) for net, layers in feature_sets]


def shard_library_features(feature_sets, *, reduction: str = "mean", progress=None,
                           study: str | None = None) -> list[dict]:
    """Compute features (``reduction``, with ``extract_features``' default options) of library images, or of the
    images of ``study`` (a study of the store), on the Celery workers of ``REDIS_URL`` and in this process, one
    task per feature-cache chunk (``dashboard.sharding``), into the shared cache, so that ``extract_features``
    on the same images then only reads them.

    ``feature_sets``: ``(network, layers, image ids)`` triples (with ``study``: all its stimuli, in order);
    ``progress(chunks done, total)``. Returns one report per chunk: ``{"chunk", "hostname", "seconds", "n_images"}``.
    """
    from dashboard.jobs import make_celery_app
    from dashboard.sharding import chunk_jobs, run_sharded

    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        raise ValueError("Sharded feature extraction needs REDIS_URL, the Redis of the Celery workers")
    jobs = [job for network, layers, ids in feature_sets
            for job in chunk_jobs(network, layers, ids, reduction=reduction, study=study)]
    return run_sharded(make_celery_app(redis_url), jobs, progress=progress)


def experiment_result(key: str):
    """The finished experiment ``key`` (``core.experiments.ExperimentResult``), or None."""
    from core.experiments import experiment_dir

    # the result's JSON is written last (atomically), so its presence marks a complete result
    if not (experiment_dir(key) / "result.json").is_file():
        return None
    # one load at a time: page callbacks run in threads, and np.load's header parsing (ast) is not
    # thread-safe in CPython 3.11 ("AST constructor recursion depth mismatch")
    with _experiment_lock:
        return _cached_experiment(key)


@functools.lru_cache(maxsize=2)
def _cached_experiment(key: str):
    from core.experiments import load_experiment

    return load_experiment(key)


#: The vertices an encoding model predicts, by default (Wen et al. 2018): test FDR q below and r above.
PREDICTED_Q_MAX, PREDICTED_R_MIN = 0.01, 0.2


#: Maps shown only on the vertices the model predicts (``predicted_vertices``).
MASKED_QUALITY_MAPS = ("normalized_accuracy",)


def predicted_vertices(key: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> np.ndarray:
    """Vertices the encoding model of experiment ``key`` predicts: test FDR q < ``q_max`` and r > ``r_min``.

    Returns (59412,) bool. d′ and its summaries, and the normalised accuracy, are shown only there.
    """
    from core.rsa import predictable_vertices

    if not 0 < q_max <= 1 or not -1 <= r_min < 1:
        raise UserError(f"The predicted-vertex rule needs 0 < q ≤ 1 and -1 ≤ r < 1, got q < {q_max}, r > {r_min}")
    result = _require(key)
    return predictable_vertices(result.maps["r"], result.maps["q"], r_min=r_min, q_max=q_max)


def predicted_mask(q_max=None, r_min=None) -> dict:
    """``{"q_max", "r_min"}`` of the predicted-vertex rule from page inputs (numbers or numeric strings;
    None or "" gives the paper's default)."""
    try:
        return {"q_max": PREDICTED_Q_MAX if q_max in (None, "") else float(q_max),
                "r_min": PREDICTED_R_MIN if r_min in (None, "") else float(r_min)}
    except ValueError as exc:
        raise UserError(f"The predicted-vertex rule needs numbers, got q < {q_max} and r > {r_min}") from exc


def predicted_rule(q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> str:
    """The predicted-vertex rule in words, e.g. "FDR q < 0.01 and r > 0.2"."""
    return f"FDR q < {q_max:g} and r > {r_min:g}"


def _empty_rule_note(key: str, q_max: float) -> str:
    """Why no vertex may pass: permutation p-values cannot go below 1 / (n_permutations + 1)."""
    result = _require(key)
    n_permutations = int(result.meta.get("n_permutations", 0))
    if not n_permutations or q_max >= 1:
        return " Loosen the rule, or run the experiment with more images."
    p_min = 1 / (n_permutations + 1)
    needed = int(np.ceil(p_min * result.maps["q"].size / q_max))
    return (f" With {n_permutations:,} permutations the smallest test p is {p_min:.2g}, so FDR q < {q_max:g} needs "
            f"at least {needed:,} vertices at that p: choose a looser q (or 'any'), or run with more permutations.")


def _require(key: str):
    result = experiment_result(key)
    if result is None:
        raise UserError("The default experiment has not been run yet: press 'Run experiment' on the Virtual fMRI "
                        "page")
    return result


@functools.cache
def _driven_roi_vertices() -> dict[str, np.ndarray]:
    """Grayordinates of each Glasser area the simulated subject drives (both hemispheres), by name."""
    from core.workflows.visualisation import area_vertices

    return {name: area_vertices(name) for name in sorted({d.roi for d in _default_subject().spec.drivers})}


def library_choices(key: str) -> list[dict]:
    """Dropdown options of the library images of experiment ``key`` (label: category — id)."""
    result = _require(key)
    return [{"label": f"{label} — {Path(i).name}", "value": i}
            for i, label in zip(result.stimulus_ids, result.labels, strict=True)]
