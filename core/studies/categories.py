"""Category maps and category selectivity d′ of a study's fitted encoding model (Wen et al. 2018's route).

The study's model predicts a map for every image of a labelled stimulus library; the predicted maps are averaged
per category (``core.categories.category_maps``) and give each vertex a d′ per category
(``core.categories.category_selectivity``), on the vertices the model predicts. Their clustering's spin test
(:func:`partial_spin_significance`) rotates maps known on part of a surface only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core._validation import check_finite_array, check_same_length

__all__ = ["StudyCategories", "nearest_known_vertex", "partial_spin_significance", "predicted_category_selectivity"]


@dataclass(frozen=True)
class StudyCategories:
    """Category maps and d′ of a study's model on a labelled library.

    Attributes
    ----------
    categories : tuple of str
        Sorted library categories (rows of ``maps`` and ``dprime``).
    maps : ndarray of shape (n_categories, n_vertices), float32
        Mean predicted response per category; NaN on vertices the model does not predict.
    dprime : ndarray of shape (n_categories, n_vertices), float32
        d′ of each category against the rest; NaN on vertices the model does not predict.
    n_images : int
        Library images predicted (those of left-out categories included).
    left_out : tuple of str
        Categories with fewer than 2 images (d′ needs 2), left out.
    """

    categories: tuple
    maps: np.ndarray
    dprime: np.ndarray
    n_images: int
    left_out: tuple = ()


def predicted_category_selectivity(model, X, labels, predicted, *, batch_size: int = 256) -> StudyCategories:
    """Category maps and d′ of ``model``'s predictions of the library ``X``, on the ``predicted`` vertices.

    Parameters
    ----------
    model : object with ``predict(X) -> (n, n_vertices)``
        E.g. ``core.encoding.EncodingModel``.
    X : ndarray of shape (n_images, n_features)
        Library features, as the model was fitted on.
    labels : sequence of str, length n_images
        Category of each image; categories with fewer than 2 images are left out (d′ needs 2), and at least two
        categories must remain.
    predicted : ndarray of shape (n_vertices,), bool
        Vertices the model predicts (e.g. FDR q < 0.05 of its fit); the others are NaN.
    batch_size : int
        Images predicted at once (memory: batch_size × n_vertices floats).

    Returns
    -------
    StudyCategories
    """
    from core.categories import category_maps, category_selectivity

    X = check_finite_array("X", X, ndim=2)
    labels = np.asarray(labels)
    check_same_length(X=X, labels=labels)
    predicted = np.asarray(predicted, dtype=bool)
    if predicted.ndim != 1 or not predicted.any():
        raise ValueError("predicted must be a 1-D boolean mask with at least one predicted vertex")
    names, counts = np.unique(labels, return_counts=True)
    left_out = tuple(str(c) for c in names[counts < 2])
    if (counts >= 2).sum() < 2:
        raise ValueError("d′ needs at least two categories with 2 or more images each")
    rows = np.flatnonzero(~np.isin(labels, names[counts < 2]))
    keep = np.flatnonzero(predicted)
    responses = np.concatenate([np.asarray(model.predict(X[rows[start:start + batch_size]]), np.float32)[:, keep]
                                for start in range(0, len(rows), batch_size)])
    labels = labels[rows]
    categories, means = category_maps(responses, labels)
    _, dprime = category_selectivity(responses, labels)

    def full(rows):
        out = np.full((len(categories), len(predicted)), np.nan, np.float32)
        out[:, keep] = rows
        return out

    return StudyCategories(categories=tuple(str(c) for c in categories), maps=full(means), dprime=full(dprime),
                           n_images=len(X), left_out=left_out)


def nearest_known_vertex(space: str, known) -> np.ndarray:
    """Each data vertex of ``space``'s nearest ``known`` vertex of the same hemisphere, on the sphere.

    Parameters
    ----------
    space : {"fsLR32k", "fsaverage5"}
    known : ndarray of shape (n_vertices,), bool

    Returns
    -------
    ndarray of shape (n_vertices,), int64
        Known vertices map to themselves; vertices of a hemisphere without a known vertex to themselves too.
    """
    from scipy.spatial import cKDTree

    from core import cortex

    surface = {"fsLR32k": cortex.load_fslr32k, "fsaverage5": cortex.load_fsaverage5}[space]("sphere")
    known = np.asarray(known, dtype=bool)
    if known.shape != (surface.n_vertices,):
        raise ValueError(f"known must have shape ({surface.n_vertices},), got {known.shape}")
    nearest = np.arange(surface.n_vertices)
    offset = 0
    for hemi in (surface.left, surface.right):
        points = hemi.vertices[hemi.vertex_index].astype(np.float64)
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        here = np.flatnonzero(known[offset:offset + len(points)])
        if here.size:
            nearest[offset:offset + len(points)] = here[cKDTree(points[here]).query(points)[1]] + offset
        offset += len(points)
    return nearest


def partial_spin_significance(maps, space: str, *, k_range, n_permutations: int = 1000, n_rotations: int = 300,
                              progress=None):
    """The spin test of ``core.clustering.clustering_significance`` for category maps known on part of a surface.

    The maps are compared over the vertices where all are finite (``known``). Each null map is rotated on the
    sphere (``core.clustering.SpinNull``); a rotated vertex that lands off ``known`` takes the value of the nearest
    known vertex of its hemisphere (:func:`nearest_known_vertex`), so every null map is read from the maps'
    own values. Seeded with 0, as the clustering the pages show.

    Parameters
    ----------
    maps : ndarray of shape (n_categories, n_vertices)
        Category maps on every data vertex of ``space`` (59,412 or 20,484), NaN where unknown.
    space : {"fsLR32k", "fsaverage5"}
    k_range, n_permutations, n_rotations, progress
        As ``clustering_significance`` and ``SpinNull``.

    Returns
    -------
    core.clustering.ClusteringSignificance
    """
    from core.clustering import SpinNull, clustering_significance

    maps = np.asarray(maps, dtype=np.float64)
    known = np.isfinite(maps).all(axis=0)
    filled = np.nan_to_num(maps[:, nearest_known_vertex(space, known)])
    return clustering_significance(filled, mask=known, k_range=k_range, n_permutations=n_permutations,
                                   null=SpinNull(space, n_rotations=n_rotations), random_state=0, progress=progress)
