"""The face-reconstruction experiment (VanRullen & Reddy 2019) on DCGAN faces and simulated brain patterns
(:func:`run_reconstruction`), and on a study's face images and measured responses (:func:`run_study_reconstruction`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.workflows import report_fraction

__all__ = [
    "EXPLORER_OFFSETS_SD",
    "RECONSTRUCTION_FACES",
    "RECONSTRUCTION_SIZES",
    "RECONSTRUCTION_SNRS",
    "FACE_STUDY_FRACTION",
    "ReconstructionRun",
    "StudyFaces",
    "StudyReconstructionRun",
    "cached_study_faces",
    "face_check_message",
    "fit_gan_latent_space",
    "reconstruct_faces",
    "run_reconstruction",
    "run_study_reconstruction",
    "stored_face_count",
    "study_face_images",
]

#: Simulated SNRs of the accuracy-vs-SNR curve (signal variance / noise variance).
RECONSTRUCTION_SNRS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Smallest and largest number of generated faces of a reconstruction run.
RECONSTRUCTION_FACES = (40, 2000)
#: Training-set sizes of the accuracy-vs-size curve (those below the run's training set, then all of it).
RECONSTRUCTION_SIZES = (15, 30, 60, 120, 240, 480, 960)
#: Latent explorer: offsets along the male − female axis, in SDs of the training faces' codes on it.
EXPLORER_OFFSETS_SD = tuple(np.linspace(-2.5, 2.5, 11).round(2).tolist())
#: Voxels of the simulated brain.
RECONSTRUCTION_VOXELS = 200


@dataclass(frozen=True)
class ReconstructionRun:
    """One reconstruction run (:func:`run_reconstruction`).

    ``originals``: (n_test, 64, 64, 3) test faces in [0, 1]; ``reconstructions``: model ("gan", "pca") → the
    same shape; ``test_gender``: (n_test,) model-made labels; ``explorer``: model → (n_offsets, 64, 64, 3)
    faces along its male − female axis (empty when the training faces had one gender); ``curves_x``: variable
    ("n_train", "snr") → (n_points,); ``curves``: ``"<variable>:<model>"`` → accuracy (n_points,);
    ``pairwise``: ``"<model>:<feature space>"`` → [accuracy, p]; ``gender``: model → [accuracy, chance].
    """

    n_faces: int
    snr: float
    originals: np.ndarray
    reconstructions: dict
    test_gender: np.ndarray
    explorer: dict
    curves_x: dict
    curves: dict
    pairwise: dict
    gender: dict


def check_reconstruction_settings(n_faces, snr) -> tuple[int, float]:
    """``(n_faces, snr)`` as numbers; a ``UserError`` outside ``RECONSTRUCTION_FACES`` or for SNR ≤ 0."""
    if not RECONSTRUCTION_FACES[0] <= int(n_faces) <= RECONSTRUCTION_FACES[1]:
        raise UserError(f"Faces must be a whole number from {RECONSTRUCTION_FACES[0]} to {RECONSTRUCTION_FACES[1]} "
                        f"(got {n_faces})")
    if not float(snr) > 0:
        raise UserError(f"The signal-to-noise ratio must be above 0 (got {snr})")
    return int(n_faces), float(snr)


def fit_gan_latent_space(space, *, progress=None):
    """Fit a ``core.reconstruction.GanLatentSpace``, keeping its trained encoder in the cache folder "reconstruction".

    The encoder file is named by ``space.training_key()`` (written atomically with its sha256 sidecar, read with
    ``weights_only=True``): an encoder trained once with the same generator and settings is loaded, not retrained.
    A ``random_state`` that is not an int trains every time and stores nothing. ``progress(step, n_steps,
    message)`` while training. Returns ``space``, fitted.
    """
    from core.runtime import cache_folder
    from core.weights import _save_atomically, load_state_dict

    if not isinstance(space.random_state, int | np.integer):
        return space.fit(progress=progress)
    path = cache_folder("reconstruction") / f"gan_encoder-{space.training_key()}.pt"
    if path.is_file():
        return space.fit(encoder_state=load_state_dict(path))
    space.fit(progress=progress)
    _save_atomically({name: tensor.cpu() for name, tensor in space.encoder_.state_dict().items()}, path)
    return space


def _model_gender(faces) -> np.ndarray:
    """Model-made gender labels ("male" / "female", face-api's age-gender net) of face crops: a tensor
    (n, 3, h, w) in [0, 1]."""
    import torch

    from core.models import build_model

    age_gender = build_model("face_age_gender")
    with torch.no_grad():  # 256 faces at a time: a study may hold thousands
        p_male = torch.cat([age_gender(age_gender.prepare(torch.nn.functional.interpolate(
            faces[start:start + 256], size=age_gender.input_size, mode="bilinear", align_corners=False)))[:, 1]
            for start in range(0, len(faces), 256)])
    return np.where(p_male.numpy() > 0.5, "male", "female")


def _dcgan_faces_with_gender(n_faces: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DCGAN latents (n, 100), their faces (n, 64, 64, 3) uint8 and face-api age-gender labels (n,)."""
    import torch

    from core.models import build_model

    generator = build_model("dcgan_faces")
    z = generator.sample_latent(int(n_faces), random_state=0)
    with torch.no_grad():
        faces = generator.generate(torch.from_numpy(z))
    images = (faces.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return z, images, _model_gender(faces)


def _explorer_strips(result, gender: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's faces along its male − female axis through the first test face's decoded code."""
    from core.reconstruction import latent_direction, latent_traversal

    labels = gender[result.train_idx]
    if len(np.unique(labels)) < 2:
        return {}
    strips = {}
    for name, space in result.models.items():
        direction = latent_direction(result.train_codes[name], labels, positive="male")
        spread = float((result.train_codes[name] @ direction).std())
        offsets = np.asarray(EXPLORER_OFFSETS_SD, dtype=np.float32) * spread
        strips[name] = latent_traversal(space, result.decoded_codes[name][0], direction, offsets)
    return strips


def run_reconstruction(n_faces: int, snr: float, *, encoder_steps: int | None = None,
                       progress=None) -> ReconstructionRun:
    """DCGAN faces → simulated brain patterns → reconstructions, with accuracy curves and the latent explorer.

    The brain is the linear simulation of ``core.reconstruction.simulate_face_responses`` (200 voxels whose
    truth is the generator's latent code); gender labels are model-made by face-api's age-gender net. Besides
    the reconstructions the run computes pixel pairwise accuracy against training-set size and SNR (same split
    for the GAN and PCA) and the latent-explorer strips. ``encoder_steps`` overrides the GAN encoder's training
    steps (None: its default). ``progress(fraction, message)``.
    """
    from core.reconstruction import (
        LATENT_SPACES,
        GanLatentSpace,
        accuracy_vs_snr,
        accuracy_vs_training_size,
        run_reconstruction_experiment,
        simulate_face_responses,
    )

    n_faces, snr = check_reconstruction_settings(n_faces, snr)
    def report(fraction, message):
        report_fraction(progress, fraction, message)

    report(0.0, "generating faces and gender labels")
    z, images, gender = _dcgan_faces_with_gender(n_faces)
    responses = simulate_face_responses(z, n_voxels=RECONSTRUCTION_VOXELS, snr=snr, random_state=0)
    def training(step, total, message):
        report(0.8 * step / total, f"training the image→latent encoder: step {step}/{total}, {message}")

    space = LATENT_SPACES["gan"](random_state=0, **({} if encoder_steps is None else {"n_steps": int(encoder_steps)}))
    if isinstance(space, GanLatentSpace):  # its trained encoder is kept in the cache
        space = fit_gan_latent_space(space, progress=training)
    result = run_reconstruction_experiment(images, responses, latent=space, gender=gender, random_state=0,
                                           progress=training)
    train, test = result.train_idx, result.test_idx
    sizes = [s for s in RECONSTRUCTION_SIZES if s < len(train)] + [len(train)]
    size_curve = accuracy_vs_training_size(
        result.models, result.train_codes, responses[train], responses[test], result.originals, sizes=sizes,
        random_state=0, progress=lambda done, total: report(0.8 + 0.1 * done / total,
                                                            f"accuracy vs training faces: {done}/{total}"))
    snr_curve = accuracy_vs_snr(
        result.models, result.train_codes, z, train, test, result.originals, snrs=RECONSTRUCTION_SNRS,
        n_voxels=RECONSTRUCTION_VOXELS, random_state=0,
        progress=lambda done, total: report(0.9 + 0.1 * done / total, f"accuracy vs SNR: {done}/{total}"))
    curves = (size_curve, snr_curve)
    return ReconstructionRun(
        n_faces=n_faces, snr=snr, originals=result.originals,
        reconstructions={"gan": result.reconstructions["gan"], "pca": result.reconstructions["pca"]},
        test_gender=gender[test], explorer=_explorer_strips(result, gender),
        curves_x={curve.variable: curve.x for curve in curves},
        curves={f"{curve.variable}:{model}": acc for curve in curves for model, acc in curve.accuracy.items()},
        pairwise={f"{model}:{space}": np.array([score.accuracy, score.p_value])
                  for model, spaces in result.pairwise.items() for space, score in spaces.items()},
        gender={model: np.array([d.accuracy, d.chance]) for model, d in result.gender.items()})


# --------------------------------------------------------------------------- on a study's faces and responses

#: Fewest fraction of a study's images with a face found by the detector for it to count as a face study.
FACE_STUDY_FRACTION = 0.5
#: Border around a detected face in the study's crops, a fraction of the box's longer side.
STUDY_FACE_MARGIN = 0.2
#: Gradient steps refining the GAN encoder's codes of a study's faces (photos, not the generator's samples).
STUDY_REFINE_STEPS = 20
#: Test fraction of the held-out split of a study without a repeat-defined test set.
STUDY_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class StudyFaces:
    """A study's images as square crops at the generator's size (:func:`study_face_images`).

    ``images``: (n_stimuli, s, s, 3) uint8, the crop around the detected face, or the whole image (square, black
    borders) where none was found; ``found``: (n_stimuli,) bool, a face detected.
    """

    images: np.ndarray
    found: np.ndarray


@dataclass(frozen=True)
class StudyReconstructionRun:
    """Faces reconstructed from measured brain patterns (:func:`reconstruct_faces`, :func:`run_study_reconstruction`).

    ``originals``: (n_test, s, s, 3) test faces in [0, 1]; ``reconstructions``: model ("gan", "pca") → the same
    shape; ``test_stimuli``: (n_test,) index of each test face among the images; ``pairwise``: ``"<model>:<feature
    space>"`` → [accuracy, p] (chance 0.5); ``gender``: model → [accuracy, chance] (empty when not decoded);
    ``meta``: ``evaluation`` (the split), ``n_train``, ``n_test``, ``n_vertices``, ``notes`` (what was skipped and
    why) and, on a study, ``study``, ``roi``, ``faces_found``, ``n_images``.
    """

    originals: np.ndarray
    reconstructions: dict
    test_stimuli: np.ndarray
    pairwise: dict
    gender: dict
    meta: dict


def face_check_message(name: str, n_found: int, n_images: int) -> str:
    """What the face detector found in a study's images, and why it matters, in one sentence for the user."""
    return (f"Reconstructions need face images (the generator draws faces only): the face detector found a face in "
            f"{n_found:,} of the {n_images:,} images of study {name}.")


def study_face_images(study, *, size: int = 64, detector=None, progress=None) -> StudyFaces:
    """Square crops of a study's images around the face the SSD detector finds (``core.faces.prepare_faces``).

    ``size``: side of the crops in pixels (the generator's); ``detector``: a built ``"face_detector"`` (None:
    the zoo's). Images are read 64 at a time. ``progress(done, total, message)``.
    """
    from core.faces.preparation import prepare_faces
    from core.models import build_model
    from core.models.face_crops import crop_faces
    from core.stimuli import decode_image

    detector = build_model("face_detector") if detector is None else detector
    n = study.n_stimuli
    images, found = np.zeros((n, size, size, 3), np.uint8), np.zeros(n, bool)
    for start in range(0, n, 64):
        chunk = [decode_image(study.image_path(image), name=image.id) for image in study.stimuli[start:start + 64]]
        prepared = prepare_faces(chunk, size=size, align=False, margin=STUDY_FACE_MARGIN, detector=detector)
        images[start + prepared.indices] = prepared.faces
        found[start + prepared.indices] = True
        for k, _ in prepared.failures:
            height, width = chunk[k].shape[:2]
            images[start + k] = crop_faces(chunk[k], [[0, 0, width, height]], size=size, margin=0.0)[0]
        report_fraction(progress, min(start + 64, n) / n, f"finding faces: {min(start + 64, n):,}/{n:,} images")
    return StudyFaces(images=images, found=found)


def _study_faces_prefix(study, size: int):
    """Where a study's crops are kept: the cache folder "reconstruction", named by the study's import (a study
    imported again gets new crops) and the crop size."""
    import hashlib

    from core.runtime import cache_folder

    key = f"{study.name}|{study.provenance.get('import_id', '')}|{study.provenance.get('imported_at', '')}|{size}"
    return cache_folder("reconstruction") / f"study-faces-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def stored_face_count(study, *, size: int = 64) -> tuple[int, int] | None:
    """``(images with a face found, images)`` of a study whose crops were made (:func:`cached_study_faces`), else
    None; reads no image and needs no network."""
    from core.store import result_paths
    from core.workflows.store import READ_LOCK

    prefix = _study_faces_prefix(study, size)
    if not result_paths(prefix)[1].is_file():
        return None
    with READ_LOCK, np.load(f"{prefix}.npz", allow_pickle=False) as arrays:
        found = arrays["found"]
    return int(found.sum()), len(found)


def cached_study_faces(study, *, size: int = 64, progress=None) -> StudyFaces:
    """:func:`study_face_images` made once per imported study and size, then read from the cache."""
    from core.workflows.store import is_stored, load_result, save_result

    prefix = _study_faces_prefix(study, size)
    if not is_stored(prefix):
        save_result(study_face_images(study, size=size, progress=progress), prefix)
    return load_result(prefix, StudyFaces)


def _study_latent_space(progress=None):
    """The zoo DCGAN's latent space for photos (encoder + ``STUDY_REFINE_STEPS`` of refinement), its encoder from
    the cache (trained there once)."""
    from core.reconstruction import GanLatentSpace

    return fit_gan_latent_space(GanLatentSpace(random_state=0, refine_steps=STUDY_REFINE_STEPS), progress=progress)


def reconstruct_faces(images, responses, *, split=None, gender=None, space=None,
                      feature_spaces=("pixel", "identity"), random_state=0, progress=None) -> StudyReconstructionRun:
    """Measured brain patterns → GAN latents and PCA codes → reconstructed faces, scored (VanRullen & Reddy 2019).

    A ridge decoder (``core.reconstruction.BrainToLatentDecoder``) maps the training faces' responses to their codes
    in the GAN's latent space (encoder + refinement) and in a PCA fitted on the training faces only; the test faces'
    decoded codes are turned back into images and scored by pairwise identification (ties count one half, chance
    0.5, permutation p) in each feature space; with gender labels, a classifier trained on the training faces'
    codes is tested on the decoded codes.

    Parameters
    ----------
    images : ndarray of shape (n, s, s, 3)
        Face crops (uint8, or float in [0, 1]) at the generator's size.
    responses : ndarray of shape (n, n_vertices)
        One brain pattern per face (e.g. repeat-averaged), same order.
    split : (train_idx, test_idx), optional
        Default: a random held-out split of ``STUDY_TEST_FRACTION`` of the faces.
    gender : array-like of shape (n,), optional
        Labels; decoded only when the training faces hold two labels, each at least twice (else a note says so).
    space : latent space, optional
        A ``core.reconstruction.GanLatentSpace``, fitted or not; None: the zoo DCGAN's (:func:`_study_latent_space`).
    feature_spaces : sequence of str
        Keys of ``core.reconstruction.FEATURE_SPACES``; unavailable ones are skipped with a note.
    random_state : int
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    StudyReconstructionRun
    """
    from core.reconstruction import run_reconstruction_experiment, split_faces

    n_faces = len(images)
    if split is None:
        split = split_faces(n_faces, STUDY_TEST_FRACTION, random_state=random_state)
        evaluation = f"held-out split: {len(split[1])} of {n_faces} faces (random, seed {random_state})"
    else:
        evaluation = "the given split"
    notes = []
    if gender is not None:
        _, counts = np.unique(np.asarray(gender)[np.asarray(split[0])], return_counts=True)
        if len(counts) < 2 or counts.min() < 2:
            notes.append("gender decoding skipped: the training faces do not hold two gender labels, each at least "
                         "twice")
            gender = None
    report_fraction(progress, 0.05, "image → latent encoder")
    if space is None:
        space = _study_latent_space(lambda step, total, message: report_fraction(
            progress, 0.05 + 0.45 * step / total, f"training the image→latent encoder: step {step}/{total}"))
    report_fraction(progress, 0.5, "latents, decoders, reconstructions and scores")
    result = run_reconstruction_experiment(images, responses, latent=space, split=split, gender=gender,
                                           feature_spaces=feature_spaces, random_state=random_state)
    report_fraction(progress, 1.0, "done")
    return StudyReconstructionRun(
        originals=result.originals, reconstructions=dict(result.reconstructions), test_stimuli=result.test_idx,
        pairwise={f"{model}:{name}": np.array([score.accuracy, score.p_value])
                  for model, spaces in result.pairwise.items() for name, score in spaces.items()},
        gender={model: np.array([d.accuracy, d.chance]) for model, d in result.gender.items()},
        meta={"evaluation": evaluation, "n_train": len(result.train_idx), "n_test": len(result.test_idx),
              "n_vertices": int(np.shape(responses)[1]), "notes": notes + list(result.notes)})


def _study_split(study) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
    """The study's repeat-defined split (training = stimuli shown once, test = repeated stimuli, as
    ``core.studies.experiment`` splits for its encoding models), or None (a held-out split), and its description."""
    from core.studies.experiment import repeat_training_set

    train = repeat_training_set(study)
    if train is None:
        return None, ""
    test = np.flatnonzero(study.repeat_counts >= 2)
    return (train, test), (f"test split: {len(train):,} training images shown once, {len(test):,} test images "
                           "(responses averaged over their repeats)")


def _study_responses(study, roi: str | None) -> np.ndarray:
    """Repeat-averaged responses (n_stimuli, n_vertices) of the study, on ``roi``'s vertices (None: all)."""
    from core.errors import choices_text

    responses = study.mean_responses()
    if not roi:
        return np.asarray(responses, dtype=np.float32)
    masks = study.roi_masks
    if roi not in masks:
        raise UserError(f"Study {study.name} has no region {roi!r}; choose " + (
            choices_text(sorted(masks)) if masks else "all vertices (it has no ROI masks)"))
    return np.asarray(responses[:, masks[roi]], dtype=np.float32)


def run_study_reconstruction(study, *, roi: str | None = None, faces: StudyFaces | None = None,
                             allow_non_faces: bool = False, gender: bool = True, space=None,
                             feature_spaces=("pixel", "identity"), random_state: int = 0,
                             progress=None) -> StudyReconstructionRun:
    """:func:`reconstruct_faces` on a study: its face crops, its repeat-averaged responses (all vertices or one ROI
    of ``study.roi_masks``), its repeat-defined test set when it has one (else a held-out split), and model-made
    gender labels (face-api's age-gender net on the crops; skipped with a note when its weights are missing).

    ``faces``: the study's crops (None: :func:`cached_study_faces`). A ``UserError`` with
    :func:`face_check_message` when the detector found a face in fewer than ``FACE_STUDY_FRACTION`` of the images,
    unless ``allow_non_faces``. ``progress(done, total, message)``.
    """
    import torch

    from core.weights import WeightsUnavailableError

    responses = _study_responses(study, roi)
    if faces is None:
        size = 64 if space is None else int(space.image_size_[0])
        faces = cached_study_faces(study, size=size, progress=lambda done, total, message: report_fraction(
            progress, 0.3 * done / total, message))
    n_found = int(faces.found.sum())
    if n_found < FACE_STUDY_FRACTION * study.n_stimuli and not allow_non_faces:
        raise UserError(face_check_message(study.name, n_found, study.n_stimuli)
                        + " Choose a study of face images, or run anyway (allow_non_faces=True; python -m core "
                          "reconstruct --allow-non-faces).")
    split, evaluation = _study_split(study)
    labels, notes = None, []
    if gender:
        try:
            labels = _model_gender(torch.from_numpy(faces.images).permute(0, 3, 1, 2).float().div_(255))
        except WeightsUnavailableError as exc:
            notes.append(f"gender decoding skipped: {exc}")
    run = reconstruct_faces(faces.images, responses, split=split, gender=labels, space=space,
                            feature_spaces=feature_spaces, random_state=random_state,
                            progress=lambda done, total, message: report_fraction(
                                progress, 0.3 + 0.7 * done / total, message))
    meta = {**run.meta, "study": study.describe(), "roi": roi or "", "faces_found": n_found,
            "n_images": study.n_stimuli, "notes": notes + run.meta["notes"]}
    if evaluation:
        meta["evaluation"] = evaluation
    return dataclasses.replace(run, meta=meta)
