"""The RDM Clusters page: the category clustering, semantic comparison, cluster analyses and feature visualisation
(``core.workflows.clusters`` and ``core.workflows.visualisation``) as plain values and CSV tables."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.weights import cache_dir
from dashboard.services._files import _finished_result
from dashboard.services.experiment import _driven_roi_vertices, _require
from dashboard.services.surface import _vertex_table, area_label

__all__ = [
    "RDM_CLUSTERS_TABLES",
    "SEMANTIC_METHODS",
    "category_clustering",
    "cluster_analyses",
    "cluster_average_map",
    "feature_visualisation_result",
    "rdm_clusters_table",
    "run_cluster_analyses",
    "run_feature_visualisation",
    "semantic_comparison",
    "visualisation_targets",
]


SEMANTIC_METHODS = {"wordnet_lch": "WordNet Leacock–Chodorow", "glove": "GloVe 6B-50d cosine",
                    "minilm": "MiniLM sentence-embedding cosine (word2vec stand-in)"}


def category_clustering(key: str) -> dict:
    """The experiment's categories clustered (``core.workflows.clusters.category_clustering``) as plain values:
    ``similarity``, ``categories``, ``cluster_labels``, ``k_values``, ``modularity``, ``best_k``, ``linkage``,
    ``order``, ``n_vertices``, ``criterion``, ``groups`` and ``ari``. Its p-value is the job's
    (:func:`run_cluster_analyses`)."""
    return _category_clustering(key)


@functools.cache
def _category_clustering(key: str) -> dict:
    from core.workflows.clusters import category_clustering as cluster

    clustering = cluster(_require(key))
    return {name: getattr(clustering, name) for name in clustering.__dataclass_fields__} | {
        "categories": list(clustering.categories), "groups": list(clustering.groups)}


def semantic_comparison(key: str, method: str) -> dict:
    """Semantic vs cortical similarity of category pairs, with a label-permutation test (10,000):
    ``core.workflows.clusters.semantic_comparison`` with the measure's ``label``."""
    if method not in SEMANTIC_METHODS:
        raise ValueError(f"Unknown method={method!r}; choose from {sorted(SEMANTIC_METHODS)}")
    return _semantic_comparison(key, method)


@functools.cache
def _semantic_comparison(key: str, method: str) -> dict:
    from core.workflows.clusters import category_clustering as cluster
    from core.workflows.clusters import semantic_comparison as compare

    label = SEMANTIC_METHODS[method]
    return compare(cluster(_require(key)), method, label=label) | {"label": label}


def cluster_average_map(key: str, cluster: int) -> np.ndarray:
    """Mean category map over the categories of one cluster, (59412,)."""
    clustering = category_clustering(key)
    members = np.flatnonzero(clustering["cluster_labels"] == cluster)
    if not members.size:
        raise ValueError(f"Cluster {cluster} is empty; clusters are 0..{clustering['best_k'] - 1}")
    return _require(key).category_maps[members].mean(axis=0)


def _cluster_analyses_prefix(key: str) -> Path:
    return cache_dir() / "clustering" / f"{key}-layerwise-finer-v5"


def run_cluster_analyses(key: str, progress=None) -> str:
    """Background job: ``core.workflows.clusters.run_cluster_analyses`` of experiment ``key``, stored once.

    Returns the result prefix (``.npz`` + ``.json``); a stored result is returned at once.
    """
    from core.workflows.clusters import run_cluster_analyses as run
    from core.workflows.store import is_stored, save_result

    prefix = _cluster_analyses_prefix(key)
    if not is_stored(prefix):
        _require(key)
        save_result(run(key, progress=progress), prefix)
    return str(prefix)


def cluster_analyses(key: str) -> dict | None:
    """The finished :func:`run_cluster_analyses` of experiment ``key`` as plain values, or None.

    ``layers``, ``modularity``, ``best_k``, ``semantic_r`` (measure → per layer), ``finer`` (cluster → its
    ``categories``, ``best_k``, ``n_specific`` and arrays, or ``error``) and ``significance``: ``q``, ``p``,
    ``best_k``, ``n_permutations``, ``null`` (its description) and ``null_q_95`` (95th percentile of the null's
    best Q) of the page's clustering.
    """
    from core.workflows.clusters import ClusterAnalyses
    from core.workflows.store import is_stored, load_result

    prefix = _cluster_analyses_prefix(key)
    if not is_stored(prefix):
        return None
    analyses = load_result(prefix, ClusterAnalyses)
    finer = {}
    for cluster, entry in analyses.finer_info.items():
        finer[int(cluster)] = entry | {name.split(":")[1]: a for name, a in analyses.finer_arrays.items()
                                       if name.startswith(f"{cluster}:")}
    return {"layers": list(analyses.layers), "modularity": analyses.modularity, "best_k": analyses.best_k,
            "semantic_r": analyses.semantic_r, "finer": finer, "significance": analyses.significance}


def visualisation_targets(key: str) -> list[dict]:
    """Dropdown options of feature-visualisation targets: each cluster's average map, then each driven area."""
    clustering = category_clustering(key)
    names = np.asarray(clustering["categories"])
    clusters = [{"label": f"cluster {k}: " + ", ".join(names[clustering["cluster_labels"] == k]),
                 "value": f"cluster:{k}"} for k in range(clustering["best_k"])]
    return clusters + [{"label": f"area {area_label(name)} (mean of its vertices)", "value": f"roi:{name}"}
                       for name in _driven_roi_vertices()]


def _visualisation_path(key: str, target: str, n_steps: int) -> Path:
    from core.workflows.visualisation import VISUALISATION_SETTINGS

    digest = hashlib.sha256(f"{target}|{n_steps}|{sorted(VISUALISATION_SETTINGS.items())}".encode()).hexdigest()[:12]
    return cache_dir() / "visualisations" / f"{key}-{digest}-v2"


def run_feature_visualisation(key: str, target: str, n_steps: int, progress=None) -> str:
    """Background job: ``core.workflows.visualisation.run_feature_visualisation``, stored once; returns its path."""
    from core.workflows.store import is_stored, save_result
    from core.workflows.visualisation import VISUALISATION_STEPS
    from core.workflows.visualisation import run_feature_visualisation as run

    if not VISUALISATION_STEPS[0] <= int(n_steps) <= VISUALISATION_STEPS[1]:
        raise UserError(f"Steps must be a whole number from {VISUALISATION_STEPS[0]} to {VISUALISATION_STEPS[1]} "
                        f"(got {n_steps})")
    path = _visualisation_path(key, target, int(n_steps))
    if not is_stored(path):
        _require(key)
        save_result(run(key, target, int(n_steps), progress=progress), path)
    return str(path)


def _target_label(target: str) -> str:
    """``"cluster:0"`` → ``"cluster 0"``, ``"roi:FFC"`` → ``"area FFC — Fusiform Face Complex"``."""
    kind, _, name = target.partition(":")
    return f"cluster {name}" if kind == "cluster" else f"area {area_label(name)}"


def feature_visualisation_result(path: str) -> dict:
    """A finished visualisation: ``images`` (n, h, w, 3) uint8, ``objective`` (n_steps + 1, n), ``target`` and
    its ``label`` for titles."""
    from core.workflows.store import load_result
    from core.workflows.visualisation import FeatureVisualisationRun

    resolved = _finished_result(path, "visualisations", "No feature visualisation at that location: run it first",
                                ".json")
    run = load_result(resolved, FeatureVisualisationRun)
    return {"images": run.images, "objective": run.objective, "target": run.target, "label": _target_label(run.target)}


#: CSV exports of the RDM Clusters page's figures: name → label.
RDM_CLUSTERS_TABLES = {
    "similarity": "Category similarity matrix (heatmap)",
    "modularity": "Signed modularity Q vs k",
    "dendrogram": "Dendrogram linkage",
    "semantic": "Semantic vs cortical similarity (scatter)",
    "cluster_map": "Cluster-average map (per vertex)",
    "layerwise": "Q and semantic r vs layer",
    "finer": "Finer clustering of the chosen cluster",
    "visualisation": "Feature visualisation objective per step",
}


def _matrix_table(matrix, names, extra: dict | None = None):
    import pandas as pd

    table = pd.DataFrame(np.asarray(matrix), columns=list(names))
    for column, values in (extra or {}).items():
        table.insert(0, column, values)
    table.insert(0, "category", list(names))
    return table


def rdm_clusters_table(key: str, name: str, *, method: str = "wordnet_lch", cluster: int = 0,
                       visualisation: str | None = None) -> tuple[str, str]:
    """The numbers behind one RDM Clusters figure as ``(filename, csv_text)``."""
    import pandas as pd

    if name not in RDM_CLUSTERS_TABLES:
        raise ValueError(f"Unknown figure={name!r}; choose from {sorted(RDM_CLUSTERS_TABLES)}")
    c = category_clustering(key)
    if name == "similarity":
        table = _matrix_table(c["similarity"], c["categories"], {"cluster": c["cluster_labels"]})
    elif name == "modularity":
        table = pd.DataFrame({"k": c["k_values"], "signed_modularity_Q": c["modularity"]})
    elif name == "dendrogram":
        table = pd.DataFrame(c["linkage"], columns=["node_a", "node_b", "distance", "n_leaves"])
    elif name == "semantic":
        s = semantic_comparison(key, method)
        table = pd.DataFrame({"pair": s["pair_labels"], f"semantic_{method}": s["x"], "cortical_r": s["y"]})
        name = f"semantic_{method}"
    elif name == "cluster_map":
        table = _vertex_table(cluster_average_map(key, cluster), "predicted")
        name = f"cluster{cluster}_map"
    else:
        table = _analysis_table(key, name, cluster, visualisation)
        name = f"finer_cluster{cluster}" if name == "finer" else name
    return f"{name}.csv", table.to_csv(index=False)


def _analysis_table(key: str, name: str, cluster: int, visualisation: str | None):
    import pandas as pd

    if name == "visualisation":
        if not visualisation:
            raise UserError("No feature visualisation yet: run one first")
        objective = feature_visualisation_result(visualisation)["objective"]
        return pd.DataFrame(objective, columns=[f"start_{i}" for i in range(objective.shape[1])]).rename_axis(
            "step").reset_index()
    analyses = cluster_analyses(key)
    if analyses is None:
        raise UserError("The layer-wise and finer clustering have not been computed yet: press 'Compute'")
    if name == "layerwise":
        return pd.DataFrame({"layer": analyses["layers"], "signed_modularity_Q": analyses["modularity"],
                             "best_k": analyses["best_k"],
                             **{f"semantic_r_{m}": r for m, r in analyses["semantic_r"].items()}})
    finer = analyses["finer"].get(int(cluster))
    if finer is None or "error" in finer:
        raise UserError(f"Cluster {cluster} has no finer clustering: {(finer or {}).get('error', 'unknown cluster')}")
    return _matrix_table(finer["similarity"], finer["categories"], {"sub_cluster": finer["labels"]})
