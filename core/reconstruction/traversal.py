"""Latent directions and traversals: :func:`latent_direction` and :func:`latent_traversal`.
"""

from __future__ import annotations

import numpy as np

from core._validation import check_finite_array, check_same_length

# --------------------------------------------------------------------------- latent explorer


def latent_direction(codes, labels, *, positive) -> np.ndarray:
    """Unit vector in latent space from the mean code of the other faces to that of the ``positive`` class.

    Parameters
    ----------
    codes : ndarray of shape (n_faces, d)
        Latent codes (e.g. the training faces' codes, or brain-decoded codes).
    labels : array-like of shape (n_faces,)
    positive
        The label the direction points to (e.g. ``"male"``); the other faces form the other end.

    Returns
    -------
    direction : ndarray of shape (d,), float32, unit norm
    """
    codes = check_finite_array("codes", codes, ndim=2).astype(np.float64)
    labels = np.asarray(labels)
    check_same_length(codes=codes, labels=labels)
    is_positive = labels == positive
    if is_positive.all() or not is_positive.any():
        raise ValueError(f"labels need faces with and without positive={positive!r}, got {np.unique(labels).tolist()}")
    difference = codes[is_positive].mean(axis=0) - codes[~is_positive].mean(axis=0)
    norm = np.linalg.norm(difference)
    if norm == 0:
        raise ValueError("the two classes have the same mean code; there is no direction between them")
    return (difference / norm).astype(np.float32)


def latent_traversal(space, start, direction, offsets) -> np.ndarray:
    """Faces decoded at ``start + offset * direction`` for each offset: a walk along a latent axis.

    Parameters
    ----------
    space : fitted latent space (an entry of :data:`LATENT_SPACES`)
    start : ndarray of shape (d,)
        The code the walk passes through at offset 0.
    direction : ndarray of shape (d,)
        E.g. :func:`latent_direction`.
    offsets : ndarray of shape (n_steps,)
        Signed distances along ``direction``, in latent units.

    Returns
    -------
    images : ndarray of shape (n_steps, h, w, 3), float32 in [0, 1]
    """
    start = check_finite_array("start", start, ndim=1)
    direction = check_finite_array("direction", direction, ndim=1)
    offsets = check_finite_array("offsets", offsets, ndim=1)
    if start.shape != direction.shape:
        raise ValueError(f"start {start.shape} and direction {direction.shape} must have the same shape")
    return space.inverse_transform((start[None, :] + offsets[:, None] * direction[None, :]).astype(np.float32))
