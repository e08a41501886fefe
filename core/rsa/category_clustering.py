"""Wen et al. 2018's category clustering: :func:`predictable_vertices`, :func:`category_similarity`,
:func:`category_dendrogram`, :func:`layerwise_clustering` and :func:`finer_clustering`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.cluster.hierarchy

from core._validation import check_choice, check_finite_array, check_labels
from core.categories import category_maps, cluster_specific_vertices
from core.clustering import CategoryClustering, _check_similarity, cluster_categories
from core.rsa.compare import compare_rdms
from core.rsa.rdm import _condensed

# ---------------------------------------------------------------------------------------------
# category clustering (Wen et al. 2018)
# ---------------------------------------------------------------------------------------------


def predictable_vertices(r, q, *, r_min: float = 0.2, q_max: float = 0.01) -> np.ndarray:
    """Vertices whose encoding accuracy is high and significant.

    Parameters
    ----------
    r : ndarray of shape (n_vertices,)
        Prediction accuracy (Pearson r) per vertex.
    q : ndarray of shape (n_vertices,)
        FDR q-values (e.g. ``core.stats.fdr_bh`` of permutation p-values).
    r_min, q_max : float
        Kept where ``r > r_min`` and ``q < q_max``.

    Returns
    -------
    mask : ndarray of shape (n_vertices,), bool
    """
    r = check_finite_array("r", r, ndim=1)
    q = check_finite_array("q", q, ndim=1)
    if r.shape != q.shape:
        raise ValueError(f"r and q must have the same shape, got {r.shape} and {q.shape}")
    return (r > r_min) & (q < q_max)


def category_similarity(maps, *, mask=None, centre: bool = False) -> np.ndarray:
    """Pearson correlation between the cortical maps of every pair of categories.

    Wen et al. 2018 correlate the maps as they are; their responses are standardised per voxel,
    so a map is already a deviation from the voxel's mean. Predicted maps of un-standardised
    responses also carry the encoder's intercept (each vertex's mean response), a pattern common
    to every category that pushes every r towards 1. ``centre=True`` removes it: each vertex's
    mean over the categories is subtracted first (RSA's "cocktail-blank" removal), so r compares
    what distinguishes the categories.

    Parameters
    ----------
    maps : ndarray of shape (n_categories, n_vertices)
        One map per category (e.g. predicted responses averaged over its exemplars).
    mask : ndarray of shape (n_vertices,), bool, optional
        Vertices to use (e.g. :func:`predictable_vertices`); all when omitted.
    centre : bool
        Subtract each vertex's mean over the categories before correlating (needs >= 3
        categories: two centred maps are always anti-correlated).

    Returns
    -------
    similarity : ndarray of shape (n_categories, n_categories), float64
        Symmetric, ones on the diagonal.
    """
    maps = check_finite_array("maps", maps, ndim=2, min_rows=3 if centre else 2).astype(np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (maps.shape[1],):
            raise ValueError(f"mask must have shape ({maps.shape[1]},), got {mask.shape}")
        maps = maps[:, mask]
    if maps.shape[1] < 2:
        raise ValueError(f"category_similarity needs at least 2 vertices, got {maps.shape[1]}")
    scale = np.abs(maps).max()
    if centre:
        maps = maps - maps.mean(axis=0)
    flat = np.flatnonzero(maps.std(axis=1) <= 1e-12 * scale)  # relative: centring leaves round-off
    if flat.size:
        raise ValueError(f"category maps {flat.tolist()} are constant over the vertices used"
                         + (" once the mean over categories is removed" if centre else ""))
    return np.clip(np.corrcoef(maps), -1.0, 1.0)


#: Linkage methods accepted by :func:`category_dendrogram` (scipy names).
LINKAGE_METHODS = ("average", "complete", "single", "weighted")


def category_dendrogram(S, *, method: str = "average") -> tuple[np.ndarray, np.ndarray]:
    """Hierarchical clustering of categories on the distance ``1 - S``.

    Parameters
    ----------
    S : ndarray of shape (n_categories, n_categories)
        Symmetric similarity with ones on the diagonal.
    method : {"average", "complete", "single", "weighted"}

    Returns
    -------
    linkage : ndarray of shape (n_categories - 1, 4), float64
        scipy linkage matrix.
    leaf_order : ndarray of shape (n_categories,), int
        Category indices in dendrogram order.
    """
    check_choice("method", method, LINKAGE_METHODS)
    S = _check_similarity(S)
    distance = np.maximum(1.0 - _condensed(S), 0.0)
    linkage = scipy.cluster.hierarchy.linkage(distance, method=method)
    return linkage, scipy.cluster.hierarchy.leaves_list(linkage)


# ---------------------------------------------------------------------------------------------
# layer-wise contribution and finer clustering (Wen et al. 2018)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerwiseClustering:
    """Clustering quality and semantic correspondence of category maps from each layer.

    Attributes
    ----------
    modularity : ndarray of shape (n_layers,), float64
        Signed Q of the layer's best k-means partition (k chosen by max Q).
    best_k : ndarray of shape (n_layers,), int
    semantic_r : dict of str to ndarray of shape (n_layers,)
        Pearson r between the layer's category similarity and each semantic similarity, over
        the category pairs whose semantic similarity is known.
    """

    modularity: np.ndarray
    best_k: np.ndarray
    semantic_r: dict


def layerwise_clustering(layer_maps, *, mask=None, semantic: Mapping[str, np.ndarray] | None = None,
                         k_range: Sequence[int] = range(2, 11), centre: bool = True,
                         random_state=None) -> LayerwiseClustering:
    """Signed modularity and semantic correlation of the category similarity of each layer.

    Wen et al. 2018 predict each category's map from one layer (the other layers' features
    zeroed, i.e. at their mean for standardised features) and correlate the maps as they are.
    Here a single-layer map is the encoder's intercept plus that layer's contribution; the
    intercept, the same for every category, is far larger than the contribution of most
    single layers, so uncentred maps correlate at r ≈ 1 and Q ≈ 0 whatever the layer carries.
    ``centre=True`` (default) correlates the maps after removing each vertex's mean over the
    categories (:func:`category_similarity`), which removes the intercept and leaves each
    layer's category-specific pattern.

    Parameters
    ----------
    layer_maps : ndarray of shape (n_layers, n_categories, n_vertices)
        Category maps synthesised from each layer alone
        (``core.categories.single_layer_category_maps``).
    mask : ndarray of shape (n_vertices,), bool, optional
        Vertices used for the similarity (e.g. :func:`predictable_vertices` of the full model).
    semantic : mapping of str to ndarray of shape (n_categories, n_categories), optional
        Semantic similarity matrices by name; rows that are all NaN (unknown labels) are left
        out of that name's correlation.
    k_range : sequence of int
        Numbers of clusters tried per layer (clipped to [2, n_categories - 1]).
    centre : bool
        Remove each vertex's mean over the categories before correlating (see above).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    result : LayerwiseClustering
    """
    layer_maps = check_finite_array("layer_maps", layer_maps, ndim=3)
    n = layer_maps.shape[1]
    ks = [k for k in k_range if 2 <= k <= n - 1]
    rng = np.random.default_rng(random_state)
    similarities = np.stack([category_similarity(maps, mask=mask, centre=centre) for maps in layer_maps])
    clusterings = [cluster_categories(S, k_range=ks, random_state=rng) for S in similarities]
    semantic_r = {}
    for name, matrix in (semantic or {}).items():
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (n, n):
            raise ValueError(f"semantic[{name!r}] must have shape ({n}, {n}), got {matrix.shape}")
        known = np.flatnonzero(~np.isnan(matrix).all(axis=1))
        if known.size < 3:
            raise ValueError(f"semantic[{name!r}] knows fewer than 3 categories")
        sub = np.ix_(known, known)
        layer_vectors = np.stack([_condensed(S[sub]) for S in similarities])
        semantic_r[name] = compare_rdms(layer_vectors, _condensed(matrix[sub]), method="pearson")[:, 0]
    return LayerwiseClustering(np.array([c.modularity.max() for c in clusterings]),
                               np.array([c.best_k for c in clusterings]), semantic_r)


@dataclass(frozen=True, eq=False)
class FinerClustering:
    """Sub-clusters of the categories of one cluster.

    Attributes
    ----------
    categories : tuple
        The cluster's categories (rows of ``similarity``).
    specific : ndarray of shape (n_vertices,), bool
        The cluster-specific vertices the similarity is computed over.
    similarity : ndarray of shape (n_members, n_members), float64
        :func:`category_similarity` of the members' maps (centred unless ``centre=False``).
    clustering : CategoryClustering
        k-means sub-clusters, k by max signed Q.
    linkage : ndarray of shape (n_members - 1, 4)
    order : ndarray of shape (n_members,), int
        Dendrogram leaf order.
    """

    categories: tuple
    specific: np.ndarray
    similarity: np.ndarray
    clustering: CategoryClustering
    linkage: np.ndarray
    order: np.ndarray


def finer_clustering(responses, labels, members: Sequence, *, control: Sequence | None = None,
                     alpha: float = 0.05, k_max: int = 10, centre: bool = True,
                     random_state=None) -> FinerClustering:
    """Cluster again within one cluster of categories (Wen et al. 2018, "finer clustering").

    1. Cluster-specific vertices: responses to the cluster's exemplars exceed those to the
       control exemplars (one-sided two-sample t, Bonferroni; ``core.categories.cluster_specific_vertices``).
    2. The members' category maps are correlated over those vertices
       (:func:`category_similarity`), by default after removing each vertex's mean over the
       members: every member drives these vertices by construction, and that shared response
       would otherwise push every r towards 1 (as in :func:`layerwise_clustering`).
    3. k-means on that similarity with k chosen by max signed modularity
       (:func:`cluster_categories`), plus an average-linkage dendrogram.

    Parameters
    ----------
    responses : ndarray of shape (n_exemplars, n_vertices)
        Responses (e.g. predicted maps) to every exemplar.
    labels : ndarray of shape (n_exemplars,)
        Category of each exemplar.
    members : sequence
        Categories of the cluster to split (>= 3, no repeats).
    control : sequence, optional
        Control categories (no repeats, none of ``members``); default every other category in
        ``labels``.
    alpha : float
        Family-wise error rate over vertices.
    k_max : int
        Largest number of sub-clusters tried (at most n_members - 1).
    centre : bool
        Remove each vertex's mean over the members before correlating.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    result : FinerClustering
    """
    members = check_labels("cluster to split", members, min_size=3)
    labels = np.asarray(labels)
    if control is None:
        control = [c for c in dict.fromkeys(labels.tolist()) if c not in members]
    specific = cluster_specific_vertices(responses, labels, members, control, alpha=alpha)
    if specific.sum() < 2:
        raise ValueError(f"only {int(specific.sum())} vertices respond more to {members} than to the other "
                         f"categories (p < {alpha} Bonferroni); too few to compare their maps")
    in_cluster = np.isin(labels, members)
    names, maps = category_maps(np.asarray(responses)[in_cluster][:, specific], labels[in_cluster],
                                categories=members)
    S = category_similarity(maps, centre=centre)
    clustering = cluster_categories(S, k_range=range(2, min(k_max, len(members) - 1) + 1),
                                    random_state=random_state)
    linkage, order = category_dendrogram(S)
    return FinerClustering(tuple(names), specific, S, clustering, linkage, order)
