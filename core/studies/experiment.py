"""Encoding models fitted on a study (Wen et al. 2018's pipeline on your own data).

:func:`run_study_experiment` takes a study of the store, the features of its images (a zoo network through
the feature cache, or a features file), and fits the functions of ``core.encoding`` as the default experiment
does (layer-wise PCA, per-vertex ridge with k-fold CV of the penalty), then scores it per vertex:

- **test split** when the study has one: stimuli presented several times are the test set (scored per
  repeat, r averaged over repeats, as in the paper) and the stimuli presented once are the training set;
- **outer cross-validation** otherwise (e.g. Algonauts 2023, whose responses are averaged): every stimulus is
  predicted by a model fitted without it (``n_outer_folds`` shuffled folds) and scored against its response.

p: one-sided permutation p of r (stimuli permuted), q: Benjamini–Hochberg over vertices. The noise ceiling
comes from the repeats, else from ncsnr, else it is "not available" (:meth:`core.studies.Study.noise_ceiling`).

Written to ``out``: ``scores.npz`` (``r``, ``r2``, ``p``, ``q``, and ``noise_ceiling`` and
``normalized_accuracy`` when there is a ceiling; one value per column of the imported responses, in their
order — for ``algonauts2023`` left then right challenge-space vertices — NaN at the columns the import
dropped; ``kept`` marks the others), ``experiment.json`` (split, sizes, ceiling method or why there is none)
``encoding.npz``/``encoding.json``, the model fitted on the training set (all stimuli with outer CV),
readable by ``core.encoding.load_encoding_model``, and ``roi_scores.npz``/``roi_scores.json``
(:class:`StudyRoiScores`, read by ``core.workflows.store.load_result``): for every ROI set of the study
(``core.studies.study_roi_sets``) each test image's term of each region's mean test r and the regions' mean r
with a 95 % bootstrap interval over test images and their mean noise ceiling
(``core.workflows.roi_scores.roi_accuracy``), since the per-image predictions are not kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.studies.study import Study

__all__ = ["StudyRoiScores", "StudyScores", "network_features_matrix", "repeat_training_set", "roi_test_terms",
           "run_study_experiment", "study_features"]

#: Fewest stimuli presented once for them to be a training set (else outer CV on all stimuli).
MIN_TRAIN = 10

#: Vertices whose per-image r terms are computed at once (a few (n_test, ROI_BLOCK) float64 arrays).
ROI_BLOCK = 2048

#: Bootstrap cells (resamples × test images) of the ROI intervals: fewer resamples (never under
#: ``MIN_ROI_RESAMPLES``) when the test set is large, so the resample counts stay ~130 MB at NSD's 10,000 images.
ROI_BOOTSTRAP_CELLS = 2**24
MIN_ROI_RESAMPLES = 2000


@dataclass(frozen=True)
class StudyScores:
    """Per-vertex scores of an encoding model on a study (vertices in ``study.vertices`` order).

    Attributes
    ----------
    r, r2, p, q : ndarray of shape (n_vertices,), float32
    noise_ceiling, normalized_accuracy : ndarray of shape (n_vertices,), float32, or None
        None when the study has no ceiling (``meta["ceiling"]`` says why); the accuracy r / ceiling is NaN
        where the ceiling is not reliable (``StudyCeiling.reliable``).
    meta : dict
        Evaluation (``"test split"`` or ``"outer CV"``), sizes, settings, ceiling method or reason.
    """

    r: np.ndarray
    r2: np.ndarray
    p: np.ndarray
    q: np.ndarray
    noise_ceiling: np.ndarray | None
    normalized_accuracy: np.ndarray | None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StudyRoiScores:
    """Test accuracy per ROI of a study fit, for every ROI class of the study (``core.studies.study_roi_sets``).

    Attributes
    ----------
    source : str
        Which atlas the classes come from, or why there are none (``core.studies.study_roi_source``).
    classes : tuple of str
        ROI classes (empty when the study has no ROI sets).
    regions : dict of str to list of str
        Class → its regions (those with study vertices), in column order of the arrays below.
    test_stimuli : ndarray of shape (n_test,), int64
        Study stimulus index of each test image.
    image_r : dict of str to ndarray of shape (n_test, n_regions), float32
        Each test image's term of each region's mean test r (``core.encoding.roi_image_r``): their mean over
        images is the mean over the region's vertices of the fit's r (averaged over repeats with a test split).
    means, ci_low, ci_high : dict of str to ndarray of shape (n_regions,), float64
        Region-mean test r and its 95 % percentile bootstrap interval over test images
        (``core.workflows.roi_scores.roi_accuracy``).
    ceiling : dict of str to ndarray of shape (n_regions,), float64
        Mean noise ceiling r of each region's vertices; NaN when the study has no ceiling.
    n_resamples : int
        Bootstrap resamples of the intervals.
    """

    source: str
    classes: tuple
    regions: dict
    test_stimuli: np.ndarray
    image_r: dict
    means: dict
    ci_low: dict
    ci_high: dict
    ceiling: dict
    n_resamples: int


@dataclass(frozen=True)
class _RoiTerms:
    """What ``core.workflows.roi_scores.roi_accuracy`` reads of an experiment: ROI names, their per-image terms
    and the noise-ceiling map (study vertices)."""

    rois: tuple
    roi_image_r: np.ndarray
    maps: dict


def roi_test_terms(measured, prediction, regions, *, block: int = ROI_BLOCK) -> np.ndarray:
    """Each test image's term of every region's mean test r, over blocks of vertices (bounded memory).

    ``core.encoding.roi_image_r`` on ``block`` vertices at a time (only those in some region), each block's
    region means weighted by the region's vertices in it.

    Parameters
    ----------
    measured : ndarray of shape (n_sessions, n_test, n_vertices) or (n_test, n_vertices)
        Test responses (a memory map is read a block of columns at a time).
    prediction : ndarray of shape (n_test, n_vertices)
    regions : sequence of ndarray of int
        Sorted vertex indices of each region (non-empty).

    Returns
    -------
    ndarray of shape (n_test, n_regions), float32
    """
    from core.encoding import roi_image_r

    regions = [np.asarray(idx, dtype=np.int64) for idx in regions]
    sums = np.zeros((prediction.shape[0], len(regions)))
    union = np.unique(np.concatenate(regions)) if regions else np.zeros(0, np.int64)
    for start in range(0, len(union), block):
        cols = union[start:start + block]
        local = {}
        for k, idx in enumerate(regions):
            inside = idx[np.searchsorted(idx, cols[0]):np.searchsorted(idx, cols[-1], side="right")]
            if len(inside):
                local[str(k)] = np.searchsorted(cols, inside)
        terms = roi_image_r(np.asarray(measured[..., cols]), np.asarray(prediction[:, cols]), local)
        for j, (k, idx) in enumerate(local.items()):
            sums[:, int(k)] += terms[:, j].astype(np.float64) * len(idx)
    return (sums / np.array([len(idx) for idx in regions])).astype(np.float32)


def _roi_scores(study: Study, measured, prediction, test_stimuli, ceiling, random_state) -> StudyRoiScores:
    """:class:`StudyRoiScores` of a fit (``measured``/``prediction`` as :func:`roi_test_terms` takes them)."""
    from core.studies.rois import study_roi_sets, study_roi_source
    from core.workflows.roi_scores import ROI_RESAMPLES, roi_accuracy

    sets = study_roi_sets(study)
    n_test = len(test_stimuli)
    n_resamples = min(ROI_RESAMPLES, max(MIN_ROI_RESAMPLES, ROI_BOOTSTRAP_CELLS // max(1, n_test)))
    ceiling_map = {"noise_ceiling": np.full(study.n_vertices, np.nan, np.float32) if ceiling is None else ceiling}
    flat = [idx for regions in sets.values() for idx in regions.values()]
    terms = roi_test_terms(measured, prediction, flat) if flat else np.zeros((n_test, 0), np.float32)
    image_r, accuracy, start = {}, {}, 0
    for name, regions in sets.items():
        image_r[name] = terms[:, start:start + len(regions)]
        start += len(regions)
        accuracy[name] = roi_accuracy(_RoiTerms(tuple(regions), image_r[name], ceiling_map), regions,
                                      n_resamples=n_resamples, random_state=random_state)
    return StudyRoiScores(
        source=study_roi_source(study), classes=tuple(sets), regions={name: list(r) for name, r in sets.items()},
        test_stimuli=np.asarray(test_stimuli, dtype=np.int64), image_r=image_r,
        **{field: {name: getattr(a, field) for name, a in accuracy.items()}
           for field in ("means", "ci_low", "ci_high", "ceiling")}, n_resamples=n_resamples)


def _report(progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def study_features(study: Study, *, network: str = "resnet50", features=None, device: str = "cpu",
                   progress: Callable[[float, str], None] | None = None) -> tuple[np.ndarray, dict, str]:
    """Features of the study's stimuli, in stimulus order.

    Parameters
    ----------
    study : Study
    network : str
        A key of ``core.experiments.ENCODING_NETWORKS``, extracted through the feature cache (spatial means).
    features : path-like, optional
        A features ``.npz`` (``python -m core extract``) used instead of ``network``: its ``stimulus_ids``
        are the study's image ids or their ends (``train-0001_nsd-00013.png`` for
        ``training_split/training_images/train-0001_nsd-00013.png``).
    device : str
    progress : callable(fraction, message), optional

    Returns
    -------
    X : ndarray of shape (n_stimuli, n_units), float32
    layer_slices : dict of str to (start, stop)
    source : str
        The network, or the features file's name.
    """
    ids = [image.id for image in study.stimuli]
    if features is not None:
        from core.virtual_fmri import load_feature_file

        X, slices, file_ids = load_feature_file(features)
        row = {stimulus: i for i, stimulus in enumerate(file_ids)}
        rows, missing = [], []
        for stimulus in ids:  # the study's id, or its tail below a folder (extract --images names them so)
            parts = stimulus.split("/")
            found = next((row[tail] for tail in ("/".join(parts[k:]) for k in range(len(parts))) if tail in row),
                         None)
            rows.append(found)
            if found is None:
                missing.append(stimulus)
        if missing:
            raise UserError(f"{Path(features).name} has no features for {len(missing)} of the {len(ids)} images of "
                            f"study {study.name} (e.g. {', '.join(missing[:3])}); its stimulus_ids must be the "
                            "study's image ids, or their names below the folder given to python -m core extract")
        if len(set(rows)) != len(rows):
            raise UserError(f"{Path(features).name}: several images of study {study.name} match the same "
                            "stimulus id; give the features the study's image ids")
        return X[rows], slices, Path(features).name
    X, slices, read, skipped = network_features_matrix(study.stimulus_set(), network, device=device,
                                                       progress=progress)
    if list(read) != ids:
        raise UserError(f"{network} could not read every image of study {study.name} ({skipped})")
    return X, slices, network


def network_features_matrix(stimuli, network: str = "resnet50", *, device: str = "cpu",
                            progress: Callable[[float, str], None] | None = None) -> tuple[np.ndarray, dict, tuple, str]:
    """Spatial-mean features of ``stimuli`` (a ``core.stimuli.StimulusSet``) for a key of
    ``core.experiments.ENCODING_NETWORKS``, through the feature cache, layers side by side.

    Returns
    -------
    X : ndarray of shape (n_read, n_units), float32
    layer_slices : dict of str to (start, stop)
    stimulus_ids : tuple of str
        The images read.
    skipped : str
        The first unreadable images and why ("" when all were read).
    """
    from core._validation import check_choice
    from core.encoding import stack_layer_features
    from core.experiments import ENCODING_NETWORKS, _network_features

    check_choice("network", network, ENCODING_NETWORKS)
    extracted = _network_features(stimuli, network, ENCODING_NETWORKS[network], reduction="mean", device=device,
                                  progress=None if progress is None else  # core.runtime.Progress -> fraction
                                  lambda done, total, message="": progress(done / total if total else 0.0, message),
                                  span=(0.0, 1.0))
    X, slices = stack_layer_features(dict(extracted.arrays))
    skipped = "; ".join(f"{i}: {reason}" for i, reason in extracted.skipped[:3])
    return X, slices, tuple(extracted.stimulus_ids), skipped


def repeat_training_set(study: Study) -> np.ndarray | None:
    """Indices of the stimuli shown once, the training set, when the study has a repeat-defined test set (≥ 3
    repeated stimuli, ≥ ``MIN_TRAIN`` shown once); else None."""
    if not study.has_repeats:
        return None
    counts = study.repeat_counts
    train = np.flatnonzero(counts == 1)
    return train if len(train) >= MIN_TRAIN and (counts >= 2).sum() >= 3 else None


def run_study_experiment(study: Study, out, *, network: str = "resnet50", features=None, n_folds: int = 9,
                         n_outer_folds: int = 5, n_permutations: int = 1000, variance: float = 0.99,
                         random_state: int = 0, device: str = "cpu",
                         progress: Callable[[float, str], None] | None = None) -> StudyScores:
    """Fit and score encoding models on a study; write the scores and the model into ``out``.

    Parameters
    ----------
    study : Study
    out : path-like
        Folder (created) for ``scores.npz``, ``experiment.json``, ``encoding.{npz,json}`` and
    ``roi_scores.{npz,json}``.
    network, features
        Where the features come from (:func:`study_features`).
    n_folds : int
        Folds of the ridge penalty's cross-validation (nine in the paper).
    n_outer_folds : int
        Folds of the outer cross-validation when the study has no test set.
    n_permutations : int
        Permutations of the p-values.
    variance : float
        Variance kept by each PCA stage.
    random_state : int
    device : str
    progress : callable(fraction, message), optional

    Returns
    -------
    StudyScores
    """
    from sklearn.model_selection import KFold

    from core.encoding import EncodingModel, evaluate_predictions, normalized_accuracy, save_encoding_model
    from core.files import atomic_open
    from core.workflows.store import save_result

    out = Path(out)
    _report(progress, 0.0, f"features of {study.n_stimuli:,} images")
    X, slices, source = study_features(study, network=network, features=features, device=device, progress=None
                                       if progress is None else lambda f, m: progress(0.4 * f, m))
    model = EncodingModel(slices, variance=variance, n_folds=n_folds, device=device, random_state=random_state)
    train = repeat_training_set(study)
    if train is not None:
        _report(progress, 0.4, f"encoding model on {len(train):,} training images ({n_folds}-fold CV)")
        model.fit(X[train], study.mean_responses(train))
        sessions = study.repeat_sessions()
        test = sessions.stimuli
        prediction = model.predict(X[test])
        measured, n_averaged = sessions.data, 1
        evaluation = (f"test split: {len(train):,} training images shown once, {len(test):,} test "
                      f"images scored on each of {len(sessions.data)} repeats (r averaged over repeats)")
    else:
        if study.n_stimuli < 2 * n_outer_folds:
            raise UserError(f"Study {study.name} has {study.n_stimuli} stimuli; {n_outer_folds}-fold "
                            f"cross-validation needs at least {2 * n_outer_folds}")
        Y = study.mean_responses()
        prediction = np.empty(Y.shape, np.float32)
        folds = list(KFold(n_outer_folds, shuffle=True, random_state=random_state).split(X))
        for k, (fold_train, fold_test) in enumerate(folds):
            _report(progress, 0.4 + 0.4 * k / len(folds), f"outer fold {k + 1}/{len(folds)}: encoding model on "
                                                          f"{len(fold_train):,} images ({n_folds}-fold CV)")
            prediction[fold_test] = model.fit(X[fold_train], np.asarray(Y[fold_train])).predict(X[fold_test])
        _report(progress, 0.8, f"encoding model on all {study.n_stimuli:,} images (saved)")
        model.fit(X, Y)
        measured, n_averaged = Y, None
        train, test = np.arange(study.n_stimuli), np.arange(study.n_stimuli)
        evaluation = (f"outer CV: {n_outer_folds} shuffled folds of {study.n_stimuli:,} images, each predicted by "
                      "a model fitted without it")
    _report(progress, 0.85, f"scores: r, {n_permutations} permutations, FDR; noise ceiling")
    scores = evaluate_predictions(measured, prediction, block_size=1, n_permutations=n_permutations,
                                  random_state=random_state, device=device)
    ceiling = study.noise_ceiling(n_averaged=n_averaged, random_state=random_state)
    _report(progress, 0.95, "accuracy per region of interest (each test image's term of the region-mean r)")
    roi_scores = _roi_scores(study, measured, prediction, test, ceiling.r, random_state)
    result = StudyScores(
        r=scores.r.astype(np.float32), r2=scores.r2.astype(np.float32), p=scores.p.astype(np.float32),
        q=scores.q.astype(np.float32), noise_ceiling=ceiling.r,
        normalized_accuracy=None if ceiling.r is None else
        normalized_accuracy(scores.r, ceiling.r, ceiling.reliable).astype(np.float32),
        meta={"study": study.describe(), "evaluation": evaluation, "features": source,
              "n_train": int(len(train)), "n_test": int(len(test)), "n_components": model.n_components_,
              "n_folds": n_folds, "n_permutations": n_permutations, "random_state": random_state,
              "ceiling": ceiling.method if ceiling.r is not None else ceiling.reason,
              "n_significant": int((scores.q < 0.05).sum()), "order": "columns of the imported responses"})
    out.mkdir(parents=True, exist_ok=True)
    maps = {name: getattr(result, name) for name in ("r", "r2", "p", "q", "noise_ceiling", "normalized_accuracy")}
    with atomic_open(out / "scores.npz") as handle:
        np.savez(handle, **{name: study.in_source_order(values) for name, values in maps.items()
                            if values is not None},
                 kept=np.isin(np.arange(study.n_source_columns), study.source_columns))
    (out / "experiment.json").write_text(json.dumps(result.meta, indent=1))
    save_result(roi_scores, out / "roi_scores")
    save_encoding_model(out / "encoding", model, {"layers": list(slices), "model": source, "reduction": "mean",
                                                  "study": study.name})
    _report(progress, 1.0, "done")
    return result
