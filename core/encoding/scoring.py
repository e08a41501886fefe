"""Scoring encoding models: :func:`cross_validated_scores` (nested CV on the training samples),
:func:`evaluate_predictions` (r per test session, R², block-permutation p, FDR q), :func:`roi_image_r`,
:func:`noise_ceiling` (Monte-Carlo), :func:`normalized_accuracy`, :func:`layer_contributions` and
:func:`layer_refit_contributions`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats
from sklearn.utils.validation import check_is_fitted

from core._validation import check_finite_array
from core.encoding.estimators import RidgeEncoder
from core.encoding.pca import LayerwisePCA
from core.encoding.ridge import (
    DEFAULT_ALPHAS,
    _check_xy,
    _warn_constant_targets,
    cross_validated_predictions,
    fit_ridge_cv,
    kfold_labels,
)
from core.stats import (
    block_permutation_test,
    fdr_bh,
    pearson_r_columns,
    pearson_r_pvalue,
    r2_columns,
    r_per_sample,
)

CEILING_Q = 0.05
"""FDR level of the repeat-reliability test below which a vertex's noise ceiling is reliable."""


def cross_validated_scores(X, Y, *, n_folds: int = 2, inner_folds: int = 9, alphas=DEFAULT_ALPHAS,
                           device: str = "cpu") -> EncodingScores:
    """Which targets a ridge model predicts, judged on its training samples alone (nested cross-validation).

    :func:`cross_validated_predictions` (``n_folds`` outer folds, penalties by ``inner_folds``-fold CV
    inside the others), r over all samples, and a p that is exact under the null of no association for
    Gaussian responses: each fold's predictions come from a model that never saw that fold's responses,
    so the fold's r gets Student's t test (``core.stats.pearson_r_pvalue``); the folds' p-values are
    combined by Bonferroni, ``p = min(1, n_folds min_f p_f)``, valid however the folds depend on each
    other (each fold's model is fitted on the others). Pooling the folds in one permutation test is not
    valid: on noise targets it gave p < 0.05 for 6-12 % of them, and reusing penalties chosen by a CV
    over all samples makes any test of the out-of-fold r liberal.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_targets)
    n_folds, inner_folds, alphas, device
        As in :func:`cross_validated_predictions`.

    Returns
    -------
    EncodingScores
        ``r`` (and ``r_sessions`` = ``r[None]``) and ``r2`` of the out-of-fold predictions over all samples,
        ``p`` and its FDR ``q``.
    """
    X, Y = _check_xy(X, Y)
    predicted = cross_validated_predictions(X, Y, n_folds=n_folds, inner_folds=inner_folds, alphas=alphas,
                                            device=device)
    folds = kfold_labels(X.shape[0], n_folds)
    fold_p = [pearson_r_pvalue(pearson_r_columns(Y[folds == f], predicted[folds == f]), int((folds == f).sum()))
              for f in range(int(n_folds))]
    p = np.minimum(1.0, int(n_folds) * np.min(fold_p, axis=0))
    r = pearson_r_columns(Y, predicted)
    return EncodingScores(r=r, r_sessions=r[None], r2=r2_columns(Y, predicted), p=p, q=fdr_bh(p))


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EncodingScores:
    """Per-vertex test scores from :func:`evaluate_predictions`.

    Attributes
    ----------
    r : ndarray of shape (n_vertices,)
        Pearson r averaged over test sessions.
    r_sessions : ndarray of shape (n_sessions, n_vertices)
    r2 : ndarray of shape (n_vertices,)
        R² averaged over test sessions.
    p : ndarray of shape (n_vertices,)
        One-sided block-permutation p of the session-averaged r.
    q : ndarray of shape (n_vertices,)
        Benjamini–Hochberg q of ``p`` across vertices.
    """

    r: np.ndarray
    r_sessions: np.ndarray
    r2: np.ndarray
    p: np.ndarray
    q: np.ndarray


#: Vertices scored at once by :func:`evaluate_predictions` (bounds its memory beyond the inputs to a few
#: (n_samples, SCORE_BATCH) float64 arrays: 330 MB each at NSD's 10,000 images).
SCORE_BATCH = 4096


def evaluate_predictions(Y_test, Y_pred, *, block_size: int = 10, n_permutations: int = 1000,
                         random_state=None, device: str = "cpu") -> EncodingScores:
    """Score predictions against repeated test sessions, per vertex.

    As in the paper, r is computed per test session and then averaged over sessions.

    Parameters
    ----------
    Y_test : ndarray of shape (n_sessions, n_samples, n_vertices) or (n_samples, n_vertices)
        Measured test responses; 2-D is one session.
    Y_pred : ndarray of shape (n_samples, n_vertices)
    block_size, n_permutations, random_state, device
        Passed to :func:`core.stats.block_permutation_test`.

    Returns
    -------
    EncodingScores

    Warns
    -----
    UserWarning
        When some vertices are constant in a session (their r and R² are 0).
    """
    Y_test = check_finite_array("Y_test", Y_test, min_rows=1)
    Y_pred = check_finite_array("Y_pred", Y_pred, ndim=2, min_rows=2)
    sessions = Y_test[None] if Y_test.ndim == 2 else Y_test
    if sessions.ndim != 3 or sessions.shape[1:] != Y_pred.shape:
        raise ValueError(f"Y_test of shape {Y_test.shape} does not match Y_pred of shape {Y_pred.shape}; "
                         "expected (n_sessions, n_samples, n_vertices)")
    _warn_constant_targets(int((sessions.max(axis=1) == sessions.min(axis=1)).any(axis=0).sum()), Y_pred.shape[1],
                           "Y_test")
    n_vertices = Y_pred.shape[1]
    r_sessions, r2 = np.empty((len(sessions), n_vertices)), np.empty(n_vertices)
    for start in range(0, n_vertices, SCORE_BATCH):  # float64 copies of one batch of vertices at a time
        cols = slice(start, start + SCORE_BATCH)
        r_sessions[:, cols] = [pearson_r_columns(s[:, cols], Y_pred[:, cols]) for s in sessions]
        r2[cols] = np.mean([r2_columns(s[:, cols], Y_pred[:, cols]) for s in sessions], axis=0)
    p = block_permutation_test(sessions, Y_pred, block_size=block_size, n_permutations=n_permutations,
                               random_state=random_state, device=device)
    return EncodingScores(r=r_sessions.mean(axis=0), r_sessions=r_sessions, r2=r2, p=p, q=fdr_bh(p))


def roi_image_r(Y_test, Y_pred, roi_indices: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each test image's term of every ROI's mean test r: the per-stimulus scores of a model per ROI.

    ``core.stats.r_per_sample`` (r per vertex, per session then averaged, plus each image's first-order
    influence on it) averaged over each ROI's vertices. The mean over images of column ``k`` is the mean
    over ROI ``k``'s vertices of :func:`evaluate_predictions`' r; two models' columns on the same test
    images are compared over images with ``core.stats.compare_models_over_stimuli``.

    Parameters
    ----------
    Y_test : ndarray of shape (n_sessions, n_images, n_vertices) or (n_images, n_vertices)
    Y_pred : ndarray of shape (n_images, n_vertices)
    roi_indices : mapping of str to ndarray of int
        Vertex indices of each ROI (non-empty).

    Returns
    -------
    ndarray of shape (n_images, n_rois), float32, columns in ``roi_indices`` order.
    """
    Y_pred = check_finite_array("Y_pred", Y_pred, ndim=2, min_rows=3)
    if not roi_indices:
        raise ValueError("roi_indices is empty; expected {roi_name: vertex indices}")
    columns = []
    for name, idx in roi_indices.items():
        idx = np.asarray(idx)
        if idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= Y_pred.shape[1]:
            raise ValueError(f"ROI {name!r} needs integer vertex indices in [0, {Y_pred.shape[1]}), got {idx.size} "
                             f"of dtype {idx.dtype}")
        columns.append(idx)
    terms = r_per_sample(Y_test, Y_pred)  # (n_images, n_vertices); batched inside, no copy of Y_test
    return np.stack([terms[:, idx].mean(axis=1) for idx in columns], axis=1).astype(np.float32)


@dataclass(frozen=True)
class NoiseCeiling:
    """Result of :func:`noise_ceiling`.

    Attributes
    ----------
    ceiling : ndarray of shape (n_vertices,)
        Median simulated r (0 where no signal variance is detected).
    signal_variance : ndarray of shape (n_vertices,)
    noise_variance : ndarray of shape (n_vertices,)
        Of a single repeat.
    n_averaged : int
        Repeats averaged in the response the ceiling refers to.
    p : ndarray of shape (n_vertices,)
        One-sided p of the repeat-reliability F test (samples × repeats ANOVA without interaction): the
        probability, with no signal variance, of a between-sample variance of the repeat means this
        large relative to the residual variance once each repeat's mean (a session offset) is removed.
    reliable : ndarray of shape (n_vertices,), bool
        FDR q of ``p`` (Benjamini–Hochberg over vertices) below ``CEILING_Q``: the vertex has repeatable
        signal, so its ceiling is bounded away from 0 and dividing by it is meaningful.
    """

    ceiling: np.ndarray
    signal_variance: np.ndarray
    noise_variance: np.ndarray
    n_averaged: int
    p: np.ndarray
    reliable: np.ndarray


def noise_ceiling(Y_rep, *, n_averaged: int | None = None, n_simulations: int = 1000, random_state=None,
                  n_vertices_batch: int = 8192) -> NoiseCeiling:
    """Monte-Carlo noise ceiling per vertex from repeated measurements of the test stimuli.

    Per vertex, the noise variance is the mean over samples of the across-repeat variance
    (ddof=1), and the signal variance is the variance over samples of the repeat mean minus
    ``noise / n_repeats``, floored at 0. Then, ``n_simulations`` times, a signal of
    ``n_samples`` values is drawn from N(0, σ²_signal), a response = signal + noise with
    noise ~ N(0, σ²_noise / n_averaged) is formed, and their Pearson r is taken; the median
    r is the ceiling: the best accuracy a perfect model could reach against a response that
    averages ``n_averaged`` repeats.

    Which ``n_averaged`` to use: the default (all repeats) matches r computed against the
    repeat-averaged test response; use ``n_averaged=1`` for r computed per single session
    and then averaged (as :func:`evaluate_predictions` does when its sessions are single
    repeats).

    r depends only on the ratio of the two variances, so the same standard-normal draws
    are shared by all vertices (common random numbers), which vectorises the simulation.

    The estimate is noisy where the signal is weak: on pure-noise vertices half the signal-variance
    estimates are positive and some ceilings come out high. Each vertex therefore also gets the
    repeat-reliability test ``F = n_repeats var(repeat means) / residual variance``, where the residual
    is what is left after removing each sample's and each repeat's mean, on
    ``(n_samples - 1, (n_samples - 1)(n_repeats - 1))`` degrees of freedom: exact for Gaussian noise
    independent over samples and repeats, whatever offset each repeat (session) adds, which Pearson r
    ignores too. ``reliable`` marks the vertices whose FDR q is below ``CEILING_Q``, the only ones
    :func:`normalized_accuracy` divides by.

    Parameters
    ----------
    Y_rep : ndarray of shape (n_repeats, n_samples, n_vertices)
        At least 2 repeats and 3 samples.
    n_averaged : int or None
        See above; None means ``n_repeats``.
    n_simulations : int
    random_state : int, Generator or None
    n_vertices_batch : int

    Returns
    -------
    NoiseCeiling
    """
    Y_rep = check_finite_array("Y_rep", Y_rep, ndim=3, min_rows=2).astype(np.float64, copy=False)
    n_repeats, n_samples, n_vertices = Y_rep.shape
    if n_samples < 3:
        raise ValueError(f"Y_rep needs at least 3 samples on axis 1, got shape {Y_rep.shape}")
    n_averaged = n_repeats if n_averaged is None else int(n_averaged)
    if n_averaged < 1 or int(n_simulations) < 1:
        raise ValueError(f"n_averaged={n_averaged} and n_simulations={n_simulations} must be >= 1")
    noise_var = Y_rep.var(axis=0, ddof=1).mean(axis=0)
    signal_var = np.maximum(Y_rep.mean(axis=0).var(axis=0, ddof=1) - noise_var / n_repeats, 0.0)
    rng = np.random.default_rng(random_state)
    z_signal, z_noise = rng.standard_normal((2, int(n_simulations), n_samples))
    z_signal -= z_signal.mean(axis=1, keepdims=True)
    z_noise -= z_noise.mean(axis=1, keepdims=True)
    s11 = (z_signal**2).sum(axis=1)[:, None]
    s22 = (z_noise**2).sum(axis=1)[:, None]
    s12 = (z_signal * z_noise).sum(axis=1)[:, None]
    ceiling = np.zeros(n_vertices)
    has_signal = signal_var > 0
    scale = np.sqrt(noise_var[has_signal] / n_averaged / signal_var[has_signal])  # noise sd / signal sd
    medians = []
    for start in range(0, len(scale), n_vertices_batch):
        c = scale[None, start:start + n_vertices_batch]
        r = (s11 + c * s12) / np.sqrt(s11 * (s11 + 2 * c * s12 + c**2 * s22))
        medians.append(np.median(r, axis=0))
    ceiling[has_signal] = np.concatenate(medians) if medians else []
    sample_means = Y_rep.mean(axis=0)
    residual = Y_rep - sample_means - Y_rep.mean(axis=1, keepdims=True) + sample_means.mean(axis=0)
    df_residual = (n_samples - 1) * (n_repeats - 1)
    mean_square_samples = n_repeats * sample_means.var(axis=0, ddof=1)
    mean_square_residual = (residual**2).sum(axis=(0, 1)) / df_residual
    with np.errstate(divide="ignore", invalid="ignore"):
        F = np.where(mean_square_samples > 0, mean_square_samples / mean_square_residual, 0.0)
    p = scipy.stats.f.sf(F, n_samples - 1, df_residual)
    return NoiseCeiling(ceiling=ceiling, signal_variance=signal_var, noise_variance=noise_var,
                        n_averaged=n_averaged, p=p, reliable=fdr_bh(p) < CEILING_Q)


def normalized_accuracy(r, ceiling, reliable) -> np.ndarray:
    """Accuracy relative to the noise ceiling, ``r / ceiling``, where the ceiling is reliable; never clipped.

    Values above 1 (r above the estimated ceiling, which is itself an estimate) and below 0 are kept:
    clipping them would hide how noisy the ratio is.

    Parameters
    ----------
    r, ceiling : ndarray of shape (n_vertices,)
    reliable : ndarray of shape (n_vertices,), bool
        Where the ceiling can be divided by (``NoiseCeiling.reliable``).

    Returns
    -------
    ndarray of shape (n_vertices,), float64
        NaN where the ceiling is not reliable or not positive.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    reliable = np.asarray(reliable, dtype=bool)
    if not r.shape == ceiling.shape == reliable.shape:
        raise ValueError(f"r, ceiling and reliable must have the same shape, got {r.shape}, {ceiling.shape} and "
                         f"{reliable.shape}")
    usable = reliable & (ceiling > 0)
    return np.divide(r, ceiling, out=np.full_like(r, np.nan), where=usable)


@dataclass(frozen=True)
class LayerContributions:
    """Result of :func:`layer_contributions`.

    Attributes
    ----------
    layers : tuple of str
    r2 : ndarray of shape (n_layers, n_vertices)
        Test R² of predictions from each single layer.
    best_layer : ndarray of shape (n_vertices,), int
        Index into ``layers`` of the layer with the highest R².
    """

    layers: tuple[str, ...]
    r2: np.ndarray
    best_layer: np.ndarray


def layer_contributions(pca: LayerwisePCA, encoder: RidgeEncoder, X_test, Y_test) -> LayerContributions:
    """Per-layer test R² with the other layers removed before the global projection.

    Parameters
    ----------
    pca : fitted LayerwisePCA
    encoder : fitted RidgeEncoder (on ``pca``'s output)
    X_test : ndarray of shape (n_samples, n_features)
    Y_test : ndarray of shape (n_samples, n_vertices)

    Returns
    -------
    LayerContributions
    """
    check_is_fitted(pca)
    check_is_fitted(encoder)
    Y_test = check_finite_array("Y_test", Y_test, ndim=2, min_rows=2)
    layers = tuple(pca.layer_slices_)
    r2 = np.stack([r2_columns(Y_test, encoder.predict(pca.transform_single_layer(X_test, layer)))
                   for layer in layers])
    return LayerContributions(layers=layers, r2=r2, best_layer=np.argmax(r2, axis=0))


def layer_refit_contributions(pca: LayerwisePCA, X_train, Y_train, X_test, Y_test, *, alphas=DEFAULT_ALPHAS,
                              n_folds: int = 9, device: str = "cpu",
                              progress: Callable[[int, int], None] | None = None) -> LayerContributions:
    """Per-layer test R² of one encoding model per layer, each refitted on that layer alone.

    An alternative to :func:`layer_contributions` (the paper's attribution, which zeroes the other
    layers inside one joint model): each layer's own PCA scores (stage 1 of ``pca``) feed a separate
    ridge, with the penalty chosen per vertex by ``n_folds``-fold CV on the training data
    (:func:`fit_ridge_cv`), and its test R² is the layer's contribution. Costs one ridge fit per layer.

    Parameters
    ----------
    pca : fitted LayerwisePCA
    X_train, X_test : ndarray of shape (n_samples, n_features)
    Y_train, Y_test : ndarray of shape (n_samples, n_vertices)
    alphas, n_folds, device
        Passed to :func:`fit_ridge_cv`.
    progress : callable, optional
        ``progress(layers_done, n_layers)`` after each layer's fit.

    Returns
    -------
    LayerContributions
    """
    check_is_fitted(pca)
    Y_test = check_finite_array("Y_test", Y_test, ndim=2, min_rows=2)
    X_train, X_test = pca._check_transform_input(X_train), pca._check_transform_input(X_test)
    layers = tuple(pca.layer_slices_)
    bounds = np.cumsum([0] + [pca.layer_components_[layer].shape[1] for layer in layers])
    r2 = []
    for i, layer in enumerate(layers):
        columns = slice(bounds[i], bounds[i + 1])
        fit = fit_ridge_cv(pca._layer_scores(X_train, keep=layer)[:, columns], Y_train, alphas=alphas,
                           n_folds=n_folds, device=device)
        predicted = pca._layer_scores(X_test, keep=layer)[:, columns] @ fit.coef + fit.intercept
        r2.append(r2_columns(Y_test, predicted))
        if progress is not None:
            progress(i + 1, len(layers))
    r2 = np.stack(r2)
    return LayerContributions(layers=layers, r2=r2, best_layer=np.argmax(r2, axis=0))
