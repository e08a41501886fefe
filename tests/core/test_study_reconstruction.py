"""Face reconstruction on a study (``core.workflows.reconstruction.reconstruct_faces`` / ``run_study_reconstruction``):
a tiny simulated face study, faces drawn by a tiny stand-in generator (16 × 16, 8 latent dimensions: the real DCGAN
is exercised by the slow tests of test_reconstruction), brain patterns made from their latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from core.errors import UserError
from core.reconstruction import GanLatentSpace
from core.workflows.reconstruction import (
    StudyFaces,
    StudyReconstructionRun,
    reconstruct_faces,
    run_study_reconstruction,
)
from core.workflows.store import load_result, save_result
from tests.core.test_reconstruction import TinyGenerator

N_VERTICES = 240


@pytest.fixture(scope="module")
def tiny_space():
    """The tiny generator's latent space with its encoder trained once (as test_reconstruction's inversion test)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield GanLatentSpace(TinyGenerator(), n_steps=150, batch_size=32, width=8, lr=3e-3, random_state=0).fit()
    torch.set_num_threads(threads)


def _faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(z (n, 8), uint8 faces (n, 16, 16, 3)) of the tiny generator."""
    z = np.random.default_rng(seed).standard_normal((n, TinyGenerator.latent_dim)).astype(np.float32)
    with torch.no_grad():
        images = TinyGenerator().generate(torch.from_numpy(z)).permute(0, 2, 3, 1).numpy()
    return z, (images * 255).round().astype(np.uint8)


def _smooth_map(rng) -> np.ndarray:
    """A random linear map latents → vertices, smooth along the vertex order (neighbouring vertices alike)."""
    weights = gaussian_filter1d(rng.standard_normal((TinyGenerator.latent_dim, N_VERTICES)), sigma=4, axis=1)
    return weights / weights.std()


def _noisy(signal: np.ndarray, snr: float, rng) -> np.ndarray:
    return (signal + rng.standard_normal(signal.shape) * np.sqrt(signal.var(axis=0) / snr)).astype(np.float32)


def test_reconstruct_faces_planted_linear_and_compressive_truth_beat_chance_and_shuffles_do_not(tiny_space):
    """The linear truth (responses = z W + noise) has the decoder's exact form, so it is the easy case; the
    compressive truth (tanh of twice the standardised map, saturating) does not, and must still be well above chance. Shuffled
    responses (rows permuted: no face goes with its pattern) must give chance."""
    rng = np.random.default_rng(0)
    z, faces = _faces(100, seed=1)
    signal = z @ _smooth_map(rng)
    split = (np.arange(60), np.arange(60, 100))
    truths = {"linear": _noisy(signal, 0.1, rng),  # SNR 0.1: measured 0.93 (GAN) and 0.94 (PCA)
              "compressive": _noisy(np.tanh(2 * signal / signal.std()), 0.1, rng)}  # 0.92, 0.91
    for name, responses in truths.items():
        run = reconstruct_faces(faces, responses, split=split, space=tiny_space, feature_spaces=("pixel",))
        for model in ("gan", "pca"):
            accuracy, p = run.pairwise[f"{model}:pixel"]
            assert accuracy > 0.75 and p < 0.01, (name, model, accuracy)
    shuffled = truths["linear"][rng.permutation(100)]
    run = reconstruct_faces(faces, shuffled, split=split, space=tiny_space, feature_spaces=("pixel",))
    for model in ("gan", "pca"):
        assert abs(run.pairwise[f"{model}:pixel"][0] - 0.5) < 0.1, model
    assert run.originals.shape == run.reconstructions["gan"].shape == (40, 16, 16, 3)
    np.testing.assert_array_equal(run.test_stimuli, split[1])


def _write_face_study(folder, rng, *, n_train: int = 48, n_test: int = 12, n_repeats: int = 3):
    """A folder study: tiny-generator faces, ``n_train`` shown once and ``n_test`` shown ``n_repeats`` times;
    responses on fsaverage5 where only the first ``N_VERTICES`` columns respond (the others are constant, so the
    import drops them); a ROI class "face" marking the first half of them. Returns the latents (n, 8)."""
    n = n_train + n_test
    z, faces = _faces(n, seed=2)
    (folder / "images").mkdir(parents=True)
    rows, stimuli = ["file"], []
    for i, face in enumerate(faces):
        Image.fromarray(face).save(folder / "images" / f"face{i:03d}.png")
        shown = 1 if i < n_train else n_repeats
        rows += [f"images/face{i:03d}.png"] * shown
        stimuli += [i] * shown
    (folder / "stimuli.tsv").write_text("\n".join(rows) + "\n")
    signal = np.tanh(z @ _smooth_map(rng) / 3)
    responses = np.zeros((len(stimuli), 20_484), np.float32)
    responses[:, :N_VERTICES] = _noisy(signal[stimuli], 1.0, rng)
    np.save(folder / "responses.npy", responses)
    (folder / "rois").mkdir()
    np.save(folder / "rois" / "face.npy", np.arange(20_484) < N_VERTICES // 2)
    return z, faces


def test_run_study_reconstruction_uses_the_repeat_defined_test_set_and_an_roi(tmp_path, tiny_space):
    from core.studies import import_study

    _, faces = _write_face_study(tmp_path / "faces", np.random.default_rng(3))
    study = import_study("folder", tmp_path / "faces", "faces")
    assert study.n_vertices == N_VERTICES
    found = StudyFaces(images=faces, found=np.ones(len(faces), bool))
    run = run_study_reconstruction(study, roi="face", faces=found, gender=False, space=tiny_space,
                                   feature_spaces=("pixel",))
    np.testing.assert_array_equal(run.test_stimuli, np.arange(48, 60))  # the repeated stimuli
    assert run.meta["evaluation"].startswith("test split: 48 training images shown once, 12 test images")
    assert run.meta["n_vertices"] == N_VERTICES // 2 and run.meta["roi"] == "face"
    assert run.meta["faces_found"] == run.meta["n_images"] == 60
    accuracy, p = run.pairwise["gan:pixel"]
    assert accuracy > 0.7 and p < 0.05
    save_result(run, tmp_path / "run")
    again = load_result(tmp_path / "run", StudyReconstructionRun)
    np.testing.assert_array_equal(again.reconstructions["pca"], run.reconstructions["pca"])

    with pytest.raises(UserError, match="no region 'FFA'; choose face"):
        run_study_reconstruction(study, roi="FFA", faces=found, gender=False, space=tiny_space)
    few = StudyFaces(images=faces, found=np.arange(60) < 7)
    with pytest.raises(UserError, match="found a face in 7 of the 60 images of study faces"):
        run_study_reconstruction(study, faces=few, gender=False, space=tiny_space)
    anyway = run_study_reconstruction(study, faces=few, allow_non_faces=True, gender=False, space=tiny_space,
                                      feature_spaces=("pixel",))
    assert anyway.meta["faces_found"] == 7 and anyway.meta["n_vertices"] == N_VERTICES


def test_gender_decoding_is_skipped_with_a_note_when_the_training_faces_have_one_label(tiny_space):
    z, faces = _faces(30, seed=4)
    responses = _noisy(z @ _smooth_map(np.random.default_rng(5)), 2.0, np.random.default_rng(6))
    one_label = np.array(["female"] * 29 + ["male"])
    run = reconstruct_faces(faces, responses, gender=one_label, space=tiny_space, feature_spaces=("pixel",))
    assert run.gender == {} and "gender decoding skipped" in run.meta["notes"][0]
