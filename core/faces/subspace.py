"""Subspace congruence: Tucker's congruence of the identity and expression coding directions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.covariance import ledoit_wolf_shrinkage

from core._validation import check_choice
from core.faces.decoding import _checked_layers, _factor_labels, _shuffle_within


def _pca_scores(X: np.ndarray) -> np.ndarray:
    """Coordinates of the centred rows in an orthonormal basis of their span: (n, rank).

    From the eigendecomposition of the Gram matrix, so the cost is O(n² n_units); the map is an
    isometry of the centred data, so angles between subspaces of that span are unchanged.
    """
    centred = X - X.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(centred @ centred.T)
    keep = eigenvalues > eigenvalues.max() * 1e-10
    return vectors[:, keep] * np.sqrt(eigenvalues[keep])


def _class_mean_directions(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Centred class means (n_classes, dims): the between-class directions of one factor."""
    means = np.stack([Z[labels == c].mean(axis=0) for c in np.unique(labels)])
    return means - means.mean(axis=0)


def _lda_directions(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fisher discriminant directions (n_classes, dims), spanning the LDA subspace.

    ``Σ_w⁻¹ (μ_c − μ)`` for each class c, with the within-class covariance ``Σ_w`` shrunk towards
    ``tr(Σ_w)/dims · I`` by the Ledoit–Wolf amount (the span of the between-class directions after
    whitening by the within-class noise; its rank is at most n_classes − 1).
    """
    means = _class_mean_directions(Z, labels)
    index = np.unique(labels, return_inverse=True)[1]
    residuals = Z - (means + Z.mean(axis=0))[index]
    within = residuals.T @ residuals / len(Z)
    alpha = ledoit_wolf_shrinkage(residuals, assume_centered=True)
    target = np.trace(within) / within.shape[0] * np.eye(within.shape[0])
    return np.linalg.solve((1 - alpha) * within + alpha * target, means.T).T


#: How :func:`subspace_congruence` finds the discriminant directions of a factor.
SUBSPACE_METHODS: dict[str, Callable] = {"class_means": _class_mean_directions, "lda": _lda_directions}


def _orthonormal_basis(directions: np.ndarray) -> np.ndarray:
    """Orthonormal basis (dims, rank) of the span of the rows of ``directions``."""
    u, s, _ = np.linalg.svd(directions.T, full_matrices=False)
    return u[:, s > s.max() * 1e-10] if s.size and s.max() > 0 else u[:, :0]


def tucker_congruence(x, y) -> float:
    """Tucker's congruence coefficient ``φ(x, y) = Σ xy / sqrt(Σ x² Σ y²)`` (an uncentred cosine).

    Parameters
    ----------
    x, y : ndarray of shape (n,)

    Returns
    -------
    float
        In [-1, 1]; 0 when either vector is zero.
    """
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    denominator = np.sqrt((x**2).sum() * (y**2).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


@dataclass(frozen=True, eq=False)
class SubspaceCongruence:
    """Congruence of the identity and expression subspaces per layer.

    Attributes
    ----------
    layers : tuple of str
    congruence : ndarray of shape (n_layers,)
        Mean |Tucker φ| over matched principal vectors (see :func:`subspace_congruence`); NaN for a
        layer whose activations do not vary.
    chance : ndarray of shape (n_layers,)
        Mean congruence with the expression labels shuffled within each identity (NaN when
        ``n_permutations=0``): the level that subspaces of these dimensions reach in this layer's
        activation space by chance.
    principal_cosines : tuple of ndarray
        Per layer, the |φ| of each matched pair, largest first (length ``min(k_identity,
        k_expression)``).
    identity_dims, expression_dims : ndarray of shape (n_layers,), int
        Dimensions of the two subspaces.
    method : str
    """

    layers: tuple
    congruence: np.ndarray
    chance: np.ndarray
    principal_cosines: tuple
    identity_dims: np.ndarray
    expression_dims: np.ndarray
    method: str


def _matched_congruences(q_id: np.ndarray, q_ex: np.ndarray) -> np.ndarray:
    """|Tucker φ| of the matched principal vectors of two orthonormal bases, largest first."""
    a, sigma, bt = np.linalg.svd(q_id.T @ q_ex)
    return np.abs([tucker_congruence(q_id @ a[:, i], q_ex @ bt[i]) for i in range(len(sigma))])

def subspace_congruence(features_by_layer: Mapping[str, np.ndarray], identities, expressions, *,
                        method: str = "class_means", n_permutations: int = 100,
                        random_state=None) -> SubspaceCongruence:
    """How much identity and expression share coding directions, layer by layer.

    Definition. In each layer the centred activations are expressed in an orthonormal basis of
    their span (an isometry, see ``_pca_scores``). For each factor the discriminant directions are
    found (``"class_means"``: the class means of the factor, centred on their mean; ``"lda"``: the
    same contrasts whitened by the shrunk within-class covariance, i.e. the Fisher/LDA
    discriminant subspace) and orthonormal bases ``Q_id`` (``k_id`` columns) and ``Q_ex``
    (``k_ex`` columns) of their spans are taken. The singular value decomposition
    ``Q_idᵀ Q_ex = A Σ Bᵀ`` pairs the subspaces' principal vectors ``u_i = Q_id a_i`` and
    ``v_i = Q_ex b_i`` (the most similar pair first, then the most similar pair orthogonal to it,
    ...). The congruence is the mean over the ``m = min(k_id, k_ex)`` pairs of Tucker's
    ``|φ(u_i, v_i)|``, with ``φ(x, y) = Σ xy / sqrt(Σ x² Σ y²)``; for unit vectors φ(u_i, v_i) = σ_i,
    the cosine of the i-th principal angle. It is 1 when the smaller subspace lies in the larger,
    0 when they are orthogonal.

    Two unrelated subspaces are not at 0: in a layer whose activations span d dimensions, random
    subspaces of dimensions k_id and k_ex have congruence around ``sqrt(k_id / d)``, and when
    ``k_id + k_ex > d`` (e.g. a 7-unit logit layer against 14 identity directions) they must
    intersect and the congruence is 1 whatever the data. Read the congruence against ``chance``.

    Parameters
    ----------
    features_by_layer : mapping of str to ndarray of shape (n_faces, n_units)
    identities, expressions : sequence of str, length n_faces
        A balanced identity × expression design makes the class means of one factor free of the
        other.
    method : {"class_means", "lda"}
        Key of :data:`SUBSPACE_METHODS`.
    n_permutations : int
        Shuffles of the expression labels within each identity for ``chance`` (0: none).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    SubspaceCongruence
    """
    check_choice("method", method, SUBSPACE_METHODS)
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    layers = _checked_layers(features_by_layer)
    identities, expressions = _factor_labels(identities, expressions, len(next(iter(layers.values()))))
    rng = np.random.default_rng(random_state)
    shuffles = [_shuffle_within(expressions, identities, rng) for _ in range(n_permutations)]
    directions = SUBSPACE_METHODS[method]
    congruence, chance, cosines, k_id, k_ex = [], [], [], [], []
    for X in layers.values():
        Z = _pca_scores(X)
        q_id = _orthonormal_basis(directions(Z, identities))
        q_ex = _orthonormal_basis(directions(Z, expressions))
        phi = _matched_congruences(q_id, q_ex)
        null = [_matched_congruences(q_id, _orthonormal_basis(directions(Z, labels))) for labels in shuffles]
        null = [values.mean() for values in null if values.size]
        congruence.append(phi.mean() if phi.size else np.nan)
        chance.append(np.mean(null) if null else np.nan)
        cosines.append(phi)
        k_id.append(q_id.shape[1])
        k_ex.append(q_ex.shape[1])
    return SubspaceCongruence(tuple(layers), np.array(congruence), np.array(chance), tuple(cosines),
                              np.array(k_id), np.array(k_ex), method)
