"""The ridge solver (himalaya's ``_solvers.py`` role): :func:`fit_ridge`, :func:`fit_ridge_cv` (the L2 penalty per
vertex by k-fold cross-validation, all vertices at once, torch float32), :func:`cross_validated_predictions`
and :func:`kfold_labels`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold

from core._validation import check_finite_array, check_same_length
from core.stats import (
    torch_device,
)

DEFAULT_ALPHAS = tuple(np.logspace(-2, 8, 15).tolist())
"""Default ridge penalties: 15 values, log-spaced from 1e-2 to 1e8 (0.71 decade apart)."""


# --------------------------------------------------------------------------- validation


def _check_xy(X, Y) -> tuple[np.ndarray, np.ndarray]:
    """X (n_samples, n_features) and Y (n_samples, n_targets), float32, finite, same length."""
    X = check_finite_array("X", X, ndim=2)
    Y = check_finite_array("Y", Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(f"Y must be 1-D or 2-D (n_samples, n_targets), got shape {Y.shape}")
    check_same_length(X=X, Y=Y)
    return X.astype(np.float32, copy=False), Y.astype(np.float32, copy=False)


def _tensor(array, dev: torch.device, dtype=np.float32) -> torch.Tensor:
    """Tensor on ``dev`` sharing memory with ``array`` when possible (copies read-only arrays)."""
    return torch.from_numpy(np.require(array, dtype=dtype, requirements="W")).to(dev)


def _check_alphas(alphas) -> np.ndarray:
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if alphas.ndim != 1 or alphas.size == 0 or not np.isfinite(alphas).all() or (alphas <= 0).any():
        raise ValueError(f"alphas must be a non-empty 1-D list of positive finite numbers, got {alphas!r}")
    return alphas


def _warn_constant_targets(n_constant: int, n_total: int, what: str) -> None:
    if n_constant:
        warnings.warn(f"{n_constant} of {n_total} {what} columns are constant (zero variance); "
                      "their scores are set to 0", UserWarning, stacklevel=3)


# --------------------------------------------------------------------------- ridge solvers


def _ridge_eig(Xc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Factors of ridge on centred ``Xc`` (n, p): ``W(alpha) = F diag(1 / (eig + alpha)) M^T Y``.

    From the eigendecomposition of the smaller Gram matrix, computed in float64 (several times
    faster than an SVD of ``Xc`` on CPU): with ``Xc^T Xc = V diag(eig) V^T`` (n >= p),
    ``F = V`` and ``M = Xc V``; with ``Xc Xc^T = U diag(eig) U^T`` (n < p), ``F = Xc^T U`` and
    ``M = U``. Eigenvalues below float32 round-off (rank deficiency) are dropped.

    Returns
    -------
    F : Tensor of shape (p, k)
    eig : Tensor of shape (k,)
        Squared singular values of ``Xc``, descending.
    M : Tensor of shape (n, k)
    """
    n, p = Xc.shape
    X64 = Xc.double()
    eig, vectors = torch.linalg.eigh(X64.T @ X64 if n >= p else X64 @ X64.T)
    eig, vectors = eig.flip(0), vectors.flip(1)
    keep = eig > eig[0].clamp_min(0) * max(n, p) * torch.finfo(torch.float32).eps if len(eig) else eig > 0
    eig, vectors = eig[keep], vectors[:, keep]
    if n >= p:
        F, M = vectors, X64 @ vectors
    else:
        F, M = X64.T @ vectors, vectors
    return F.float(), eig.float(), M.float()


@dataclass(frozen=True)
class RidgeCVFit:
    """Result of :func:`fit_ridge_cv`.

    Attributes
    ----------
    coef : ndarray of shape (n_features, n_targets), float32
        Weights refitted on all samples with each target's best alpha.
    intercept : ndarray of shape (n_targets,), float32
    best_alphas : ndarray of shape (n_targets,)
        Penalty chosen per target (vertex).
    cv_scores : ndarray of shape (n_targets,)
        Mean over folds of the validation R² at the best alpha.
    alphas : ndarray of shape (n_alphas,)
        The grid searched, sorted ascending.
    """

    coef: np.ndarray
    intercept: np.ndarray
    best_alphas: np.ndarray
    cv_scores: np.ndarray
    alphas: np.ndarray


def fit_ridge(X, Y, *, alpha, n_targets_batch: int = 4096, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an intercept, for many targets, each with its own penalty.

    Minimises ``||Y_c - X_c W||² + alpha ||W||²`` per target, where ``X_c`` and ``Y_c`` are
    centred on their sample means (the intercept is not penalised). One eigendecomposition
    of the Gram matrix, ``X_c = U diag(s) Vt``, serves every target:
    ``W = V diag(s / (s² + alpha)) U^T Y_c``, with the shrinkage factors gathered per
    target, so targets with different alphas need no separate solves.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets) or (n_samples,)
        One column per target (vertex).
    alpha : float or ndarray of shape (n_targets,)
        Positive penalty, shared or per target.
    n_targets_batch : int
        Targets processed at once (bounds memory).
    device : str
        Torch device.

    Returns
    -------
    coef : ndarray of shape (n_features, n_targets), float32
    intercept : ndarray of shape (n_targets,), float32
        Predictions are ``X @ coef + intercept``.
    """
    X, Y = _check_xy(X, Y)
    alpha = np.broadcast_to(_check_alphas(alpha), (Y.shape[1],)) if np.ndim(alpha) == 0 else _check_alphas(alpha)
    if alpha.shape != (Y.shape[1],):
        raise ValueError(f"alpha must be a scalar or have shape ({Y.shape[1]},), got {alpha.shape}")
    dev = torch_device(device)
    Xt = _tensor(X, dev)
    x_mean = Xt.mean(0)
    F, eig, M = _ridge_eig(Xt - x_mean)
    unique, inverse = np.unique(alpha, return_inverse=True)
    shrink = 1 / (eig + torch.as_tensor(unique, dtype=eig.dtype, device=dev)[:, None])  # (n_unique, k)
    inverse = torch.from_numpy(inverse).to(dev)
    coef = np.empty((X.shape[1], Y.shape[1]), dtype=np.float32)
    y_mean = Y.mean(axis=0, dtype=np.float64).astype(np.float32)
    for start in range(0, Y.shape[1], n_targets_batch):
        cols = slice(start, start + n_targets_batch)
        yc = torch.from_numpy(Y[:, cols] - y_mean[cols]).to(dev)
        projected = (M.T @ yc) * shrink[inverse[cols]].T
        coef[:, cols] = (F @ projected).cpu().numpy()
    intercept = y_mean - (x_mean.cpu().numpy().astype(np.float64) @ coef).astype(np.float32)
    return coef, intercept


def fit_ridge_cv(X, Y, *, alphas=DEFAULT_ALPHAS, n_folds: int = 9, n_targets_batch: int = 4096,
                 device: str = "cpu") -> RidgeCVFit:
    """Ridge for every target at once, with the penalty chosen per target by k-fold CV.

    For each fold, ``X_train`` (centred on the training-fold mean) is decomposed once,
    ``X_train = U diag(s) Vt`` (through the eigendecomposition of its Gram matrix, see
    ``_ridge_eig``). For every alpha the validation predictions are
    ``(X_val V) diag(s / (s² + alpha)) (U^T Y_train)``, so the SVD and ``U^T Y_train`` are
    reused across all alphas and all targets. Targets are processed in batches of
    ``n_targets_batch``. The score of an alpha for a target is the mean over folds of the
    validation-fold R² (``1 - SS_res / SS_tot``, SS_tot about the validation-fold mean; 0 for
    a constant target), the scoring of himalaya's ``RidgeCV``. The best alpha is the argmax;
    exact ties go to the larger alpha. Finally the model is refitted on all samples with
    each target's best alpha (:func:`fit_ridge`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features (e.g. PCA scores), one row per stimulus or TR.
    Y : ndarray of shape (n_samples, n_targets) or (n_samples,)
        Responses, one column per vertex.
    alphas : sequence of float
        Positive penalties to search; default :data:`DEFAULT_ALPHAS`.
    n_folds : int
        Number of contiguous folds, as ``sklearn.model_selection.KFold(n_folds)`` without
        shuffling (appropriate for time series). At least 2 and at most n_samples.
    n_targets_batch : int
        Targets processed at once; memory is about ``n_samples x n_targets_batch`` floats.
    device : str
        Torch device ("cpu", "cuda"). Y stays in host memory; batches are moved.

    Returns
    -------
    RidgeCVFit

    Raises
    ------
    ValueError
        NaN/inf in X or Y (with their count), mismatched sample counts, non-positive
        alphas, or fewer samples than folds.

    Warns
    -----
    UserWarning
        When some targets are constant; their CV scores are 0 and they get the largest alpha.
    """
    X, Y = _check_xy(X, Y)
    alphas = np.sort(_check_alphas(alphas))
    n_samples = X.shape[0]
    if not 2 <= int(n_folds) <= n_samples:
        raise ValueError(f"n_folds={n_folds} needs 2 <= n_folds <= n_samples, and got {n_samples} sample(s)")
    _warn_constant_targets(int((Y.std(axis=0) == 0).sum()), Y.shape[1], "Y")
    dev = torch_device(device)
    Xt = _tensor(X, dev)
    alphas_t = torch.as_tensor(alphas, dtype=torch.float32, device=dev)
    score_sum = np.zeros((len(alphas), Y.shape[1]))
    for train, val in KFold(int(n_folds)).split(X):
        train_t, val_t = torch.from_numpy(train).to(dev), torch.from_numpy(val).to(dev)
        x_mean = Xt[train_t].mean(0)
        F, eig, M = _ridge_eig(Xt[train_t] - x_mean)
        x_val = (Xt[val_t] - x_mean) @ F  # (n_val, k)
        shrink = 1 / (eig + alphas_t[:, None])  # (n_alphas, k)
        for start in range(0, Y.shape[1], n_targets_batch):
            cols = slice(start, start + n_targets_batch)
            y_train = torch.from_numpy(Y[train, cols]).to(dev)
            y_mean = y_train.mean(0)
            y_val = torch.from_numpy(Y[val, cols]).to(dev) - y_mean
            uty = M.T @ (y_train - y_mean)  # (k, batch)
            ss_tot = ((y_val - y_val.mean(0)) ** 2).sum(0)
            for a in range(len(alphas)):
                residual = (x_val * shrink[a]) @ uty
                residual -= y_val
                ss_res = residual.square_().sum(0)
                r2 = torch.where(ss_tot > 0, 1 - ss_res / torch.where(ss_tot > 0, ss_tot, 1), 0)
                score_sum[a, cols] += r2.double().cpu().numpy()
    mean_scores = score_sum / int(n_folds)
    best = len(alphas) - 1 - np.argmax(mean_scores[::-1], axis=0)  # ties -> larger alpha
    best_alphas = alphas[best]
    coef, intercept = fit_ridge(X, Y, alpha=best_alphas, n_targets_batch=n_targets_batch, device=device)
    return RidgeCVFit(coef=coef, intercept=intercept, best_alphas=best_alphas,
                      cv_scores=mean_scores[best, np.arange(Y.shape[1])], alphas=alphas)


def cross_validated_predictions(X, Y, *, n_folds: int = 2, inner_folds: int = 9, alphas=DEFAULT_ALPHAS,
                                n_targets_batch: int = 4096, device: str = "cpu") -> np.ndarray:
    """Nested cross-validated ridge predictions: each sample predicted by a model that never saw it.

    For each of ``n_folds`` contiguous outer folds (:func:`kfold_labels`), :func:`fit_ridge_cv` is fitted
    on the other folds, its penalties chosen per target by ``inner_folds``-fold CV *within* them, and
    predicts the fold. Nothing of a fold's responses reaches its own predictions (:func:`cross_validated_scores`
    tests them fold by fold). Scoring these predictions tells which targets a model predicts from the
    training samples alone, so a test set stays untouched by the choice.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets)
    n_folds : int
        Outer folds, >= 2.
    inner_folds, alphas, n_targets_batch, device
        As ``n_folds``, ``alphas``... of :func:`fit_ridge_cv`.

    Returns
    -------
    ndarray of shape (n_samples, n_targets), float32
    """
    X, Y = _check_xy(X, Y)
    folds = kfold_labels(X.shape[0], n_folds)
    out = np.empty(Y.shape, dtype=np.float32)
    for fold in range(int(n_folds)):
        train, val = folds != fold, folds == fold
        fit = fit_ridge_cv(X[train], Y[train], alphas=alphas, n_folds=inner_folds, n_targets_batch=n_targets_batch,
                           device=device)
        out[val] = X[val] @ fit.coef + fit.intercept
    return out


def kfold_labels(n_samples: int, n_folds: int) -> np.ndarray:
    """Fold of each sample in :func:`fit_ridge_cv`'s and :func:`cross_validated_predictions`' folds
    (``KFold(n_folds)``: contiguous, no shuffling), ndarray of shape (n_samples,), int."""
    if not 2 <= int(n_folds) <= n_samples:
        raise ValueError(f"n_folds={n_folds} needs 2 <= n_folds <= n_samples, and got {n_samples} sample(s)")
    labels = np.empty(n_samples, dtype=int)
    for fold, (_, val) in enumerate(KFold(int(n_folds)).split(np.zeros((n_samples, 1)))):
        labels[val] = fold
    return labels
