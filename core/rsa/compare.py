"""RDM comparisons: :func:`compare_rdms` over :data:`COMPARE_METHODS` (many RDMs against many at once) and
:func:`fisher_z`; the numba kernels of the permuted statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
import scipy.stats
from scipy.spatial.distance import squareform

from core._validation import check_choice, check_finite_array
from core.rsa.rdm import _check_same_conditions, _n_conditions, _vectors

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
