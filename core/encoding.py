"""Voxel-wise encoding models (Wen et al. 2018, Methods "Encoding models").

The pipeline maps network features to cortical responses, one linear model per vertex:

1. :class:`LayerwisePCA`: PCA per layer keeping 99 % of its variance, then PCA over the
   concatenated per-layer scores keeping 99 % again (fitted on training stimuli only).
2. :class:`Delayer` (time series only): copies of the features shifted by a few TRs, so a
   linear model can learn each vertex's haemodynamic delay.
3. :class:`RidgeEncoder` over :func:`fit_ridge_cv`: ridge regression for all vertices at
   once, with the L2 penalty chosen per vertex by k-fold cross-validation.
4. Evaluation: :func:`evaluate_predictions` (r per test session, R², block-permutation p,
   FDR q), :func:`noise_ceiling` (Monte-Carlo), :func:`normalized_accuracy`,
   :func:`layer_contributions` (the best layer per vertex; :func:`layer_refit_contributions` refits
   one model per layer instead), :func:`roi_image_r` (each test image's term of the ROI-mean r, the
   scores :func:`core.stats.compare_models_over_stimuli` compares over images).
5. :func:`save_encoding_model` / :func:`load_encoding_model`: one ``.npz`` plus one
   ``.json``, no pickle.

Arrays are numpy at the boundary, with samples (stimuli or TRs) on the first axis and
vertices on the last. Computation runs in torch, float32, on ``device`` ("cpu" default).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats
import sklearn
import torch
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted, validate_data

from core._validation import check_choice, check_finite_array, check_same_length
from core.stats import (
    block_permutation_test,
    fdr_bh,
    pearson_r_columns,
    pearson_r_pvalue,
    r2_columns,
    r_per_sample,
    torch_device,
)
from core.store import load_result, result_paths, save_result

__all__ = [
    "CEILING_Q",
    "DEFAULT_ALPHAS",
    "PCA_SOLVERS",
    "Delayer",
    "EncodingModel",
    "EncodingScores",
    "LayerContributions",
    "LayerwisePCA",
    "NoiseCeiling",
    "PCAFit",
    "RidgeCVFit",
    "RidgeEncoder",
    "cross_validated_predictions",
    "cross_validated_scores",
    "evaluate_predictions",
    "fit_pca",
    "fit_ridge",
    "fit_ridge_cv",
    "kfold_labels",
    "layer_contributions",
    "layer_refit_contributions",
    "load_encoding_model",
    "noise_ceiling",
    "normalized_accuracy",
    "roi_image_r",
    "save_encoding_model",
    "stack_layer_features",
]

DEFAULT_ALPHAS = tuple(np.logspace(-2, 8, 15).tolist())
"""Default ridge penalties: 15 values, log-spaced from 1e-2 to 1e8 (0.71 decade apart)."""

CEILING_Q = 0.05
"""FDR level of the repeat-reliability test below which a vertex's noise ceiling is reliable."""

_FORMAT = "virtual-fmri-encoding-model"
_FORMAT_VERSION = 1


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


def cross_validated_scores(X, Y, *, n_folds: int = 2, inner_folds: int = 9, alphas=DEFAULT_ALPHAS,
                           device: str = "cpu") -> EncodingScores:
    """Which targets a ridge model predicts, judged on its training samples alone (nested cross-validation).

    :func:`cross_validated_predictions` (``n_folds`` outer folds, penalties by ``inner_folds``-fold CV
    inside the others), r over all samples, and a p that is exact under the null of no association for
    Gaussian responses: each fold's predictions come from a model that never saw that fold's responses,
    so the fold's r gets Student's t test (``core.stats.pearson_r_pvalue``); the folds' p-values are
    combined by Bonferroni, ``p = min(1, n_folds min_f p_f)``, valid however the folds depend on each
    other (each fold's model is fitted on the others). Pooling the folds in one permutation test is not
    valid: on noise targets it gave p < 0.05 for 6-12 % of them, and reusing penalties chosen by a CV
    over all samples makes any test of the out-of-fold r liberal.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets)
    n_folds, inner_folds, alphas, device
        As in :func:`cross_validated_predictions`.

    Returns
    -------
    EncodingScores
        ``r`` (and ``r_sessions`` = ``r[None]``) and ``r2`` of the out-of-fold predictions over all samples,
        ``p`` and its FDR ``q``.
    """
    X, Y = _check_xy(X, Y)
    predicted = cross_validated_predictions(X, Y, n_folds=n_folds, inner_folds=inner_folds, alphas=alphas,
                                            device=device)
    folds = kfold_labels(X.shape[0], n_folds)
    fold_p = [pearson_r_pvalue(pearson_r_columns(Y[folds == f], predicted[folds == f]), int((folds == f).sum()))
              for f in range(int(n_folds))]
    p = np.minimum(1.0, int(n_folds) * np.min(fold_p, axis=0))
    r = pearson_r_columns(Y, predicted)
    return EncodingScores(r=r, r_sessions=r[None], r2=r2_columns(Y, predicted), p=p, q=fdr_bh(p))


def kfold_labels(n_samples: int, n_folds: int) -> np.ndarray:
    """Fold of each sample in :func:`fit_ridge_cv`'s and :func:`cross_validated_predictions`' folds
    (``KFold(n_folds)``: contiguous, no shuffling), ndarray of shape (n_samples,), int."""
    if not 2 <= int(n_folds) <= n_samples:
        raise ValueError(f"n_folds={n_folds} needs 2 <= n_folds <= n_samples, and got {n_samples} sample(s)")
    labels = np.empty(n_samples, dtype=int)
    for fold, (_, val) in enumerate(KFold(int(n_folds)).split(np.zeros((n_samples, 1)))):
        labels[val] = fold
    return labels


class RidgeEncoder(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Per-vertex ridge regression with the penalty chosen by cross-validation.

    A thin wrapper over :func:`fit_ridge_cv`; see it for the algorithm.

    Parameters
    ----------
    alphas : sequence of float
        Penalties searched; default :data:`DEFAULT_ALPHAS` (15 values, 1e-2 .. 1e8).
    n_folds : int
        Contiguous CV folds (default 9).
    n_targets_batch : int
        Vertices processed at once.
    device : str
        Torch device for fitting ("cpu" default).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features, n_vertices), float32
        ``(n_features,)`` when ``y`` was 1-D.
    intercept_ : ndarray of shape (n_vertices,) (float when ``y`` was 1-D)
    best_alphas_ : ndarray of shape (n_vertices,)
    cv_scores_ : ndarray of shape (n_vertices,)
        Mean CV R² at the best alpha.
    n_features_in_ : int

    Notes
    -----
    Fitting runs in float32. ``predict`` computes in the input's dtype (float64 input gives
    float64 predictions, as scikit-learn expects).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 5)); Y = X @ rng.standard_normal((5, 3))
    >>> RidgeEncoder(n_folds=3).fit(X, Y).predict(X).shape
    (60, 3)
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, *, n_folds=9, n_targets_batch=4096, device="cpu"):
        self.alphas = alphas
        self.n_folds = n_folds
        self.n_targets_batch = n_targets_batch
        self.device = device

    def fit(self, X, y):
        """Fit all vertices.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples, n_vertices) or (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, ensure_all_finite=False,
                             ensure_min_samples=2, dtype=[np.float64, np.float32])
        fit = fit_ridge_cv(X, y, alphas=self.alphas, n_folds=self.n_folds,
                           n_targets_batch=self.n_targets_batch, device=self.device)
        squeeze = y.ndim == 1
        self.coef_ = fit.coef[:, 0] if squeeze else fit.coef
        self.intercept_ = float(fit.intercept[0]) if squeeze else fit.intercept
        self.best_alphas_ = fit.best_alphas
        self.cv_scores_ = fit.cv_scores
        return self

    def predict(self, X):
        """Predicted responses.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_vertices) or (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite=False, dtype=[np.float64, np.float32])
        X = check_finite_array("X", X, ndim=2)
        return X @ self.coef_.astype(X.dtype) + np.asarray(self.intercept_, dtype=X.dtype)


class Delayer(TransformerMixin, BaseEstimator):
    """Concatenate copies of the features delayed by a few samples (TRs).

    As gallantlab's ``voxelwise_tutorials.delayer.Delayer``: with delays ``(1, 2, 3, 4)`` a
    linear model on the output can fit a finite-impulse-response haemodynamic response per
    vertex. Samples shifted in from outside the series are zero.

    Parameters
    ----------
    delays : sequence of int
        Delays in samples; positive delays look into the past (row t gets row t - d), 0 is
        the identity, negative delays look into the future.

    Attributes
    ----------
    n_features_in_ : int
    """

    def __init__(self, delays=(1, 2, 3, 4)):
        self.delays = delays

    def fit(self, X, y=None):
        """Check ``X`` and the delays; learns nothing else.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        validate_data(self, X, dtype=[np.float64, np.float32])
        delays = np.asarray(self.delays)
        if delays.ndim != 1 or delays.size == 0 or delays.dtype.kind not in "iu":
            raise ValueError(f"delays must be a non-empty 1-D list of integers, got {self.delays!r}")
        return self

    def transform(self, X):
        """Delayed copies side by side.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        X_delayed : ndarray of shape (n_samples, n_features * n_delays)
            Block ``i`` (columns ``i*n_features : (i+1)*n_features``) is X delayed by
            ``delays[i]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        n_samples, n_features = X.shape
        out = np.zeros((n_samples, n_features * len(self.delays)), dtype=X.dtype)
        for i, delay in enumerate(self.delays):
            block = out[:, i * n_features:(i + 1) * n_features]
            if delay >= 0:
                block[delay:] = X[:n_samples - delay]
            else:
                block[:delay] = X[-delay:]
        return out


# --------------------------------------------------------------------------- PCA


def _pca_covariance(X, mean, *, dev, batch, **_):
    """Eigendecomposition of the (n_units, n_units) covariance, accumulated over row chunks."""
    cov = torch.zeros((X.shape[1], X.shape[1]), dtype=torch.float64, device=dev)
    for start in range(0, X.shape[0], batch):
        xc = _tensor(X[start:start + batch], dev) - mean
        cov += (xc.T @ xc).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    return eigenvalues.flip(0).clamp_min(0), eigenvectors.flip(1)


def _pca_gram(X, mean, *, dev, **_):
    """Eigendecomposition of the (n_samples, n_samples) Gram matrix; for n_samples < n_units."""
    xc = _tensor(X, dev) - mean
    eigenvalues, vectors = torch.linalg.eigh((xc @ xc.T).double())
    eigenvalues, vectors = eigenvalues.flip(0), vectors.flip(1)
    keep = eigenvalues > eigenvalues[0] * max(xc.shape) * torch.finfo(torch.float32).eps
    eigenvalues, vectors = eigenvalues[keep], vectors[:, keep]
    return eigenvalues, (xc.T.double() @ vectors) / eigenvalues.sqrt()


def _pca_randomized(X, mean, *, dev, target, generator, n_oversamples=10, n_iter=4, **_):
    """Randomized SVD (Halko et al. 2011); doubles the rank until ``target`` variance is reached."""
    xc = _tensor(X, dev) - mean
    max_rank = min(xc.shape)
    rank = min(64, max_rank)
    while True:
        sketch = min(rank + n_oversamples, max_rank)
        omega = torch.randn(xc.shape[1], sketch, generator=generator, device=dev)
        Q = torch.linalg.qr(xc @ omega).Q
        for _ in range(n_iter):
            Q = torch.linalg.qr(xc @ torch.linalg.qr(xc.T @ Q).Q).Q
        _, s, Vt = torch.linalg.svd(Q.T @ xc, full_matrices=False)
        eigenvalues = s.double() ** 2
        if eigenvalues.sum() >= target or rank >= max_rank:
            return eigenvalues, Vt.T.double()
        rank = min(2 * rank, max_rank)


PCA_SOLVERS: dict[str, Callable] = {
    "covariance": _pca_covariance,
    "gram": _pca_gram,
    "randomized": _pca_randomized,
}
"""PCA back-ends: each returns (eigenvalues of X_c^T X_c descending, unit eigenvectors (n_units, m))."""


def _auto_solver(n_samples: int, n_units: int, limit: int = 4096) -> str:
    """The cheapest exact solver: eigh of the smaller of the Gram and covariance matrices."""
    if n_samples < n_units and n_samples <= limit:
        return "gram"
    if n_units <= limit:
        return "covariance"
    return "randomized"


@dataclass(frozen=True)
class PCAFit:
    """Result of :func:`fit_pca`.

    Attributes
    ----------
    mean : ndarray of shape (n_units,), float32
    components : ndarray of shape (n_units, n_components), float32
        Orthonormal columns; scores are ``(X - mean) @ components``.
    explained_variance_ratio : ndarray of shape (n_components,)
        Fraction of the total variance along each kept component (sums to >= ``variance``).
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray


def fit_pca(X, *, variance: float = 0.99, solver: str = "auto", n_samples_batch: int = 4096,
            device: str = "cpu", random_state=None) -> PCAFit:
    """PCA keeping the fewest components that explain at least ``variance`` of the variance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        May be a ``np.memmap``; the "covariance" solver reads it in row chunks.
    variance : float
        Fraction of variance to keep, in (0, 1].
    solver : str
        A key of :data:`PCA_SOLVERS` or "auto": "covariance" when n_units <= 4096 (streams
        over rows; memory n_units²), else "gram" when n_samples <= 4096 (memory
        n_samples²), else "randomized" (whole layer in memory; rank doubled from 64 until the
        variance target is met).
    n_samples_batch : int
        Rows per chunk for the streamed mean, total variance and covariance.
    device : str
    random_state : int, Generator or None
        Seeds the randomized solver.

    Returns
    -------
    PCAFit
        With no components when X is constant.
    """
    if not 0 < variance <= 1:
        raise ValueError(f"variance={variance} must be in (0, 1]")
    if solver != "auto":
        check_choice("solver", solver, PCA_SOLVERS)
    n_samples, n_units = X.shape
    if n_samples < 2:
        raise ValueError(f"PCA needs at least 2 samples, got {n_samples} sample(s)")
    dev = torch_device(device)
    total_sum = torch.zeros(n_units, dtype=torch.float64, device=dev)
    for start in range(0, n_samples, n_samples_batch):
        total_sum += _tensor(X[start:start + n_samples_batch], dev).double().sum(0)
    mean = (total_sum / n_samples).float()
    total = 0.0
    for start in range(0, n_samples, n_samples_batch):
        chunk = _tensor(X[start:start + n_samples_batch], dev)
        total += float(((chunk - mean).double() ** 2).sum())
    name = _auto_solver(n_samples, n_units) if solver == "auto" else solver
    generator = torch.Generator(device=dev).manual_seed(int(np.random.default_rng(random_state).integers(2**62)))
    eigenvalues, vectors = PCA_SOLVERS[name](X, mean, dev=dev, batch=n_samples_batch,
                                              target=variance * total, generator=generator)
    ratio = (eigenvalues / total).cpu().numpy() if total > 0 else np.zeros(0)
    n_keep = min(int(np.searchsorted(np.cumsum(ratio), variance * (1 - 1e-6))) + 1, len(ratio))
    return PCAFit(mean=mean.cpu().numpy(), components=vectors[:, :n_keep].float().cpu().numpy(),
                  explained_variance_ratio=ratio[:n_keep])


def stack_layer_features(features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """Concatenate ``{layer: activations}`` into one matrix for :class:`LayerwisePCA`.

    Parameters
    ----------
    features : mapping of str to ndarray of shape (n_samples, ...)
        Activations per layer (as returned by ``core.features.extract_features``); trailing
        axes are flattened.

    Returns
    -------
    X : ndarray of shape (n_samples, n_units_total), float32
    layer_slices : dict of str to (start, stop)
        Column range of each layer in ``X``, in the mapping's order; pass it as
        ``LayerwisePCA(layer_slices)``.
    """
    if not features:
        raise ValueError("features is empty; expected {layer_name: array of shape (n_samples, ...)}")
    flat = {name: np.asarray(a).reshape(len(a), -1) for name, a in features.items()}
    check_same_length(**flat)
    bounds = np.cumsum([0] + [a.shape[1] for a in flat.values()])
    slices = {name: (int(bounds[i]), int(bounds[i + 1])) for i, name in enumerate(flat)}
    return np.concatenate(list(flat.values()), axis=1).astype(np.float32, copy=False), slices


class LayerwisePCA(TransformerMixin, BaseEstimator):
    """Two-stage PCA of network features: per layer, then over the concatenated layer scores.

    Stage 1 keeps, for each layer, the components explaining ``variance`` of that layer's
    variance; stage 2 runs PCA on the concatenated stage-1 scores (centred by construction)
    and again keeps ``variance``. Fit on training stimuli only. Scores are not whitened.

    Parameters
    ----------
    layer_slices : dict of str to (start, stop), or None
        Column range of each layer in ``X``; the ranges must tile ``[0, n_features)`` in
        order (as :func:`stack_layer_features` returns). None: one layer named "all".
    variance : float
        Fraction of variance kept at each stage (default 0.99).
    solver : str
        "auto" or a key of :data:`PCA_SOLVERS`, see :func:`fit_pca`.
    n_samples_batch : int
        Rows per chunk when streaming and transforming.
    device : str
    random_state : int, Generator or None

    Attributes
    ----------
    layer_slices_ : dict of str to (int, int)
    layer_means_ : dict of str to ndarray of shape (n_units_layer,)
    layer_components_ : dict of str to ndarray of shape (n_units_layer, n_components_layer)
    layer_explained_variance_ratio_ : dict of str to ndarray of shape (n_components_layer,)
    mean_ : ndarray of shape (n_layer_components_total,)
        Mean of the stage-1 scores (zero up to round-off).
    components_ : ndarray of shape (n_layer_components_total, n_components_)
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Of the stage-1 scores' variance.
    n_components_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, slices = stack_layer_features({"conv1": rng.standard_normal((50, 8)),
    ...                                   "fc": rng.standard_normal((50, 4))})
    >>> LayerwisePCA(slices).fit_transform(X).shape[0]
    50
    """

    def __init__(self, layer_slices=None, *, variance=0.99, solver="auto", n_samples_batch=4096,
                 device="cpu", random_state=None):
        self.layer_slices = layer_slices
        self.variance = variance
        self.solver = solver
        self.n_samples_batch = n_samples_batch
        self.device = device
        self.random_state = random_state

    def _resolve_slices(self, n_features: int) -> dict[str, tuple[int, int]]:
        if self.layer_slices is None:
            return {"all": (0, n_features)}
        slices = {str(name): (int(start), int(stop)) for name, (start, stop) in dict(self.layer_slices).items()}
        edges = [bound for pair in slices.values() for bound in pair]
        tiles = bool(edges) and edges[0] == 0 and edges[-1] == n_features and all(
            edges[i] == edges[i + 1] for i in range(1, len(edges) - 1, 2))
        if not tiles or any(stop <= start for start, stop in slices.values()):
            raise ValueError(f"layer_slices={slices} must tile [0, {n_features}) in order with non-empty "
                             "ranges; build them with stack_layer_features")
        return slices

    def fit(self, X, y=None):
        """Fit both PCA stages on training features.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Concatenated layer activations (see :func:`stack_layer_features`).
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, ensure_all_finite=False, ensure_min_samples=2, dtype=[np.float32, np.float64])
        X = check_finite_array("X", X, ndim=2)
        rng = np.random.default_rng(self.random_state)
        slices = self._resolve_slices(X.shape[1])
        fits = {name: fit_pca(X[:, start:stop], variance=self.variance, solver=self.solver,
                              n_samples_batch=self.n_samples_batch, device=self.device, random_state=rng)
                for name, (start, stop) in slices.items()}
        self.layer_slices_ = slices
        self.layer_means_ = {name: fit.mean for name, fit in fits.items()}
        self.layer_components_ = {name: fit.components for name, fit in fits.items()}
        self.layer_explained_variance_ratio_ = {name: fit.explained_variance_ratio for name, fit in fits.items()}
        scores = self._layer_scores(X, keep=None)
        if scores.shape[1] == 0:
            raise ValueError("X is constant in every layer; there is no variance to keep")
        final = fit_pca(scores, variance=self.variance, solver=self.solver,
                        n_samples_batch=self.n_samples_batch, device=self.device, random_state=rng)
        self.mean_ = final.mean
        self.components_ = final.components
        self.explained_variance_ratio_ = final.explained_variance_ratio
        self.n_components_ = final.components.shape[1]
        return self

    def _layer_scores(self, X: np.ndarray, keep: str | None) -> np.ndarray:
        """Stage-1 scores (n_samples, n_layer_components_total); layers other than ``keep`` are 0."""
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        dev = torch_device(self.device)
        parts = []
        for name, (start, stop) in self.layer_slices_.items():
            components = self.layer_components_[name]
            if keep is not None and name != keep:
                parts.append(np.zeros((X.shape[0], components.shape[1]), dtype=X.dtype))
                continue
            mean = torch.as_tensor(self.layer_means_[name], dtype=dtype, device=dev)
            weights = torch.as_tensor(components, dtype=dtype, device=dev)
            parts.append(np.concatenate([
                ((_tensor(X[i:i + self.n_samples_batch, start:stop], dev, X.dtype) - mean)
                 @ weights).cpu().numpy()
                for i in range(0, X.shape[0], self.n_samples_batch)]))
        return np.concatenate(parts, axis=1)

    def _project(self, scores: np.ndarray) -> np.ndarray:
        return (scores - self.mean_.astype(scores.dtype)) @ self.components_.astype(scores.dtype)

    def _check_transform_input(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite=False, dtype=[np.float32, np.float64])
        return check_finite_array("X", X, ndim=2)

    def transform(self, X):
        """Project features onto the global components.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_)
            float64 for float64 input, else float32.
        """
        X = self._check_transform_input(X)
        return self._project(self._layer_scores(X, keep=None))

    def transform_single_layer(self, X, layer: str):
        """Project with only ``layer``'s information (the paper's layer attribution).

        The other layers' stage-1 scores are set to 0 before the global projection, which
        is the same as replacing their features by their training means.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        layer : str
            A key of ``layer_slices_``.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components_)
        """
        X = self._check_transform_input(X)
        check_choice("layer", layer, self.layer_slices_)
        return self._project(self._layer_scores(X, keep=layer))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EncodingScores:
    """Per-vertex test scores from :func:`evaluate_predictions`.

    Attributes
    ----------
    r : ndarray of shape (n_vertices,)
        Pearson r averaged over test sessions.
    r_sessions : ndarray of shape (n_sessions, n_vertices)
    r2 : ndarray of shape (n_vertices,)
        R² averaged over test sessions.
    p : ndarray of shape (n_vertices,)
        One-sided block-permutation p of the session-averaged r.
    q : ndarray of shape (n_vertices,)
        Benjamini–Hochberg q of ``p`` across vertices.
    """

    r: np.ndarray
    r_sessions: np.ndarray
    r2: np.ndarray
    p: np.ndarray
    q: np.ndarray


def evaluate_predictions(Y_test, Y_pred, *, block_size: int = 10, n_permutations: int = 1000,
                         random_state=None, device: str = "cpu") -> EncodingScores:
    """Score predictions against repeated test sessions, per vertex.

    As in the paper, r is computed per test session and then averaged over sessions.

    Parameters
    ----------
    Y_test : ndarray of shape (n_sessions, n_samples, n_vertices) or (n_samples, n_vertices)
        Measured test responses; 2-D is one session.
    Y_pred : ndarray of shape (n_samples, n_vertices)
    block_size, n_permutations, random_state, device
        Passed to :func:`core.stats.block_permutation_test`.

    Returns
    -------
    EncodingScores

    Warns
    -----
    UserWarning
        When some vertices are constant in a session (their r and R² are 0).
    """
    Y_test = check_finite_array("Y_test", Y_test, min_rows=1)
    Y_pred = check_finite_array("Y_pred", Y_pred, ndim=2, min_rows=2)
    sessions = Y_test[None] if Y_test.ndim == 2 else Y_test
    if sessions.ndim != 3 or sessions.shape[1:] != Y_pred.shape:
        raise ValueError(f"Y_test of shape {Y_test.shape} does not match Y_pred of shape {Y_pred.shape}; "
                         "expected (n_sessions, n_samples, n_vertices)")
    _warn_constant_targets(int((sessions.std(axis=1) == 0).any(axis=0).sum()), Y_pred.shape[1], "Y_test")
    r_sessions = np.stack([pearson_r_columns(s, Y_pred) for s in sessions])
    r2 = np.mean([r2_columns(s, Y_pred) for s in sessions], axis=0)
    p = block_permutation_test(sessions, Y_pred, block_size=block_size, n_permutations=n_permutations,
                               random_state=random_state, device=device)
    return EncodingScores(r=r_sessions.mean(axis=0), r_sessions=r_sessions, r2=r2, p=p, q=fdr_bh(p))


def roi_image_r(Y_test, Y_pred, roi_indices: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each test image's term of every ROI's mean test r: the per-stimulus scores of a model per ROI.

    ``core.stats.r_per_sample`` (r per vertex, per session then averaged, plus each image's first-order
    influence on it) averaged over each ROI's vertices. The mean over images of column ``k`` is the mean
    over ROI ``k``'s vertices of :func:`evaluate_predictions`' r; two models' columns on the same test
    images are compared over images with ``core.stats.compare_models_over_stimuli``.

    Parameters
    ----------
    Y_test : ndarray of shape (n_sessions, n_images, n_vertices) or (n_images, n_vertices)
    Y_pred : ndarray of shape (n_images, n_vertices)
    roi_indices : mapping of str to ndarray of int
        Vertex indices of each ROI (non-empty).

    Returns
    -------
    ndarray of shape (n_images, n_rois), float32, columns in ``roi_indices`` order.
    """
    Y_pred = check_finite_array("Y_pred", Y_pred, ndim=2, min_rows=3)
    if not roi_indices:
        raise ValueError("roi_indices is empty; expected {roi_name: vertex indices}")
    columns = []
    for name, idx in roi_indices.items():
        idx = np.asarray(idx)
        if idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= Y_pred.shape[1]:
            raise ValueError(f"ROI {name!r} needs integer vertex indices in [0, {Y_pred.shape[1]}), got {idx.size} "
                             f"of dtype {idx.dtype}")
        columns.append(idx)
    terms = r_per_sample(Y_test, Y_pred)  # (n_images, n_vertices); batched inside, no copy of Y_test
    return np.stack([terms[:, idx].mean(axis=1) for idx in columns], axis=1).astype(np.float32)


@dataclass(frozen=True)
class NoiseCeiling:
    """Result of :func:`noise_ceiling`.

    Attributes
    ----------
    ceiling : ndarray of shape (n_vertices,)
        Median simulated r (0 where no signal variance is detected).
    signal_variance : ndarray of shape (n_vertices,)
    noise_variance : ndarray of shape (n_vertices,)
        Of a single repeat.
    n_averaged : int
        Repeats averaged in the response the ceiling refers to.
    p : ndarray of shape (n_vertices,)
        One-sided p of the repeat-reliability F test (samples × repeats ANOVA without interaction): the
        probability, with no signal variance, of a between-sample variance of the repeat means this
        large relative to the residual variance once each repeat's mean (a session offset) is removed.
    reliable : ndarray of shape (n_vertices,), bool
        FDR q of ``p`` (Benjamini–Hochberg over vertices) below ``CEILING_Q``: the vertex has repeatable
        signal, so its ceiling is bounded away from 0 and dividing by it is meaningful.
    """

    ceiling: np.ndarray
    signal_variance: np.ndarray
    noise_variance: np.ndarray
    n_averaged: int
    p: np.ndarray
    reliable: np.ndarray


def noise_ceiling(Y_rep, *, n_averaged: int | None = None, n_simulations: int = 1000, random_state=None,
                  n_vertices_batch: int = 8192) -> NoiseCeiling:
    """Monte-Carlo noise ceiling per vertex from repeated measurements of the test stimuli.

    Per vertex, the noise variance is the mean over samples of the across-repeat variance
    (ddof=1), and the signal variance is the variance over samples of the repeat mean minus
    ``noise / n_repeats``, floored at 0. Then, ``n_simulations`` times, a signal of
    ``n_samples`` values is drawn from N(0, σ²_signal), a response = signal + noise with
    noise ~ N(0, σ²_noise / n_averaged) is formed, and their Pearson r is taken; the median
    r is the ceiling: the best accuracy a perfect model could reach against a response that
    averages ``n_averaged`` repeats.

    Which ``n_averaged`` to use: the default (all repeats) matches r computed against the
    repeat-averaged test response; use ``n_averaged=1`` for r computed per single session
    and then averaged (as :func:`evaluate_predictions` does when its sessions are single
    repeats).

    r depends only on the ratio of the two variances, so the same standard-normal draws
    are shared by all vertices (common random numbers), which vectorises the simulation.

    The estimate is noisy where the signal is weak: on pure-noise vertices half the signal-variance
    estimates are positive and some ceilings come out high. Each vertex therefore also gets the
    repeat-reliability test ``F = n_repeats var(repeat means) / residual variance``, where the residual
    is what is left after removing each sample's and each repeat's mean, on
    ``(n_samples - 1, (n_samples - 1)(n_repeats - 1))`` degrees of freedom: exact for Gaussian noise
    independent over samples and repeats, whatever offset each repeat (session) adds, which Pearson r
    ignores too. ``reliable`` marks the vertices whose FDR q is below ``CEILING_Q``, the only ones
    :func:`normalized_accuracy` divides by.

    Parameters
    ----------
    Y_rep : ndarray of shape (n_repeats, n_samples, n_vertices)
        At least 2 repeats and 3 samples.
    n_averaged : int or None
        See above; None means ``n_repeats``.
    n_simulations : int
    random_state : int, Generator or None
    n_vertices_batch : int

    Returns
    -------
    NoiseCeiling
    """
    Y_rep = check_finite_array("Y_rep", Y_rep, ndim=3, min_rows=2).astype(np.float64, copy=False)
    n_repeats, n_samples, n_vertices = Y_rep.shape
    if n_samples < 3:
        raise ValueError(f"Y_rep needs at least 3 samples on axis 1, got shape {Y_rep.shape}")
    n_averaged = n_repeats if n_averaged is None else int(n_averaged)
    if n_averaged < 1 or int(n_simulations) < 1:
        raise ValueError(f"n_averaged={n_averaged} and n_simulations={n_simulations} must be >= 1")
    noise_var = Y_rep.var(axis=0, ddof=1).mean(axis=0)
    signal_var = np.maximum(Y_rep.mean(axis=0).var(axis=0, ddof=1) - noise_var / n_repeats, 0.0)
    rng = np.random.default_rng(random_state)
    z_signal, z_noise = rng.standard_normal((2, int(n_simulations), n_samples))
    z_signal -= z_signal.mean(axis=1, keepdims=True)
    z_noise -= z_noise.mean(axis=1, keepdims=True)
    s11 = (z_signal**2).sum(axis=1)[:, None]
    s22 = (z_noise**2).sum(axis=1)[:, None]
    s12 = (z_signal * z_noise).sum(axis=1)[:, None]
    ceiling = np.zeros(n_vertices)
    has_signal = signal_var > 0
    scale = np.sqrt(noise_var[has_signal] / n_averaged / signal_var[has_signal])  # noise sd / signal sd
    medians = []
    for start in range(0, len(scale), n_vertices_batch):
        c = scale[None, start:start + n_vertices_batch]
        r = (s11 + c * s12) / np.sqrt(s11 * (s11 + 2 * c * s12 + c**2 * s22))
        medians.append(np.median(r, axis=0))
    ceiling[has_signal] = np.concatenate(medians) if medians else []
    sample_means = Y_rep.mean(axis=0)
    residual = Y_rep - sample_means - Y_rep.mean(axis=1, keepdims=True) + sample_means.mean(axis=0)
    df_residual = (n_samples - 1) * (n_repeats - 1)
    mean_square_samples = n_repeats * sample_means.var(axis=0, ddof=1)
    mean_square_residual = (residual**2).sum(axis=(0, 1)) / df_residual
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.where(mean_square_samples > 0, mean_square_samples / mean_square_residual, 0.0)
    p = scipy.stats.f.sf(F, n_samples - 1, df_residual)
    return NoiseCeiling(ceiling=ceiling, signal_variance=signal_var, noise_variance=noise_var,
                        n_averaged=n_averaged, p=p, reliable=fdr_bh(p) < CEILING_Q)


def normalized_accuracy(r, ceiling, reliable) -> np.ndarray:
    """Accuracy relative to the noise ceiling, ``r / ceiling``, where the ceiling is reliable; never clipped.

    Values above 1 (r above the estimated ceiling, which is itself an estimate) and below 0 are kept:
    clipping them would hide how noisy the ratio is.

    Parameters
    ----------
    r, ceiling : ndarray of shape (n_vertices,)
    reliable : ndarray of shape (n_vertices,), bool
        Where the ceiling can be divided by (``NoiseCeiling.reliable``).

    Returns
    -------
    ndarray of shape (n_vertices,), float64
        NaN where the ceiling is not reliable or not positive.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    reliable = np.asarray(reliable, dtype=bool)
    if not r.shape == ceiling.shape == reliable.shape:
        raise ValueError(f"r, ceiling and reliable must have the same shape, got {r.shape}, {ceiling.shape} and "
                         f"{reliable.shape}")
    usable = reliable & (ceiling > 0)
    return np.divide(r, ceiling, out=np.full_like(r, np.nan), where=usable)


@dataclass(frozen=True)
class LayerContributions:
    """Result of :func:`layer_contributions`.

    Attributes
    ----------
    layers : tuple of str
    r2 : ndarray of shape (n_layers, n_vertices)
        Test R² of predictions from each single layer.
    best_layer : ndarray of shape (n_vertices,), int
        Index into ``layers`` of the layer with the highest R².
    """

    layers: tuple[str, ...]
    r2: np.ndarray
    best_layer: np.ndarray


def layer_contributions(pca: LayerwisePCA, encoder: RidgeEncoder, X_test, Y_test) -> LayerContributions:
    """Per-layer test R² with the other layers removed before the global projection.

    Parameters
    ----------
    pca : fitted LayerwisePCA
    encoder : fitted RidgeEncoder (on ``pca``'s output)
    X_test : ndarray of shape (n_samples, n_features)
    Y_test : ndarray of shape (n_samples, n_vertices)

    Returns
    -------
    LayerContributions
    """
    check_is_fitted(pca)
    check_is_fitted(encoder)
    Y_test = check_finite_array("Y_test", Y_test, ndim=2, min_rows=2)
    layers = tuple(pca.layer_slices_)
    r2 = np.stack([r2_columns(Y_test, encoder.predict(pca.transform_single_layer(X_test, layer)))
                   for layer in layers])
    return LayerContributions(layers=layers, r2=r2, best_layer=np.argmax(r2, axis=0))


def layer_refit_contributions(pca: LayerwisePCA, X_train, Y_train, X_test, Y_test, *, alphas=DEFAULT_ALPHAS,
                              n_folds: int = 9, device: str = "cpu",
                              progress: Callable[[int, int], None] | None = None) -> LayerContributions:
    """Per-layer test R² of one encoding model per layer, each refitted on that layer alone.

    An alternative to :func:`layer_contributions` (the paper's attribution, which zeroes the other
    layers inside one joint model): each layer's own PCA scores (stage 1 of ``pca``) feed a separate
    ridge, with the penalty chosen per vertex by ``n_folds``-fold CV on the training data
    (:func:`fit_ridge_cv`), and its test R² is the layer's contribution. Costs one ridge fit per layer.

    Parameters
    ----------
    pca : fitted LayerwisePCA
    X_train, X_test : ndarray of shape (n_samples, n_features)
    Y_train, Y_test : ndarray of shape (n_samples, n_vertices)
    alphas, n_folds, device
        Passed to :func:`fit_ridge_cv`.
    progress : callable, optional
        ``progress(layers_done, n_layers)`` after each layer's fit.

    Returns
    -------
    LayerContributions
    """
    check_is_fitted(pca)
    Y_test = check_finite_array("Y_test", Y_test, ndim=2, min_rows=2)
    X_train, X_test = pca._check_transform_input(X_train), pca._check_transform_input(X_test)
    layers = tuple(pca.layer_slices_)
    bounds = np.cumsum([0] + [pca.layer_components_[layer].shape[1] for layer in layers])
    r2 = []
    for i, layer in enumerate(layers):
        columns = slice(bounds[i], bounds[i + 1])
        fit = fit_ridge_cv(pca._layer_scores(X_train, keep=layer)[:, columns], Y_train, alphas=alphas,
                           n_folds=n_folds, device=device)
        predicted = pca._layer_scores(X_test, keep=layer)[:, columns] @ fit.coef + fit.intercept
        r2.append(r2_columns(Y_test, predicted))
        if progress is not None:
            progress(i + 1, len(layers))
    r2 = np.stack(r2)
    return LayerContributions(layers=layers, r2=r2, best_layer=np.argmax(r2, axis=0))


# --------------------------------------------------------------------------- persistence


@dataclass(frozen=True)
class EncodingModel:
    """A loaded encoding model: ``predict(X) = encoder.predict(pca.transform(X))``.

    Attributes
    ----------
    pca : LayerwisePCA or None
    encoder : RidgeEncoder
    meta : dict
    """

    pca: LayerwisePCA | None
    encoder: RidgeEncoder
    meta: dict

    def predict(self, X) -> np.ndarray:
        """Predicted responses, ndarray of shape (n_samples, n_vertices)."""
        return self.encoder.predict(X if self.pca is None else self.pca.transform(X))


_PCA_ARRAYS = ("layer_means_", "layer_components_", "layer_explained_variance_ratio_")
_ENCODER_ARRAYS = ("coef_", "intercept_", "best_alphas_", "cv_scores_")


def _jsonable_params(estimator: BaseEstimator) -> dict:
    params = estimator.get_params()
    return {k: np.asarray(v).tolist() if isinstance(v, tuple | list | np.ndarray) else v for k, v in params.items()}


def save_encoding_model(path, pca: LayerwisePCA | None, encoder: RidgeEncoder, meta: Mapping | None = None):
    """Write a fitted model as ``<path>.npz`` (arrays) and ``<path>.json`` (everything else).

    Parameters
    ----------
    path : str or Path
        Base name; a ``.npz`` or ``.json`` suffix is dropped.
    pca : fitted LayerwisePCA or None
    encoder : fitted RidgeEncoder
    meta : mapping, optional
        JSON-serialisable description (subject, model id, layers, stimulus hash, ...).

    Returns
    -------
    npz_path, json_path : Path
    """
    check_is_fitted(encoder)
    npz_path, json_path = result_paths(path)
    arrays = {f"encoder/{name}": np.asarray(getattr(encoder, name)) for name in _ENCODER_ARRAYS}
    header = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "sklearn": sklearn.__version__},
        "encoder": {"params": _jsonable_params(encoder), "n_features_in": int(encoder.n_features_in_)},
        "pca": None,
        "meta": dict(meta or {}),
    }
    if pca is not None:
        check_is_fitted(pca)
        layers = list(pca.layer_slices_)
        for i, layer in enumerate(layers):
            for name in _PCA_ARRAYS:
                arrays[f"pca/{name}{i}"] = getattr(pca, name)[layer]
        for name in ("mean_", "components_", "explained_variance_ratio_"):
            arrays[f"pca/{name}"] = getattr(pca, name)
        header["pca"] = {"params": {**_jsonable_params(pca), "layer_slices": None},
                         "layers": [[layer, *pca.layer_slices_[layer]] for layer in layers],
                         "n_features_in": int(pca.n_features_in_)}
        if pca.components_.shape[1] != encoder.n_features_in_:
            raise ValueError(f"pca gives {pca.components_.shape[1]} components but the encoder expects "
                             f"{encoder.n_features_in_} features")
    save_result(npz_path, arrays, header, indent=1)
    return npz_path, json_path


def load_encoding_model(path) -> EncodingModel:
    """Read a model written by :func:`save_encoding_model` (no pickle).

    Parameters
    ----------
    path : str or Path
        Base name, or either file's name.

    Returns
    -------
    EncodingModel
        Estimators are restored with ``device="cpu"``.

    Raises
    ------
    ValueError
        When a file is missing, unreadable, of another format, or its arrays do not match.
    """
    npz_path, json_path = result_paths(path)
    missing = [str(p) for p in (npz_path, json_path) if not p.is_file()]
    if missing:
        raise ValueError(f"Encoding model files are missing: {missing}")
    try:
        arrays, header = load_result(npz_path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"Encoding model {str(npz_path.with_suffix(''))!r} is unreadable: {exc}") from exc
    if header.get("format") != _FORMAT or header.get("format_version") != _FORMAT_VERSION:
        raise ValueError(f"{str(json_path)!r} is not a {_FORMAT} file of version {_FORMAT_VERSION}")
    try:
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in header["encoder"]["params"].items()}
        encoder = RidgeEncoder(**{**params, "device": "cpu"})
        for name in _ENCODER_ARRAYS:
            setattr(encoder, name, arrays[f"encoder/{name}"])
        if encoder.intercept_.ndim == 0:
            encoder.intercept_ = float(encoder.intercept_)
        encoder.n_features_in_ = int(header["encoder"]["n_features_in"])
        pca = None
        if header["pca"] is not None:
            pca = LayerwisePCA(**{**header["pca"]["params"], "device": "cpu"})
            layers = header["pca"]["layers"]
            pca.layer_slices_ = {name: (int(start), int(stop)) for name, start, stop in layers}
            pca.layer_slices = dict(pca.layer_slices_)
            for name in _PCA_ARRAYS:
                setattr(pca, name, {layer: arrays[f"pca/{name}{i}"] for i, (layer, _, _) in enumerate(layers)})
            for name in ("mean_", "components_", "explained_variance_ratio_"):
                setattr(pca, name, arrays[f"pca/{name}"])
            pca.n_components_ = pca.components_.shape[1]
            pca.n_features_in_ = int(header["pca"]["n_features_in"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"Encoding model {str(json_path)!r} is incomplete: missing {exc}") from exc
    coef_rows = encoder.coef_.shape[0]
    if coef_rows != encoder.n_features_in_ or (pca is not None and pca.n_components_ != coef_rows):
        raise ValueError(f"Encoding model arrays do not match: coef_ has {coef_rows} rows, the encoder expects "
                         f"{encoder.n_features_in_} and the PCA gives "
                         f"{None if pca is None else pca.n_components_} features")
    return EncodingModel(pca=pca, encoder=encoder, meta=header["meta"])
