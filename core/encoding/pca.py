"""PCA of network features: :func:`fit_pca` over the :data:`PCA_SOLVERS` registry, :func:`stack_layer_features`
and :class:`LayerwisePCA` (PCA per layer keeping 99 % of its variance, then PCA over the concatenated scores).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from core._validation import check_choice, check_finite_array, check_same_length
from core.encoding.ridge import _tensor
from core.stats import (
    torch_device,
)

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

    def _layer_block(self, X: np.ndarray, name: str) -> np.ndarray:
        """Stage-1 scores of one layer, (n_samples, n_components_layer), in row batches."""
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        dev = torch_device(self.device)
        start, stop = self.layer_slices_[name]
        mean = torch.as_tensor(self.layer_means_[name], dtype=dtype, device=dev)
        weights = torch.as_tensor(self.layer_components_[name], dtype=dtype, device=dev)
        return np.concatenate([((_tensor(X[i:i + self.n_samples_batch, start:stop], dev, X.dtype) - mean)
                                @ weights).cpu().numpy() for i in range(0, X.shape[0], self.n_samples_batch)])

    def _layer_scores(self, X: np.ndarray, keep: str | None) -> np.ndarray:
        """Stage-1 scores (n_samples, n_layer_components_total); layers other than ``keep`` are 0."""
        return np.concatenate([
            self._layer_block(X, name) if keep is None or name == keep
            else np.zeros((X.shape[0], self.layer_components_[name].shape[1]), dtype=X.dtype)
            for name in self.layer_slices_], axis=1)

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

    def layer_scores(self, X, layer: str):
        """One layer's own stage-1 PCA scores (before the global projection).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        layer : str
            A key of ``layer_slices_``.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_components_layer)
            ``(X[:, layer's columns] - layer_means_[layer]) @ layer_components_[layer]``; float64 for
            float64 input, else float32.
        """
        X = self._check_transform_input(X)
        check_choice("layer", layer, self.layer_slices_)
        return self._layer_block(X, layer)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
