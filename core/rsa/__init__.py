"""Representational similarity analysis and category clustering (Wen et al. 2018).

- :class:`RDM`: condensed representational dissimilarity matrices that carry their pattern
  labels, descriptors and per-RDM descriptors (``rdm_descriptors``: network, layer, subject...;
  :meth:`RDM.subset_rdms`, indexing, iteration, :func:`concat_rdms`); :func:`compute_rdm` over the
  :data:`RDM_METRICS` registry.
- :func:`compare_rdms` over :data:`COMPARE_METHODS` (many RDMs against many at once),
  :func:`fisher_z`, :func:`rdm_permutation_test` (condition-label permutations, compiled
  with numba)
  and :func:`rdm_noise_ceiling` (leave-one-subject-out bounds, as rsatoolbox).
- :func:`save_rdm` / :func:`load_rdm` (``.npz`` without pickle, or rsatoolbox's HDF5
  layout) and :func:`to_rsatoolbox` / :func:`from_rsatoolbox`.
- Category clustering: :func:`predictable_vertices`, :func:`category_similarity` (optionally centred over categories)
  and :func:`category_dendrogram`; k-means with k by signed modularity, and its significance, are in
  :mod:`core.clustering`.
- :func:`layerwise_clustering` (Q and semantic correlation of each layer's category maps) and
  :func:`finer_clustering` (sub-clusters of one cluster over its cluster-specific vertices).

Condensed vectors use scipy's ``squareform`` order (row-major upper triangle, the order of
``np.triu_indices(n, 1)``), which is also rsatoolbox's. All arithmetic is float64.
"""

from __future__ import annotations

from core.rsa.category_clustering import (
    LINKAGE_METHODS,
    FinerClustering,
    LayerwiseClustering,
    category_dendrogram,
    category_similarity,
    finer_clustering,
    layerwise_clustering,
    predictable_vertices,
)
from core.rsa.compare import (
    COMPARE_METHODS,
    Comparison,
    compare_rdms,
    fisher_z,
)
from core.rsa.inference import (
    PermutationResult,
    RDMNoiseCeiling,
    rdm_noise_ceiling,
    rdm_permutation_test,
)
from core.rsa.io import RDM_FILE_FORMATS as RDM_FILE_FORMATS
from core.rsa.io import (
    from_rsatoolbox,
    load_rdm,
    save_rdm,
    to_rsatoolbox,
)
from core.rsa.rdm import (
    RDM,
    RDM_METRICS,
    compute_rdm,
    concat_rdms,
)

__all__ = [
    "COMPARE_METHODS",
    "LINKAGE_METHODS",
    "RDM",
    "RDM_METRICS",
    "Comparison",
    "FinerClustering",
    "LayerwiseClustering",
    "RDMNoiseCeiling",
    "PermutationResult",
    "category_dendrogram",
    "category_similarity",
    "compare_rdms",
    "compute_rdm",
    "concat_rdms",
    "finer_clustering",
    "fisher_z",
    "from_rsatoolbox",
    "layerwise_clustering",
    "load_rdm",
    "predictable_vertices",
    "rdm_noise_ceiling",
    "rdm_permutation_test",
    "save_rdm",
    "to_rsatoolbox",
]
