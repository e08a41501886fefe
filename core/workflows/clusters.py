"""Wen et al.'s (2018) cluster analyses of the default experiment's category maps.

:func:`category_clustering` is the clustering the RDM Clusters page shows (fast: k-means on one similarity
matrix); :func:`run_cluster_analyses` is the long part, run as a job or from the command line: the
clustering's spin-test p-value, the layer-wise contribution (Q and semantic r per layer) and the finer
clustering of every cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError, choices_text
from core.runtime import span
from core.workflows import report_fraction

__all__ = [
    "CLUSTER_NULL_ROTATIONS",
    "CLUSTER_SIGNIFICANCE_PERMUTATIONS",
    "LAYERWISE_SEMANTICS",
    "ClusterAnalyses",
    "ExperimentClustering",
    "category_clustering",
    "cluster_category_maps",
    "cluster_k_range",
    "cluster_significance",
    "predictable_mask",
    "run_cluster_analyses",
    "semantic_comparison",
]

#: Null samples of the clustering's spin test (each re-runs k-means for every k), and its rotation pool.
CLUSTER_SIGNIFICANCE_PERMUTATIONS = 10_000
CLUSTER_NULL_ROTATIONS = 300
#: Semantic measures of the layer-wise curves.
LAYERWISE_SEMANTICS = ("wordnet_lch", "glove")


def predictable_mask(result) -> tuple[np.ndarray, str]:
    """Predictable vertices of an experiment as the paper (q < 0.01, r > 0.2), relaxed when < 100 pass.

    Returns the (n_vertices,) bool mask and the criterion in words; a ``UserError`` when fewer than 10 pass.
    """
    from core import rsa

    criterion = "q < 0.01 and r > 0.2 (as the paper)"
    mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.2, q_max=0.01)
    if mask.sum() < 100:
        criterion = "q < 0.05 and r > 0 (relaxed: fewer than 100 vertices passed q < 0.01, r > 0.2)"
        mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.0, q_max=0.05)
    if mask.sum() < 10:
        raise UserError(f"Only {int(mask.sum())} vertices are predictable (q < 0.05, r > 0): too few to compare "
                        "category maps. Run the experiment with more images.")
    return mask, criterion


def cluster_k_range(n_categories: int) -> range:
    """Numbers of clusters tried on ``n_categories`` categories: 2..10, at most n_categories - 1."""
    return range(2, min(11, int(n_categories)))


@dataclass(frozen=True)
class ExperimentClustering:
    """The categories of an experiment clustered (:func:`category_clustering`).

    ``similarity``: (n_categories, n_categories); ``cluster_labels``: (n_categories,); ``k_values``,
    ``modularity``: Q per k tried; ``linkage``: (n_categories - 1, 4) and ``order`` of the dendrogram;
    ``groups``: each category's superordinate group; ``ari``: adjusted Rand index of clusters vs groups.
    """

    similarity: np.ndarray
    categories: tuple[str, ...]
    cluster_labels: np.ndarray
    k_values: np.ndarray
    modularity: np.ndarray
    best_k: int
    linkage: np.ndarray
    order: np.ndarray
    n_vertices: int
    criterion: str
    groups: tuple[str, ...]
    ari: float


def category_clustering(result) -> ExperimentClustering:
    """Inter-category similarity over predictable vertices, k-means + signed modularity, dendrogram.

    ``result``: a ``core.experiments.ExperimentResult``. Predictable vertices follow the paper (FDR q < 0.01
    and r > 0.2); when fewer than 100 exist the criterion is relaxed to q < 0.05 and r > 0, and the result
    says so. The clustering is :func:`cluster_category_maps`'s; its p-value is :func:`cluster_significance`'s.
    """
    if len(result.categories) < 3:
        raise UserError(f"Clustering compares at least 3 categories; this experiment has {len(result.categories)} "
                        f"({choices_text(result.categories, last='and')}). Run it on a library with more "
                        "categories.")
    mask, criterion = predictable_mask(result)
    return cluster_category_maps(result.category_maps[:, mask], result.categories, labels=result.labels,
                                 groups=result.groups, criterion=criterion)


def cluster_category_maps(maps, categories, *, labels, groups, criterion: str) -> ExperimentClustering:
    """Category maps clustered as the RDM Clusters page shows them: similarity, k-means + signed Q, dendrogram.

    The maps are centred over categories before correlating (``core.rsa.category_similarity(centre=True)``),
    which removes the encoder's intercept common to every category; Q leaves the similarity's diagonal out
    (``core.clustering``); k runs over 2..10 (at most n_categories - 1), k-means seeded with 0.

    Parameters
    ----------
    maps : ndarray of shape (n_categories, n_vertices)
        Category maps on the vertices compared (all finite), n_categories >= 3.
    categories : sequence of str, length n_categories
    labels, groups : sequence of str, length n_images
        Category and superordinate group of each image: each category's group is its images' commonest, and
        ``ari`` compares the clusters with those groups.
    criterion : str
        How the vertices were chosen, in words (kept in the result).
    """
    from sklearn.metrics import adjusted_rand_score

    from core import rsa
    from core.clustering import cluster_categories

    S = rsa.category_similarity(maps, centre=True)
    clustering = cluster_categories(S, k_range=cluster_k_range(len(categories)), random_state=0)
    linkage, order = rsa.category_dendrogram(S)
    labels, groups = np.asarray(labels), np.asarray(groups)
    category_group = [max(set(groups[labels == c]), key=list(groups[labels == c]).count) for c in categories]
    return ExperimentClustering(
        similarity=S, categories=tuple(categories), cluster_labels=clustering.labels,
        k_values=clustering.k_values, modularity=clustering.modularity, best_k=int(clustering.best_k),
        linkage=linkage, order=order, n_vertices=int(maps.shape[1]), criterion=criterion,
        groups=tuple(category_group), ari=float(adjusted_rand_score(category_group, clustering.labels)))


def cluster_significance(result, *, n_permutations: int = CLUSTER_SIGNIFICANCE_PERMUTATIONS,
                         n_rotations: int = CLUSTER_NULL_ROTATIONS, progress=None) -> dict:
    """p of :func:`category_clustering`: the spin test of ``core.clustering.clustering_significance``, seeded as
    the clustering (``random_state=0``) so that the partition it tests is the one shown.

    Returns ``q``, ``p``, ``best_k``, ``n_permutations``, ``null`` (its description) and ``null_q_95`` (95th
    percentile of the null's best Q).
    """
    from core.clustering import clustering_significance, null_for_vertices

    mask, _ = predictable_mask(result)
    test = clustering_significance(
        result.category_maps, mask=mask, k_range=cluster_k_range(len(result.categories)), random_state=0, n_permutations=n_permutations,
        null=null_for_vertices(result.category_maps.shape[1], n_rotations=n_rotations),
        progress=lambda done, total: report_fraction(progress, done / total,
                                             f"clustering significance: null sample {done}/{total}"))
    return {"q": test.q, "p": test.p_value, "best_k": int(test.clustering.best_k),
            "n_permutations": test.n_permutations, "null": test.null,
            "null_q_95": float(np.quantile(test.null_q, 0.95))}


def semantic_comparison(clustering: ExperimentClustering, method: str, *, label: str,
                        n_permutations: int = 10_000) -> dict:
    """Semantic vs cortical similarity of category pairs, with a label-permutation test.

    ``label`` names ``method`` in messages. Returns ``x`` (semantic), ``y`` (cortical) and ``pair_labels`` per
    pair, ``r``, ``p`` and ``unknown`` (categories without vectors).
    """
    from core.semantics import semantic_cortical_test, semantic_similarity

    categories = list(clustering.categories)
    semantic = semantic_similarity(categories, method=method)
    if (~np.isnan(semantic.matrix).all(axis=1)).sum() < 3:
        raise UserError(f"Fewer than 3 categories have {label} vectors (missing: "
                        f"{choices_text(semantic.unknown, last='and')}); choose another semantic measure")
    test = semantic_cortical_test(semantic.matrix, clustering.similarity, n_permutations=n_permutations,
                                  random_state=0)
    names = [categories[i] for i in test.categories]
    pairs = [f"{names[i]} – {names[j]}" for i in range(len(names)) for j in range(i + 1, len(names))]
    return {"x": test.semantic, "y": test.cortical, "pair_labels": pairs, "r": test.r, "p": test.p_value,
            "unknown": semantic.unknown}


@dataclass(frozen=True)
class ClusterAnalyses:
    """The long cluster analyses of an experiment (:func:`run_cluster_analyses`).

    ``layers``: layer names; ``modularity`` and ``best_k``: (n_layers,) of each layer's clustering;
    ``semantic_r``: measure → (n_layers,); ``finer_info``: cluster ("0", "1", ...) → ``categories``, ``best_k``,
    ``n_specific``, or ``error`` when it could not be refined; ``finer_arrays``: ``"<cluster>:<name>"`` →
    ``similarity``, ``labels``, ``linkage``, ``order``, ``k_values``, ``modularity`` of each refined cluster;
    ``significance``: :func:`cluster_significance`.
    """

    layers: tuple[str, ...]
    modularity: np.ndarray
    best_k: np.ndarray
    semantic_r: dict
    finer_info: dict
    finer_arrays: dict
    significance: dict


def library_features(result, network: str, layers: list, meta: dict, progress=None) -> np.ndarray:
    """Features of an experiment's images reduced as its encoding model's (``meta``), (n_images, n_features) in
    ``layers`` order, through the feature cache (``core.network_features``)."""
    from core.encoding import stack_layer_features
    from core.features import reduction_options
    from core.network_features import network_features
    from core.stimuli import library_subset

    features = network_features(library_subset(result.stimulus_ids), network, layers, **reduction_options(meta),
                                progress=progress)
    if features.stimulus_ids != tuple(result.stimulus_ids):
        raise UserError("Some library images could not be decoded; re-run the experiment")
    return stack_layer_features({layer: features[layer] for layer in layers})[0]


def experiment_inputs(key: str):
    """The finished experiment ``key`` and its fitted encoding model; a ``UserError`` before it has run."""
    from core.encoding import load_encoding_model
    from core.experiments import experiment_dir, load_experiment

    result = load_experiment(key)
    if result is None:
        raise UserError(f"No finished experiment {key!r}: run it first (python -m core experiment)")
    return result, load_encoding_model(experiment_dir(key) / "encoding")


def run_cluster_analyses(key: str, *, n_permutations: int = CLUSTER_SIGNIFICANCE_PERMUTATIONS,
                         n_rotations: int = CLUSTER_NULL_ROTATIONS, progress=None) -> ClusterAnalyses:
    """The clustering's significance (spin test), layer-wise contribution and finer clustering of experiment ``key``.

    ``n_permutations`` and ``n_rotations``: the spin test's null samples and rotation pool.
    ``progress(fraction, message)``.
    """
    from core import rsa
    from core.categories import single_layer_category_maps
    from core.experiments import predicted_maps
    from core.semantics import semantic_similarity

    result, model = experiment_inputs(key)
    clustering = category_clustering(result)
    significance = cluster_significance(result, n_permutations=n_permutations, n_rotations=n_rotations,
                                        progress=span(progress, 0.0, 0.3))
    mask, _ = predictable_mask(result)
    labels = np.asarray(result.labels)
    kept = np.isin(labels, result.categories)
    network = model.meta_.get("model", "resnet50")
    X = library_features(result, network, list(model.layers_), model.meta_, span(progress, 0.3, 0.5))
    report_fraction(progress, 0.5, "category maps from each layer alone")
    layer_maps = single_layer_category_maps(model, X[kept], labels[kept],
                                            categories=result.categories)
    report_fraction(progress, 0.6, "semantic similarities (WordNet, GloVe)")
    semantic = {m: semantic_similarity(list(result.categories), method=m).matrix for m in LAYERWISE_SEMANTICS}
    report_fraction(progress, 0.7, "clustering of each layer's category maps")
    layerwise = rsa.layerwise_clustering(layer_maps.maps, mask=mask, semantic=semantic,
                                         k_range=clustering.k_values, random_state=0)
    finer_info, finer_arrays = {}, {}
    responses = np.asarray(predicted_maps(key)[kept], dtype=np.float32)
    for cluster in range(clustering.best_k):
        report_fraction(progress, 0.8 + 0.2 * cluster / clustering.best_k, f"finer clustering of cluster {cluster}")
        members = [c for c, k in zip(result.categories, clustering.cluster_labels, strict=True) if k == cluster]
        try:
            finer = rsa.finer_clustering(responses, labels[kept], members, random_state=0)
        except ValueError as exc:
            finer_info[str(cluster)] = {"error": str(exc)}
            continue
        finer_info[str(cluster)] = {"categories": list(finer.categories), "best_k": int(finer.clustering.best_k),
                                    "n_specific": int(finer.specific.sum())}
        for name, value in (("similarity", finer.similarity), ("labels", finer.clustering.labels),
                            ("linkage", finer.linkage), ("order", finer.order),
                            ("k_values", finer.clustering.k_values),
                            ("modularity", finer.clustering.modularity)):
            finer_arrays[f"{cluster}:{name}"] = value
    report_fraction(progress, 1.0, "done")
    return ClusterAnalyses(layers=tuple(layer_maps.layers), modularity=layerwise.modularity,
                           best_k=layerwise.best_k, semantic_r=dict(layerwise.semantic_r), finer_info=finer_info,
                           finer_arrays=finer_arrays, significance=significance)
