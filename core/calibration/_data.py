"""Null data with the structure of real data, for the calibration cases.

- :func:`smooth_patch_fields`: fields on a connected patch of the fsaverage5 mesh, smoothed by neighbour
  averaging on the whole hemisphere (neighbouring vertices correlate at about 0.95), as measured maps are;
- :func:`smooth_sphere_maps`: whole-cortex fsaverage5 maps smoothed alike (for spin tests);
- :func:`factor_features`: correlated features with a decaying spectrum, as network features are;
- :func:`ar1_series`: first-order autoregressive time series, as fMRI noise is.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["PATCH_SMOOTHING", "ar1_series", "factor_features", "smooth_patch_fields", "smooth_sphere_maps"]

#: Neighbour-averaging steps of the smooth fields (fsaverage5 vertices are ~4 mm apart): on a 30-vertex
#: patch, neighbouring vertices then correlate at about 0.95 and the farthest at about 0.2.
PATCH_SMOOTHING = 10


@functools.lru_cache(maxsize=4)
def _patch_kernel(n_vertices: int, n_iter: int) -> np.ndarray:
    """Rows of the smoothing operator for a patch of ``n_vertices`` around left-hemisphere vertex 0:
    float64 (n_vertices, 10242), so that ``noise @ kernel.T`` is the smoothed noise on the patch."""
    import scipy.sparse as sp

    from core.cortex import cortical_adjacency

    adjacency = cortical_adjacency("fsaverage5")[:10_242][:, :10_242].tocsr()
    patch, queue, seen = [], [0], {0}
    while len(patch) < n_vertices:  # breadth-first from vertex 0: a connected patch
        vertex = queue.pop(0)
        patch.append(vertex)
        for neighbour in adjacency.indices[adjacency.indptr[vertex]:adjacency.indptr[vertex + 1]]:
            if neighbour not in seen:
                seen.add(neighbour)
                queue.append(int(neighbour))
    operator = adjacency + sp.identity(10_242, format="csr")
    operator = sp.diags(1.0 / np.asarray(operator.sum(axis=1)).ravel()) @ operator
    kernel = np.zeros((n_vertices, 10_242))
    kernel[np.arange(n_vertices), patch] = 1.0
    for _ in range(n_iter):
        kernel = np.asarray((operator.T @ kernel.T).T)
    return kernel / np.sqrt((kernel**2).sum(axis=1, keepdims=True))


def smooth_patch_fields(rng: np.random.Generator, n_fields: int, n_vertices: int = 30, *,
                        n_iter: int = PATCH_SMOOTHING) -> np.ndarray:
    """Independent smooth fields on a patch of the fsaverage5 mesh, unit variance per vertex.

    Returns
    -------
    ndarray of shape (n_fields, n_vertices), float64
    """
    kernel = _patch_kernel(int(n_vertices), int(n_iter))
    return rng.standard_normal((n_fields, kernel.shape[1])) @ kernel.T


def smooth_sphere_maps(rng: np.random.Generator, n_maps: int, *, n_iter: int = 20) -> np.ndarray:
    """Independent smooth maps over the whole fsaverage5 cortex: float64 (n_maps, 20484)."""
    from core.cortex import smooth_on_surface

    return smooth_on_surface(rng.standard_normal((n_maps, 20_484)).astype(np.float32), n_iter=n_iter).astype(
        np.float64)


def factor_features(rng: np.random.Generator, n_samples: int, n_features: int = 50, *,
                    n_factors: int = 5) -> np.ndarray:
    """Correlated features: ``n_factors`` shared factors with decaying weights plus unit noise, (n_samples,
    n_features); the first factors explain most of the variance, as in a network layer."""
    weights = rng.standard_normal((n_factors, n_features)) * (3.0 / np.arange(1, n_factors + 1))[:, None]
    return rng.standard_normal((n_samples, n_factors)) @ weights + rng.standard_normal((n_samples, n_features))


def ar1_series(rng: np.random.Generator, n_samples: int, n_series: int, *, phi: float) -> np.ndarray:
    """Stationary AR(1) series with unit variance along axis 0: (n_samples, n_series)."""
    innovations = rng.standard_normal((n_samples, n_series)) * np.sqrt(1 - phi**2)
    out = np.empty((n_samples, n_series))
    out[0] = rng.standard_normal(n_series)
    for t in range(1, n_samples):
        out[t] = phi * out[t - 1] + innovations[t]
    return out
