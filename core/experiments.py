"""The embedded default experiment: the simulated subject views the stimulus library; encoding models
are fitted to its responses and evaluated against the known truth (Wen et al. 2018's pipeline).

Steps of :func:`run_default_experiment`:

1. the offline stimulus library (``core.stimuli``); what the simulated subject reads of it
   (``core.subject.subject_features``: for the default subject v3, receptive-field readings of every
   network its spec names); and the features of the network the encoding models use
   (``ENCODING_NETWORKS``; ResNet-50's ``wen18`` layers by default), by default the *whole* feature
   maps of every layer through a seeded count-sketch random projection (``reduction="random_projection"``,
   ``ENCODING_N_COMPONENTS`` per layer, as the paper kept the full maps), or their channel means
   (``reduction="mean"``); all cached on disk, chunk by chunk;
2. the simulated subject (``core.subject``, ``subject="v3"`` or the teaching subject ``"v2"``) is
   calibrated on the library; a stratified split gives training images (shown once) and test images
   (shown ``n_repeats`` times, one "session" each);
3. layer-wise + global PCA (> 99 % variance) and per-vertex ridge with nine-fold CV on the training
   images (``core.encoding``);
4. test scores per vertex: r (per session, then averaged), R², block-permutation p and FDR q, the
   Monte-Carlo noise ceiling estimated from the repeats (single sessions, as r is) with its
   repeat-reliability FDR q, the true ceiling known from the simulation, normalised accuracy (only
   where the ceiling is reliable; not clipped) and the best layer twice: the paper's attribution
   (single-layer R² of the joint model, the other layers zeroed) and one ridge refitted per layer, on
   the vertices the joint model predicts in a nested cross-validation over the *training* images
   (``core.encoding.cross_validated_scores``: r > 0, FDR q < ``REFIT_Q``), scored on the test images; each
   test image's term of every Glasser area's mean test r (``core.encoding.roi_image_r``), which the
   model comparison between networks tests over images;
5. predicted maps of every library image → category maps and per-vertex category d′.

The result is saved in the cache (``.npz`` + ``.json``, no pickle) with the fitted encoding model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.files import atomic_open
from core.runtime import PROGRESS_STEPS, Progress, report
from core.store import load_result, save_result

__all__ = ["DEFAULT_REDUCTION", "DEFAULT_SUBJECT", "ENCODING_NETWORKS", "ENCODING_N_COMPONENTS", "ENCODING_REDUCTIONS", "EXPERIMENT_VERSION",
           "ExperimentResult", "calibrated_default_subject", "encoding_model_path", "encoding_reduction_options",
           "experiment_dir", "experiment_feature_sets", "experiment_key", "load_experiment", "predicted_maps",
           "run_default_experiment"]

EXPERIMENT_VERSION = "default-experiment/v4"

#: Networks whose features the encoding models can use → their layer set (``model.layer_sets``): the
#: paper's 18 ResNet-50 layers; EfficientNet-Lite0's stem, 16 MBConv blocks, head and logits (19).
ENCODING_NETWORKS = {"resnet50": "wen18", "efficientnet_lite0": "default"}

#: Feature reductions of the encoding model's inputs (``core.features.extract_features``) and the default.
ENCODING_REDUCTIONS = ("random_projection", "mean")
DEFAULT_REDUCTION = "random_projection"
#: The simulated subject of the default experiment (a key of ``core.subject.SUBJECT_SPECS``).
DEFAULT_SUBJECT = "v3"
#: Output dimensions per layer of the random projection, and its seed (fixed, so that every experiment and
#: the prediction worker share one projection and one feature cache).
ENCODING_N_COMPONENTS = 4096
FEATURE_SEED = 0

#: Categories with fewer library images are left out of category maps and selectivity.
MIN_EXEMPLARS = 3

#: Arrays of an :class:`ExperimentResult` that hold one value per cortical vertex (59,412).
VERTEX_MAPS = ("r", "r2", "p", "q", "noise_ceiling", "ceiling_q", "true_ceiling", "normalized_accuracy",
               "cv_r", "cv_q", "best_layer", "best_layer_refit")

#: FDR level, in the nested cross-validation over the training images (``INNER_FOLDS`` outer folds), of the
#: vertices whose best layer is also found by refitting one model per layer.
REFIT_Q = 0.05
INNER_FOLDS = 2


@dataclass(frozen=True)
class ExperimentResult:
    """Maps and labels of one run of the default experiment.

    Attributes
    ----------
    maps : dict of str to ndarray of shape (n_vertices,)
        ``VERTEX_MAPS``: test r, R², p, FDR q, estimated noise ceiling (single session) and the FDR q of
        its repeat-reliability test, true ceiling, ceiling-normalised accuracy (NaN where the ceiling is
        not reliable, ``core.encoding.CEILING_Q``; values above 1 kept), r and FDR q of the joint model's
        nested cross-validated predictions of the training images, best layer (index into ``layers``) by
        the paper's attribution and by one model refitted per layer (NaN where the inner-CV q ≥
        ``REFIT_Q`` or r ≤ 0).
    layer_r2 : ndarray of shape (n_layers, n_vertices)
        Test R² of each single layer.
    layers : tuple of str
    categories : tuple of str
    category_maps : ndarray of shape (n_categories, n_vertices)
        Mean predicted map over each category's exemplars (all library images of the categories
        with at least ``MIN_EXEMPLARS`` images).
    dprime : ndarray of shape (n_categories, n_vertices)
        Per-vertex category selectivity of the predicted exemplar maps.
    stimulus_ids, labels, groups : tuple of str
        The library images, in feature order.
    test_indices : ndarray of int
        Rows of the test images.
    roi_image_r : ndarray of shape (n_test, n_rois)
        Each test image's term of every ROI's mean test r (``core.encoding.roi_image_r``; the column
        means are the ROI means of ``maps["r"]``).
    rois : tuple of str
        The ROIs: Glasser areas, both hemispheres pooled, sorted by name.
    meta : dict
        Settings, sizes and timings; ``test_responses`` fingerprints the measured test responses, which
        runs with different networks share.
    """

    maps: dict
    layer_r2: np.ndarray
    layers: tuple
    categories: tuple
    category_maps: np.ndarray
    dprime: np.ndarray
    stimulus_ids: tuple
    labels: tuple
    groups: tuple
    test_indices: np.ndarray
    roi_image_r: np.ndarray
    rois: tuple
    meta: dict = field(default_factory=dict)


def experiment_dir(key: str) -> Path:
    """Cache folder of the experiment with settings key ``key``."""
    from core.runtime import cache_folder

    return cache_folder("experiments") / key


def encoding_model_path(key: str) -> Path:
    """Base name of the fitted encoding model of experiment ``key`` (``core.encoding.load_encoding_model``)."""
    return experiment_dir(key) / "encoding"


def experiment_key(**settings) -> str:
    """Cache key of the experiment run with these keyword settings of :func:`run_default_experiment`."""
    return _settings_key(settings)


def _settings_key(settings: dict) -> str:
    from core.subject import SUBJECT_SPECS

    settings = {"subject": DEFAULT_SUBJECT, "reduction": DEFAULT_REDUCTION, **settings}  # defaults added by issue 15
    spec = hashlib.sha256(SUBJECT_SPECS[settings["subject"]][0].read_bytes()).hexdigest()
    blob = json.dumps({"version": EXPERIMENT_VERSION, "spec": spec, **settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _report(progress, fraction: float, message: str) -> None:
    """``fraction`` of the whole experiment done, as ``core.runtime.Progress`` steps."""
    report(progress, round(PROGRESS_STEPS * fraction), PROGRESS_STEPS, message)


def encoding_reduction_options(reduction: str) -> dict:
    """The ``reduction``, ``n_components`` and ``random_state`` of ``core.features.extract_features`` for the
    encoding features of ``reduction`` (a name of ``ENCODING_REDUCTIONS``); saved in the encoding model's meta."""
    from core._validation import check_choice

    check_choice("reduction", reduction, ENCODING_REDUCTIONS)
    return {"reduction": reduction, "n_components": ENCODING_N_COMPONENTS, "random_state": FEATURE_SEED}


def _network_features(stimuli, network: str, layers, *, reduction: str, device, progress, span):
    """Encoding features of ``stimuli`` for one zoo network, through the feature cache."""
    from core.network_features import network_features

    start, stop = span
    return network_features(
        stimuli, network, layers, device=device, **encoding_reduction_options(reduction),
        progress=lambda done, total, _message="": _report(progress, start + (stop - start) * done / total,
                                                          f"{network} features ({reduction}): chunk {done}/{total}"),
    )


def _stratified_test_split(labels: np.ndarray, test_fraction: float, rng) -> np.ndarray:
    """Indices of a test set holding ``test_fraction`` of each category (at least one per category)."""
    test = []
    for category in np.unique(labels):
        members = np.flatnonzero(labels == category)
        if len(members) < 2:
            continue
        n_test = max(1, int(round(test_fraction * len(members))))
        test.extend(rng.choice(members, size=n_test, replace=False))
    return np.sort(np.asarray(test, dtype=int))


def run_default_experiment(
    *,
    network: str = "resnet50",
    subject: str = DEFAULT_SUBJECT,
    reduction: str = DEFAULT_REDUCTION,
    n_repeats: int = 10,
    test_fraction: float = 0.2,
    n_folds: int = 9,
    n_permutations: int = 1000,
    max_images: int | None = None,
    random_state: int = 0,
    device: str = "cpu",
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run (or load from the cache) the default simulated experiment.

    Parameters
    ----------
    network : str
        A key of ``ENCODING_NETWORKS``: the network whose features the encoding models use. The
        simulated subject, its responses and the split do not depend on it, so runs with different
        networks compare models on identical data.
    subject : str
        A key of ``core.subject.SUBJECT_SPECS``: ``"v3"`` (receptive fields, default) or ``"v2"`` (teaching:
        exactly representable).
    reduction : str
        Encoding features (``ENCODING_REDUCTIONS``): ``"random_projection"`` of the whole maps of every layer
        (default), or ``"mean"``: channel means.
    n_repeats : int
        Repeats (sessions) of each test image.
    test_fraction : float
        Fraction of each category's images held out for testing.
    n_folds : int
        Folds of the ridge penalty's cross-validation (nine in the paper).
    n_permutations : int
        Block permutations of the test p-values.
    max_images : int, optional
        Use only the first images of each category up to this total (for quick runs and tests).
    random_state : int
        Seed of the split and of the simulated noise.
    device : str
        Torch device for features and encoding.
    progress : callable, optional
        ``progress(done, total, message)`` (``core.runtime.Progress``), over the whole experiment.

    Returns
    -------
    ExperimentResult
    """
    from core._validation import check_choice
    from core.categories import category_maps, category_selectivity
    from core.encoding import (
        CEILING_Q,
        EncodingModel,
        cross_validated_scores,
        evaluate_predictions,
        layer_contributions,
        layer_refit_contributions,
        noise_ceiling,
        normalized_accuracy,
        roi_image_r,
        save_encoding_model,
        stack_layer_features,
    )
    from core.stats import fdr_bh
    from core.subject import SUBJECT_SPECS, true_noise_ceiling

    check_choice("network", network, ENCODING_NETWORKS)
    check_choice("subject", subject, SUBJECT_SPECS)
    check_choice("reduction", reduction, ENCODING_REDUCTIONS)
    settings = dict(network=network, subject=subject, reduction=reduction, n_repeats=n_repeats,
                    test_fraction=test_fraction, n_folds=n_folds, n_permutations=n_permutations,
                    max_images=max_images, random_state=random_state)
    key = _settings_key(settings)
    cached = load_experiment(key)
    if cached is not None:
        _report(progress, 1.0, "loaded from the cache")
        return cached
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if n_repeats < 2:
        raise ValueError(f"n_repeats must be >= 2 to estimate a noise ceiling, got {n_repeats}")

    library, features, simulated, drivers, labels, groups = calibrated_default_subject(
        subject=subject, max_images=max_images, device=device, progress=progress)
    ids = next(iter(features.values())).stimulus_ids
    encoding_features = _encoding_features(library, network, reduction, device=device, progress=progress)
    layers = list(encoding_features)
    if encoding_features.stimulus_ids != ids:
        raise ValueError(f"{network} decoded a different subset of the library than the subject's networks")
    rng = np.random.default_rng(random_state)
    test = _stratified_test_split(labels, test_fraction, rng)
    train = np.setdiff1d(np.arange(len(ids)), test)
    experiment = simulated.image_experiment({k: v[train] for k, v in drivers.items()},
                                          {k: v[test] for k, v in drivers.items()},
                                          n_repeats=n_repeats, random_state=rng)

    _report(progress, 0.68, f"{network} encoding models: PCA + ridge ({n_folds}-fold CV) on {len(train)} images")
    X, slices = stack_layer_features({layer: encoding_features[layer] for layer in layers})
    model = EncodingModel(slices, variance=0.99, n_folds=n_folds, device=device,
                          random_state=random_state).fit(X[train], experiment["Y_train"])
    Z_train = model.pca_.transform(X[train])
    prediction = model.predict(X[test])

    _report(progress, 0.76, "nested cross-validation on the training images")
    inner = cross_validated_scores(Z_train, experiment["Y_train"], n_folds=INNER_FOLDS, inner_folds=n_folds,
                                   device=device)
    _report(progress, 0.8, "test scores, noise ceiling, layer contributions")
    scores = evaluate_predictions(experiment["Y_test"], prediction, block_size=1,
                                  n_permutations=n_permutations, random_state=random_state, device=device)
    ceiling = noise_ceiling(experiment["Y_test"], n_averaged=1, random_state=random_state)
    true_single = true_noise_ceiling(experiment["signal_test"].var(axis=0), simulated.noise_variance(), 1)
    contributions = layer_contributions(model, X[test], experiment["Y_test"].mean(axis=0))
    areas: dict[str, list] = {}
    for (area, _), vertices in simulated.roi_vertices.items():
        areas.setdefault(area, []).append(vertices)
    rois = {area: np.concatenate(parts) for area, parts in sorted(areas.items())}
    image_r = roi_image_r(experiment["Y_test"], prediction, rois)
    refit_vertices = np.flatnonzero((inner.q < REFIT_Q) & (inner.r > 0))
    best_layer_refit = np.full(scores.q.shape, np.nan, dtype=np.float32)
    if refit_vertices.size:
        refit = layer_refit_contributions(
            model, X[train], experiment["Y_train"][:, refit_vertices], X[test],
            experiment["Y_test"].mean(axis=0)[:, refit_vertices], n_folds=n_folds, device=device,
            progress=lambda done, total, _message="": _report(progress, 0.8 + 0.1 * done / total,
                                                 f"one model per layer: {done}/{total}"))
        best_layer_refit[refit_vertices] = refit.best_layer

    _report(progress, 0.9, "category maps and selectivity")
    counts = {str(c): int((labels == c).sum()) for c in np.unique(labels)}
    kept = np.isin(labels, [c for c, n in counts.items() if n >= MIN_EXEMPLARS])
    predicted_all = model.predict(X).astype(np.float32)
    predicted = predicted_all[kept]
    categories, cat_maps = category_maps(predicted, labels[kept])
    _, dprime = category_selectivity(predicted, labels[kept])
    maps = {
        "r": scores.r, "r2": scores.r2, "p": scores.p, "q": scores.q,
        "noise_ceiling": ceiling.ceiling, "ceiling_q": fdr_bh(ceiling.p), "true_ceiling": true_single,
        "normalized_accuracy": normalized_accuracy(scores.r, ceiling.ceiling, ceiling.reliable),
        "cv_r": inner.r, "cv_q": inner.q,
        "best_layer": contributions.best_layer, "best_layer_refit": best_layer_refit,
    }
    result = ExperimentResult(
        maps={k: np.asarray(v, dtype=np.float32) for k, v in maps.items()},
        layer_r2=contributions.r2.astype(np.float32), layers=tuple(contributions.layers),
        categories=tuple(categories), category_maps=cat_maps.astype(np.float32),
        dprime=dprime.astype(np.float32), stimulus_ids=tuple(ids), labels=tuple(labels),
        groups=tuple(groups), test_indices=test, roi_image_r=image_r, rois=tuple(rois),
        meta={**settings, "key": key, "n_train": int(len(train)), "n_test": int(len(test)),
              "n_components": model.n_components_, "subject_name": simulated.spec.name,
              "snr": simulated.spec.snr, "version": EXPERIMENT_VERSION,
              "n_refit_vertices": int(refit_vertices.size), "n_reliable_ceiling": int(ceiling.reliable.sum()),
              "ceiling_q_level": CEILING_Q,
              "test_responses": hashlib.sha256(np.ascontiguousarray(experiment["Y_test"]).tobytes()).hexdigest()[:16],
              "categories_left_out": {c: n for c, n in counts.items() if n < MIN_EXEMPLARS}},
    )
    folder = experiment_dir(key)
    folder.mkdir(parents=True, exist_ok=True)
    save_encoding_model(encoding_model_path(key), model,
                        {"layers": layers, "model": network, **encoding_reduction_options(reduction)})
    _save_array(folder / "predicted.npy", predicted_all.astype(np.float16))
    _save_result(folder / "result", result)
    _report(progress, 1.0, "done")
    return result


def experiment_feature_sets(*, network: str = "resnet50", max_images: int | None = None):
    """The images and the encoding-feature extraction of the default experiment (e.g. to compute them ahead,
    on several machines, into the shared feature cache, with ``encoding_reduction_options``).

    What the simulated subject reads (``core.subject.subject_features``) is computed by the experiment
    itself: its receptive-field readings are not a named reduction a worker could rebuild.

    Parameters
    ----------
    network : str
        The encoding network (a key of ``ENCODING_NETWORKS``).
    max_images : int, optional
        As in :func:`run_default_experiment`.

    Returns
    -------
    library : core.stimuli.StimulusSet
        The library images used (balanced subset with ``max_images``).
    feature_sets : list of (network, layers)
        ``network`` with its ``ENCODING_NETWORKS`` layer set.
    """
    from core._validation import check_choice
    from core.stimuli import load_stimulus_library

    check_choice("network", network, ENCODING_NETWORKS)
    library = load_stimulus_library()
    if max_images is not None:
        library = library.subset(_balanced_subset(np.asarray(library.labels), max_images))
    return library, [(network, ENCODING_NETWORKS[network])]


def _encoding_features(library, network: str, reduction: str, *, device="cpu", progress=None):
    """The encoding network's features of the library: exactly the extraction :func:`experiment_feature_sets` lists."""
    (network, layers), = experiment_feature_sets(network=network)[1]
    return _network_features(library, network, layers, reduction=reduction, device=device, progress=progress,
                             span=(0.62, 0.68))


def calibrated_default_subject(*, subject: str = DEFAULT_SUBJECT, max_images: int | None = None, device: str = "cpu",
                               progress=None):
    """A shipped simulated subject calibrated on the stimulus library.

    Parameters
    ----------
    subject : str
        A key of ``core.subject.SUBJECT_SPECS``.

    Returns
    -------
    library : core.stimuli.StimulusSet
    features : dict of str to core.features.Features
        What the subject reads of the library, per network its spec names (cached on disk).
    subject : core.subject.SimulatedSubject
        Calibrated.
    drivers : dict of (network, layer) to ndarray of shape (n_images, n_features)
    labels, groups : ndarray of str, length n_images
    """
    from core.network_features import feature_cache
    from core.stimuli import load_stimulus_library
    from core.subject import load_default_subject, subject_features

    _report(progress, 0.0, "stimulus library")
    library = load_stimulus_library()
    if max_images is not None:
        library = library.subset(_balanced_subset(np.asarray(library.labels), max_images))
    simulated = load_default_subject(subject)
    features = subject_features(simulated, library, device=device, cache=feature_cache(),
                                progress=lambda f, m: _report(progress, 0.02 + 0.58 * f, m))
    ids = next(iter(features.values())).stimulus_ids
    if any(f.stimulus_ids != ids for f in features.values()):
        raise ValueError("Networks decoded different subsets of the library; check the skipped images")
    position = {stimulus: i for i, stimulus in enumerate(library.ids)}
    rows = [position[i] for i in ids]
    labels = np.asarray([library.labels[i] for i in rows])
    groups = np.asarray([library.groups[i] for i in rows])
    _report(progress, 0.6, "calibrating the simulated subject")
    drivers = {(net, layer): features[net][layer] for net, layer in simulated.spec.feature_sources}
    simulated.calibrate(drivers, labels, groups)
    return library, features, simulated, drivers, labels, groups


def _balanced_subset(labels: np.ndarray, max_images: int) -> np.ndarray:
    """Up to ``max_images`` indices, taking images from each category in turn."""
    per_category = {c: list(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    chosen = []
    while len(chosen) < max_images and any(per_category.values()):
        for members in per_category.values():
            if members and len(chosen) < max_images:
                chosen.append(members.pop(0))
    return np.sort(np.asarray(chosen, dtype=int))


def _save_array(path: Path, array: np.ndarray) -> None:
    with atomic_open(path) as handle:
        np.save(handle, array, allow_pickle=False)


def predicted_maps(key: str) -> np.ndarray:
    """Memory-mapped predicted maps of every library image of experiment ``key``.

    Returns
    -------
    ndarray of shape (n_stimuli, n_vertices), float16, read-only, rows in ``stimulus_ids`` order.
    """
    return np.load(experiment_dir(key) / "predicted.npy", mmap_mode="r", allow_pickle=False)


def _save_result(prefix: Path, result: ExperimentResult) -> None:
    """Write ``prefix.npz`` (arrays) then ``prefix.json`` (labels, meta) atomically; json last marks done."""
    arrays = {f"map:{k}": v for k, v in result.maps.items()}
    arrays.update(layer_r2=result.layer_r2, category_maps=result.category_maps, dprime=result.dprime,
                  test_indices=result.test_indices, roi_image_r=result.roi_image_r)
    save_result(prefix, arrays, {"layers": result.layers, "categories": result.categories, "rois": result.rois,
                                 "stimulus_ids": result.stimulus_ids, "labels": result.labels,
                                 "groups": result.groups, "meta": result.meta})


def load_experiment(key: str) -> ExperimentResult | None:
    """The cached result with settings key ``key``, or None if absent or unreadable."""
    try:
        arrays, info = load_result(experiment_dir(key) / "result")
    except (OSError, ValueError, KeyError):
        return None
    return ExperimentResult(
        maps={name.removeprefix("map:"): a for name, a in arrays.items() if name.startswith("map:")},
        layer_r2=arrays["layer_r2"], layers=tuple(info["layers"]), categories=tuple(info["categories"]),
        category_maps=arrays["category_maps"], dprime=arrays["dprime"],
        stimulus_ids=tuple(info["stimulus_ids"]), labels=tuple(info["labels"]), groups=tuple(info["groups"]),
        test_indices=arrays["test_indices"], roi_image_r=arrays["roi_image_r"], rois=tuple(info["rois"]),
        meta=info["meta"],
    )
