"""The Reconstructions page: the reconstruction job (``core.workflows.reconstruction``) and its result as plain values."""

from __future__ import annotations

from pathlib import Path

from core.weights import cache_dir
from core.workflows.reconstruction import EXPLORER_OFFSETS_SD, RECONSTRUCTION_FACES
from dashboard.services._files import _finished_result

__all__ = [
    "EXPLORER_OFFSETS_SD",
    "RECONSTRUCTION_FACES",
    "reconstruction_result",
    "run_reconstruction",
]


def _reconstruction_path(n_faces: int, snr: float) -> Path:
    return cache_dir() / "reconstructions" / f"dcgan-n{int(n_faces)}-snr{float(snr):g}-v3"


def run_reconstruction(n_faces: int, snr: float, progress=None) -> str:
    """Background job: ``core.workflows.reconstruction.run_reconstruction``, stored once; returns its path."""
    from core.workflows.reconstruction import check_reconstruction_settings
    from core.workflows.reconstruction import run_reconstruction as run
    from core.workflows.store import is_stored, save_result

    n_faces, snr = check_reconstruction_settings(n_faces, snr)
    path = _reconstruction_path(n_faces, snr)
    if not is_stored(path):
        save_result(run(n_faces, snr, progress=progress), path)
    return str(path)


_MODEL_LABELS = {"gan": "GAN latent", "pca": "PCA baseline"}


def reconstruction_result(path: str) -> dict:
    """A finished reconstruction run (from :func:`run_reconstruction`) as plain arrays and numbers.

    Keys: ``originals`` and ``reconstructions`` (label → (n_test, 64, 64, 3) floats in [0, 1]); ``pairwise``
    ((model, space) → [accuracy, p]); ``gender`` (model → [accuracy, chance]); ``curves`` (variable →
    {"x": (n_points,), "accuracy": {label: (n_points,)}}); ``explorer`` (label → (n_offsets, 64, 64, 3), empty
    when the training faces had one gender only).
    """
    from core.workflows.reconstruction import ReconstructionRun
    from core.workflows.store import load_result

    resolved = _finished_result(path, "reconstructions",
                                "No reconstruction result at that location: run the reconstruction first", ".json")
    run = load_result(resolved, ReconstructionRun)
    curves = {variable: {"x": x, "accuracy": {}} for variable, x in run.curves_x.items()}
    for name, accuracy in run.curves.items():
        variable, model = name.split(":")
        curves[variable]["accuracy"][_MODEL_LABELS[model]] = accuracy
    return {"originals": run.originals,
            "reconstructions": {label: run.reconstructions[model] for model, label in _MODEL_LABELS.items()},
            "pairwise": {tuple(k.split(":")): v for k, v in run.pairwise.items()}, "gender": run.gender,
            "curves": curves, "explorer": {_MODEL_LABELS[k]: v for k, v in run.explorer.items()}}
