"""Calibration of the localizer GLM contrast (``core.categories.glm_contrast``, AR(1) noise model).

Two runs of a block design (rest, face, rest, house; 6 volumes each, 3 cycles, TR 2 s). Null: every voxel's
series is AR(1) noise (φ = 0.4, as fMRI noise at TR 2 s) plus a slow random drift (below the 0.01 Hz
high-pass cut-off), with no response to either category; the one-sided face > house p of a voxel is
tested. Planted: the voxel responds to faces (the face boxcar through the Glover HRF).
"""

from __future__ import annotations

import functools

import numpy as np

from core.calibration._case import CalibrationCase
from core.calibration._data import ar1_series

__all__ = ["CASES"]

TR = 2.0
N_RUNS = 2
N_VOXELS = 8
PHI = 0.4
#: Amplitude of the planted face response, in units of the noise SD.
PLANTED_AMPLITUDE = 1.2
_BLOCK = ["rest"] * 6 + ["face"] * 6 + ["rest"] * 6 + ["house"] * 6


def _design() -> tuple[np.ndarray, np.ndarray]:
    labels = np.array(_BLOCK * 3 * N_RUNS)
    return labels, np.repeat(np.arange(N_RUNS), len(_BLOCK) * 3)


def _face_response(labels: np.ndarray, runs: np.ndarray) -> np.ndarray:
    from nilearn.glm.first_level import compute_regressor

    out = []
    for run in range(N_RUNS):
        faces = (labels[runs == run] == "face").astype(float)
        frame_times = np.arange(faces.size) * TR
        onsets = frame_times[np.flatnonzero(np.diff(np.r_[0.0, faces]) > 0)]
        conditions = np.vstack([onsets, np.full(onsets.size, 6 * TR), np.ones(onsets.size)])
        out.append(compute_regressor(conditions, "glover", frame_times)[0][:, 0])
    response = np.concatenate(out)
    return response / response.max()


def _p(planted: bool, rng: np.random.Generator) -> float:
    from core.categories import glm_contrast

    labels, runs = _design()
    n = labels.size
    time = np.arange(n) * TR
    drift = np.cos(2 * np.pi * rng.uniform(0.001, 0.008, N_VOXELS) * time[:, None] + rng.uniform(0, 2 * np.pi,
                                                                                                 N_VOXELS))
    bold = 100.0 + ar1_series(rng, n, N_VOXELS, phi=PHI) + rng.uniform(0, 2, N_VOXELS) * drift
    if planted:
        bold[:, 0] += PLANTED_AMPLITUDE * _face_response(labels, runs)
    result = glm_contrast(bold, labels, runs, tr=TR, contrasts={"face>house": (["face"], ["house"])})
    return float(result.p[0, 0])


CASES = [CalibrationCase(
    name="localizer GLM face > house (AR(1) model)",
    null=functools.partial(_p, False), planted=functools.partial(_p, True),
    null_structure=f"{N_RUNS} runs × {len(_BLOCK) * 3} TRs; AR(1) φ = {PHI:g} noise + slow drift",
    effect=f"face response (HRF) of {PLANTED_AMPLITUDE:g} noise SD")]
