"""Statistics shared by the analyses, vectorised over columns (vertices, voxels, units).

Every function takes numpy arrays and returns numpy arrays. Columns are independent
variables (one per vertex); rows are samples (stimuli or TRs).

- :func:`pearson_r_columns` and :func:`r2_columns`: one score per column.
- :func:`block_permutation_test`: one-sided p per column for Pearson r, with blocks of
  consecutive samples permuted to respect temporal autocorrelation.
- :func:`fdr_bh`: Benjamini–Hochberg q-values.
- :func:`compare_models_per_roi`: paired t-test of two models' per-vertex accuracies, per ROI.

torch is imported by the functions that compute with it, so the web process can use the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.stats

from core._validation import check_finite_array, check_same_length

if TYPE_CHECKING:
    import torch

__all__ = ["RoiComparison", "block_permutation_test", "compare_models_per_roi", "fdr_bh", "pearson_r_columns",
           "r2_columns", "torch_device"]


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
        Columns processed at once (bounds memory to ``n_permutations`` x batch floats).
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

    y_true = check_finite_array("y_true", y_true, min_rows=1)
    y_pred = check_finite_array("y_pred", y_pred, ndim=2, min_rows=2)
    sessions = y_true[None] if y_true.ndim == 2 else y_true
    if sessions.ndim != 3 or sessions.shape[1:] != y_pred.shape:
        raise ValueError(f"y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}; "
                         "expected (n_samples, n_columns) or (n_sessions, n_samples, n_columns)")
    n_samples = y_pred.shape[0]
    if not 1 <= int(block_size) <= n_samples // 2:
        raise ValueError(f"block_size={block_size} must be between 1 and n_samples // 2 = {n_samples // 2}")
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations={n_permutations} must be >= 1")
    dev = torch_device(device)
    rng = np.random.default_rng(random_state)
    perms = torch.from_numpy(_block_permutations(n_samples, int(block_size), int(n_permutations), rng)).to(dev)
    # mean over sessions of z(y_s) . z(p) equals (mean_s z(y_s)) . z(p)
    z_true = np.mean([_standardize(s.astype(np.float64)) for s in sessions], axis=0)
    z_pred = _standardize(y_pred.astype(np.float64))
    p_values = np.empty(y_pred.shape[1])
    for start in range(0, y_pred.shape[1], n_columns_batch):
        cols = slice(start, start + n_columns_batch)
        zt = torch.from_numpy(z_true[:, cols]).to(dev)
        zp = torch.from_numpy(z_pred[:, cols]).to(dev)
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


@dataclass(frozen=True)
class RoiComparison:
    """Paired comparison of two models' per-vertex accuracies within one ROI.

    Attributes
    ----------
    t, p : float
        ``scipy.stats.ttest_rel(acc_a, acc_b)`` over the ROI's vertices (two-sided).
    mean_difference : float
        Mean of ``acc_a - acc_b``.
    n_vertices : int
    """

    t: float
    p: float
    mean_difference: float
    n_vertices: int


def compare_models_per_roi(acc_a, acc_b, roi_indices: Mapping[str, np.ndarray]) -> dict[str, RoiComparison]:
    """Paired t-test across vertices, per ROI, of two models' accuracies.

    Parameters
    ----------
    acc_a, acc_b : ndarray of shape (n_vertices,)
        Per-vertex accuracies (e.g. r or normalized accuracy) of models A and B.
    roi_indices : mapping of str to ndarray of int
        Vertex indices of each ROI (at least 2 each).

    Returns
    -------
    dict of str to RoiComparison
    """
    acc_a = check_finite_array("acc_a", acc_a, ndim=1)
    acc_b = check_finite_array("acc_b", acc_b, ndim=1)
    check_same_length(acc_a=acc_a, acc_b=acc_b)
    out = {}
    for name, idx in roi_indices.items():
        idx = np.asarray(idx)
        if idx.size < 2 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= acc_a.size:
            raise ValueError(f"ROI {name!r} needs at least 2 integer vertex indices in [0, {acc_a.size}), "
                             f"got {idx.size} of dtype {idx.dtype}")
        test = scipy.stats.ttest_rel(acc_a[idx], acc_b[idx])
        out[name] = RoiComparison(t=float(test.statistic), p=float(test.pvalue),
                                  mean_difference=float(np.mean(acc_a[idx] - acc_b[idx])), n_vertices=int(idx.size))
    return out
