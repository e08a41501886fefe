"""The geometry of RDMs for display: :func:`square`, :func:`rank_percentiles`, :func:`leaf_order`,
:func:`similarity_distances` and :func:`classical_mds`. Numpy in and out, float64; condensed vectors in scipy's
``squareform`` order.
"""

from __future__ import annotations

import numpy as np
import scipy.cluster.hierarchy
from scipy.spatial.distance import squareform
from scipy.stats import rankdata

from core._validation import check_finite_array

__all__ = ["classical_mds", "leaf_order", "rank_percentiles", "similarity_distances", "square"]


def square(vector) -> np.ndarray:
    """A condensed RDM (n_pairs,) as its square matrix (n, n), float64, zero diagonal (no symmetry checks)."""
    return squareform(np.asarray(vector, dtype=np.float64), checks=False)


def rank_percentiles(vector) -> np.ndarray:
    """Each dissimilarity of a condensed RDM (n_pairs,) as its rank percentile, 0–100 (ties share their mean
    rank), returned square (n, n): RDMs on different scales then share one colour scale."""
    vector = np.asarray(vector, dtype=np.float64)
    return square(100.0 * (rankdata(vector) - 1) / max(len(vector) - 1, 1))


def leaf_order(vector, method: str = "average") -> np.ndarray:
    """Leaf order (n,) of a hierarchical clustering (``method`` linkage) of a condensed RDM (n_pairs,)."""
    return scipy.cluster.hierarchy.leaves_list(scipy.cluster.hierarchy.linkage(np.asarray(vector, np.float64),
                                                                               method=method))


def similarity_distances(similarity) -> np.ndarray:
    """``1 − similarity`` of a square similarity matrix (n, n), symmetrised, clipped at 0, zero diagonal; a
    missing (NaN) similarity counts as 0 (distance 1)."""
    similarity = np.nan_to_num(np.asarray(similarity, dtype=np.float64), nan=0.0)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {similarity.shape}")
    distance = np.clip(1.0 - (similarity + similarity.T) / 2, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    return distance


def classical_mds(distance, n_components: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of a distance matrix.

    The top eigenvectors of the double-centred squared distances ``B = −½ J D² J`` (``J = I − 1/n``), scaled
    by the square roots of their eigenvalues: Euclidean distances are reproduced exactly.

    Parameters
    ----------
    distance : ndarray of shape (n, n)
    n_components : int

    Returns
    -------
    ndarray of shape (n, n_components), float64
        Zeros along components whose eigenvalue is not positive (and beyond n).
    """
    distance = check_finite_array("distance", distance, ndim=2).astype(np.float64, copy=False)
    n = len(distance)
    if distance.shape != (n, n):
        raise ValueError(f"distance must be a square matrix, got shape {distance.shape}")
    centring = np.eye(n) - 1.0 / n
    b = -0.5 * centring @ (distance**2) @ centring
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    top = np.argsort(values)[::-1][:n_components]
    xy = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
    return np.pad(xy, ((0, 0), (0, n_components - xy.shape[1])))
