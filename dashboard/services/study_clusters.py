"""RDM Clusters on a study chosen in the navbar: the category maps that Selectivity on the study computed and stored
(``study_selectivity``: the study's model applied to the labelled stimulus library, on the vertices it predicts)
clustered as on the simulated subject (``core.workflows.clusters.cluster_category_maps``), with their semantic
comparison, cluster-average maps and the spin test of the whole procedure (``core.studies.categories
.partial_spin_significance``).

The spin test runs on the study's display surface (fsLR-32k or fsaverage5, whose spheres the studio has): for
fsLR-32k and fsaverage5 studies that is the study's own vertices, so it tests the clustering shown; for fsaverage
studies (Algonauts) it tests the clustering recomputed on the predicted vertices that are fsaverage5 vertices. It is
stored beside the category maps (``clusters.npz`` + ``clusters.json`` in the fit's folder), keyed by their key and
the test's settings.
"""

from __future__ import annotations

import functools

import numpy as np

from core.errors import UserError
from dashboard.services.studies import STUDY_PREDICTED_Q, _fractions, _require_fit, _study
from dashboard.services.study_selectivity import _key, _library, _stored

__all__ = ["run_study_cluster_significance", "study_cluster_average_map", "study_cluster_significance",
           "study_clustering", "study_semantic_comparison"]

_STORE = "clusters"
#: Fewest display vertices a spin test is run on.
_MIN_SPUN = 10


def _categories(name: str, features) -> tuple[str, str, int] | None:
    """``(folder, key, mtime_ns)`` of study ``name``'s stored category maps, or None before Selectivity ran."""
    from core.store import result_paths

    folder = _require_fit(name)
    key = _key(folder, _library(features)[0])
    if _stored(folder, key) is None:
        return None
    return str(folder), key, result_paths(folder / "categories")[1].stat().st_mtime_ns


@functools.lru_cache(maxsize=4)
def _clustering(name: str, folder: str, key: str, _mtime_ns: int, features):
    """``(ExperimentClustering, maps (n_categories, n_study_vertices), predicted mask)`` of stored category maps."""
    from core.stimuli import library_subset
    from core.workflows.clusters import cluster_category_maps

    arrays, info = _stored(_require_fit(name), key)
    maps = np.asarray(arrays["maps"], np.float64)
    predicted = np.isfinite(maps).all(axis=0)
    if len(info["categories"]) < 3:
        raise UserError(f"Clustering compares at least 3 categories; the library gave study {name} "
                        f"{len(info['categories'])}")
    library = library_subset(_library(features)[0])
    criterion = f"the vertices your study's model predicts (FDR q < {STUDY_PREDICTED_Q:g})"
    clustering = cluster_category_maps(maps[:, predicted], info["categories"], labels=library.labels,
                                       groups=library.groups, criterion=criterion)
    return clustering, maps, predicted


def _require_clustering(name: str, features=None):
    found = _categories(name, features)
    if found is None:
        raise UserError(f"Study {name}'s category maps are not computed yet: press 'Compute category maps'")
    return _clustering(name, *found, features)


def study_clustering(name: str, *, features=None) -> dict | None:
    """Study ``name``'s categories clustered, as ``services.category_clustering`` gives the simulated subject's
    (``similarity``, ``categories``, ``cluster_labels``, ``k_values``, ``modularity``, ``best_k``, ``linkage``,
    ``order``, ``n_vertices``, ``criterion``, ``groups``, ``ari``), plus ``n_study_vertices``; None before
    Selectivity on the study computed its category maps (``UserError`` before the study is fitted)."""
    if _categories(name, features) is None:
        return None
    clustering, maps, _ = _require_clustering(name, features)
    return {field: getattr(clustering, field) for field in clustering.__dataclass_fields__} | {
        "categories": list(clustering.categories), "groups": list(clustering.groups),
        "n_study_vertices": maps.shape[1]}


def study_semantic_comparison(name: str, method: str, *, features=None) -> dict:
    """Semantic vs cortical similarity of the study's category pairs (``services.semantic_comparison``'s values)."""
    from core.workflows.clusters import semantic_comparison
    from dashboard.services.clusters import SEMANTIC_METHODS

    if method not in SEMANTIC_METHODS:
        raise UserError(f"Unknown semantic measure {method!r}; choose from {sorted(SEMANTIC_METHODS)}")
    label = SEMANTIC_METHODS[method]
    return semantic_comparison(_require_clustering(name, features)[0], method, label=label) | {"label": label}


def study_cluster_average_map(name: str, cluster: int, *, features=None) -> dict:
    """Mean category map of one cluster's categories as drawn: ``values`` on the study's display surface (NaN off
    its predicted vertices) and ``space``."""
    clustering, maps, _ = _require_clustering(name, features)
    members = np.flatnonzero(clustering.cluster_labels == int(cluster))
    if not members.size:
        raise UserError(f"Cluster {cluster} is empty; clusters are 0 to {clustering.best_k - 1}")
    drawn = _study(name).display_map(maps[members].mean(axis=0))
    return {"values": drawn.values, "space": drawn.space}


def run_study_cluster_significance(name: str, progress=None, *, features=None, n_permutations: int | None = None,
                                   n_rotations: int | None = None) -> str:
    """Background job: the spin test of study ``name``'s clustering on its display surface, stored in the fit's
    folder (a stored one for these category maps and settings is kept). Returns the name."""
    from core.store import save_result
    from core.studies.categories import partial_spin_significance
    from core.workflows.clusters import (
        CLUSTER_NULL_ROTATIONS,
        CLUSTER_SIGNIFICANCE_PERMUTATIONS,
        cluster_k_range,
    )

    n_permutations = n_permutations or CLUSTER_SIGNIFICANCE_PERMUTATIONS
    n_rotations = n_rotations or CLUSTER_NULL_ROTATIONS
    clustering, maps, predicted = _require_clustering(name, features)
    folder, key, mtime_ns = _categories(name, features)
    key = _significance_key(f"{key}-{mtime_ns}", n_permutations, n_rotations)
    if _significance(folder, key) is not None:
        return name
    study = _study(name)
    display = np.stack([study.display_map(row).values for row in maps])
    space = study.display_map(maps[0]).space
    known = np.isfinite(display).all(axis=0)
    info = {"key": key, "space": space, "study_space": study.space, "n_tested": int(known.sum()),
            "n_predicted": int(predicted.sum())}
    if known.sum() < _MIN_SPUN:
        info["unavailable"] = (f"Only {int(known.sum())} of the {int(predicted.sum()):,} predicted vertices lie on "
                               f"the {space} surface, whose sphere the spin test rotates: too few to spin, so no "
                               "p-value is given.")
        save_result(f"{folder}/{_STORE}", {}, info)
        return name
    report = _fractions(progress)
    test = partial_spin_significance(
        display, space, k_range=cluster_k_range(len(clustering.categories)), n_permutations=n_permutations,
        n_rotations=n_rotations, progress=lambda done, total: report(done / total, f"spin test: {done}/{total}"))
    info |= {"q": test.q, "p": test.p_value, "best_k": int(test.clustering.best_k),
             "n_permutations": test.n_permutations, "null": test.null,
             "null_q_95": float(np.quantile(test.null_q, 0.95)),
             "same_as_shown": bool(known.sum() == predicted.sum())}
    save_result(f"{folder}/{_STORE}", {"null_q": test.null_q}, info)
    return name


def _significance_key(key: str, n_permutations: int | None, n_rotations: int | None) -> str:
    """The stored spin test's key: the category maps' (with their file's time) and the test's settings (defaults: the simulated
    subject's, ``core.workflows.clusters``)."""
    from core.workflows.clusters import CLUSTER_NULL_ROTATIONS, CLUSTER_SIGNIFICANCE_PERMUTATIONS

    return f"{key}-{n_permutations or CLUSTER_SIGNIFICANCE_PERMUTATIONS}-{n_rotations or CLUSTER_NULL_ROTATIONS}"


def _significance(folder: str, key: str) -> dict | None:
    from core.store import load_result, result_paths

    if not result_paths(f"{folder}/{_STORE}")[1].is_file():
        return None
    info = load_result(f"{folder}/{_STORE}")[1]
    return info if info.get("key") == key else None


def study_cluster_significance(name: str, *, features=None, n_permutations: int | None = None,
                               n_rotations: int | None = None) -> dict | None:
    """What :func:`run_study_cluster_significance` stored with these settings: ``space`` (the surface spun),
    ``study_space``, ``n_tested`` (its vertices known), ``n_predicted``, and either ``unavailable`` (why no p) or
    ``q``, ``p``, ``best_k``, ``n_permutations``, ``null`` (in words), ``null_q_95`` and ``same_as_shown`` (the
    test's clustering is the one shown); None before it ran or before the category maps exist."""
    found = _categories(name, features)
    if found is None:
        return None
    folder, key, mtime_ns = found
    return _significance(folder, _significance_key(f"{key}-{mtime_ns}", n_permutations, n_rotations))
