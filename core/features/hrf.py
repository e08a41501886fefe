"""Video features in TR time: the canonical HRF and frame features convolved and averaged per TR."""

from __future__ import annotations

import numpy as np


def canonical_hrf(dt: float, *, duration: float = 32.0, peak: float = 4.0, undershoot: float = 14.0,
                  ratio: float = 6.0) -> np.ndarray:
    """Double-gamma haemodynamic response sampled every ``dt`` seconds, peaking at ``peak`` s.

    h(t) = Γ(t; peak + 1, 1) − Γ(t; undershoot + 1, 1) / ratio (gamma densities of unit scale, whose
    modes are ``peak`` and ``undershoot``), normalised to unit sum.

    Returns
    -------
    ndarray of shape (ceil(duration / dt),), float64
    """
    from scipy.stats import gamma

    if dt <= 0 or duration <= dt:
        raise ValueError(f"Need 0 < dt < duration, got dt={dt}, duration={duration}")
    t = np.arange(0.0, duration, dt)
    h = gamma.pdf(t, peak + 1.0) - gamma.pdf(t, undershoot + 1.0) / ratio
    return h / h.sum()


def features_to_tr(features: np.ndarray, *, frame_rate: float, tr: float, n_volumes: int | None = None,
                   standardize: bool = True) -> np.ndarray:
    """Frame-wise features of a movie → fMRI regressors at the repetition time (as Wen et al. 2018).

    Each feature time series is convolved with :func:`canonical_hrf` at the frame rate, averaged
    within each TR, and (by default) z-scored over time.

    Parameters
    ----------
    features : ndarray of shape (n_frames, n_units)
    frame_rate : float
        Frames per second of ``features``.
    tr : float
        Repetition time in seconds.
    n_volumes : int, optional
        Number of volumes to return (default: as many whole TRs as the frames cover).

    Returns
    -------
    ndarray of shape (n_volumes, n_units), float32
    """
    from scipy.signal import fftconvolve

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"features must be (n_frames, n_units) and non-empty, got {features.shape}")
    if frame_rate <= 0 or tr <= 0:
        raise ValueError(f"frame_rate and tr must be positive, got {frame_rate}, {tr}")
    hrf = canonical_hrf(1.0 / frame_rate)
    convolved = fftconvolve(features, hrf[:, None], mode="full", axes=0)[: len(features)]
    frames_per_tr = tr * frame_rate
    if n_volumes is None:
        n_volumes = int(len(features) // frames_per_tr)
    if n_volumes < 1:
        raise ValueError(f"{len(features)} frames at {frame_rate} fps cover less than one TR of {tr} s")
    edges = np.round(np.arange(n_volumes + 1) * frames_per_tr).astype(int)
    if edges[-1] > len(features):
        raise ValueError(f"{n_volumes} volumes of {tr} s need {edges[-1]} frames, have {len(features)}")
    sums = np.add.reduceat(convolved, edges[:-1], axis=0)
    out = sums / np.diff(edges)[:, None]
    if standardize:
        std = out.std(axis=0)
        out = (out - out.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out.astype(np.float32)
