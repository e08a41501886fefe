"""Inference on RDM comparisons over stimuli: a bootstrap equal to rsatoolbox's ``eval_bootstrap_pattern`` and a
stimulus-permutation test of a region's subject mean.

A bootstrap sample draws stimulus counts ``c``; an unordered pair (u, v) of distinct stimuli then appears
``c_u · c_v`` times among the resampled pairs (a stimulus paired with its own copy is left out, as rsatoolbox
does), so every comparison of a sample is a *weighted* comparison of the original condensed vectors (weights
``c_u c_v``; ranks are those of the weighted multiset, ties averaged). :func:`bootstrap_evaluations` computes
them this way — one matrix product per 64 samples for pearson and cosine, compiled walks of each model's fixed
sort order for the rank methods, a weighted Fenwick-tree count for Kendall's tau-a — and equals rsatoolbox's on
the same index draws (≤ 1e-14; ``bench/rsa_eval.py``). :func:`bootstrap_interval` is rsatoolbox's
``Result.get_ci(level, "bootstrap")``.

Calibration (``core.calibration.model_brain_rsa``, structured null RDMs): :func:`group_permutation_test`
rejects 3–4 % of null data sets at α = 0.05. The bootstrap interval is conservative: a resample weights each
pair ``c_u c_v`` (variance 3) where a new stimulus sample weights it 1, so the pairwise part of the variance is
counted about three times — the bootstrap spread is ≈ 1.7× the sampling spread on null data, and the 95 %
interval excludes 0 in < 1 % of null data sets. Decide with the permutation p; read the interval as a generous
range of the score.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np

from core.errors import UserError, choices_text
from core.rsa import COMPARE_METHODS, RDM, rdm_permutation_test

__all__ = ["CI_LEVEL", "MIN_BOOTSTRAP", "bootstrap_evaluations", "bootstrap_interval", "condensed_vectors",
           "draw_bootstrap_indices", "group_permutation_test"]

#: Coverage of the bootstrap interval.
CI_LEVEL = 0.95
#: Fewest bootstrap samples with finite 95 % bounds (rsatoolbox frames the samples with ±inf).
MIN_BOOTSTRAP = 40
#: Bootstrap samples whose pair weights are held in memory at once.
_BOOTSTRAP_CHUNK = 64



# ---------------------------------------------------------------------------------------------
# bootstrap over stimuli
# ---------------------------------------------------------------------------------------------


def draw_bootstrap_indices(n_stimuli: int, n_bootstrap: int, random_state=None) -> np.ndarray:
    """Stimulus indices of ``n_bootstrap`` bootstrap samples (with replacement), each sorted.

    Returns
    -------
    indices : ndarray of shape (n_bootstrap, n_stimuli), int64
    """
    rng = np.random.default_rng(random_state)
    return np.sort(rng.integers(0, int(n_stimuli), size=(int(n_bootstrap), int(n_stimuli))), axis=1)


def _pair_weights(indices: np.ndarray, n_stimuli: int) -> np.ndarray:
    """(n_samples, n_pairs) int64: how often each pair of distinct stimuli occurs in each sample (c_u c_v)."""
    offsets = indices + n_stimuli * np.arange(indices.shape[0])[:, None]
    counts = np.bincount(offsets.ravel(), minlength=indices.shape[0] * n_stimuli).reshape(-1, n_stimuli)
    iu, ju = np.triu_indices(n_stimuli, 1)
    return counts[:, iu] * counts[:, ju]


def _linear_sums(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Columns whose weighted sums give weighted pearson/cosine: ``[x, x², y, y², x·y_1, …, x·y_S]`` as one
    C-ordered (P, n_columns) array (BLAS is several times slower on the transposed operand)."""
    return np.ascontiguousarray(np.concatenate([x, x * x, y, y * y, *(x * ys for ys in y)]).T)


def _linear_scores(weights: np.ndarray, sums: np.ndarray, n_models: int, n_brain: int,
                   centred: bool) -> np.ndarray:
    """Weighted pearson (``centred``) or cosine of each model row with each brain row per sample: (b, M, S).

    ``sums`` from :func:`_linear_sums`; one matrix product gives every weighted sum."""
    w = weights.astype(np.float64)
    sw = w.sum(axis=1)[:, None, None]
    totals = w @ sums
    m, s = n_models, n_brain
    sx, sxx = totals[:, :m, None], totals[:, m:2 * m, None]
    sy, syy = totals[:, None, 2 * m:2 * m + s], totals[:, None, 2 * m + s:2 * m + 2 * s]
    sxy = totals[:, 2 * m + 2 * s:].reshape(-1, s, m).transpose(0, 2, 1)
    if centred:
        cov, vx, vy = sxy - sx * sy / sw, sxx - sx**2 / sw, syy - sy**2 / sw
    else:
        cov, vx, vy = sxy, sxx, syy
    denominator = np.sqrt(np.maximum(vx, 0.0) * np.maximum(vy, 0.0))
    return np.divide(cov, denominator, out=np.zeros_like(cov), where=denominator > 0)


def _tie_groups(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order (n_rdms, n_pairs) of each row and, in that order, the index of each entry's run of ties."""
    order = np.argsort(v, axis=1, kind="stable")
    ordered = np.take_along_axis(v, order, axis=1)
    groups = np.concatenate([np.zeros((v.shape[0], 1), np.int64),
                             np.cumsum(np.diff(ordered, axis=1) != 0, axis=1)], axis=1)
    return order, groups


@numba.njit(nogil=True, cache=True)
def _weighted_centred_ranks(w, order, groups, out):
    """Ranks, minus their mean (N + 1) / 2, of the multiset holding entry p ``w[p]`` times (ties averaged)."""
    n_pairs = w.size
    total = w.sum()
    middle = (total + 1) / 2.0
    before = 0
    start = 0
    while start < n_pairs:
        end = start
        mass = 0
        while end < n_pairs and groups[end] == groups[start]:
            mass += w[order[end]]
            end += 1
        rank = before + (mass + 1) / 2.0 - middle
        for q in range(start, end):
            out[order[q]] = rank
        before += mass
        start = end


@numba.njit(nogil=True, cache=True)
def _rank_scores(weights, x_order, x_groups, y_order, y_groups, rho_a):
    """Weighted spearman (or rho-a) of each model row with each brain row per sample: (b, M, S)."""
    n_samples, n_pairs = weights.shape
    n_models, n_brain = x_order.shape[0], y_order.shape[0]
    out = np.zeros((n_samples, n_models, n_brain))
    ry = np.empty((n_brain, n_pairs))
    rx = np.empty(n_pairs)
    syy = np.empty(n_brain)
    for b in range(n_samples):
        w = weights[b]
        total = w.sum()
        for s in range(n_brain):
            _weighted_centred_ranks(w, y_order[s], y_groups[s], ry[s])
            syy[s] = 0.0
            for q in range(n_pairs):
                syy[s] += w[q] * ry[s, q] * ry[s, q]
        for m in range(n_models):
            _weighted_centred_ranks(w, x_order[m], x_groups[m], rx)
            sxx = 0.0
            for q in range(n_pairs):
                sxx += w[q] * rx[q] * rx[q]
            for s in range(n_brain):
                sxy = 0.0
                for q in range(n_pairs):
                    sxy += w[q] * rx[q] * ry[s, q]
                if total < 2:
                    out[b, m, s] = np.nan
                elif rho_a:
                    out[b, m, s] = 12.0 * sxy / (total**3 - total)
                elif sxx > 0 and syy[s] > 0:
                    out[b, m, s] = sxy / math.sqrt(sxx * syy[s])
    return out


@numba.njit(nogil=True, cache=True)
def _tau_a_scores(weights, x_order, x_groups, y_rank, n_y_ranks):
    """Weighted Kendall tau-a ``Σ_{p<q} w_p w_q sign(x_p − x_q) sign(y_p − y_q) / (N (N − 1) / 2)``: (b, M, S).

    Entries are visited in ascending x (one walk per model, shared by the brain RDMs); per brain RDM a Fenwick
    tree over the dense ranks of y holds the weight of the entries seen (strictly smaller x), so each entry
    adds ``w_p (mass below y_p − mass above y_p)``.
    """
    n_samples, n_pairs = weights.shape
    n_models, n_brain = x_order.shape[0], y_rank.shape[0]
    n_max = 0
    for s in range(n_brain):
        n_max = max(n_max, n_y_ranks[s])
    out = np.zeros((n_samples, n_models, n_brain))
    tree = np.zeros((n_brain, n_max + 1), np.int64)
    at_rank = np.zeros((n_brain, n_max + 1), np.int64)
    score = np.zeros(n_brain, np.int64)
    active = np.empty(n_pairs, np.int64)
    for b in range(n_samples):
        w = weights[b]
        total = w.sum()
        for m in range(n_models):
            tree[:] = 0
            at_rank[:] = 0
            score[:] = 0
            inserted = 0
            order, groups = x_order[m], x_groups[m]
            start = 0
            while start < n_pairs:
                n_active = 0
                end = start
                while end < n_pairs and groups[end] == groups[start]:
                    if w[order[end]] > 0:
                        active[n_active] = order[end]
                        n_active += 1
                    end += 1
                for s in range(n_brain):
                    n_ranks = n_y_ranks[s]
                    for k in range(n_active):  # query the whole run of ties in x before inserting it
                        p = active[k]
                        r = y_rank[s, p]
                        below = 0
                        i = r - 1
                        while i > 0:
                            below += tree[s, i]
                            i -= i & -i
                        score[s] += w[p] * (2 * below + at_rank[s, r] - inserted)  # below − above
                    for k in range(n_active):
                        p = active[k]
                        i = y_rank[s, p]
                        at_rank[s, i] += w[p]
                        while i <= n_ranks:
                            tree[s, i] += w[p]
                            i += i & -i
                for k in range(n_active):
                    inserted += w[active[k]]
                start = end
            for s in range(n_brain):
                out[b, m, s] = score[s] / (total * (total - 1) / 2.0) if total > 1 else np.nan
    return out


def condensed_vectors(name: str, rdms) -> np.ndarray:
    """Condensed RDMs (n_rdms, n_pairs) float64 from an ``core.rsa.RDM`` or an array (a ValueError naming
    ``name`` unless 2-D and finite)."""
    v = rdms.dissimilarities if isinstance(rdms, RDM) else np.atleast_2d(np.asarray(rdms, dtype=np.float64))
    if v.ndim != 2 or not np.isfinite(v).all():
        raise ValueError(f"{name} must be finite condensed RDMs (n_rdms, n_pairs), got shape {v.shape}")
    return v


def bootstrap_evaluations(model_rdms, brain_rdms, indices, *, method: str = "spearman",
                          progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Similarity of each model RDM with a region's RDMs on each bootstrap sample of the stimuli.

    Equals ``rsatoolbox.inference.eval_bootstrap_pattern(models, data, method=...).evaluations`` when its
    samples draw the same ``indices``: each sample keeps the pairs of distinct resampled stimuli (a stimulus
    paired with its own copy is left out) and the score is the mean over the region's RDMs.

    Parameters
    ----------
    model_rdms : RDM or ndarray of shape (n_models, n_pairs)
    brain_rdms : RDM or ndarray of shape (n_subjects, n_pairs)
        One region's RDMs (subjects), over the same stimuli in the same order.
    indices : ndarray of shape (n_samples, n_stimuli), int
        Resampled stimulus indices (:func:`draw_bootstrap_indices`).
    method : str
        A key of ``core.rsa.COMPARE_METHODS``.
    progress : callable, optional
        ``progress(done, total)`` samples.

    Returns
    -------
    evaluations : ndarray of shape (n_samples, n_models), float64
        NaN for samples with fewer than 3 distinct stimuli (as rsatoolbox).
    """
    if method not in COMPARE_METHODS:
        raise UserError(f"Unknown method {method!r}; choose from {choices_text(sorted(COMPARE_METHODS))}")
    x, y = condensed_vectors("model_rdms", model_rdms), condensed_vectors("brain_rdms", brain_rdms)
    indices = np.asarray(indices, dtype=np.int64)
    n_stimuli = int(round((1 + math.sqrt(1 + 8 * x.shape[1])) / 2))
    if y.shape[1] != x.shape[1] or n_stimuli * (n_stimuli - 1) // 2 != x.shape[1]:
        raise ValueError(f"model and brain RDMs must be condensed over the same stimuli, got {x.shape[1]} and "
                         f"{y.shape[1]} pairs")
    if indices.ndim != 2 or indices.shape[1] != n_stimuli or (indices.size and not
                                                                (0 <= indices.min() <= indices.max() < n_stimuli)):
        raise ValueError(f"indices must have shape (n_samples, {n_stimuli}) with values in [0, {n_stimuli}), "
                         f"got shape {indices.shape}")
    if method in ("pearson", "cosine"):
        centred = method == "pearson"
        if centred:  # shift each vector to mean 0: the sums below then lose no precision to cancellation
            x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
        sums = _linear_sums(x, y)

        def scores(w):
            return _linear_scores(w, sums, x.shape[0], y.shape[0], centred)
    elif method == "kendall_tau_a":
        x_order, x_groups = _tie_groups(x)
        y_rank = np.stack([np.unique(row, return_inverse=True)[1] + 1 for row in y]).astype(np.int64)
        n_y_ranks = y_rank.max(axis=1).astype(np.int64)

        def scores(w):
            return _tau_a_scores(w, x_order, x_groups, y_rank, n_y_ranks)
    else:
        x_order, x_groups = _tie_groups(x)
        y_order, y_groups = _tie_groups(y)

        def scores(w):
            return _rank_scores(w, x_order, x_groups, y_order, y_groups, method == "rho_a")
    out = np.empty((indices.shape[0], x.shape[0]))
    for start in range(0, indices.shape[0], _BOOTSTRAP_CHUNK):
        chunk = indices[start:start + _BOOTSTRAP_CHUNK]
        out[start:start + len(chunk)] = scores(_pair_weights(chunk, n_stimuli)).mean(axis=2)
        few = np.array([np.unique(row).size < 3 for row in chunk])
        out[start:start + len(chunk)][few] = np.nan
        if progress is not None:
            progress(start + len(chunk), indices.shape[0])
    return out


def bootstrap_interval(evaluations, level: float = CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap evaluations, as rsatoolbox's ``Result.get_ci(level, "bootstrap")``.

    The samples are framed by −inf and +inf before the quantiles are taken (so fewer than
    :data:`MIN_BOOTSTRAP` samples give no 95 % bounds: NaN); samples that are NaN are left out.

    Parameters
    ----------
    evaluations : ndarray of shape (n_samples, ...)
    level : float

    Returns
    -------
    low, high : ndarray of shape evaluations.shape[1:]
    """
    e = np.asarray(evaluations, dtype=np.float64)
    frame = np.array([-np.inf, np.inf]).reshape((2,) + (1,) * (e.ndim - 1))
    framed = np.concatenate([np.broadcast_to(frame, (2, *e.shape[1:])), e])
    cut = (1 - level) / 2
    with np.errstate(invalid="ignore"):  # a quantile between −inf and a sample is undefined: NaN
        return np.nanquantile(framed, cut, axis=0), np.nanquantile(framed, 1 - cut, axis=0)


# ---------------------------------------------------------------------------------------------
# permutation test over subjects
# ---------------------------------------------------------------------------------------------


def group_permutation_test(model_rdm, brain_rdms, *, method: str = "spearman", n_permutations: int = 10_000,
                           random_state: int = 0) -> tuple[float, float]:
    """One-sided stimulus-permutation p of the mean similarity of a model RDM with a region's RDMs.

    The model's stimuli are permuted (rows and columns together) with the *same* permutations for every
    subject (``core.rsa.rdm_permutation_test`` with one integer seed), and the mean over subjects of each
    permuted similarity forms the null of the mean.

    Parameters
    ----------
    model_rdm : RDM or ndarray of shape (n_pairs,)
    brain_rdms : RDM or ndarray of shape (n_subjects, n_pairs)
    method : str
    n_permutations : int
    random_state : int
        Seed of the permutations (an integer, so that every subject sees the same ones).

    Returns
    -------
    observed, p : float
        The mean similarity (unclipped) and ``(1 + #{null ≥ observed}) / (1 + n_permutations)``.
    """
    model = condensed_vectors("model_rdm", model_rdm)[0]
    subjects = condensed_vectors("brain_rdms", brain_rdms)
    results = [rdm_permutation_test(model, subject, method=method, n_permutations=n_permutations,
                                    random_state=int(random_state), return_null=True) for subject in subjects]
    if len(results) == 1:
        return results[0].observed, results[0].p_value
    observed = float(np.mean([r.observed for r in results]))
    null = np.mean([r.null for r in results], axis=0)
    tolerance = 1e-12 * max(1.0, abs(observed))
    return observed, float((1 + np.count_nonzero(null >= observed - tolerance)) / (1 + n_permutations))
