"""Selectivity on a study chosen in the navbar: the study's fitted encoding model predicts every image of the
labelled stimulus library (the default experiment's library, ResNet-50 spatial means through the feature cache);
the predicted maps give category maps and d′ per category (``core.studies.categories``) on the vertices the model
predicts (FDR q < ``STUDY_PREDICTED_Q`` of its fit).

The result is stored beside the fit (``categories.npz`` + ``categories.json`` in the study fit's folder, which a new
fit never reuses), keyed by a digest of the encoding model's header and the library's image ids, so another model
or library recomputes it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from core.errors import UserError, choices_text
from dashboard.services.studies import (
    STUDY_PREDICTED_Q,
    _chart_regions,
    _fit_arrays,
    _fractions,
    _require_fit,
    _study,
)

__all__ = ["STUDY_CATEGORY_MAPS", "compute_study_categories", "study_categories", "study_category_map",
           "study_roi_selectivity"]

#: Maps of a study's categories: name → (label, colour-bar title).
STUDY_CATEGORY_MAPS = {
    "dprime": ("Selectivity d′ (category vs the rest)", "d′"),
    "mean": ("Category map (mean predicted response)", "predicted (a.u.)"),
}

_STORE = "categories"


def _library(features):
    """``(ids, labels, X)`` of the labelled library; ``X`` is None (ResNet-50 features, computed by the job) unless
    ``features`` (a features ``.npz`` of library images, ``python -m core extract``) gives them."""
    from core.stimuli import library_subset

    if features is not None:
        from core.virtual_fmri import load_feature_file

        X, _, ids = load_feature_file(features)
        return tuple(ids), tuple(library_subset(ids).labels), X
    from core.experiments import experiment_feature_sets
    from dashboard.services.experiment import experiment_settings

    library, _ = experiment_feature_sets(max_images=experiment_settings()["max_images"])
    return tuple(library.ids), tuple(library.labels), None


def _key(folder: Path, ids) -> str:
    digest = hashlib.sha256((folder / "encoding.json").read_bytes())
    digest.update("\n".join(ids).encode())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def _load(prefix: str, _mtime_ns: int) -> tuple[dict, dict]:
    from core.store import load_result

    return load_result(prefix)


def _stored(folder: Path, key: str) -> tuple[dict, dict] | None:
    from core.store import result_paths

    json_path = result_paths(folder / _STORE)[1]
    if not json_path.is_file():
        return None
    arrays, info = _load(str(folder / _STORE), json_path.stat().st_mtime_ns)
    return (arrays, info) if info.get("key") == key else None


def compute_study_categories(name: str, progress=None, *, features=None) -> str:
    """Background job: predict the library with study ``name``'s model (ResNet-50 runs in this process), then
    category maps and d′ on its predicted vertices, stored in the fit's folder. Returns the name; a stored result
    for this model and library is kept."""
    from core.encoding import load_encoding_model
    from core.store import save_result
    from core.studies.categories import predicted_category_selectivity
    from core.studies.experiment import network_features_matrix

    folder = _require_fit(name)
    ids, labels, X = _library(features)
    key = _key(folder, ids)
    if _stored(folder, key) is not None:
        return name
    report = _fractions(progress)
    model = load_encoding_model(folder / "encoding")
    if X is None:
        if model.meta_.get("model") != "resnet50":
            raise UserError(f"Study {name}'s model was fitted on features read from a file, not on ResNet-50's, so "
                            "it cannot predict the stimulus library's images")
        from core.stimuli import library_subset

        report(0.0, f"ResNet-50 features of {len(ids):,} library images")
        X, _, read, _ = network_features_matrix(library_subset(ids), progress=lambda f, m: report(0.8 * f, m))
        label = dict(zip(ids, labels, strict=True))
        labels = tuple(label[i] for i in read)
    report(0.8, f"predicting {len(X):,} library images with the study's model")
    study = _study(name)
    predicted = _fit_arrays(str(folder))["q"][study.source_columns] < STUDY_PREDICTED_Q
    if not predicted.any():
        raise UserError(f"Study {name}'s model predicts no vertex (FDR q < {STUDY_PREDICTED_Q:g}): there is no "
                        "selectivity to show")
    try:
        result = predicted_category_selectivity(model, X, labels, predicted)
    except ValueError as exc:
        raise UserError(f"Selectivity on study {name} cannot be computed: {exc}") from exc
    save_result(folder / _STORE, {"maps": result.maps, "dprime": result.dprime},
                {"key": key, "categories": list(result.categories), "n_images": result.n_images,
                 "left_out": list(result.left_out),
                 "n_predicted": int(predicted.sum()), "n_vertices": study.n_vertices})
    report(1.0, "done")
    return name


def study_categories(name: str, *, features=None) -> dict | None:
    """What :func:`compute_study_categories` stored for study ``name``'s model and the library: ``categories``,
    ``n_images``, ``n_predicted``, ``n_vertices``, ``left_out`` (categories with one image); None before it ran (``UserError`` before the study is fitted)."""
    folder = _require_fit(name)
    stored = _stored(folder, _key(folder, _library(features)[0]))
    if stored is None:
        return None
    info = stored[1]
    return {k: info[k] for k in ("n_images", "n_predicted", "n_vertices")} | {
        "categories": tuple(info["categories"]), "left_out": tuple(info["left_out"])}


def study_category_map(name: str, category: str, map_name: str = "dprime", *, features=None) -> dict | None:
    """Study ``name``'s category map or d′ map of ``category`` as drawn (``values``: NaN off the predicted
    vertices and off the study; ``space``), or None before :func:`compute_study_categories` ran."""
    if map_name not in STUDY_CATEGORY_MAPS:
        raise UserError(f"Unknown map {map_name!r}; choose {choices_text(list(STUDY_CATEGORY_MAPS))}")
    values = _category_values(name, category, "maps" if map_name == "mean" else "dprime", features)
    if values is None:
        return None
    drawn = _study(name).display_map(values)
    return {"values": drawn.values, "space": drawn.space}


def _category_values(name: str, category: str, array: str, features) -> np.ndarray | None:
    """The stored ``array`` ("maps" or "dprime") of ``category`` over the study's vertices, or None before
    :func:`compute_study_categories` ran; an unknown category is a ``UserError``."""
    folder = _require_fit(name)
    stored = _stored(folder, _key(folder, _library(features)[0]))
    if stored is None:
        return None
    arrays, info = stored
    if category not in info["categories"]:
        raise UserError(f"Unknown category {category!r}; choose {choices_text(info['categories'])}")
    return np.asarray(arrays[array][info["categories"].index(category)])


def study_roi_selectivity(name: str, category: str, roi_class: str, *, features=None) -> dict | None:
    """Mean ± SD of ``category``'s d′ over the predicted vertices of each region of ``roi_class`` (the study's own
    masks, else Glasser's visual-stream areas: ``dashboard.services.studies.study_roi_classes``); regions without a
    predicted vertex are left out. None before :func:`compute_study_categories` ran.

    Returns
    -------
    dict with ``roi_names``, ``streams`` (Glasser: each area's visual stream; own masks: ``"other"``), ``means``,
    ``sds`` (SD over the region's predicted vertices: a spread, not an error of the mean) and ``n_vertices``.
    """
    from core.workflows.roi_scores import area_spread

    dprime = _category_values(name, category, "dprime", features)
    if dprime is None:
        return None
    regions, streams = _chart_regions(name, roi_class)
    stream_of = dict(zip(regions, streams or ["other"] * len(regions), strict=True))
    kept, means, sds, n_vertices = area_spread(dprime, regions)
    return {"roi_names": kept, "streams": [stream_of[region] for region in kept], "means": means, "sds": sds,
            "n_vertices": n_vertices}
