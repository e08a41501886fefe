"""A tiny cached result of the default experiment, written into a test cache (no network runs)."""

from __future__ import annotations

import numpy as np

from core.cortex import N_VERTICES, roi_table
from core.experiments import VERTEX_MAPS, ExperimentResult, _save_result, experiment_dir
from dashboard import services
from dashboard.services import experiment as experiment_services

N_FSLR = N_VERTICES["fsLR32k"]
CATEGORIES = ("face", "place")
STIMULI = ("library/face_a.jpg", "library/place_b.jpg", "library/face_c.jpg")
AREAS = tuple(sorted({roi.name for roi in roi_table()}))


def seed_experiment(random_state: int = 0, network: str = "resnet50") -> ExperimentResult:
    """Write a tiny result of the default experiment (current settings key, encoding ``network``) into the
    cache (``VFS_CACHE``).

    Maps are seeded noise; category map ``c`` is the constant ``c + 1``, predicted map ``i`` the constant
    ``i + 1``, so tests can tell them apart. All three images are test images; their per-area terms of the
    mean test r are seeded noise around 0.2.
    """
    rng = np.random.default_rng(random_state)
    maps = {name: rng.uniform(-0.2, 0.8, N_FSLR).astype(np.float32) for name in VERTEX_MAPS}
    maps["best_layer"] = rng.integers(0, 18, N_FSLR).astype(np.float32)
    maps["best_layer_refit"] = np.where(maps["q"] < 0.05, rng.integers(0, 18, N_FSLR), np.nan).astype(np.float32)
    result = ExperimentResult(
        maps=maps, layer_r2=np.zeros((2, N_FSLR), np.float32), layers=("layer1", "layer2"),
        categories=CATEGORIES,
        category_maps=np.stack([np.full(N_FSLR, c + 1.0, np.float32) for c in range(len(CATEGORIES))]),
        dprime=rng.standard_normal((len(CATEGORIES), N_FSLR)).astype(np.float32),
        stimulus_ids=STIMULI, labels=("face", "place", "face"), groups=("biological", "scene", "biological"),
        test_indices=np.arange(len(STIMULI)),
        roi_image_r=(0.2 + 0.05 * rng.standard_normal((len(STIMULI), len(AREAS)))).astype(np.float32), rois=AREAS,
        meta={"n_train": 2, "n_test": 3, "n_repeats": 2, "n_components": 2, "subject": "seeded", "snr": 1.0,
              "network": network, "test_responses": "seeded", "ceiling_q_level": 0.05})
    experiment_services._cached_experiment.cache_clear()
    folder = experiment_dir(services.default_experiment_key(network))
    folder.mkdir(parents=True)
    _save_result(folder / "result", result)
    predicted = np.stack([np.full(N_FSLR, i + 1.0) for i in range(len(STIMULI))]).astype(np.float16)
    np.save(folder / "predicted.npy", predicted)
    return result
