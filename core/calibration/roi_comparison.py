"""Calibration of the per-ROI model comparison (Virtual fMRI page: ResNet-50 vs the second network).

The studio compares two encoding models on the same test images: each image's term of the ROI-mean
test r (``core.encoding.roi_image_r``) for each model, then a sign-flip test and a bootstrap interval
over images of the paired difference, Holm-adjusted across ROIs
(``core.stats.compare_models_over_stimuli``). These cases run exactly those two functions.

Null data keep what makes the old paired t-test over vertices fail: one real Glasser area (left FFC,
151 fsLR-32k vertices) with its mesh, on which every field is smoothed (``core.cortex.smooth_on_surface``,
10 neighbour-averaging steps: neighbouring vertices correlate at about 0.95); a smooth signal per image;
measured sessions = signal + smooth noise (single-session SNR 0.25); each model's prediction = signal +
an error shared by the two models + its own error, all smooth, so the models' errors correlate (0.5)
with each other and over vertices. Under the null the two own errors have the same size: neither model
is more accurate. The planted effect makes model B's own error larger. On these null sets the paired
t-test over vertices that the page used before rejects at α = 0.05 in about 70 % of them.
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase

__all__ = ["CASES", "N_STIMULI", "comparison_data"]

#: Test images, sessions and smoothing steps of one simulated comparison (the quick default experiment
#: tests 32 images, the full one about 150).
N_STIMULI = 40
N_SESSIONS = 4
SMOOTHING_STEPS = 10
#: Noise SD per session, relative to the signal's (SNR 0.25), and the prediction errors' SDs.
NOISE_SD = 2.0
SHARED_ERROR_SD = 1.0
OWN_ERROR_SD = 1.0
#: Model B's own-error SD in the planted cases: its ROI-mean r is about 0.16 below A's (0.26), which 40
#: images detect with power ~0.92; in the family case one ROI of five, 0.20 below, power ~0.92 after Holm.
PLANTED_OWN_ERROR_SD = 4.0
FAMILY_PLANTED_OWN_ERROR_SD = 6.5
#: ROIs of the family-wise (Holm) case; each is an independent draw on the same area's mesh.
N_FAMILY_ROIS = 5
_AREA = ("FFC", "L")
_RESAMPLES = 999


@functools.cache
def _area_adjacency():
    from core import cortex

    idx = cortex.roi_indices(*_AREA)
    return cortex.cortical_adjacency("fsLR32k")[idx][:, idx]


def _smooth_fields(rng: np.random.Generator, n_fields: int) -> np.ndarray:
    """``n_fields`` smooth maps on the area's mesh, (n_fields, n_vertices), unit variance overall."""
    from core.cortex import smooth_on_surface

    adjacency = _area_adjacency()
    fields = smooth_on_surface(rng.standard_normal((n_fields, adjacency.shape[0])), n_iter=SMOOTHING_STEPS,
                               adjacency=adjacency).astype(np.float64)
    return fields / fields.std()


def comparison_data(rng: np.random.Generator, own_error_sd_b: float = OWN_ERROR_SD):
    """One simulated comparison on the area's vertices.

    Returns
    -------
    sessions : ndarray of shape (N_SESSIONS, N_STIMULI, n_vertices)
        Measured responses.
    pred_a, pred_b : ndarray of shape (N_STIMULI, n_vertices)
        The two models' predictions (B's own error has SD ``own_error_sd_b``; equal to A's under the null).
    """
    n = N_STIMULI
    signal = _smooth_fields(rng, n)
    sessions = signal + NOISE_SD * _smooth_fields(rng, N_SESSIONS * n).reshape(N_SESSIONS, n, -1)
    shared = SHARED_ERROR_SD * _smooth_fields(rng, n)
    pred_a = signal + shared + OWN_ERROR_SD * _smooth_fields(rng, n)
    pred_b = signal + shared + own_error_sd_b * _smooth_fields(rng, n)
    return sessions, pred_a, pred_b


def _compare(rng: np.random.Generator, own_error_sds_b) -> object:
    """The studio's comparison over ``len(own_error_sds_b)`` independent ROIs (one draw each)."""
    from core.encoding import roi_image_r
    from core.stats import compare_models_over_stimuli

    scores_a, scores_b = [], []
    for sd in own_error_sds_b:
        sessions, pred_a, pred_b = comparison_data(rng, sd)
        everything = {"roi": np.arange(pred_a.shape[1])}
        scores_a.append(roi_image_r(sessions, pred_a, everything)[:, 0])
        scores_b.append(roi_image_r(sessions, pred_b, everything)[:, 0])
    return compare_models_over_stimuli(np.stack(scores_a, axis=1), np.stack(scores_b, axis=1),
                                       n_permutations=_RESAMPLES, n_bootstraps=_RESAMPLES, random_state=rng)


def _p(own_error_sd_b: float):
    return lambda rng: float(_compare(rng, [own_error_sd_b]).p[0])


def _interval_misses_zero(own_error_sd_b: float):
    def run(rng):
        comparison = _compare(rng, [own_error_sd_b])
        return 0.0 if comparison.ci_low[0] > 0 or comparison.ci_high[0] < 0 else 1.0
    return run


def _family_p(planted: bool):
    sds = [OWN_ERROR_SD] * N_FAMILY_ROIS
    if planted:
        sds[0] = FAMILY_PLANTED_OWN_ERROR_SD
    return lambda rng: float(_compare(rng, sds).p_holm.min())


_NULL = (f"{N_STIMULI} images × {N_SESSIONS} sessions on the 151 mesh vertices of left FFC; signal, noise and "
         f"both models' errors smoothed on the mesh ({SMOOTHING_STEPS} steps); the models share half their error "
         "variance; equal accuracy")
_EFFECT = f"model B's own error SD {PLANTED_OWN_ERROR_SD} instead of {OWN_ERROR_SD} (ROI-mean r 0.16 lower)"

CASES: list[CalibrationCase] = [
    CalibrationCase("model comparison per ROI: sign-flip p over images", _p(OWN_ERROR_SD),
                    _p(PLANTED_OWN_ERROR_SD), _NULL, _EFFECT),
    CalibrationCase("model comparison per ROI: 95 % bootstrap interval over images",
                    _interval_misses_zero(OWN_ERROR_SD), _interval_misses_zero(PLANTED_OWN_ERROR_SD), _NULL,
                    _EFFECT),
    CalibrationCase(f"model comparison, Holm over {N_FAMILY_ROIS} ROIs (family-wise)", _family_p(False),
                    _family_p(True), f"{N_FAMILY_ROIS} independent ROIs, each as above, all null",
                    f"one of the {N_FAMILY_ROIS} ROIs with B's own error SD {FAMILY_PLANTED_OWN_ERROR_SD} "
                    "(ROI-mean r 0.20 lower)"),
]
