"""Inference on RDM comparisons: :func:`rdm_permutation_test` (condition-label permutations) and
:func:`rdm_noise_ceiling` (leave-one-subject-out bounds, as rsatoolbox).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core._validation import check_choice
from core.rsa.compare import COMPARE_METHODS
from core.rsa.rdm import _check_same_conditions, _n_conditions, _vectors


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
