"""Category maps and category selectivity d′ of a study's fitted encoding model (Wen et al. 2018's route).

The study's model predicts a map for every image of a labelled stimulus library; the predicted maps are averaged
per category (``core.categories.category_maps``) and give each vertex a d′ per category
(``core.categories.category_selectivity``), on the vertices the model predicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core._validation import check_finite_array, check_same_length

__all__ = ["StudyCategories", "predicted_category_selectivity"]


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
