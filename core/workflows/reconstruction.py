"""The face-reconstruction experiment (VanRullen & Reddy 2019) on DCGAN faces and simulated brain patterns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import UserError
from core.workflows import report_fraction

__all__ = [
    "EXPLORER_OFFSETS_SD",
    "RECONSTRUCTION_FACES",
    "RECONSTRUCTION_SIZES",
    "RECONSTRUCTION_SNRS",
    "ReconstructionRun",
    "fit_gan_latent_space",
    "run_reconstruction",
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


def _dcgan_faces_with_gender(n_faces: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DCGAN latents (n, 100), their faces (n, 64, 64, 3) uint8 and face-api age-gender labels (n,)."""
    import torch

    from core.models import build_model

    generator = build_model("dcgan_faces")
    z = generator.sample_latent(int(n_faces), random_state=0)
    with torch.no_grad():
        faces = generator.generate(torch.from_numpy(z))
        age_gender = build_model("face_age_gender")
        probabilities = age_gender(age_gender.prepare(torch.nn.functional.interpolate(
            faces, size=age_gender.input_size, mode="bilinear", align_corners=False)))
    gender = np.where(probabilities[:, 1].numpy() > 0.5, "male", "female")
    images = (faces.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    return z, images, gender


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
