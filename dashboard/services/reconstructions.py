"""The Reconstructions page: the reconstruction job (``core.workflows.reconstruction``) and its result as plain values,
on the simulated brain or on a study chosen in the navbar.

A study's face crops (``StudyFaces``: the face detector's crop of each image) and its runs (one per ROI) are kept in
``cache_dir()/reconstructions/study-NAME-STAMP/``, STAMP digesting the study's ``study.json`` (a study imported again
under the same name never shows the old results).
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.weights import cache_dir
from core.workflows.reconstruction import EXPLORER_OFFSETS_SD, RECONSTRUCTION_FACES
from dashboard.services._files import _finished_result

__all__ = [
    "ALL_VERTICES",
    "RUN_ANYWAY",
    "EXPLORER_OFFSETS_SD",
    "RECONSTRUCTION_FACES",
    "reconstruction_result",
    "run_reconstruction",
    "run_study_reconstruction",
    "study_face_check",
    "study_reconstruction_result",
    "study_roi_choices",
]

#: The ROI choice meaning "all the study's vertices".
ALL_VERTICES = "__all__"


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


# --------------------------------------------------------------------------- on a study


def _study_folder(name: str) -> Path:
    from dashboard.services.studies import _stamp

    return cache_dir() / "reconstructions" / f"study-{name}-{_stamp(name)}"


def study_roi_choices(name: str) -> list[dict]:
    """Options of the brain-pattern choice: all vertices (:data:`ALL_VERTICES`), then each ROI of the study."""
    from dashboard.services.studies import _study

    masks = _study(name).roi_masks
    return [{"label": f"all vertices ({_study(name).n_vertices:,})", "value": ALL_VERTICES}] + [
        {"label": f"{roi} ({len(vertices):,} vertices)", "value": roi} for roi, vertices in sorted(masks.items())]


def study_face_check(name: str) -> dict | None:
    """What the face detector found in the study's images, once a job has looked (else None): ``found``,
    ``n_images``, ``faces`` (enough for a face study) and ``message`` (the sentence the page shows)."""
    from core.workflows.reconstruction import FACE_STUDY_FRACTION, face_check_message, stored_face_count
    from dashboard.services.studies import _study

    count = stored_face_count(_study(name))
    if count is None:
        return None
    n_found, n_images = count
    return {"found": n_found, "n_images": n_images, "faces": n_found >= FACE_STUDY_FRACTION * n_images,
            "message": face_check_message(name, n_found, n_images)}


#: What the page adds to the face check's sentence when a study is not of faces.
RUN_ANYWAY = "To reconstruct them anyway, tick 'Run on images without faces too' and press Run again."


def run_study_reconstruction(name: str, roi: str = ALL_VERTICES, *, allow_non_faces: bool = False,
                             progress=None) -> str:
    """Background job: the study's face crops (``core.workflows.reconstruction.cached_study_faces``: found once,
    kept), then ``run_study_reconstruction`` on its responses (all vertices or ``roi``), stored once; returns the
    run's path. A ``UserError`` saying what the face detector found, before any reconstruction, when the study is not
    of faces and ``allow_non_faces`` is false."""
    from core.workflows.reconstruction import cached_study_faces
    from core.workflows.reconstruction import run_study_reconstruction as run
    from core.workflows.store import is_stored, save_result
    from dashboard.services.studies import _study

    study = _study(name, check_images=True)
    roi = None if roi in (None, "", ALL_VERTICES) else roi
    path = _study_folder(name) / f"roi-{roi or 'all'}"
    if is_stored(path):
        return str(path)
    faces = cached_study_faces(study, progress=None if progress is None else
                               lambda done, total, message: progress(0.3 * done / total, 1.0, message))
    check = study_face_check(name)
    if not check["faces"] and not allow_non_faces:
        raise UserError(f"{check['message']} {RUN_ANYWAY}")
    save_result(run(study, roi=roi, faces=faces, allow_non_faces=allow_non_faces, progress=None if progress is None
                    else lambda done, total, message: progress(0.3 + 0.7 * done / total, 1.0, message)), path)
    return str(path)


def study_reconstruction_result(path: str) -> dict:
    """A finished study run (from :func:`run_study_reconstruction`) as plain values: ``originals`` and
    ``reconstructions`` (label → (n_test, 64, 64, 3) floats in [0, 1]), ``pairwise`` ((model, space) → [accuracy,
    p]), ``gender`` (model → [accuracy, chance]) and ``meta`` (study, roi, evaluation, sizes, faces found, notes)."""
    from core.workflows.reconstruction import StudyReconstructionRun
    from core.workflows.store import load_result

    resolved = _finished_result(path, "reconstructions",
                                "No reconstruction result at that location: run the reconstruction first", ".json")
    run = load_result(resolved, StudyReconstructionRun)
    return {"originals": run.originals,
            "reconstructions": {label: run.reconstructions[model] for model, label in _MODEL_LABELS.items()},
            "pairwise": {tuple(k.split(":")): v for k, v in run.pairwise.items()}, "gender": run.gender,
            "meta": run.meta}
