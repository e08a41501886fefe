""":class:`EncodingModel`: the whole encoding model as one sklearn estimator, network features → cortical responses
(:class:`~core.encoding.pca.LayerwisePCA` then :class:`~core.encoding.estimators.RidgeEncoder`).
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from core.encoding.estimators import RidgeEncoder
from core.encoding.pca import LayerwisePCA
from core.encoding.ridge import DEFAULT_ALPHAS


class EncodingModel(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Layer-wise PCA of network features, then per-vertex ridge with the penalty chosen by CV (Wen et al. 2018).

    Parameters
    ----------
    layer_slices : dict of str to (start, stop), or None
        Column range of each layer in ``X`` (from :func:`~core.encoding.pca.stack_layer_features`); None: one
        layer named "all".
    variance : float
        Fraction of variance kept at each PCA stage (default 0.99).
    alphas : sequence of float
        Ridge penalties searched (default :data:`~core.encoding.ridge.DEFAULT_ALPHAS`).
    n_folds : int
        Contiguous CV folds of the penalty search (default 9).
    n_samples_batch, n_targets_batch : int
        Rows per PCA chunk; vertices per ridge batch.
    device : str
        Torch device for fitting ("cpu" default).
    random_state : int, Generator or None
        Seeds the randomized PCA solver.

    Attributes
    ----------
    pca_ : LayerwisePCA
        Fitted on the training features.
    ridge_ : RidgeEncoder
        Fitted on ``pca_``'s scores of the training features.
    layers_ : tuple of str
        Layer names, in column order.
    n_components_ : int
        Features the ridge sees (global PCA components).
    n_features_in_ : int
    meta_ : dict
        JSON description stored with the model (network, layers, reduction...): empty after ``fit``,
        read back by :func:`~core.encoding.io.load_encoding_model`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 6)).astype(np.float32); Y = X @ rng.standard_normal((6, 3))
    >>> EncodingModel({"a": (0, 4), "b": (4, 6)}, n_folds=3).fit(X, Y).predict(X).shape
    (60, 3)
    """

    def __init__(self, layer_slices=None, *, variance=0.99, alphas=DEFAULT_ALPHAS, n_folds=9, n_samples_batch=4096,
                 n_targets_batch=4096, device="cpu", random_state=None):
        self.layer_slices = layer_slices
        self.variance = variance
        self.alphas = alphas
        self.n_folds = n_folds
        self.n_samples_batch = n_samples_batch
        self.n_targets_batch = n_targets_batch
        self.device = device
        self.random_state = random_state

    def _parts(self) -> tuple[LayerwisePCA, RidgeEncoder]:
        """Unfitted PCA and ridge with this model's parameters."""
        return (LayerwisePCA(self.layer_slices, variance=self.variance, n_samples_batch=self.n_samples_batch,
                             device=self.device, random_state=self.random_state),
                RidgeEncoder(self.alphas, n_folds=self.n_folds, n_targets_batch=self.n_targets_batch,
                             device=self.device))

    def _set_parts(self, pca: LayerwisePCA, ridge: RidgeEncoder, meta: dict | None = None) -> EncodingModel:
        """Adopt fitted parts (by :meth:`fit` and the loader)."""
        if pca.n_components_ != ridge.n_features_in_:
            raise ValueError(f"the PCA gives {pca.n_components_} components but the ridge expects "
                             f"{ridge.n_features_in_} features")
        self.pca_, self.ridge_ = pca, ridge
        self.layers_ = tuple(pca.layer_slices_)
        self.n_components_ = int(pca.n_components_)
        self.n_features_in_ = int(pca.n_features_in_)
        self.meta_ = dict(meta or {})
        return self

    def fit(self, X, y):
        """Fit the PCA on ``X``, then the ridge on its scores.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Concatenated layer activations, float32 (or float64).
        y : ndarray of shape (n_samples, n_vertices) or (n_samples,)

        Returns
        -------
        self
        """
        pca, ridge = self._parts()
        pca.fit(X)
        return self._set_parts(pca, ridge.fit(pca.transform(X), y))

    def predict(self, X):
        """Predicted responses, ndarray of shape (n_samples, n_vertices) (float32 for float32 ``X``)."""
        check_is_fitted(self)
        return self.ridge_.predict(self.pca_.transform(X))

    def predict_layer(self, X, layer: str):
        """Responses predicted from one layer alone (the others at their training means; the paper's attribution).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        layer : str
            One of ``layers_``.

        Returns
        -------
        ndarray of shape (n_samples, n_vertices)
        """
        check_is_fitted(self)
        return self.ridge_.predict(self.pca_.transform_single_layer(X, layer))
