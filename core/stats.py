"""Statistics shared by the analyses, vectorised over columns (vertices, voxels, units).

Every function takes numpy arrays and returns numpy arrays. Columns are independent
variables (one per vertex); rows are samples (stimuli or TRs).

- :func:`pearson_r_columns` and :func:`r2_columns`: one score per column.
- :func:`block_permutation_test`: one-sided p per column for Pearson r, with blocks of
  consecutive samples permuted to respect temporal autocorrelation.
- :func:`fdr_bh`: Benjamini–Hochberg q-values.
- :func:`r_per_sample`: each sample's term of Pearson r (r plus its first-order influence).
- :func:`compare_models_over_stimuli`: sign-flip test and bootstrap interval
  (:func:`bootstrap_mean_interval`) over stimuli of two models' per-stimulus scores, per ROI,
  Holm-adjusted (:func:`holm`) across ROIs.

torch is imported by the functions that compute with it, so the web process can use the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core._validation import check_finite_array

if TYPE_CHECKING:
    import torch

__all__ = ["StimulusComparison", "block_permutation_test", "bootstrap_mean_interval", "compare_models_over_stimuli",
           "fdr_bh", "holm", "pearson_r_columns", "pearson_r_pvalue", "r2_columns", "r_per_sample", "torch_device"]


def torch_device(device: str) -> torch.device:
    """Return ``torch.device(device)`` after checking that it exists here.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    ValueError
        For an unknown device type, or ``"cuda"`` when CUDA is not available.
    """
    import torch

    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"Unknown device={device!r}; choose from ['cpu', 'cuda', 'cuda:N']")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; choose from ['cpu']")
    return torch.device(device)


def _as_columns(name: str, array) -> np.ndarray:
    """Float64 2-D view: 1-D input becomes a single column."""
    arr = check_finite_array(name, array, min_rows=2).astype(np.float64, copy=False)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D (n_samples, n_columns), got shape {arr.shape}")
    return arr


def _check_pair(a, b, names=("a", "b")) -> tuple[np.ndarray, np.ndarray]:
    a = _as_columns(names[0], a)
    b = _as_columns(names[1], b)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _standardize(a: np.ndarray) -> np.ndarray:
    """Centre each column and divide by its root sum of squares; constant columns become 0."""
    centred = a - a.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


def pearson_r_columns(a, b) -> np.ndarray:
    """Pearson correlation between matching columns of ``a`` and ``b``.

    Parameters
    ----------
    a, b : ndarray of shape (n_samples, n_columns) or (n_samples,)
        Two measurements of the same columns (e.g. measured and predicted responses,
        one column per vertex). A 1-D input is one column.

    Returns
    -------
    r : ndarray of shape (n_columns,), float64
        ``r[j] = corr(a[:, j], b[:, j])``. A column that is constant in ``a`` or in ``b`` has
        no defined correlation; it gets ``r = 0`` (no linear relationship can be shown).

    Examples
    --------
    >>> import numpy as np
    >>> pearson_r_columns(np.arange(4.0), 2 * np.arange(4.0) + 1)
    array([1.])
    """
    a, b = _check_pair(a, b)
    return np.clip((_standardize(a) * _standardize(b)).sum(axis=0), -1.0, 1.0)


def pearson_r_pvalue(r, n_samples: int) -> np.ndarray:
    """One-sided p of Pearson r > 0 from Student's t with ``n_samples - 2`` degrees of freedom.

    Exact when one of the two variables is Gaussian, independent and identically distributed, and
    independent of the other (whatever the other's distribution): ``t = r sqrt((n - 2) / (1 - r²))``.
    Not valid for predictions that were tuned on the same responses (e.g. penalties chosen by a
    cross-validation over them).

    Parameters
    ----------
    r : ndarray of any shape
    n_samples : int
        At least 3.

    Returns
    -------
    p : ndarray of the same shape as ``r``, float64
    """
    import scipy.stats

    r = np.clip(np.asarray(r, dtype=np.float64), -1.0, 1.0)
    if int(n_samples) < 3:
        raise ValueError(f"n_samples={n_samples} must be at least 3 for a t test of r")
    with np.errstate(divide="ignore"):
        t = r * np.sqrt((int(n_samples) - 2) / np.maximum(1.0 - r**2, 0.0))
    return scipy.stats.t.sf(t, int(n_samples) - 2)


def r2_columns(y_true, y_pred) -> np.ndarray:
    """Coefficient of determination per column, ``1 - SS_res / SS_tot``.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples, n_columns) or (n_samples,)
        Measured and predicted responses.

    Returns
    -------
    r2 : ndarray of shape (n_columns,), float64
        Can be negative (a prediction worse than the column mean). A column whose
        ``y_true`` is constant gets ``r2 = 0`` (the convention of himalaya's ``r2_score``).
    """
    y_true, y_pred = _check_pair(y_true, y_pred, names=("y_true", "y_pred"))
    ss_res = ((y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)


def _sessions_and_prediction(y_true, y_pred, *, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as (n_sessions, n_samples, n_columns) matching ``y_pred`` (n_samples, n_columns), both finite."""
    y_true = check_finite_array("y_true", y_true, min_rows=1)
    y_pred = check_finite_array("y_pred", y_pred, ndim=2, min_rows=min_samples)
    sessions = y_true[None] if y_true.ndim == 2 else y_true
    if sessions.ndim != 3 or sessions.shape[1:] != y_pred.shape:
        raise ValueError(f"y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}; "
                         "expected (n_samples, n_columns) or (n_sessions, n_samples, n_columns)")
    return sessions, y_pred


def _block_permutations(n_samples: int, block_size: int, n_permutations: int, rng) -> np.ndarray:
    """Index arrays (n_permutations, n_samples) that reorder whole blocks of consecutive samples.

    The last block is shorter when ``block_size`` does not divide ``n_samples``; it is moved
    like the others.
    """
    starts = np.arange(0, n_samples, block_size)
    blocks = [np.arange(s, min(s + block_size, n_samples)) for s in starts]
    order = rng.permuted(np.tile(np.arange(len(blocks)), (n_permutations, 1)), axis=1)
    return np.stack([np.concatenate([blocks[i] for i in row]) for row in order])


def block_permutation_test(y_true, y_pred, *, block_size: int, n_permutations: int = 1000,
                           random_state=None, n_columns_batch: int = 4096,
                           device: str = "cpu") -> np.ndarray:
    """One-sided permutation p-value of Pearson r per column, permuting blocks of samples.

    The prediction's time course is cut into blocks of ``block_size`` consecutive samples
    (TRs), the blocks are shuffled, and r with the measured response is recomputed. Blocks
    keep the autocorrelation of fMRI time series inside each block. The same permutations
    are used for every column.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples, n_columns) or (n_sessions, n_samples, n_columns)
        Measured responses. With sessions, the statistic is the mean over sessions of the
        per-session r (the same permuted prediction is compared with every session).
    y_pred : ndarray of shape (n_samples, n_columns)
        Predicted responses.
    block_size : int
        Samples per block, >= 1. Use about the autocorrelation length (e.g. 10–30 TRs);
        ``block_size=1`` is an ordinary permutation test.
    n_permutations : int
        Number of random block orders, >= 1.
    random_state : int, numpy Generator or None
    n_columns_batch : int
        Columns processed at once: memory beyond the inputs is a few (n_samples, batch) float64 arrays.
    device : str
        Torch device for the batched correlations.

    Returns
    -------
    p : ndarray of shape (n_columns,)
        ``(1 + #{r_perm >= r_obs}) / (1 + n_permutations)``: the +1 correction counts the
        observed order as one permutation, so p is never 0 and is valid (uniform or
        conservative) under the null hypothesis of no association.
    """
    import torch

    sessions, y_pred = _sessions_and_prediction(y_true, y_pred, min_samples=2)
    n_samples = y_pred.shape[0]
    if not 1 <= int(block_size) <= n_samples // 2:
        raise ValueError(f"block_size={block_size} must be between 1 and n_samples // 2 = {n_samples // 2}")
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations={n_permutations} must be >= 1")
    dev = torch_device(device)
    rng = np.random.default_rng(random_state)
    perms = torch.from_numpy(_block_permutations(n_samples, int(block_size), int(n_permutations), rng)).to(dev)
    p_values = np.empty(y_pred.shape[1])
    for start in range(0, y_pred.shape[1], n_columns_batch):  # float64 copies of one batch at a time
        cols = slice(start, start + n_columns_batch)
        # mean over sessions of z(y_s) . z(p) equals (mean_s z(y_s)) . z(p)
        zt = torch.from_numpy(np.mean([_standardize(s[:, cols].astype(np.float64)) for s in sessions], axis=0)).to(dev)
        zp = torch.from_numpy(_standardize(y_pred[:, cols].astype(np.float64))).to(dev)
        observed = (zt * zp).sum(0)
        exceed = torch.zeros_like(observed)
        for perm in perms:
            exceed += ((zt * zp[perm]).sum(0) >= observed - 1e-12).to(exceed.dtype)
        p_values[cols] = ((1.0 + exceed) / (1.0 + len(perms))).cpu().numpy()
    return p_values


def fdr_bh(p) -> np.ndarray:
    """Benjamini–Hochberg false-discovery-rate q-values.

    Parameters
    ----------
    p : ndarray of any shape
        p-values in [0, 1].

    Returns
    -------
    q : ndarray of the same shape, float64
        ``q_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the sorted p-values; reject at level
        ``alpha`` where ``q <= alpha``. Equals
        ``scipy.stats.false_discovery_control(p, method="bh")``.
    """
    p = check_finite_array("p", p).astype(np.float64, copy=False)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"p-values must lie in [0, 1], got range [{p.min()}, {p.max()}]")
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat)
    scaled = flat[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q.reshape(p.shape)


def holm(p) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values: family-wise error control over the entries of ``p``.

    Parameters
    ----------
    p : ndarray of any shape
        p-values in [0, 1], one per test of the family (e.g. one per ROI).

    Returns
    -------
    p_holm : ndarray of the same shape, float64
        ``p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j))`` over the sorted p-values (Holm 1979); reject at
        family-wise level ``alpha`` where ``p_holm <= alpha``. Never below ``p``, never above Bonferroni's
        ``min(1, m p)``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03])
    array([0.03, 0.06, 0.06])
    """
    p = check_finite_array("p", p).astype(np.float64, copy=False)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"p-values must lie in [0, 1], got range [{p.min()}, {p.max()}]")
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    adjusted = np.minimum(np.maximum.accumulate(flat[order] * (m - np.arange(m))), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out.reshape(p.shape)


def r_per_sample(y_true, y_pred, *, n_columns_batch: int = 8192) -> np.ndarray:
    """Each sample's term of Pearson r per column: r plus the sample's first-order influence on r.

    For standardised columns ``u = (y - ȳ) / ||y - ȳ||`` and ``w = (ŷ - mean) / ||ŷ - mean||``,
    ``r = Σ_i u_i w_i`` and the influence of sample ``i`` is ``n (u_i w_i - r (u_i² + w_i²) / 2)``
    (the Pearson r's influence function; its sum over samples is 0). The terms
    ``h_i = r + influence_i`` therefore average exactly to r, and their spread over samples gives r's
    sampling variance (the delta method): ``var(h) / n`` estimates ``var(r)``, ``(1 - ρ²)² / n`` for
    Gaussian data. Means of ``h`` over columns (e.g. over the vertices of an ROI) are the per-sample
    terms of the ROI-mean r, so a test over samples of a difference of two models' ROI means
    (:func:`compare_models_over_stimuli`) treats stimuli, not vertices, as the units of replication.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples, n_columns) or (n_sessions, n_samples, n_columns)
        Measured responses; with sessions, r is taken per session and averaged (as
        ``core.encoding.evaluate_predictions`` does), and so are the terms.
    y_pred : ndarray of shape (n_samples, n_columns)
        Predicted responses.
    n_columns_batch : int
        Columns processed at once (bounds memory).

    Returns
    -------
    h : ndarray of shape (n_samples, n_columns), float64
        ``h.mean(axis=0)`` equals the (session-averaged) :func:`pearson_r_columns`. A column constant
        in ``y_pred`` or in a session has r = 0 and terms 0 (for that session).
    """
    sessions, y_pred = _sessions_and_prediction(y_true, y_pred, min_samples=3)
    n_samples = y_pred.shape[0]
    out = np.empty(y_pred.shape)
    for start in range(0, y_pred.shape[1], n_columns_batch):
        cols = slice(start, start + n_columns_batch)
        w = _standardize(y_pred[:, cols].astype(np.float64))
        terms = np.zeros_like(w)
        for session in sessions:
            u = _standardize(session[:, cols].astype(np.float64))
            r = (u * w).sum(axis=0)
            terms += r + n_samples * (u * w - r * (u**2 + w**2) / 2)
        out[:, cols] = terms / len(sessions)
    return out


def bootstrap_mean_interval(scores, *, n_bootstraps: int = 10_000, confidence: float = 0.95,
                            random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval, over samples (rows), of the mean of each column.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_columns) or (n_samples,)
        Per-sample scores, e.g. each test image's term of an ROI's mean r (:func:`r_per_sample`).
    n_bootstraps : int
        Resamples of the rows with replacement (the same resamples for every column), >= 1.
    confidence : float
        In (0, 1).
    random_state : int, Generator or None

    Returns
    -------
    low, high : ndarray of shape (n_columns,)
    """
    scores = _as_columns("scores", scores)
    if int(n_bootstraps) < 1:
        raise ValueError(f"n_bootstraps={n_bootstraps} must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must lie in (0, 1)")
    n = scores.shape[0]
    counts = np.random.default_rng(random_state).multinomial(n, np.full(n, 1.0 / n), size=int(n_bootstraps))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(counts @ scores / n, [tail, 100 - tail], axis=0)
    return low, high


@dataclass(frozen=True)
class StimulusComparison:
    """Paired comparison of two models over stimuli, one test per ROI (:func:`compare_models_over_stimuli`).

    Attributes
    ----------
    difference : ndarray of shape (n_rois,)
        Mean over stimuli of ``scores_a - scores_b`` (e.g. ROI-mean test r of A minus that of B).
    ci_low, ci_high : ndarray of shape (n_rois,)
        Percentile bootstrap interval of ``difference`` over stimuli, at level ``confidence``.
    p : ndarray of shape (n_rois,)
        Two-sided sign-flip permutation p (uncorrected).
    p_holm : ndarray of shape (n_rois,)
        ``p`` Holm-adjusted across the ROIs (family-wise error).
    n_stimuli : int
    confidence : float
    """

    difference: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    p_holm: np.ndarray
    n_stimuli: int
    confidence: float


def compare_models_over_stimuli(scores_a, scores_b, *, n_permutations: int = 10_000, n_bootstraps: int = 10_000,
                                confidence: float = 0.95, random_state=None) -> StimulusComparison:
    """Paired sign-flip test and bootstrap interval, over stimuli, of two models' per-stimulus scores.

    Stimuli are the units of replication: the two models predict the same measured responses to the
    same test stimuli, and each stimulus contributes one paired difference ``d_i = a_i - b_i`` per ROI
    (e.g. its term of the ROI-mean test r, :func:`r_per_sample` averaged over the ROI's vertices).
    Vertices never count as independent samples, so spatial smoothness inside an ROI cannot inflate
    the test. Under the null hypothesis of no difference, each ``d_i`` is as likely to have either
    sign; ``n_permutations`` random sign vectors (the same for every ROI) give the null distribution of
    the mean, and ``p = (1 + #{|mean(s d)| >= |mean(d)|}) / (1 + n_permutations)``. The interval
    resamples stimuli with replacement ``n_bootstraps`` times (:func:`bootstrap_mean_interval`).
    p-values are also Holm-adjusted across the ROIs.

    Parameters
    ----------
    scores_a, scores_b : ndarray of shape (n_stimuli, n_rois) or (n_stimuli,)
        Per-stimulus scores of models A and B on the same stimuli (at least 3).
    n_permutations, n_bootstraps : int
        At least 1 each.
    confidence : float
        In (0, 1).
    random_state : int, Generator or None

    Returns
    -------
    StimulusComparison
    """
    a, b = _check_pair(scores_a, scores_b, names=("scores_a", "scores_b"))
    n = a.shape[0]
    if n < 3:
        raise ValueError(f"need at least 3 stimuli to compare models over stimuli, got {n}")
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations={n_permutations} must be >= 1")
    rng = np.random.default_rng(random_state)
    d = a - b
    observed = d.mean(axis=0)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(int(n_permutations), n))
    null = np.abs(signs @ d / n)
    tolerance = 1e-12 * np.maximum(np.abs(d).max(axis=0), 1.0)
    p = (1.0 + (null >= np.abs(observed) - tolerance).sum(axis=0)) / (1.0 + int(n_permutations))
    low, high = bootstrap_mean_interval(d, n_bootstraps=n_bootstraps, confidence=confidence, random_state=rng)
    return StimulusComparison(difference=observed, ci_low=low, ci_high=high, p=p, p_holm=holm(p),
                              n_stimuli=int(n), confidence=float(confidence))
