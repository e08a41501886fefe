""":class:`BrainToLatentDecoder` (ridge from multi-voxel patterns to latent codes) and :func:`split_faces`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from core._validation import check_finite_array
from core.encoding import DEFAULT_ALPHAS, RidgeEncoder


def _check_latents(latents, latent_dim: int) -> np.ndarray:
    z = check_finite_array("latents", latents, ndim=2)
    if z.shape[1] != latent_dim:
        raise ValueError(f"latents must have {latent_dim} columns, got shape {z.shape}")
    return z.astype(np.float32)


# --------------------------------------------------------------------------- brain -> latent


class BrainToLatentDecoder(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Linear map from multi-voxel patterns to latent codes.

    Voxels are z-scored on the training faces, then a :class:`core.encoding.RidgeEncoder`
    predicts every latent dimension, each with its own penalty chosen by k-fold cross-validation.

    Ridge shrinks predictions towards the origin of the latent space. A GAN turns short codes into
    generic faces (its training codes, N(0, I) in 100 dimensions, have norms near 10), so with
    ``match_norm=True`` each predicted code is rescaled to the mean norm of the training codes: the
    direction is the ridge prediction, the length is that of a typical face. On the simulated
    400-face DCGAN experiment (SNR 1) this raised pixel pairwise accuracy from 0.58 to 0.75.

    Parameters
    ----------
    alphas : sequence of float
        Ridge penalties searched (default :data:`core.encoding.DEFAULT_ALPHAS`).
    n_folds : int
        Cross-validation folds.
    match_norm : bool
        Rescale each predicted code (2-D targets only) to ``target_norm_``.
    device : str

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        ``StandardScaler`` then ``RidgeEncoder``.
    best_alphas_ : ndarray of shape (latent_dim,)
    target_norm_ : float
        Mean Euclidean norm of the training codes (rows of ``y``).
    n_features_in_ : int
        Number of voxels.
    """

    def __init__(self, alphas=DEFAULT_ALPHAS, *, n_folds=5, match_norm=False, device="cpu"):
        self.alphas = alphas
        self.n_folds = n_folds
        self.match_norm = match_norm
        self.device = device

    def fit(self, X, y):
        """Fit the map.

        Parameters
        ----------
        X : ndarray of shape (n_faces, n_voxels)
            Brain responses of the training faces.
        y : ndarray of shape (n_faces, latent_dim) or (n_faces,)
            Their latent codes.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, ensure_min_samples=2,
                             dtype=[np.float64, np.float32])
        ridge = RidgeEncoder(self.alphas, n_folds=min(self.n_folds, len(X)), device=self.device)
        self.pipeline_ = make_pipeline(StandardScaler(), ridge).fit(X, y)
        self.best_alphas_ = ridge.best_alphas_
        self.target_norm_ = float(np.linalg.norm(y.reshape(len(y), -1), axis=1).mean())
        return self

    def predict(self, X):
        """Latent codes predicted from brain responses.

        Parameters
        ----------
        X : ndarray of shape (n_faces, n_voxels)

        Returns
        -------
        latents : ndarray of shape (n_faces, latent_dim) or (n_faces,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        pred = self.pipeline_.predict(X)
        if not self.match_norm or pred.ndim == 1:
            return pred
        norms = np.linalg.norm(pred, axis=1, keepdims=True)
        return pred * np.divide(self.target_norm_, norms, out=np.ones_like(norms), where=norms > 0)


def split_faces(n_faces: int, test_fraction: float = 0.2, *, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test split by face.

    Parameters
    ----------
    n_faces : int
    test_fraction : float
        In (0, 1); the test set gets ``round(test_fraction * n_faces)`` faces.
    random_state : int, numpy Generator or None

    Returns
    -------
    train_idx, test_idx : ndarray of int, sorted, disjoint, covering ``range(n_faces)``
        Each holds at least 2 faces.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(test_fraction * n_faces))
    if n_test < 2 or n_faces - n_test < 2:
        raise ValueError(f"{n_faces} faces with test_fraction={test_fraction} leave {n_test} test and "
                         f"{n_faces - n_test} training faces; each set needs at least 2")
    order = np.random.default_rng(random_state).permutation(n_faces)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
