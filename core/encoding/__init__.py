"""Voxel-wise encoding models (Wen et al. 2018, Methods "Encoding models").

The pipeline maps network features to cortical responses, one linear model per vertex:

1. :class:`LayerwisePCA`: PCA per layer keeping 99 % of its variance, then PCA over the
   concatenated per-layer scores keeping 99 % again (fitted on training stimuli only).
2. :class:`Delayer` (time series only): copies of the features shifted by a few TRs, so a
   linear model can learn each vertex's haemodynamic delay.
3. :class:`RidgeEncoder` over :func:`fit_ridge_cv`: ridge regression for all vertices at
   once, with the L2 penalty chosen per vertex by k-fold cross-validation.
   :class:`EncodingModel` is steps 1 and 3 as one estimator, fitted and passed whole.
4. Evaluation: :func:`evaluate_predictions` (r per test session, R², block-permutation p,
   FDR q), :func:`noise_ceiling` (Monte-Carlo), :func:`normalized_accuracy`,
   :func:`layer_contributions` (the best layer per vertex; :func:`layer_refit_contributions` refits
   one model per layer instead), :func:`roi_image_r` (each test image's term of the ROI-mean r, the
   scores :func:`core.stats.compare_models_over_stimuli` compares over images).
5. :func:`save_encoding_model` / :func:`load_encoding_model`: one ``.npz`` plus one
   ``.json``, no pickle.

Arrays are numpy at the boundary, with samples (stimuli or TRs) on the first axis and
vertices on the last. Computation runs in torch, float32, on ``device`` ("cpu" default).
"""

from __future__ import annotations

from core.encoding.estimators import (
    Delayer,
    RidgeEncoder,
)
from core.encoding.io import (
    load_encoding_model,
    save_encoding_model,
)
from core.encoding.model import EncodingModel
from core.encoding.pca import (
    PCA_SOLVERS,
    LayerwisePCA,
    PCAFit,
    fit_pca,
    stack_layer_features,
)
from core.encoding.ridge import (
    DEFAULT_ALPHAS,
    RidgeCVFit,
    cross_validated_predictions,
    fit_ridge,
    fit_ridge_cv,
    kfold_labels,
)
from core.encoding.scoring import (
    CEILING_Q,
    EncodingScores,
    LayerContributions,
    NoiseCeiling,
    cross_validated_scores,
    evaluate_predictions,
    layer_contributions,
    layer_refit_contributions,
    noise_ceiling,
    normalized_accuracy,
    roi_image_r,
)

__all__ = [
    "CEILING_Q",
    "DEFAULT_ALPHAS",
    "PCA_SOLVERS",
    "Delayer",
    "EncodingModel",
    "EncodingScores",
    "LayerContributions",
    "LayerwisePCA",
    "NoiseCeiling",
    "PCAFit",
    "RidgeCVFit",
    "RidgeEncoder",
    "cross_validated_predictions",
    "cross_validated_scores",
    "evaluate_predictions",
    "fit_pca",
    "fit_ridge",
    "fit_ridge_cv",
    "kfold_labels",
    "layer_contributions",
    "layer_refit_contributions",
    "load_encoding_model",
    "noise_ceiling",
    "normalized_accuracy",
    "roi_image_r",
    "save_encoding_model",
    "stack_layer_features",
]
