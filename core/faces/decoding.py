"""Transfer readouts: identity decoded across expressions, expression across identities."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.svm import LinearSVC

from core._validation import check_choice, check_finite_array, check_same_length


def _logreg(random_state: int):
    return LogisticRegression(max_iter=2000, random_state=random_state)


def _linear_svc(random_state: int):
    return LinearSVC(max_iter=10_000, random_state=random_state)


#: Linear classifiers of :func:`decoding_transfer`: name -> factory(random_state).
CLASSIFIERS: dict[str, Callable] = {"linear_svc": _linear_svc, "logreg": _logreg}


@dataclass(frozen=True, eq=False)
class DecodingTransfer:
    """Cross-factor decoding accuracy per layer.

    Attributes
    ----------
    layers : tuple of str
    identity_accuracy : ndarray of shape (n_layers,)
        Identity decoded with leave-one-expression-out cross-validation (train on the other
        expressions, test on the held-out one); pooled over folds.
    expression_accuracy : ndarray of shape (n_layers,)
        Expression decoded with leave-one-identity-out cross-validation.
    identity_chance, expression_chance : float
        ``1 / n_classes``.
    classifier : str
    identity_p, expression_p : ndarray of shape (n_layers,)
        One-sided permutation p of each accuracy against chance (NaN without permutations): the decoded
        labels are shuffled within each level of the other factor (identities within an expression), which
        keeps every fold's classes, and the whole cross-validation is re-run.
    n_permutations : int
    """

    layers: tuple
    identity_accuracy: np.ndarray
    expression_accuracy: np.ndarray
    identity_chance: float
    expression_chance: float
    classifier: str
    identity_p: np.ndarray
    expression_p: np.ndarray
    n_permutations: int = 0


def _standardised_components(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both folds with the training fold's statistics, then, when there are at least as
    many units as training samples, project both on all ``n_train − 1`` principal components of the
    standardised training fold.

    The components come from the eigendecomposition of the training Gram matrix (O(n_train² n_units)),
    which gives sklearn's ``StandardScaler`` → ``PCA(n_components=n_train − 1)`` up to the signs of the
    components, many times faster when units ≫ samples. Constant units are left unscaled, as sklearn.
    """
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    train, test = (train - mean) / std, (test - mean) / std
    if train.shape[1] < train.shape[0]:
        return train, test
    eigenvalues, vectors = np.linalg.eigh(train @ train.T)
    order = np.argsort(eigenvalues)[::-1][:len(train) - 1]
    keep = order[eigenvalues[order] > eigenvalues.max() * 1e-12]
    components = train.T @ (vectors[:, keep] / np.sqrt(eigenvalues[keep]))
    return train @ components, test @ components


def _cv_accuracy(X: np.ndarray, y: np.ndarray, groups: np.ndarray, classifier: str, seed: int) -> float:
    """Pooled leave-one-group-out accuracy of standardise → PCA (when units ≥ n_train) → classifier."""
    predicted = np.empty_like(y)
    for train, test in LeaveOneGroupOut().split(X, y, groups):
        x_train, x_test = _standardised_components(X[train], X[test])
        predicted[test] = CLASSIFIERS[classifier](seed).fit(x_train, y[train]).predict(x_test)
    return float(np.mean(predicted == y))


def _factor_labels(identities, expressions, n: int) -> tuple[np.ndarray, np.ndarray]:
    identities, expressions = np.asarray(identities).astype(str), np.asarray(expressions).astype(str)
    check_same_length(features=np.empty(n), identities=identities, expressions=expressions)
    for name, labels in (("identities", identities), ("expressions", expressions)):
        if len(np.unique(labels)) < 2:
            raise ValueError(f"{name} needs at least 2 distinct labels, got {np.unique(labels).tolist()}")
    return identities, expressions


def _checked_layers(features_by_layer: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not features_by_layer:
        raise ValueError("features_by_layer is empty")
    return {layer: check_finite_array(f"features[{layer!r}]", X, ndim=2).astype(np.float64)
            for layer, X in features_by_layer.items()}


def _permutation_p(observed: float, accuracy_of: Callable[[np.ndarray], float], labels: np.ndarray,
                   blocks: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """``(1 + #{accuracy_of(labels shuffled within blocks) ≥ observed}) / (1 + n_permutations)``; NaN for 0."""
    if n_permutations == 0:
        return float("nan")
    null = [accuracy_of(_shuffle_within(labels, blocks, rng)) for _ in range(n_permutations)]
    return (1 + int(np.sum(np.array(null) >= observed - 1e-12))) / (1 + n_permutations)


def decoding_transfer(features_by_layer: Mapping[str, np.ndarray], identities, expressions, *,
                      classifier: str = "logreg", n_permutations: int = 0, random_state=0) -> DecodingTransfer:
    """Decode identity across expressions and expression across identities, layer by layer.

    The tolerance test of Schwartz et al. (2023): a layer carries identity information that
    generalises over expressions when a classifier trained on some expressions recognises the
    identities in an unseen expression (leave-one-expression-out), and vice versa
    (leave-one-identity-out for expression). Features are standardised; when a layer has at least
    as many units as training samples they are first projected on their ``n_train − 1`` principal
    components (fitted on the training fold only, through its Gram matrix; see
    ``_standardised_components``).

    Parameters
    ----------
    features_by_layer : mapping of str to ndarray of shape (n_faces, n_units)
        E.g. :func:`network_features`.
    identities, expressions : sequence of str, length n_faces
    classifier : {"linear_svc", "logreg"}
        Key of :data:`CLASSIFIERS`.
    n_permutations : int
        Label shuffles for the p-values against chance (0: none; each re-runs the cross-validation, so the
        cost is ``1 + n_permutations`` times that of the accuracies).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    DecodingTransfer
    """
    check_choice("classifier", classifier, CLASSIFIERS)
    if int(n_permutations) < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    layers = _checked_layers(features_by_layer)
    identities, expressions = _factor_labels(identities, expressions, len(next(iter(layers.values()))))
    rng = np.random.default_rng(random_state)
    seed = int(rng.integers(2**31 - 1))
    results = {"identity": ([], []), "expression": ([], [])}
    for X in layers.values():
        for factor, labels, groups in (("identity", identities, expressions), ("expression", expressions, identities)):
            def accuracy_of(y, X=X, groups=groups):
                return _cv_accuracy(X, y, groups, classifier, seed)

            observed = accuracy_of(labels)
            results[factor][0].append(observed)
            results[factor][1].append(_permutation_p(observed, accuracy_of, labels, groups, int(n_permutations), rng))
    (ident, ident_p), (expr, expr_p) = (tuple(np.array(v) for v in results[f]) for f in ("identity", "expression"))
    return DecodingTransfer(tuple(layers), ident, expr, 1 / len(np.unique(identities)),
                            1 / len(np.unique(expressions)), classifier, ident_p, expr_p, int(n_permutations))

def _shuffle_within(labels: np.ndarray, blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``labels`` permuted independently inside each block (e.g. expressions within identities)."""
    out = labels.copy()
    for block in np.unique(blocks):
        members = np.flatnonzero(blocks == block)
        out[members] = labels[rng.permutation(members)]
    return out
