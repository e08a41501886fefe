"""Representational similarity analysis and category clustering (Wen et al. 2018).

- :class:`RDM`: condensed representational dissimilarity matrices that carry their pattern
  labels and descriptors; :func:`compute_rdm` over the :data:`RDM_METRICS` registry.
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

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import scipy.cluster.hierarchy
import scipy.stats
from scipy.spatial.distance import squareform

from core._validation import check_choice, check_finite_array, check_labels
from core.categories import category_maps, cluster_specific_vertices
from core.clustering import CategoryClustering, _check_similarity, cluster_categories

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


# ---------------------------------------------------------------------------------------------
# RDM data object
# ---------------------------------------------------------------------------------------------


def _n_conditions(n_pairs: int) -> int:
    """Number of conditions whose condensed RDM has ``n_pairs`` entries (or -1)."""
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    return n if n * (n - 1) // 2 == n_pairs else -1


@dataclass(frozen=True, eq=False)
class RDM:
    """One or several representational dissimilarity matrices over the same conditions.

    Parameters
    ----------
    dissimilarities : ndarray of shape (n_rdms, n_pairs) or (n_pairs,)
        Condensed upper triangles (scipy/rsatoolbox order), float64. A 1-D input is one RDM.
        ``n_pairs = n_conditions * (n_conditions - 1) / 2``.
    measure : str
        Dissimilarity measure, e.g. ``"correlation"`` or ``"squared euclidean"``.
    pattern_labels : tuple of length n_conditions
        One label per condition (row/column), e.g. category names.
    descriptors : dict
        Dataset-level descriptors (subject, layer, ROI, ...); JSON-serialisable values
        survive :func:`save_rdm`.
    """

    dissimilarities: np.ndarray
    measure: str
    pattern_labels: tuple
    descriptors: dict = field(default_factory=dict)

    def __post_init__(self):
        d = check_finite_array("dissimilarities", self.dissimilarities).astype(np.float64)
        if d.ndim == 1:
            d = d[None, :]
        if d.ndim != 2:
            raise ValueError(f"dissimilarities must be (n_rdms, n_pairs) or (n_pairs,), got shape {d.shape}")
        labels = tuple(self.pattern_labels)
        n_pairs = len(labels) * (len(labels) - 1) // 2
        if len(labels) < 2 or d.shape[1] != n_pairs:
            raise ValueError(
                f"{len(labels)} pattern_labels need {n_pairs} dissimilarities per RDM "
                f"(n_conditions >= 2), got {d.shape[1]}"
            )
        check_labels("pattern_labels", labels)
        object.__setattr__(self, "dissimilarities", d)
        object.__setattr__(self, "pattern_labels", labels)
        object.__setattr__(self, "descriptors", dict(self.descriptors))

    @property
    def n_rdms(self) -> int:
        """Number of RDMs stacked in this object."""
        return self.dissimilarities.shape[0]

    @property
    def n_conditions(self) -> int:
        """Number of conditions (rows of each square matrix)."""
        return len(self.pattern_labels)

    def matrix(self, index: int = 0) -> np.ndarray:
        """Square form of RDM ``index``: ndarray of shape (n_conditions, n_conditions), zero diagonal."""
        if not -self.n_rdms <= index < self.n_rdms:
            raise ValueError(f"index={index} is out of range for {self.n_rdms} RDMs")
        return squareform(self.dissimilarities[index], checks=False)

    def subset(self, labels: Sequence) -> RDM:
        """New RDM restricted to (and ordered as) ``labels`` (>= 2, no repeats), for every stacked RDM."""
        labels = check_labels("subset labels", labels, known=self.pattern_labels, min_size=2)
        position = {label: i for i, label in enumerate(self.pattern_labels)}
        idx = np.array([position[label] for label in labels])
        iu, ju = np.triu_indices(len(idx), 1)
        full = np.stack([self.matrix(k) for k in range(self.n_rdms)])
        return RDM(full[:, idx[iu], idx[ju]], self.measure, tuple(labels), self.descriptors)

    @classmethod
    def from_matrix(cls, matrix, *, measure: str, pattern_labels: Sequence | None = None,
                    descriptors: Mapping | None = None) -> RDM:
        """Build an RDM from square matrices.

        Parameters
        ----------
        matrix : ndarray of shape (n_conditions, n_conditions) or (n_rdms, n, n)
            Symmetric dissimilarity matrices; the diagonal is ignored.
        measure : str
        pattern_labels : sequence of length n_conditions, optional
            Defaults to ``0 .. n_conditions - 1``.
        descriptors : mapping, optional
        """
        m = check_finite_array("matrix", matrix).astype(np.float64)
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3 or m.shape[1] != m.shape[2]:
            raise ValueError(f"matrix must be square (n, n) or (n_rdms, n, n), got shape {m.shape}")
        if not np.allclose(m, m.transpose(0, 2, 1)):
            raise ValueError("matrix must be symmetric")
        n = m.shape[1]
        iu, ju = np.triu_indices(n, 1)
        labels = tuple(range(n)) if pattern_labels is None else tuple(pattern_labels)
        return cls(m[:, iu, ju], measure, labels, dict(descriptors or {}))


def _check_same_conditions(a, b) -> None:
    """Two :class:`RDM` objects must list the same conditions in the same order."""
    if isinstance(a, RDM) and isinstance(b, RDM) and a.pattern_labels != b.pattern_labels:
        raise ValueError(f"RDMs have different pattern_labels {a.pattern_labels} and {b.pattern_labels}; "
                         "use RDM.subset to align them")


def _vectors(name: str, rdm) -> np.ndarray:
    """Condensed vectors (n_rdms, n_pairs) from an :class:`RDM` or an array."""
    if isinstance(rdm, RDM):
        return rdm.dissimilarities
    v = check_finite_array(name, rdm).astype(np.float64)
    v = v[None, :] if v.ndim == 1 else v
    if v.ndim != 2 or _n_conditions(v.shape[1]) < 2:
        raise ValueError(f"{name} must be condensed RDMs (n_rdms, n_pairs) or (n_pairs,), got shape {v.shape}")
    return v


# ---------------------------------------------------------------------------------------------
# computing RDMs
# ---------------------------------------------------------------------------------------------


def _condensed(matrix: np.ndarray) -> np.ndarray:
    iu, ju = np.triu_indices(matrix.shape[0], 1)
    return matrix[iu, ju]


def _rdm_correlation(patterns: np.ndarray, noise) -> np.ndarray:
    centred = patterns - patterns.mean(axis=1, keepdims=True)
    gram = centred @ centred.T
    norm = np.sqrt(np.diag(gram))
    if np.any(norm == 0):
        raise ValueError(f"correlation distance is undefined for constant patterns (rows {np.flatnonzero(norm == 0)})")
    return 1.0 - _condensed(gram / np.outer(norm, norm))


def _rdm_cosine(patterns: np.ndarray, noise) -> np.ndarray:
    gram = patterns @ patterns.T
    norm = np.sqrt(np.diag(gram))
    if np.any(norm == 0):
        raise ValueError(f"cosine distance is undefined for all-zero patterns (rows {np.flatnonzero(norm == 0)})")
    return 1.0 - _condensed(gram / np.outer(norm, norm))


def _rdm_sq_euclidean(patterns: np.ndarray, noise) -> np.ndarray:
    sq = np.einsum("ij,ij->i", patterns, patterns)
    gram = patterns @ patterns.T
    return np.maximum(_condensed(sq[:, None] + sq[None, :] - 2 * gram), 0.0) / patterns.shape[1]


def _rdm_crossnobis(runs: np.ndarray, noise) -> np.ndarray:
    n_runs, n_conditions, n_channels = runs.shape
    total = runs.sum(axis=0)
    d = np.zeros(n_conditions * (n_conditions - 1) // 2)
    for test in runs:
        train = (total - test) / (n_runs - 1)
        kernel = (train if noise is None else train @ noise) @ test.T
        diag = np.diag(kernel)
        d += _condensed(diag[:, None] + diag[None, :] - kernel - kernel.T)
    return d / (n_runs * n_channels)


@dataclass(frozen=True)
class _Metric:
    function: Callable
    measure: str
    ndim: int


#: Dissimilarity metrics for :func:`compute_rdm`, following rsatoolbox's conventions:
#: ``"euclidean"`` is the squared Euclidean distance divided by ``n_channels``;
#: ``"crossnobis"`` is leave-one-run-out cross-validated Mahalanobis distance, also divided
#: by ``n_channels``, and takes run-wise patterns (n_runs, n_conditions, n_channels).
RDM_METRICS = {
    "correlation": _Metric(_rdm_correlation, "correlation", 2),
    "cosine": _Metric(_rdm_cosine, "cosine", 2),
    "euclidean": _Metric(_rdm_sq_euclidean, "squared euclidean", 2),
    "crossnobis": _Metric(_rdm_crossnobis, "crossnobis", 3),
}


def compute_rdm(patterns, *, metric: str = "correlation", pattern_labels: Sequence | None = None,
                noise=None, descriptors: Mapping | None = None) -> RDM:
    """Representational dissimilarity matrix of condition patterns.

    Parameters
    ----------
    patterns : ndarray of shape (n_conditions, n_channels)
        One response pattern per condition (channels = vertices, voxels or units). For
        ``metric="crossnobis"``: run-wise patterns of shape (n_runs, n_conditions, n_channels)
        with n_runs >= 2.
    metric : {"correlation", "cosine", "euclidean", "crossnobis"}
        ``"correlation"``: 1 - Pearson r; ``"cosine"``: 1 - cosine similarity (both equal
        ``scipy.spatial.distance.pdist``); ``"euclidean"``: squared Euclidean distance / n_channels
        (rsatoolbox's ``"euclidean"``, measure ``"squared euclidean"``); ``"crossnobis"``:
        for each run k, ``(train_i - train_j) Λ (test_i - test_j)ᵀ / n_channels`` with test = run k
        and train = mean of the other runs, averaged over the n_runs folds (rsatoolbox's
        ``calc_rdm_crossnobis`` with one fold per run). Its expectation is 0 when conditions
        do not differ; it can be negative.
    pattern_labels : sequence of length n_conditions, optional
        Defaults to ``0 .. n_conditions - 1``.
    noise : ndarray of shape (n_channels, n_channels), optional
        Noise precision Λ for ``"crossnobis"`` (identity when omitted).
    descriptors : mapping, optional
        Stored on the returned :class:`RDM`.

    Returns
    -------
    rdm : RDM
        One condensed RDM, float64.

    Examples
    --------
    >>> compute_rdm([[0.0], [1.0], [3.0]], metric="euclidean").dissimilarities
    array([[1., 9., 4.]])
    """
    check_choice("metric", metric, RDM_METRICS)
    spec = RDM_METRICS[metric]
    x = check_finite_array("patterns", patterns, ndim=spec.ndim).astype(np.float64, copy=False)
    if spec.ndim == 3 and x.shape[0] < 2:
        raise ValueError(f"crossnobis needs at least 2 runs, got patterns of shape {x.shape}")
    if noise is not None:
        if metric != "crossnobis":
            raise ValueError(f"noise is only used by metric='crossnobis', got metric={metric!r}")
        noise = check_finite_array("noise", noise, ndim=2).astype(np.float64)
        if noise.shape != (x.shape[-1],) * 2:
            raise ValueError(f"noise must have shape {(x.shape[-1],) * 2}, got {noise.shape}")
    n_conditions = x.shape[-2]
    labels = tuple(range(n_conditions)) if pattern_labels is None else tuple(pattern_labels)
    if len(labels) != n_conditions:
        raise ValueError(f"{len(labels)} pattern_labels for {n_conditions} conditions")
    return RDM(spec.function(x, noise), spec.measure, labels, dict(descriptors or {}))


# ---------------------------------------------------------------------------------------------
# comparing RDMs
# ---------------------------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows divided by their norm; all-zero rows stay zero (similarity 0, as rsatoolbox)."""
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _centre(v: np.ndarray) -> np.ndarray:
    return v - v.mean(axis=1, keepdims=True)


def _ranks(v: np.ndarray) -> np.ndarray:
    return scipy.stats.rankdata(v, axis=1)


def _embed_rho_a(v: np.ndarray) -> np.ndarray:
    n = v.shape[1]
    return _centre(_ranks(v)) * np.sqrt(12.0 / (n**3 - n))


@numba.njit(nogil=True, cache=True)
def _permuted_pair_sums(a, b, perms):
    """``Σ_{i<j} a[π_i, π_j] b[i, j]`` for each row π of ``perms``.

    a, b : float64 (n, n); perms : int (n_perms, n) -> float64 (n_perms,). The 80 × 80 operands
    stay in cache; four accumulators break the chain of dependent additions (twice as fast as
    one on a 2-core x86 machine).
    """
    n_perms, n = perms.shape
    out = np.empty(n_perms)
    for k in range(n_perms):
        p = perms[k]
        s0 = s1 = s2 = s3 = 0.0
        for i in range(n - 1):
            row, bi = a[p[i]], b[i]
            j = i + 1
            while j + 3 < n:
                s0 += row[p[j]] * bi[j]
                s1 += row[p[j + 1]] * bi[j + 1]
                s2 += row[p[j + 2]] * bi[j + 2]
                s3 += row[p[j + 3]] * bi[j + 3]
                j += 4
            while j < n:
                s0 += row[p[j]] * bi[j]
                j += 1
        out[k] = (s0 + s1) + (s2 + s3)
    return out


@numba.njit(nogil=True, cache=True)
def _permuted_concordance(rank_a, first, second, group_end, perms):
    """``Σ_{p<q} sign(a'_p − a'_q) sign(b_p − b_q)`` over pairs of entries, for each row π of ``perms``.

    ``a'`` is ``a`` with its conditions permuted: entry (i, j) is ``rank_a[π_i, π_j]`` (int64
    (n, n), dense ranks from 1). ``first``/``second`` (n_pairs,) name the conditions of each
    entry in ascending order of ``b``, whose runs of equal values end at ``group_end``. Walking
    that order with a Fenwick tree of the ranks seen so far counts, for each entry, the earlier
    entries below and above it in ``a'``: O(n_pairs log n_pairs) per permutation (Knight 1966).
    """
    n_pairs = first.size
    n_ranks = rank_a.max()
    tree = np.zeros(n_ranks + 1, np.int64)
    count = np.zeros(n_ranks + 1, np.int64)
    x = np.empty(n_pairs, np.int64)
    out = np.empty(perms.shape[0])
    for k in range(perms.shape[0]):
        p = perms[k]
        tree[:] = 0
        count[:] = 0
        for q in range(n_pairs):
            x[q] = rank_a[p[first[q]], p[second[q]]]
        s = 0
        start = 0
        for end in group_end:
            for q in range(start, end):  # ties in b: query the whole run before inserting it
                i, at_most = x[q], 0
                while i > 0:
                    at_most += tree[i]
                    i -= i & -i
                s += 2 * at_most - count[x[q]] - start  # (#below) - (#above) among the earlier entries
            for q in range(start, end):
                count[x[q]] += 1
                i = x[q]
                while i <= n_ranks:
                    tree[i] += 1
                    i += i & -i
            start = end
        out[k] = s
    return out


def _dot_statistic(ea: np.ndarray, eb: np.ndarray) -> Callable:
    """Permutation statistic of a method with embeddings ``ea``, ``eb`` (n_pairs,)."""
    a, b = squareform(ea, checks=False), squareform(eb, checks=False)
    return lambda perms: _permuted_pair_sums(a, b, perms)


def _tau_a_statistic(va: np.ndarray, vb: np.ndarray) -> Callable:
    """Permutation statistic of Kendall's tau-a between ``va`` and ``vb`` (n_pairs,)."""
    n = _n_conditions(va.size)
    rank_a = np.zeros((n, n), np.int64)
    iu, ju = np.triu_indices(n, 1)
    rank_a[iu, ju] = rank_a[ju, iu] = np.unique(va, return_inverse=True)[1] + 1
    order = np.argsort(vb, kind="stable")
    first, second = iu[order], ju[order]
    group_end = np.append(np.flatnonzero(np.diff(vb[order])) + 1, vb.size)
    n_pairs_of_pairs = max(va.size * (va.size - 1) // 2, 1)  # one entry: no pairs, the sum is 0
    return lambda perms: _permuted_concordance(rank_a, first, second, group_end, perms) / n_pairs_of_pairs


def _compare_tau_a(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Kendall's tau-a (n_a, n_b) = (concordant - discordant) / (n_pairs (n_pairs - 1) / 2)."""
    identity = np.arange(_n_conditions(va.shape[1]))[None]
    return np.array([[_tau_a_statistic(a, b)(identity)[0] for b in vb] for a in va])


@dataclass(frozen=True)
class Comparison:
    """An RDM comparison method.

    Attributes
    ----------
    embed : callable or None
        ``(n_rdms, n_pairs) -> (n_rdms, n_pairs)`` such that the similarity of two RDMs is the
        dot product of their embeddings. It commutes with permutations of the entries, which
        :func:`rdm_permutation_test` relies on. None for non-linear methods.
    pairwise : callable or None
        ``(va, vb) -> (n_a, n_b)`` for methods without an embedding.
    pool : callable
        ``(n_rdms, n_pairs) -> (n_pairs,)``: the RDM that best represents a group under this
        method (rsatoolbox's ``pool_rdm``), used by :func:`rdm_noise_ceiling`.
    rsatoolbox_name : str
        The method's name in ``rsatoolbox.rdm.compare``.
    permuted : callable or None
        ``(va, vb) -> statistic`` for methods without an embedding, with ``va``, ``vb`` of shape
        (n_pairs,): see :meth:`permutation_statistic`.
    """

    embed: Callable | None
    pairwise: Callable | None
    pool: Callable
    rsatoolbox_name: str
    permuted: Callable | None = None

    def compare(self, va: np.ndarray, vb: np.ndarray) -> np.ndarray:
        """Similarities (n_a, n_b) between condensed vectors ``va`` (n_a, n_pairs) and ``vb``."""
        if self.embed is None:
            return self.pairwise(va, vb)
        return np.clip(self.embed(va) @ self.embed(vb).T, -1.0, 1.0)

    def permutation_statistic(self, va: np.ndarray, vb: np.ndarray) -> Callable:
        """Similarity of ``va`` with its conditions permuted to ``vb``, as a compiled function.

        Parameters
        ----------
        va, vb : ndarray of shape (n_pairs,)
            One condensed RDM each.

        Returns
        -------
        statistic : callable
            ``perms`` (ndarray of shape (n_perms, n_conditions), int64, each row a permutation
            π) ``->`` ndarray of shape (n_perms,): the similarity (unclipped) of the RDM
            ``A[π_i, π_j]`` with ``vb``. Embeddings and ranks are computed once here; a
            permuted RDM holds the same values, so its ranks are the permuted ranks.
        """
        if self.embed is None:
            return self.permuted(va, vb)
        return _dot_statistic(self.embed(va[None])[0], self.embed(vb[None])[0])


def _pool_mean_rank(v: np.ndarray) -> np.ndarray:
    return _ranks(v).mean(axis=0)


#: RDM comparison methods for :func:`compare_rdms` (equal to ``rsatoolbox.rdm.compare`` with
#: the method named in ``rsatoolbox_name``). ``"rho_a"`` is Spearman's rho without tie
#: correction; ``"kendall_tau_a"`` counts tied pairs as neither concordant nor discordant.
COMPARE_METHODS = {
    "pearson": Comparison(lambda v: _unit(_centre(v)), None,
                          lambda v: _unit(_centre(v)).mean(axis=0), "corr"),
    "spearman": Comparison(lambda v: _unit(_centre(_ranks(v))), None, _pool_mean_rank, "spearman"),
    "rho_a": Comparison(_embed_rho_a, None, _pool_mean_rank, "rho-a"),
    "cosine": Comparison(_unit, None, lambda v: (v / np.sqrt((v**2).mean(axis=1, keepdims=True))).mean(axis=0),
                         "cosine"),
    "kendall_tau_a": Comparison(None, _compare_tau_a, _pool_mean_rank, "tau-a", permuted=_tau_a_statistic),
}


def compare_rdms(a, b, *, method: str = "pearson") -> np.ndarray:
    """Similarity of every RDM in ``a`` with every RDM in ``b``.

    Parameters
    ----------
    a, b : RDM or ndarray of shape (n_rdms, n_pairs) or (n_pairs,)
        Condensed RDMs over the same conditions in the same order.
    method : {"pearson", "spearman", "rho_a", "cosine", "kendall_tau_a"}
        See :data:`COMPARE_METHODS`. An RDM with no variance (pearson, spearman) or all zeros
        (cosine) has similarity 0 with everything, as in rsatoolbox.

    Returns
    -------
    similarity : ndarray of shape (n_rdms_a, n_rdms_b), float64

    Examples
    --------
    >>> compare_rdms([1.0, 2.0, 3.0], [2.0, 4.0, 7.0], method="spearman")
    array([[1.]])
    """
    check_choice("method", method, COMPARE_METHODS)
    _check_same_conditions(a, b)
    va, vb = _vectors("a", a), _vectors("b", b)
    if va.shape[1] != vb.shape[1]:
        raise ValueError(f"a and b must have the same number of pairs, got {va.shape[1]} and {vb.shape[1]}")
    return COMPARE_METHODS[method].compare(va, vb)


def fisher_z(r) -> np.ndarray:
    """Fisher z-transform ``arctanh(r)`` of correlations (|r| = 1 gives ±inf).

    Parameters
    ----------
    r : ndarray of any shape
        Correlations in [-1, 1].

    Returns
    -------
    z : ndarray of the same shape, float64
    """
    r = check_finite_array("r", np.atleast_1d(r)).astype(np.float64).reshape(np.shape(r))
    if r.size and np.abs(r).max() > 1:
        raise ValueError(f"correlations must lie in [-1, 1], got max |r| = {np.abs(r).max()}")
    with np.errstate(divide="ignore"):
        return np.arctanh(r)


@dataclass(frozen=True, eq=False)
class PermutationResult:
    """Result of a permutation test.

    Attributes
    ----------
    observed : float
        Statistic on the unpermuted data.
    p_value : float
        One-sided (greater) p with the +1 correction: ``(1 + #{null >= observed}) / (1 + n_permutations)``.
    n_permutations : int
    null : ndarray of shape (n_permutations,) or None
        The permutation distribution, when requested.
    """

    observed: float
    p_value: float
    n_permutations: int
    null: np.ndarray | None = None


def _permutations(rng: np.random.Generator, n_rows: int, n: int) -> np.ndarray:
    """``n_rows`` permutations of ``range(n)``: int64 (n_rows, n), C order (rows contiguous).

    The same values as ``rng.permuted(np.broadcast_to(np.arange(n), (n_rows, n)), axis=1)``,
    which returns Fortran order: a kernel reading one permutation would stride across memory.
    """
    perms = np.tile(np.arange(n), (n_rows, 1))
    return rng.permuted(perms, axis=1, out=perms)


def _check_n_permutations(n_permutations: int) -> int:
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    return int(n_permutations)


def _single_vector(name: str, rdm) -> np.ndarray:
    v = _vectors(name, rdm)
    if v.shape[0] != 1:
        raise ValueError(f"{name} must hold one RDM, got {v.shape[0]}")
    return v[0]


def rdm_permutation_test(a, b, *, method: str = "pearson", n_permutations: int = 100_000,
                         random_state=None, return_null: bool = False,
                         chunk_size: int = 4096) -> PermutationResult:
    """Condition-label permutation test of the similarity between two RDMs.

    The conditions of ``a`` are permuted (rows and columns together) and the similarity
    recomputed, which keeps the dependence between entries that share a condition (a Mantel
    test). Permutations come from ``numpy.random.Generator.permuted`` in chunks, so a given
    ``random_state`` gives the same null whatever the chunk size. Each chunk is evaluated by a
    numba kernel (:meth:`Comparison.permutation_statistic`, compiled on first use and cached
    on disk). For the embedding methods the statistic of π is ``Σ_{i<j} A[π_i, π_j] B[i, j]``
    with ``A``, ``B`` the square forms of the two embeddings: O(n_conditions²) per
    permutation, about 0.6 s of one core for 100,000 permutations of 80 conditions, a quarter
    of it drawing the permutations (``bench/rsa.py``). ``"kendall_tau_a"`` counts concordant
    pairs of entries with a Fenwick tree, O(n_pairs log n_pairs) per permutation: about 20 s
    for 100,000 permutations of 80 conditions, so use fewer permutations with it.

    Parameters
    ----------
    a, b : RDM or ndarray of shape (n_pairs,)
        One RDM each, same conditions in the same order.
    method : {"pearson", "spearman", "rho_a", "cosine", "kendall_tau_a"}
        See :data:`COMPARE_METHODS`.
    n_permutations : int
    random_state : int, numpy.random.Generator or None
    return_null : bool
        Keep the null distribution in the result.
    chunk_size : int
        Permutations drawn per batch (memory ~ chunk_size * n_conditions * 8 bytes).

    Returns
    -------
    result : PermutationResult
        One-sided p (similarity greater than chance). ``observed`` is the statistic of the
        identity permutation, so a permutation that leaves the RDM unchanged ties with it.
    """
    check_choice("method", method, COMPARE_METHODS)
    n_permutations = _check_n_permutations(n_permutations)
    _check_same_conditions(a, b)
    va, vb = _single_vector("a", a), _single_vector("b", b)
    if va.size != vb.size:
        raise ValueError(f"a and b must have the same number of pairs, got {va.size} and {vb.size}")
    statistic = COMPARE_METHODS[method].permutation_statistic(va, vb)
    n = _n_conditions(va.size)
    observed = float(statistic(np.arange(n)[None])[0])
    rng = np.random.default_rng(random_state)
    null = np.concatenate([statistic(_permutations(rng, min(chunk_size, n_permutations - start), n))
                           for start in range(0, n_permutations, chunk_size)])
    tolerance = 1e-12 * max(1.0, abs(observed))
    p = (1 + np.count_nonzero(null >= observed - tolerance)) / (1 + n_permutations)
    return PermutationResult(observed, float(p), n_permutations, null if return_null else None)


@dataclass(frozen=True)
class RDMNoiseCeiling:
    """Bounds on the similarity a model RDM can reach given inter-subject variability.

    Attributes
    ----------
    lower : float
        Mean over subjects of the similarity between one subject's RDM and the pooled RDM of
        the other subjects (leave-one-subject-out).
    upper : float
        Mean over subjects of the similarity between one subject's RDM and the pooled RDM of
        all subjects.
    method : str
    """

    lower: float
    upper: float
    method: str


def rdm_noise_ceiling(rdms, *, method: str = "pearson") -> RDMNoiseCeiling:
    """Leave-one-subject-out noise ceiling of a group of brain RDMs.

    Equals rsatoolbox's ``boot_noise_ceiling`` (without bootstrap): the pooled RDM is the
    one that maximises the mean similarity under ``method`` (mean of z-scored vectors for
    pearson, of RMS-normalised vectors for cosine, of ranks for the rank methods).

    Parameters
    ----------
    rdms : RDM or ndarray of shape (n_subjects, n_pairs)
        One RDM per subject, n_subjects >= 2.
    method : {"pearson", "spearman", "rho_a", "cosine", "kendall_tau_a"}

    Returns
    -------
    ceiling : RDMNoiseCeiling
    """
    check_choice("method", method, COMPARE_METHODS)
    v = _vectors("rdms", rdms)
    if v.shape[0] < 2:
        raise ValueError(f"a noise ceiling needs at least 2 subject RDMs, got {v.shape[0]}")
    spec = COMPARE_METHODS[method]
    upper = spec.compare(spec.pool(v)[None], v)[0]
    keep = ~np.eye(v.shape[0], dtype=bool)
    lower = np.array([spec.compare(spec.pool(v[keep[s]])[None], v[s:s + 1])[0, 0] for s in range(v.shape[0])])
    return RDMNoiseCeiling(float(lower.mean()), float(upper.mean()), method)


# ---------------------------------------------------------------------------------------------
# input/output
# ---------------------------------------------------------------------------------------------


def _save_npz(rdm: RDM, path: Path) -> None:
    np.savez(path, dissimilarities=rdm.dissimilarities, dissimilarity_measure=np.array(rdm.measure),
             pattern_labels=np.array([str(x) for x in rdm.pattern_labels]),
             descriptors=np.array(json.dumps(rdm.descriptors)))


def _load_npz(path: Path) -> RDM:
    with np.load(path, allow_pickle=False) as f:
        return RDM(f["dissimilarities"], str(f["dissimilarity_measure"]), tuple(f["pattern_labels"].tolist()),
                   json.loads(str(f["descriptors"])))


def _save_hdf5(rdm: RDM, path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f["dissimilarities"] = rdm.dissimilarities
        f.attrs["dissimilarity_measure"] = rdm.measure
        desc = f.create_group("descriptors")
        for key, value in rdm.descriptors.items():
            if isinstance(value, str):
                desc.attrs[key] = value
            else:
                desc[key] = value
        f.create_group("rdm_descriptors")["index"] = np.arange(rdm.n_rdms)
        pattern = f.create_group("pattern_descriptors")
        pattern["index"] = np.arange(rdm.n_conditions)
        pattern["label"] = np.array([str(x) for x in rdm.pattern_labels]).astype("S")


def _plain(value):
    """Python value of an HDF5 dataset or attribute (bytes decoded, 0-d arrays unwrapped)."""
    value = np.asarray(value)
    if value.dtype.kind == "S":
        value = value.astype(str)
    return value.tolist()


def _load_hdf5(path: Path) -> RDM:
    import h5py

    with h5py.File(path, "r") as f:
        pattern = f["pattern_descriptors"]
        key = next((k for k in ("label", "conds", "index") if k in pattern), None)
        if key is None:
            raise ValueError(f"{path} has no pattern descriptor; choose from ['label', 'conds', 'index']")
        desc = f["descriptors"]
        descriptors = {k: _plain(desc[k][()]) for k in desc} | {k: _plain(v) for k, v in desc.attrs.items()}
        return RDM(f["dissimilarities"][()], _plain(f.attrs["dissimilarity_measure"]),
                   tuple(_plain(pattern[key][()])), descriptors)


#: File formats of :func:`save_rdm` / :func:`load_rdm`, by suffix.
RDM_FILE_FORMATS = {".npz": (_save_npz, _load_npz), ".h5": (_save_hdf5, _load_hdf5),
                    ".hdf5": (_save_hdf5, _load_hdf5)}


def save_rdm(rdm: RDM, path) -> Path:
    """Write an RDM to ``.npz`` (no pickle) or ``.h5``/``.hdf5`` (rsatoolbox's layout).

    The HDF5 file holds ``dissimilarities``, the ``dissimilarity_measure`` attribute and the
    groups ``descriptors``, ``rdm_descriptors`` and ``pattern_descriptors`` (with ``index``
    and ``label``), so ``rsatoolbox.rdm.load_rdm`` reads it. Pattern labels are stored as
    strings; descriptors must be JSON-serialisable (npz) or str/numbers/arrays (HDF5).

    Parameters
    ----------
    rdm : RDM
    path : str or Path
        Its suffix picks the format; an existing file is overwritten.

    Returns
    -------
    path : Path
    """
    path = Path(path)
    check_choice("file suffix", path.suffix, RDM_FILE_FORMATS)
    RDM_FILE_FORMATS[path.suffix][0](rdm, path)
    return path


def load_rdm(path) -> RDM:
    """Read an RDM written by :func:`save_rdm` or by rsatoolbox's ``RDMs.save`` (HDF5).

    Pattern labels come from the pattern descriptor ``label``, else ``conds``, else ``index``.
    """
    path = Path(path)
    check_choice("file suffix", path.suffix, RDM_FILE_FORMATS)
    return RDM_FILE_FORMATS[path.suffix][1](path)


def to_rsatoolbox(rdm: RDM):
    """Convert to ``rsatoolbox.rdm.RDMs`` (pattern descriptors ``label`` and ``index``)."""
    from rsatoolbox.rdm import RDMs

    return RDMs(rdm.dissimilarities.copy(), dissimilarity_measure=rdm.measure, descriptors=dict(rdm.descriptors),
                pattern_descriptors={"label": list(rdm.pattern_labels), "index": list(range(rdm.n_conditions))})


def from_rsatoolbox(rdms, *, label_descriptor: str = "label") -> RDM:
    """Convert an ``rsatoolbox.rdm.RDMs`` object; labels from ``label_descriptor`` or ``index``."""
    pattern = rdms.pattern_descriptors
    key = label_descriptor if label_descriptor in pattern else "index"
    return RDM(rdms.get_vectors(), str(rdms.dissimilarity_measure), tuple(pattern[key]), dict(rdms.descriptors))


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
