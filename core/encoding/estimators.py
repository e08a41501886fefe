"""sklearn estimators (himalaya's ``_sklearn_api.py`` role): :class:`RidgeEncoder`, a thin wrapper over
:func:`core.encoding.ridge.fit_ridge_cv`, and :class:`Delayer` (features shifted by a few TRs).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from core._validation import check_finite_array
from core.encoding.ridge import DEFAULT_ALPHAS, fit_ridge_cv


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
