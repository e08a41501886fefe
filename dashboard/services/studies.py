"""Your own studies in the browser: the Studies page (import, validation report, fit, remove), the study chosen in
the navbar, and the study's maps and predicted maps on the Cortical Maps and Virtual fMRI pages.

Studies live in ``core.studies``' store; an encoding model fitted on a study (``core.studies.run_study_experiment``)
lives in ``cache_folder("study_fits") / NAME / STAMP``, where STAMP digests the study's ``study.json``, so a study
removed and imported again under the same name never shows the old fit. A fit is written into a hidden sibling
folder and renamed into place, so a folder there is always a finished fit.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.errors import UserError, choices_text
from core.runtime import cache_folder
from dashboard.services._files import _check_upload_size, result_cache

__all__ = [
    "MAX_STUDY_ZIP_BYTES",
    "NO_STUDY_PAGES",
    "SIMULATED",
    "SIMULATED_LABEL",
    "STUDY_FORMATS",
    "STUDY_MAPS",
    "STUDY_PREDICTED_Q",
    "data_roots",
    "fit_study",
    "import_study_folder",
    "import_study_zip",
    "predict_study_image",
    "remove_study",
    "study_choices",
    "study_fit_summary",
    "study_image_choices",
    "study_label",
    "study_map",
    "study_predicted_map",
    "study_summaries",
    "study_roi_accuracy",
    "study_roi_classes",
]

#: Largest zipped study the Studies page accepts (bytes); base64 in the request adds a third, under the app's limit.
MAX_STUDY_ZIP_BYTES = 100 * 2**20

#: Formats the Studies page imports from a folder: format → what it reads.
STUDY_FORMATS = {
    "folder": "stimuli/ or stimuli.tsv + responses.* (npy, npz, dscalar, GIFTI, MGH, 4-D MNI NIfTI)",
    "algonauts2023": "one subject folder of the Algonauts 2023 challenge (NSD): training_split/, roi_masks/",
}

#: The label every page shows when no study is chosen.
SIMULATED_LABEL = "Simulated subject (declared ground truth)"

#: Pages that do not run on a chosen study: path → why.
NO_STUDY_PAGES = {
    "/identity-expression": "This page does not use your study: it compares face networks with face-region RDMs.",
}

#: Maps of a fitted study: name → (label, colour-bar title).
STUDY_MAPS = {
    "r": ("Prediction accuracy r (held-out images)", "r"),
    "q": ("FDR q of r (Benjamini–Hochberg)", "q"),
    "noise_ceiling": ("Noise ceiling r", "r"),
    "normalized_accuracy": ("Normalised accuracy r / noise ceiling", "r / ceiling"),
}

#: Vertices counted as predicted: FDR q below this.
STUDY_PREDICTED_Q = 0.05

_FITS = "study_fits"


# ---------------------------------------------------------------------------------------- the store


def data_roots() -> list[str]:
    """The folders the app may import studies from (``VFS_DATA_ROOTS``, separated by ``os.pathsep``)."""
    return [root for root in os.environ.get("VFS_DATA_ROOTS", "").split(os.pathsep) if root.strip()]


def _study(name: str, *, check_images: bool = False):
    from core.studies import load_study

    return load_study(name, check_images=check_images)


def _names() -> list[str]:
    from core.studies import list_studies

    return list_studies()


#: The study picker's value for the simulated subject (never a study name: those have no parentheses).
SIMULATED = "(simulated)"


def study_choices() -> list[dict]:
    """Options of the navbar's study picker: the simulated subject (:data:`SIMULATED`) then each imported study."""
    return [{"label": "Simulated subject", "value": SIMULATED}] + [{"label": name, "value": name} for name in _names()]


def study_label(name: str | None) -> str:
    """The one line each page shows: the simulated subject, or "Your data: NAME (format, space, n, n)"."""
    if not name or name == SIMULATED:
        return SIMULATED_LABEL
    return f"Your data: {_study(name).describe()}"


def _stamp(name: str) -> str:
    """Digest of the study's ``study.json`` (a new import of the same name has another); ``UserError`` when
    there is no such study."""
    from core.studies import check_study_name, studies_dir

    path = studies_dir() / check_study_name(name) / "study.json"
    if not path.is_file():
        raise UserError(f"There is no study named {name}: import it on the Studies page")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _fit_folder(name: str) -> Path:
    return cache_folder(_FITS) / name / _stamp(name)


def _fitted(name: str) -> Path | None:
    folder = _fit_folder(name)
    return folder if (folder / "encoding.json").is_file() else None


def study_fit_summary(name: str) -> str | None:
    """One sentence on the study's fitted encoding model, or None before it is fitted."""
    import json

    folder = _fitted(name)
    if folder is None:
        return None
    meta = json.loads((folder / "experiment.json").read_text())
    return (f"Fitted on {meta['features']} features: {meta['evaluation']}; {meta['n_components']} PCA components; "
            f"{meta['n_significant']:,} vertices predicted (FDR q < {STUDY_PREDICTED_Q:g}); noise ceiling: {meta['ceiling']}.")


def study_summaries() -> list[dict]:
    """Each imported study: ``name``, ``title`` (its one-line description), ``report`` (validation report lines)
    and ``fit`` (:func:`study_fit_summary`). A study whose folder cannot be read says so in ``report``."""
    summaries = []
    for name in _names():
        try:
            study = _study(name)
        except UserError as exc:
            summaries.append({"name": name, "title": name, "report": [str(exc)], "fit": None})
            continue
        summaries.append({"name": name, "title": study.describe(), "report": _report_lines(study),
                          "fit": study_fit_summary(name)})
    return summaries


def _report_lines(study) -> list[str]:
    """The validation report without the server path of the imported folder."""
    source = str(study.provenance.get("source", ""))
    shown = Path(source).name if source.startswith("/") else source
    return [line.replace(source, shown) if source else line for line in study.report()]


# ---------------------------------------------------------------------------------------- import, fit, remove


def _fractions(progress):
    """``(fraction, message)`` reports of ``core.studies`` onto a job's ``core.runtime.Progress``."""
    from dashboard.services._files import _reporter

    return _reporter(progress)


def import_study_folder(path: str, fmt: str, name: str, progress=None) -> str:
    """Import the folder ``path`` (inside an allowed root, :func:`data_roots`) as study ``name``; returns the name.

    Raises
    ------
    core.errors.UserError
        No allowed root, a folder outside them, an unknown format, a bad name or bad data (the importer's message).
    """
    from core.studies import check_study_name, import_study, resolve_in_allowed_roots

    if fmt not in STUDY_FORMATS:
        raise UserError(f"Unknown study format {fmt!r}; choose {choices_text(list(STUDY_FORMATS))}")
    check_study_name((name or "").strip())
    if not (path or "").strip():
        raise UserError("Give the study's folder (a path inside " + " or ".join(data_roots() or ["VFS_DATA_ROOTS"])
                        + ")")
    folder = resolve_in_allowed_roots(path.strip())
    if not folder.is_dir():
        raise UserError(f"{path.strip()} is a file; give the study's folder")
    import_study(fmt, folder, name.strip(), _fractions(progress), within=folder)
    return name.strip()


def import_study_zip(contents: str, filename: str, name: str, progress=None) -> str:
    """Import a zipped ``folder``-layout study sent by ``dcc.Upload`` (a base64 data URL) as study ``name``.

    Over :data:`MAX_STUDY_ZIP_BYTES`, not a zip, unsafe members or bad data: ``UserError`` naming the problem.
    """
    from core.studies import check_study_name, import_zip

    check_study_name((name or "").strip())
    filename = Path(filename or "upload.zip").name
    header, comma, payload = (contents or "").partition(",")
    if not comma or not header.startswith("data:"):
        raise UserError(f"Upload {filename} did not arrive complete; upload it again")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise UserError(f"Upload {filename} did not arrive intact (not valid base64); upload it again") from exc
    _check_upload_size(filename, len(data), MAX_STUDY_ZIP_BYTES)
    import_zip(data, name.strip(), _fractions(progress), archive_name=filename, max_bytes=MAX_STUDY_ZIP_BYTES)
    return name.strip()


def remove_study(name: str) -> None:
    """Remove a study and its fitted models."""
    from core.studies import check_study_name
    from core.studies import remove_study as remove

    remove(check_study_name(name))
    shutil.rmtree(cache_folder(_FITS) / name, ignore_errors=True)
    _fit_arrays.cache_clear()


#: The network of a study's encoding model (``core.studies.run_study_experiment``).
_STUDY_NETWORK = "resnet50"


def _shard_study_features(study, progress) -> list[dict]:
    """The study's features (``core.studies.study_features``: spatial means) computed chunk by chunk on the Celery
    workers and in this process, into the shared feature cache; ``progress`` fills the first half of the bar.
    Returns the chunks' reports (``services.shard_library_features``)."""
    from core.experiments import ENCODING_NETWORKS
    from dashboard.services.experiment import shard_library_features

    report = _fractions(progress)
    feature_set = (_STUDY_NETWORK, ENCODING_NETWORKS[_STUDY_NETWORK], [image.id for image in study.stimuli])
    return shard_library_features([feature_set], reduction="mean", study=study.name, progress=lambda done, total: (
        report(0.5 * done / total, f"features on the Celery workers: chunk {done}/{total}")))


def fit_study(name: str, progress=None, *, features=None, n_permutations: int = 1000) -> str:
    """Fit and score encoding models on study ``name`` (``core.studies.run_study_experiment``: ResNet-50 features
    through the feature cache, or a ``features`` file); returns the name. A finished fit is kept and not redone.

    With ``REDIS_URL`` set (and no ``features``), the features are first computed chunk by chunk on all the Celery
    workers (``dashboard.sharding``); the fit then reads them from the shared cache."""
    from core.runtime import span
    from core.studies import load_study
    from core.studies.experiment import run_study_experiment
    from core.studies.store import remove_stale_scratch

    study = load_study(name)
    target = _fit_folder(name)
    if (target / "encoding.json").is_file():
        return name
    if features is None and os.environ.get("REDIS_URL"):
        _shard_study_features(study, progress)
        progress = span(progress, 0.5, 1.0)  # the fit's own bar fills the second half
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(target.parent)  # fits of cancelled or killed jobs
    scratch = Path(tempfile.mkdtemp(prefix=f".fit-{os.getpid()}-", dir=target.parent))
    try:
        run_study_experiment(study, scratch, network=_STUDY_NETWORK, features=features,
                             n_permutations=n_permutations, progress=_fractions(progress))
        if not target.exists():
            os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return name


# ---------------------------------------------------------------------------------------- maps of a study


@functools.lru_cache(maxsize=4)
def _fit_arrays(folder: str) -> dict[str, np.ndarray]:
    with np.load(Path(folder) / "scores.npz", allow_pickle=False) as scores:
        return {key: scores[key] for key in scores.files}


def _require_fit(name: str):
    folder = _fitted(name)
    if folder is None:
        raise UserError(f"Study {name} has no fitted encoding model yet: press 'Fit encoding model' on the Studies "
                        "page")
    return folder


def study_map(name: str, map_name: str, *, predicted_only: bool = False) -> dict:
    """A map of study ``name``'s fit, as drawn: on fsLR-32k or fsaverage5 (``core.studies.Study.display_map``).

    Parameters
    ----------
    map_name : str
        A key of :data:`STUDY_MAPS`.
    predicted_only : bool
        Blank (NaN) the vertices not predicted (q ≥ :data:`STUDY_PREDICTED_Q`).

    Returns
    -------
    dict with ``values`` (59412,) or (20484,) float32 (NaN off the study), ``space``, ``available`` (False when
    the study has no such map, e.g. no noise ceiling; ``values`` is then None), ``reason`` (why not),
    ``n_predicted`` and ``n_vertices``.
    """
    if map_name not in STUDY_MAPS:
        raise ValueError(f"Unknown map={map_name!r}; choose from {sorted(STUDY_MAPS)}")
    import json

    folder = _require_fit(name)
    study = _study(name)
    arrays = _fit_arrays(str(folder))
    columns = study.source_columns
    predicted = arrays["q"][columns] < STUDY_PREDICTED_Q
    summary = {"n_predicted": int(predicted.sum()), "n_vertices": study.n_vertices}
    if map_name not in arrays:
        reason = json.loads((folder / "experiment.json").read_text())["ceiling"]
        return {"values": None, "space": None, "available": False, "reason": f"Noise ceiling {reason}", **summary}
    values = arrays[map_name][columns]
    if predicted_only:
        values = np.where(predicted, values, np.nan)
    drawn = study.display_map(values)
    return {"values": drawn.values, "space": drawn.space, "available": True, "reason": "", **summary}


# ---------------------------------------------------------------------------------------- virtual fMRI on a study


def study_image_choices() -> list[dict]:
    """The stimulus library's images (label: category — file), to be predicted with a study's model."""
    from core.stimuli import load_stimulus_library

    library = load_stimulus_library()
    order = sorted(range(len(library.ids)), key=lambda i: (library.labels[i], library.ids[i]))
    return [{"label": f"{library.labels[i]} — {Path(library.ids[i]).name}", "value": library.ids[i]} for i in order]


def _prediction_key(name: str, stimulus_id: str) -> tuple:
    return ("study-prediction/v1", name, _stamp(name), stimulus_id)


def predict_study_image(name: str, stimulus_id: str, progress=None) -> str:
    """Predict the library image ``stimulus_id`` (or an uploaded one, its ``save_upload`` value) with study ``name``'s
    encoding model (ResNet-50 run in this process: call it from a background job, which reads uploads from the
    upload folder, so on the machine of the web process); the map is cached for :func:`study_predicted_map`.
    Returns the id."""
    from core.stimuli import from_files, library_subset
    from core.virtual_fmri import ImagePredictor
    from dashboard.services.uploads import UPLOAD_PREFIX, _upload_path

    folder = _require_fit(name)
    key = _prediction_key(name, stimulus_id)
    if result_cache().get(key) is not None:
        return stimulus_id
    report = _fractions(progress)
    report(0.1, "loading ResNet-50 and the study's encoding model")
    predictor = ImagePredictor(folder / "encoding")
    report(0.5, f"predicting {Path(stimulus_id).name}")
    uploaded = stimulus_id.startswith(UPLOAD_PREFIX)
    maps = predictor.predict(from_files([_upload_path(stimulus_id)]) if uploaded else library_subset([stimulus_id]))
    if maps.skipped:
        raise UserError(f"{Path(stimulus_id).name} could not be read: {maps.skipped[0][1]}")
    result_cache().set(key, maps.maps[0].astype(np.float32), tag="study-prediction")
    report(1.0, "done")
    return stimulus_id


def study_predicted_map(name: str, stimulus_id: str) -> dict | None:
    """The cached predicted map of a library image under study ``name``'s model, as drawn (``values``, ``space``),
    or None before :func:`predict_study_image` ran for it."""
    values = result_cache().get(_prediction_key(name, stimulus_id))
    if values is None:
        return None
    drawn = _study(name).display_map(values)
    return {"values": drawn.values, "space": drawn.space}


# ---------------------------------------------------------------------------------------- ROI charts of a study


@functools.lru_cache(maxsize=8)
def _roi_sets(name: str, _stamp: str) -> tuple[dict, str]:
    from core.studies import study_roi_sets, study_roi_source

    study = _study(name)
    return study_roi_sets(study), study_roi_source(study)


def study_roi_classes(name: str) -> dict:
    """The ROI classes of study ``name`` (``core.studies.study_roi_sets``): its own mask classes, else Glasser's
    areas on fsLR-32k, else none.

    Returns
    -------
    dict with ``classes`` (list of str; empty when none) and ``source`` (a sentence: which atlas, or why there is
    none and how to import masks).
    """
    sets, source = _roi_sets(name, _stamp(name))
    return {"classes": list(sets), "source": source}


def _chart_regions(name: str, roi_class: str) -> tuple[dict, list[str] | None]:
    """The regions of ``roi_class`` a chart shows (name → study-vertex indices, in chart order) and their streams.

    Glasser's areas: those of the four visual streams (``core.cortex.ROI_STREAMS``), each area's left then right
    hemisphere side by side, with their streams; a study's own regions: all, in class order, streams None.
    """
    from core.cortex import ROI_STREAMS
    from core.studies import GLASSER

    sets, _ = _roi_sets(name, _stamp(name))
    if roi_class not in sets:
        raise UserError(f"Study {name} has no ROI class {roi_class!r}; choose {choices_text(list(sets))}"
                        if sets else f"Study {name} has no ROI masks")
    regions = sets[roi_class]
    if roi_class != GLASSER:
        return regions, None
    stream_of = {area: stream for stream, areas in ROI_STREAMS.items() for area in areas}
    shown = sorted((region for region in regions if region.split(" ", 1)[1] in stream_of),
                   key=lambda region: (list(stream_of).index(region.split(" ", 1)[1]), region))
    return {region: regions[region] for region in shown}, [stream_of[region.split(" ", 1)[1]] for region in shown]


@functools.lru_cache(maxsize=4)
def _roi_scores(folder: str):
    from core.studies.experiment import StudyRoiScores
    from core.workflows.store import load_result

    return load_result(Path(folder) / "roi_scores", StudyRoiScores)


def study_roi_accuracy(name: str, roi_class: str) -> dict:
    """Mean test r of each region of ``roi_class`` with its 95 % bootstrap interval over the test images and its
    mean noise ceiling, as the study's fit stored them (``core.studies.experiment.StudyRoiScores``).

    Returns
    -------
    dict with ``roi_names``, ``means``, ``ci_low``, ``ci_high`` (n_rois,), ``streams`` (Glasser: each area's
    visual stream; own masks: None), ``ceiling`` (n_rois,) or None when the study has no noise ceiling,
    ``n_test``, ``n_resamples`` and ``outer_cv`` (True when the fit scored every image by outer cross-validation:
    r pooled over folds then leans below 0 where nothing is predicted, about −0.15 for null regions at 120 images
    and 5 folds, so intervals there do not cover 0).

    Raises
    ------
    core.errors.UserError
        No fit yet, a fit without ROI scores (made by an earlier version), or an unknown class.
    """
    import json

    from core.workflows.store import is_stored

    folder = _require_fit(name)
    if not is_stored(folder / "roi_scores"):
        raise UserError(f"Study {name} was fitted by an earlier version, without ROI scores: remove it on the Studies "
                        "page, import it again and fit it to see ROI charts")
    scores = _roi_scores(str(folder))
    regions, streams = _chart_regions(name, roi_class)
    if roi_class not in scores.classes:
        raise UserError(f"Study {name}'s fit has no scores for the ROI class {roi_class!r}; fit it again")
    stored = scores.regions[roi_class]
    columns = [stored.index(region) for region in regions if region in stored]
    if streams is not None:
        streams = [stream for region, stream in zip(regions, streams, strict=True) if region in stored]
    ceiling = scores.ceiling[roi_class][columns]
    evaluation = json.loads((folder / "experiment.json").read_text())["evaluation"]
    return {"outer_cv": evaluation.startswith("outer CV"), "roi_names": [stored[k] for k in columns], "streams": streams,
            **{field: getattr(scores, field)[roi_class][columns] for field in ("means", "ci_low", "ci_high")},
            "ceiling": None if np.isnan(ceiling).all() else ceiling, "n_test": len(scores.test_stimuli),
            "n_resamples": scores.n_resamples}
