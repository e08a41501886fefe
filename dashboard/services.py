"""The only door from the dashboard to ``core``: loads inputs, calls core, caches on disk.

Results are cached with diskcache under the user cache folder, keyed by versioned names, so job
processes and the web process share them. Functions here return plain values (numpy arrays, dicts,
strings), never figures. Heavy modules (torch, the model zoo) are imported inside the functions that
need them, which run in background jobs, never at import.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import csv
import functools
import hashlib
import io
import json
import multiprocessing
import os
import re
import tempfile
import threading
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import diskcache
import numpy as np

from core import cortex, subject
from core.errors import UserError, choices_text
from core.files import atomic_open, private_dir
from core.models import RESNET50_WEN18
from core.runtime import PROGRESS_STEPS, span
from core.runtime import report as report_progress
from core.weights import cache_dir

__all__ = [
    "CORTEX_VIEWS",
    "cortex_mesh",
    "cortex_sulc",
    "declared_map",
    "declared_map_choices",
    "export_map",
    "result_cache",
    "subject_spec_summary",
    "vertex_info",
    "vertex_roi_names",
]

#: Cortex views offered by the pages: name → (core surface, figure view).
CORTEX_VIEWS = {
    "flat": ("flat", "flat"),
    "inflated": ("inflated", "inflated"),
    "very inflated": ("very_inflated", "inflated"),
}

EXPORT_FORMATS = ("gifti", "cifti")


@functools.cache
def result_cache() -> diskcache.Cache:
    """The on-disk cache shared by the web process and the job processes."""
    return diskcache.Cache(str(cache_dir() / "results"), size_limit=8 * 2**30)


def _check_view(view: str) -> tuple[str, str]:
    if view not in CORTEX_VIEWS:
        raise ValueError(f"Unknown view={view!r}; choose from {sorted(CORTEX_VIEWS)}")
    return CORTEX_VIEWS[view]


@functools.cache
def cortex_mesh(view: str) -> dict:
    """Plain mesh arrays of fsLR-32k for ``view`` (see ``dashboard.figures.cortex``)."""
    surface_name, _ = _check_view(view)
    return cortex.load_fslr32k(surface_name).to_plain()


def figure_view(view: str) -> str:
    """The figure factory's view ("flat" or "inflated") for a page view name."""
    return _check_view(view)[1]


@functools.cache
def cortex_sulc() -> np.ndarray:
    """Sulcal depth per grayordinate, (59412,)."""
    return cortex.load_fslr32k("inflated").sulc


@functools.cache
def vertex_roi_names() -> tuple[str, ...]:
    """Glasser area of every grayordinate (``"L_V1"``; ``""`` outside areas), length 59,412."""
    labels, names = cortex.roi_labels()
    return tuple(names[label] for label in labels)


#: The HCP-MMP1.0 area names (Glasser et al. 2016); source in data/README.md.
GLASSER_AREAS_CSV = Path(__file__).resolve().parents[1] / "data" / "glasser_areas.csv"


@functools.cache
def glasser_area_names() -> dict[str, str]:
    """Full name of each Glasser area by its short name (``"FFC"`` → ``"Fusiform Face Complex"``), 180 areas."""
    with open(GLASSER_AREAS_CSV, newline="", encoding="utf-8") as handle:
        return {row["area"]: row["long_name"] for row in csv.DictReader(handle)}


def area_label(roi_name: str) -> str:
    """``"L_FFC"`` or ``"FFC"`` → ``"FFC — Fusiform Face Complex"``; ``""`` → ``"no Glasser area"``."""
    area = roi_name.split("_", 1)[1] if roi_name[:2] in ("L_", "R_") else roi_name
    if not area:
        return "no Glasser area"
    full = glasser_area_names().get(area)
    return f"{area} — {full}" if full else area


@functools.cache
def vertex_area_labels() -> tuple[str, ...]:
    """Hover label of every grayordinate: its Glasser area with its full name (:func:`area_label`)."""
    labels, names = cortex.roi_labels()
    by_label = [area_label(name) for name in names]
    return tuple(by_label[label] for label in labels)


@functools.cache
def roi_border_mask() -> np.ndarray:
    """Grayordinates on a Glasser area border, (59412,) bool: of two neighbours (sharing a triangle edge of the
    inflated mesh) in different areas, the one with the higher area label, so each border is one vertex wide."""
    labels, _ = cortex.roi_labels()
    mesh = cortex_mesh("inflated")
    border = np.zeros(len(labels), bool)
    offset = 0
    for hemi in ("left", "right"):
        index = np.asarray(mesh[hemi]["vertex_index"])
        to_data = np.full(len(mesh[hemi]["vertices"]), -1)
        to_data[index] = np.arange(len(index)) + offset
        faces = to_data[np.asarray(mesh[hemi]["faces"])]
        for a, b in ((0, 1), (1, 2), (2, 0)):
            u, v = faces[:, a], faces[:, b]
            both = (u >= 0) & (v >= 0)
            u, v = u[both], v[both]
            differ = labels[u] != labels[v]
            border[np.where(labels[u] > labels[v], u, v)[differ]] = True
        offset += len(index)
    border.setflags(write=False)
    return border


@functools.cache
def _default_subject():
    return subject.load_default_subject()


def subject_spec_summary() -> str:
    """The default simulated subject's declared ground truth, as text."""
    return _default_subject().spec.summary()


def declared_map_choices() -> list[dict]:
    """Dropdown options of the subject's declared maps, plus sulcal depth."""
    options = [{"label": f"Ground truth: {description}", "value": name}
               for name, (description, _) in subject.DECLARED_MAPS.items()]
    return options + [{"label": "Anatomy: sulcal depth", "value": "sulcal_depth"}]


@functools.cache
def _declared_maps() -> dict[str, np.ndarray]:
    sim = _default_subject()
    maps = subject.declared_maps(sim.spec, sim.roi_vertices, sim.n_vertices)
    maps["sulcal_depth"] = cortex_sulc().astype(np.float32)
    return maps


def declared_map(name: str) -> np.ndarray:
    """One declared map of the default subject (or sulcal depth), (59412,) float32."""
    maps = _declared_maps()
    if name not in maps:
        raise ValueError(f"Unknown map={name!r}; choose from {sorted(maps)}")
    return maps[name]


def map_units(name: str) -> str:
    """Colour-bar title of a map (any ``cortex_map`` choice)."""
    family, _, rest = name.partition(":")
    if rest:
        return QUALITY_MAPS.get(rest, ("", ""))[1] if family == "quality" else _MAP_FAMILY_UNITS.get(family, "")
    return subject.DECLARED_MAPS.get(name, ("", "mm"))[1]


def vertex_info(view: str, trace: int, mesh_vertex: int, map_name: str) -> dict:
    """Grayordinate (fsaverage5 vertex for fsaverage5 maps), area and value under a clicked mesh vertex.

    Parameters
    ----------
    trace : int
        0 = left hemisphere, 1 = right hemisphere (the figure's trace order).
    mesh_vertex : int
        Vertex index within that hemisphere's mesh.
    """
    if trace not in (0, 1):
        raise ValueError(f"trace must be 0 (left) or 1 (right), got {trace}")
    hemi = ("left", "right")[trace]
    values = cortex_map(map_name)
    if len(values) == cortex.N_VERTICES["fsaverage5"]:
        index, area = mesh_vertex + trace * len(values) // 2, "fsaverage5 (no Glasser areas)"
    else:
        index = grayordinate_at(view, trace, mesh_vertex)
        if index is None:
            return {"hemisphere": hemi, "grayordinate": None, "area": "medial wall", "value": None}
        area = vertex_area_labels()[index]
    value = float(values[index])
    return {"hemisphere": hemi, "grayordinate": index, "area": area, "value": None if np.isnan(value) else value}


def export_map(name: str, fmt: str) -> tuple[str, bytes]:
    """Any ``cortex_map`` choice as a downloadable file: ``(filename, content)``; GIFTI is a zip of L/R files.

    fsLR-32k maps are written on the 32,492-vertex meshes, fsaverage5 maps on the 10,242-vertex meshes;
    NaN is written as 0.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown format={fmt!r}; choose from {list(EXPORT_FORMATS)}")
    values = np.nan_to_num(cortex_map(name), nan=0.0)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.")
    stem = name if len(values) == cortex.N_VERTICES["fsLR32k"] else f"{name}.fsaverage5"
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "cifti":
            path = cortex.save_cifti_dscalar(values, Path(tmp) / f"{stem}.dscalar.nii", names=[name])
            return path.name, path.read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in cortex.save_gifti(values, Path(tmp) / stem):
                zf.write(path, path.name)
        return f"{stem}.gifti.zip", buffer.getvalue()


# --------------------------------------------------------------------------------------- experiment

#: Maps of the default experiment shown on the Virtual fMRI page: name → (label, colour-bar units).
QUALITY_MAPS = {
    "r": ("Test r (mean over sessions)", "r"),
    "noise_ceiling": ("Noise ceiling (Monte-Carlo estimate)", "r"),
    "normalized_accuracy": ("Ceiling-normalised accuracy (reliable ceiling, predicted vertices; not clipped)",
                            "r / ceiling"),
    "best_layer": ("Best ResNet-50 layer (paper: other layers zeroed in the joint model)", "layer"),
    "best_layer_refit": ("Best ResNet-50 layer (one model refitted per layer, on vertices predicted in "
                         "cross-validation on the training images, q < 0.05; scored on the test images)", "layer"),
    "cv_r": ("Cross-validated r on the training images (nested CV; chooses the refit vertices)", "r"),
    "true_ceiling": ("True noise ceiling (known from the simulation)", "r"),
    "r2": ("Test R²", "R²"),
}


#: Quality maps whose values are ResNet-50 layer indices (shown 1-based, one colour band per layer).
LAYER_MAPS = ("best_layer", "best_layer_refit")
#: Layers a layer-number map can name: the paper's 18 ResNet-50 layers.
N_MAP_LAYERS = len(RESNET50_WEN18)


def is_layer_map(choice: str) -> bool:
    """Whether a map's values are ResNet-50 layer numbers 1..``N_MAP_LAYERS`` (one colour band per layer).

    ``choice`` is a quality-map name (``LAYER_MAPS``) or a Cortical Maps choice (``"home_layer"``,
    ``"quality:best_layer"``...).
    """
    return choice.removeprefix("quality:") in LAYER_MAPS or choice == "home_layer"


def experiment_settings() -> dict:
    """Settings of the default experiment; ``VFS_EXPERIMENT_MAX_IMAGES`` limits the library and
    ``VFS_EXPERIMENT_N_PERMUTATIONS`` the permutation test (tests, slow laptops)."""
    max_images = os.environ.get("VFS_EXPERIMENT_MAX_IMAGES")
    n_permutations = int(os.environ.get("VFS_EXPERIMENT_N_PERMUTATIONS", "1000"))
    return dict(n_repeats=10, test_fraction=0.2, n_folds=9, n_permutations=n_permutations,
                max_images=int(max_images) if max_images else None, random_state=0)


#: Networks the Virtual fMRI page fits encoding models on (keys of ``core.experiments.ENCODING_NETWORKS``).
ENCODING_NETWORK_NAMES = {"resnet50": "ResNet-50", "efficientnet_lite0": "EfficientNet-Lite0"}
#: The second model of the page's model comparison.
COMPARISON_NETWORK = "efficientnet_lite0"


def experiment_key(network: str = "resnet50") -> str:
    """Cache key of the default experiment with the current settings and encoding ``network``."""
    from core.experiments import experiment_key as key

    return key(network=network, **experiment_settings())


def run_experiment(progress=None, network: str = "resnet50") -> str:
    """Run (or load) the default experiment with encoding ``network``; for background jobs. Returns its key.

    With ``REDIS_URL`` set, the library features are first computed chunk by chunk on all the Celery
    workers (:func:`shard_library_features`); the experiment then reads them from the shared cache.
    """
    from core.experiments import run_default_experiment

    if os.environ.get("REDIS_URL") and experiment_result(experiment_key(network)) is None:
        shard_library_features(_experiment_feature_sets(network), progress=None if progress is None else (
            lambda done, total: progress(done, 2 * total, f"features on the Celery workers: chunk {done}/{total}")))
        progress = span(progress, 0.5, 1.0)  # the experiment's own bar fills the second half
    run_default_experiment(network=network, **experiment_settings(), progress=progress)
    return experiment_key(network)


def _experiment_feature_sets(network: str) -> list[tuple[str, list | str, tuple]]:
    """(network, layers, library image ids) of each feature extraction of the default experiment."""
    from core.experiments import experiment_feature_sets

    library, feature_sets = experiment_feature_sets(network=network, max_images=experiment_settings()["max_images"])
    return [(net, layers, library.ids) for net, layers in feature_sets]


def shard_library_features(feature_sets, *, progress=None) -> list[dict]:
    """Compute spatial-mean features of library images on the Celery workers of ``REDIS_URL`` and in this
    process, one task per feature-cache chunk (``dashboard.sharding``), into the shared cache, so that
    ``extract_features`` on the same images then only reads them.

    ``feature_sets``: ``(network, layers, library image ids)`` triples; ``progress(chunks done, total)``.
    Returns one report per chunk: ``{"chunk", "hostname", "seconds", "n_images"}``.
    """
    from dashboard.jobs import make_celery_app
    from dashboard.sharding import chunk_jobs, run_sharded

    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        raise ValueError("Sharded feature extraction needs REDIS_URL, the Redis of the Celery workers")
    jobs = [job for network, layers, ids in feature_sets for job in chunk_jobs(network, layers, ids)]
    return run_sharded(make_celery_app(redis_url), jobs, progress=progress)


def library_subset(stimulus_ids):
    """The stimulus library's images ``stimulus_ids`` (a ``StimulusSet`` in that order); unknown ids are a ValueError."""
    from core.stimuli import load_stimulus_library

    library = load_stimulus_library()
    position = {stimulus: i for i, stimulus in enumerate(library.ids)}
    missing = [i for i in stimulus_ids if i not in position]
    if missing:
        raise UserError(f"{len(missing)} images are no longer in the stimulus library (e.g. "
                        f"{choices_text(missing[:3], last='and')}); "
                         "re-run the experiment")
    return library.subset([position[i] for i in stimulus_ids])


def experiment_result(key: str):
    """The finished experiment ``key`` (``core.experiments.ExperimentResult``), or None."""
    from core.experiments import experiment_dir

    # the result's JSON is written last (atomically), so its presence marks a complete result
    if not (experiment_dir(key) / "result.json").is_file():
        return None
    # one load at a time: page callbacks run in threads, and np.load's header parsing (ast) is not
    # thread-safe in CPython 3.11 ("AST constructor recursion depth mismatch")
    with _experiment_lock:
        return _cached_experiment(key)


_experiment_lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def _cached_experiment(key: str):
    from core.experiments import load_experiment

    return load_experiment(key)


#: The vertices an encoding model predicts, by default (Wen et al. 2018): test FDR q below and r above.
PREDICTED_Q_MAX, PREDICTED_R_MIN = 0.01, 0.2
#: Maps shown only on the vertices the model predicts (``predicted_vertices``).
MASKED_QUALITY_MAPS = ("normalized_accuracy",)


def predicted_vertices(key: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> np.ndarray:
    """Vertices the encoding model of experiment ``key`` predicts: test FDR q < ``q_max`` and r > ``r_min``.

    Returns (59412,) bool. d′ and its summaries, and the normalised accuracy, are shown only there.
    """
    from core.rsa import predictable_vertices

    if not 0 < q_max <= 1 or not -1 <= r_min < 1:
        raise UserError(f"The predicted-vertex rule needs 0 < q ≤ 1 and -1 ≤ r < 1, got q < {q_max}, r > {r_min}")
    result = _require(key)
    return predictable_vertices(result.maps["r"], result.maps["q"], r_min=r_min, q_max=q_max)


def predicted_mask(q_max=None, r_min=None) -> dict:
    """``{"q_max", "r_min"}`` of the predicted-vertex rule from page inputs (numbers or numeric strings;
    None or "" gives the paper's default)."""
    try:
        return {"q_max": PREDICTED_Q_MAX if q_max in (None, "") else float(q_max),
                "r_min": PREDICTED_R_MIN if r_min in (None, "") else float(r_min)}
    except ValueError as exc:
        raise UserError(f"The predicted-vertex rule needs numbers, got q < {q_max} and r > {r_min}") from exc


def predicted_rule(q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> str:
    """The predicted-vertex rule in words, e.g. "FDR q < 0.01 and r > 0.2"."""
    return f"FDR q < {q_max:g} and r > {r_min:g}"


def _empty_rule_note(key: str, q_max: float) -> str:
    """Why no vertex may pass: permutation p-values cannot go below 1 / (n_permutations + 1)."""
    result = _require(key)
    n_permutations = int(result.meta.get("n_permutations", 0))
    if not n_permutations or q_max >= 1:
        return " Loosen the rule, or run the experiment with more images."
    p_min = 1 / (n_permutations + 1)
    needed = int(np.ceil(p_min * result.maps["q"].size / q_max))
    return (f" With {n_permutations:,} permutations the smallest test p is {p_min:.2g}, so FDR q < {q_max:g} needs "
            f"at least {needed:,} vertices at that p: choose a looser q (or 'any'), or run with more permutations.")


def quality_map(key: str, name: str, *, fdr: bool, q_max: float = PREDICTED_Q_MAX,
                r_min: float = PREDICTED_R_MIN) -> np.ndarray:
    """One model-quality map; with ``fdr``, vertices with q ≥ 0.05 are blanked (NaN). ``MASKED_QUALITY_MAPS``
    are also blanked off :func:`predicted_vertices` (``q_max``, ``r_min``); the normalised accuracy is
    NaN where the noise ceiling is not reliable and is never clipped."""
    if name not in QUALITY_MAPS:
        raise ValueError(f"Unknown map={name!r}; choose from {sorted(QUALITY_MAPS)}")
    result = _require(key)
    values = result.maps[name].astype(np.float32)
    if name in LAYER_MAPS:
        values = values + 1  # layers numbered 1..18 as in the paper
    if name in MASKED_QUALITY_MAPS:
        values = np.where(predicted_vertices(key, q_max=q_max, r_min=r_min), values, np.nan)
    if fdr:
        values = np.where(result.maps["q"] < 0.05, values, np.nan)
    return values


def normalized_accuracy_summary(key: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> str:
    """One sentence on the normalised-accuracy map: how many vertices it shows and how many exceed 1."""
    result = _require(key)
    predicted = predicted_vertices(key, q_max=q_max, r_min=r_min)
    reliable = np.isfinite(result.maps["normalized_accuracy"])  # NaN where the ceiling is not reliable
    values = result.maps["normalized_accuracy"][predicted & reliable]
    above = int((values > 1).sum())
    text = (f"Normalised accuracy on {values.size:,} vertices: predicted ({predicted_rule(q_max, r_min)}; "
            f"{int(predicted.sum()):,}) and with a reliable noise ceiling (repeat-reliability FDR q < "
            f"{result.meta['ceiling_q_level']:g}; {int(reliable.sum()):,}).")
    if above:
        text += (f" {above:,} exceed 1 (r above the estimated ceiling, itself an estimate): shown as they are, "
                 "not clipped.")
    if not predicted.any():
        text += _empty_rule_note(key, q_max)
    return text


def _require(key: str):
    result = experiment_result(key)
    if result is None:
        raise UserError("The default experiment has not been run yet: press 'Run experiment' on the Virtual fMRI "
                        "page")
    return result


#: Resamples of the per-ROI intervals and sign-flip tests over test images.
ROI_RESAMPLES = 10_000


def _roi_image_r(result) -> np.ndarray:
    """(n_test, n_rois) per-image terms of the ROI-mean test r for the driven areas (``_driven_roi_vertices``)."""
    rois = list(result.rois)
    return result.roi_image_r[:, [rois.index(name) for name in _driven_roi_vertices()]].astype(np.float64)


def roi_scores(key: str) -> dict:
    """Mean test r over the vertices of each driven Glasser area (both hemispheres pooled), with a 95 %
    bootstrap interval over the test images (each image's term of the area-mean r; vertices are not
    independent samples, images are).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``means``, ``ci_low``, ``ci_high`` and ``ceiling`` (n_rois,), and
    ``n_test``.
    """
    from core.stats import bootstrap_mean_interval

    result = _require(key)
    rois = _driven_roi_vertices()
    streams = {roi.name: roi.stream for roi in cortex.roi_table()}
    scores = _roi_image_r(result)
    low, high = bootstrap_mean_interval(scores, n_bootstraps=ROI_RESAMPLES, random_state=0)
    return {"roi_names": list(rois), "streams": [streams.get(n, "other") for n in rois],
            "means": scores.mean(axis=0), "ci_low": low, "ci_high": high, "n_test": int(scores.shape[0]),
            "ceiling": np.array([float(result.maps["noise_ceiling"][idx].mean()) for idx in rois.values()])}


def _area_vertices(name: str) -> np.ndarray | None:
    """Grayordinates of Glasser area ``name`` in both hemispheres, or None for an unknown area."""
    sim = _default_subject()
    parts = [sim.roi_vertices[(name, h)] for h in ("L", "R") if (name, h) in sim.roi_vertices]
    return np.concatenate(parts) if parts else None


@functools.cache
def _driven_roi_vertices() -> dict[str, np.ndarray]:
    """Grayordinates of each Glasser area the simulated subject drives (both hemispheres), by name."""
    return {name: _area_vertices(name) for name in sorted({d.roi for d in _default_subject().spec.drivers})}


def model_comparison(key_a: str, key_b: str) -> dict:
    """Per-ROI test r of two encoding models fitted to the same responses, compared over the test images.

    Each test image contributes one paired difference per area: its term of the area-mean r under model A
    minus that under model B (``core.encoding.roi_image_r``). A sign-flip permutation test over images
    (two-sided, ``ROI_RESAMPLES``) gives p, Holm-adjusted across the areas; a bootstrap over images gives
    the 95 % interval of the difference (``core.stats.compare_models_over_stimuli``).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``models`` (two display names), ``means``, ``ci_low`` and
    ``ci_high`` (2, n_rois): each model's area-mean r and interval, ``ceiling`` (n_rois,), ``difference``,
    ``difference_low``, ``difference_high``, ``p`` and ``p_holm`` (n_rois,), and ``n_test``.
    """
    from core.stats import compare_models_over_stimuli

    results = [_require(k) for k in (key_a, key_b)]
    if results[0].meta.get("test_responses") != results[1].meta.get("test_responses"):
        raise UserError("The two encoding models were not tested on the same responses; re-run both experiments")
    a, b = roi_scores(key_a), roi_scores(key_b)
    test = compare_models_over_stimuli(*(_roi_image_r(r) for r in results), n_permutations=ROI_RESAMPLES,
                                       n_bootstraps=ROI_RESAMPLES, random_state=0)
    return {"roi_names": a["roi_names"], "streams": a["streams"],
            "models": [ENCODING_NETWORK_NAMES[r.meta["network"]] for r in results],
            "means": np.stack([a["means"], b["means"]]), "ci_low": np.stack([a["ci_low"], b["ci_low"]]),
            "ci_high": np.stack([a["ci_high"], b["ci_high"]]), "ceiling": a["ceiling"],
            "difference": test.difference, "difference_low": test.ci_low, "difference_high": test.ci_high,
            "p": test.p, "p_holm": test.p_holm, "n_test": test.n_stimuli}


def library_choices(key: str) -> list[dict]:
    """Dropdown options of the library images of experiment ``key`` (label: category — id)."""
    result = _require(key)
    return [{"label": f"{label} — {Path(i).name}", "value": i}
            for i, label in zip(result.stimulus_ids, result.labels, strict=True)]


def predicted_map(key: str, stimulus_id: str) -> np.ndarray:
    """Predicted cortical map of a library image (its id) or an uploaded one (its :func:`save_upload` value).

    Library maps were computed by the experiment; an upload's map is computed by the warm predictor
    worker (:func:`start_predictor`) and cached. Returns (59412,) float32.
    """
    from core.experiments import predicted_maps

    if stimulus_id.startswith(UPLOAD_PREFIX):
        return _upload_map(key, stimulus_id)
    result = _require(key)
    if stimulus_id not in result.stimulus_ids:
        raise ValueError(f"Unknown image {stimulus_id!r} for this experiment")
    return np.asarray(predicted_maps(key)[result.stimulus_ids.index(stimulus_id)], dtype=np.float32)


def image_thumbnail(stimulus_id: str, size: int = 128) -> np.ndarray:
    """A library image (its id) or an uploaded one (its :func:`save_upload` value) as uint8 (size, size, 3)."""
    from core.stimuli import from_files, load_images, load_stimulus_library

    if stimulus_id.startswith(UPLOAD_PREFIX):
        return load_images(from_files([_upload_path(stimulus_id)]), [0], size=(size, size))[0]
    library = load_stimulus_library()
    if stimulus_id not in library.ids:
        raise ValueError(f"Unknown library image {stimulus_id!r}")
    return load_images(library, [library.ids.index(stimulus_id)], size=(size, size))[0]


# --------------------------------------------------------------------------------------- uploads (virtual fMRI)

#: Largest image accepted by the Virtual fMRI page's upload (bytes).
MAX_UPLOAD_BYTES = 10 * 2**20
#: Dropdown values of uploaded images start with this prefix.
UPLOAD_PREFIX = "upload:"
#: Longest wait for one prediction; covers a worker's cold start (torch, ResNet-50, the model).
PREDICTION_TIMEOUT_S = 300

class _WarmPredictors(dict):
    """Experiment key → its warm worker pool (at most one). Pickles as empty: background jobs pickle this
    module's globals (dill), and a process pool cannot be pickled."""

    def __reduce__(self):
        return (_WarmPredictors, ())


_predictor_lock = threading.Lock()
_predictor_pools = _WarmPredictors()


def _uploads_dir() -> Path:
    """The one folder holding uploaded images and maps: ``$VFS_UPLOADS``, else a private per-user folder in
    the system temporary directory; created with mode 0o700 (``core.files.private_dir``).

    Uploads are read by the web process and the prediction worker it starts on the same machine, never
    by background jobs, so the folder need not be shared with Celery workers on other machines.
    """
    default = Path(tempfile.gettempdir()) / f"virtual-fmri-studio-uploads-{os.getuid()}"
    return private_dir(os.environ.get("VFS_UPLOADS") or default)


def _inside(root: Path, path: Path, refusal: str) -> Path:
    """``path`` resolved, if it lies inside the folder ``root`` (not ``root`` itself); else ``UserError(refusal)``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()) or resolved == root.resolve():
        raise UserError(refusal)
    return resolved


def _finished_result(path: str, folder: str, missing: str, marker_suffix: str = "") -> Path:
    """A result path sent back by the browser, resolved: it must lie in ``cache_dir()/folder`` and its file
    (``path`` + ``marker_suffix``) must exist, else ``UserError(missing)``."""
    resolved = _inside(cache_dir() / folder, Path(path), missing)
    if not Path(f"{resolved}{marker_suffix}").exists():
        raise UserError(missing)
    return resolved


def _uploaded_file(name: str) -> Path:
    """``name`` resolved inside the uploads folder; ``ValueError`` if it points anywhere else."""
    root = _uploads_dir()
    return _inside(root, root / name, f"Upload {name!r} points outside the upload folder; refused")


def save_upload(contents: str, filename: str) -> dict:
    """Validate and store an image sent by ``dcc.Upload``; returns its dropdown option.

    Parameters
    ----------
    contents : str
        The upload's data URL, ``data:<type>;base64,<data>``.
    filename : str
        The name the browser sent.

    Returns
    -------
    dict
        ``{"label": ..., "value": "upload:<content hash>/<file name>"}``.

    Raises
    ------
    ValueError
        Not base64, over :data:`MAX_UPLOAD_BYTES`, not an image type or not decodable (the message
        says which, from ``core.stimuli.from_upload``).
    """
    from core.stimuli import from_upload

    header, comma, payload = (contents or "").partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise UserError(f"Upload {filename!r} did not arrive complete; upload it again")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise UserError(f"Upload {filename!r} did not arrive intact (not valid base64); upload it again") from exc
    folder = _uploaded_file(hashlib.sha256(data).hexdigest()[:16])
    folder.mkdir(exist_ok=True)
    try:
        stimuli = from_upload(data, filename or "upload", upload_dir=folder, max_bytes=MAX_UPLOAD_BYTES)
    except ValueError:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    return {"label": f"uploaded — {stimuli.ids[0]}", "value": f"{UPLOAD_PREFIX}{folder.name}/{stimuli.ids[0]}"}


def _upload_path(value: str) -> Path:
    gone = "That uploaded image is no longer on the server: upload it again"
    if not value.startswith(UPLOAD_PREFIX):
        raise UserError(gone)
    path = _uploaded_file(value.removeprefix(UPLOAD_PREFIX))
    if not path.is_file():
        raise UserError(gone)
    return path


def start_predictor(key: str) -> None:
    """Start, once, the warm worker that predicts uploaded images with experiment ``key``'s model.

    The worker is a single-process ``ProcessPoolExecutor`` ("spawn" context) whose initializer loads
    ResNet-50 and the fitted encoding model (``core.virtual_fmri.start_worker``); a first small
    prediction warms it up. Returns at once; the web process never imports torch. A worker of another
    experiment is shut down.
    """
    _predictor(key)


def _predictor(key: str) -> ProcessPoolExecutor:
    from core.experiments import encoding_model_path
    from core.virtual_fmri import predict_in_worker, start_worker

    _require(key)
    with _predictor_lock:
        pool = _predictor_pools.get(key)
        if pool is None:
            for old in _predictor_pools.values():
                old.shutdown(wait=False, cancel_futures=True)
            _predictor_pools.clear()
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=start_worker, initargs=(str(encoding_model_path(key)),))
            pool.submit(predict_in_worker, np.zeros((1, 32, 32, 3), np.uint8))
            _predictor_pools[key] = pool
        return pool


def stop_predictors() -> None:
    """Kill the warm prediction workers and drop their pools (a live worker keeps the interpreter from exiting).

    Returns once each pool's management thread has ended (it sees its killed workers and stops).
    """
    with _predictor_lock:
        for pool in _predictor_pools.values():
            for process in list((pool._processes or {}).values()):
                process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
        _predictor_pools.clear()


def _upload_map(key: str, value: str) -> np.ndarray:
    """Predicted map of an uploaded image with experiment ``key``'s model, through the worker; cached."""
    from core.stimuli import from_files
    from core.virtual_fmri import predict_in_worker

    path = _upload_path(value)
    cache_key = ("upload-map/v1", key, path.parent.name)
    values = result_cache().get(cache_key)
    if values is not None:
        return values
    pool = _predictor(key)
    try:
        values = pool.submit(predict_in_worker, from_files([path])).result(timeout=PREDICTION_TIMEOUT_S)[0]
    except BrokenProcessPool as exc:
        with _predictor_lock:
            if _predictor_pools.get(key) is pool:
                del _predictor_pools[key]
        raise UserError("The prediction worker stopped: it could not load ResNet-50 or the fitted model "
                         "(see the server log); the next upload starts a new one") from exc
    except concurrent.futures.TimeoutError as exc:
        raise UserError(f"The prediction took longer than {PREDICTION_TIMEOUT_S} s; try again") from exc
    result_cache().set(cache_key, values, tag="upload-map")
    return values


# --------------------------------------------------------------------------------------- selectivity

def category_choices(key: str) -> list[dict]:
    """Dropdown options: the maximum over categories, then each category."""
    result = _require(key)
    return [{"label": "max over categories (general selectivity)", "value": "__max__"}] + [
        {"label": c, "value": c} for c in result.categories]


def selectivity_map(key: str, category: str, *, q_max: float = PREDICTED_Q_MAX,
                    r_min: float = PREDICTED_R_MIN) -> np.ndarray:
    """d′ map of one category, or of the most selective category (``"__max__"``), (59412,); NaN off the
    vertices the model predicts (:func:`predicted_vertices`), where d′ of predicted responses means nothing."""
    result = _require(key)
    if category == "__max__":
        values = result.dprime.max(axis=0)
    elif category in result.categories:
        values = result.dprime[result.categories.index(category)]
    else:
        raise ValueError(f"Unknown category={category!r}; choose from {list(result.categories)}")
    return np.where(predicted_vertices(key, q_max=q_max, r_min=r_min), values, np.nan).astype(np.float32)


def selectivity_summary(key: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> str:
    """One sentence: on how many vertices d′ is shown, and by which rule."""
    n = int(predicted_vertices(key, q_max=q_max, r_min=r_min).sum())
    text = (f"d′ is shown on the {n:,} vertices the encoding model predicts ({predicted_rule(q_max, r_min)}); "
            "the rest is drawn as sulcal grey and left out of the area means and the CSV files.")
    if n == 0:
        text += " No vertex passes." + _empty_rule_note(key, q_max)
    return text


def top_categories_at(key: str, grayordinate: int, k: int = 10, *, q_max: float = PREDICTED_Q_MAX,
                      r_min: float = PREDICTED_R_MIN) -> tuple[list[str], np.ndarray]:
    """The ``k`` categories with the highest d′ at one vertex, best first; a ValueError off the predicted vertices."""
    from core.categories import top_categories

    result = _require(key)
    if not predicted_vertices(key, q_max=q_max, r_min=r_min)[grayordinate]:
        area = vertex_roi_names()[grayordinate] or "no area"
        raise UserError(f"The encoding model does not predict vertex {grayordinate} ({area}) by the rule "
                         f"{predicted_rule(q_max, r_min)}, so it has no category ranking; click a coloured vertex")
    column = result.dprime[:, [grayordinate]]
    order = top_categories(column, k=min(k, len(result.categories)))[0]
    return [result.categories[i] for i in order], column[order, 0]


def roi_selectivity(key: str, category: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> dict:
    """Mean ± SD of d′ over the predicted vertices of each Glasser area of the four visual streams; areas
    without a predicted vertex are left out.

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``means``, ``sds`` (SD over the area's predicted vertices, 0 for one
    vertex: a spread, not an error of the mean, since neighbouring vertices are not independent) and
    ``n_vertices``.
    """
    values = selectivity_map(key, category, q_max=q_max, r_min=r_min)
    areas = {}
    for roi in cortex.roi_table():
        if roi.stream != "other":
            areas.setdefault((roi.stream, roi.name), []).append(roi.grayordinates)
    out = {"roi_names": [], "streams": [], "means": [], "sds": [], "n_vertices": []}
    for (stream, name), parts in sorted(areas.items()):
        kept = values[np.concatenate(parts)]
        kept = kept[np.isfinite(kept)]
        if kept.size:
            out["roi_names"].append(name)
            out["streams"].append(stream)
            out["means"].append(float(kept.mean()))
            out["sds"].append(float(kept.std(ddof=1)) if kept.size > 1 else 0.0)
            out["n_vertices"].append(int(kept.size))
    return {**out, **{k: np.array(out[k], dtype=float) for k in ("means", "sds")},
            "n_vertices": np.array(out["n_vertices"], dtype=int)}


def grayordinate_at(view: str, trace: int, mesh_vertex: int) -> int | None:
    """Grayordinate under a clicked mesh vertex (None on the medial wall)."""
    mesh = cortex_mesh(view)
    hemi = ("left", "right")[trace]
    hits = np.flatnonzero(mesh[hemi]["vertex_index"] == mesh_vertex)
    if not hits.size:
        return None
    return int(hits[0]) + (0 if hemi == "left" else len(mesh["left"]["vertex_index"]))


# --------------------------------------------------------------------------------------- clustering

SEMANTIC_METHODS = {"wordnet_lch": "WordNet Leacock–Chodorow", "glove": "GloVe 6B-50d cosine",
                    "minilm": "MiniLM sentence-embedding cosine (word2vec stand-in)"}


def category_clustering(key: str) -> dict:
    """Inter-category similarity over predictable vertices, k-means + signed modularity, dendrogram.

    Predictable vertices follow the paper (FDR q < 0.01 and r > 0.2); when fewer than 100 exist the
    criterion is relaxed to q < 0.05 and r > 0, and the result says so. The maps are centred over
    categories before correlating (``core.rsa.category_similarity(centre=True)``), as the layer-wise
    and finer clusterings are, which removes the encoder's intercept common to every category. Q leaves
    the similarity's diagonal out (``core.clustering``). The p-value of the clustering is a spin test
    that re-runs it on rotated maps, too long for a request: :func:`run_cluster_analyses` computes it.
    """
    categories = _require(key).categories
    if len(categories) < 3:
        raise UserError(f"Clustering compares at least 3 categories; this experiment has {len(categories)} "
                        f"({choices_text(categories, last='and')}). Run it on a library with more categories.")
    return _category_clustering(key)


def _predictable_mask(result) -> tuple[np.ndarray, str]:
    """Predictable vertices of an experiment as the paper (q < 0.01, r > 0.2), relaxed when < 100 pass."""
    from core import rsa

    criterion = "q < 0.01 and r > 0.2 (as the paper)"
    mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.2, q_max=0.01)
    if mask.sum() < 100:
        criterion = "q < 0.05 and r > 0 (relaxed: fewer than 100 vertices passed q < 0.01, r > 0.2)"
        mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.0, q_max=0.05)
    if mask.sum() < 10:
        raise UserError(f"Only {int(mask.sum())} vertices are predictable (q < 0.05, r > 0): too few to compare "
                         "category maps. Run the experiment with more images.")
    return mask, criterion


@functools.cache
def _category_clustering(key: str) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from core import rsa
    from core.clustering import cluster_categories

    result = _require(key)
    mask, criterion = _predictable_mask(result)
    S = rsa.category_similarity(result.category_maps, mask=mask, centre=True)
    clustering = cluster_categories(S, k_range=_cluster_k_range(result), random_state=0)
    linkage, order = rsa.category_dendrogram(S)
    labels, groups = np.asarray(result.labels), np.asarray(result.groups)
    category_group = [max(set(groups[labels == c]), key=list(groups[labels == c]).count) for c in result.categories]
    return {"similarity": S, "categories": list(result.categories), "cluster_labels": clustering.labels,
            "k_values": clustering.k_values, "modularity": clustering.modularity, "best_k": clustering.best_k,
            "linkage": linkage, "order": order,
            "n_vertices": int(mask.sum()), "criterion": criterion, "groups": category_group,
            "ari": float(adjusted_rand_score(category_group, clustering.labels))}


def _cluster_k_range(result) -> range:
    """Numbers of clusters tried on an experiment's categories: 2..10, at most n_categories - 1."""
    return range(2, min(11, len(result.categories)))


#: Null samples of the clustering's spin test (each re-runs k-means for every k), and its rotation pool.
CLUSTER_SIGNIFICANCE_PERMUTATIONS = 10_000
CLUSTER_NULL_ROTATIONS = 300


def _cluster_significance(key: str, progress) -> dict:
    """p of the page's clustering: the spin test of ``core.clustering.clustering_significance``, seeded as the
    page's partition (``random_state=0``) so that the partition it tests is the one shown."""
    from core.clustering import clustering_significance, null_for_vertices

    result = _require(key)
    mask, _ = _predictable_mask(result)
    test = clustering_significance(
        result.category_maps, mask=mask, k_range=_cluster_k_range(result), random_state=0,
        n_permutations=CLUSTER_SIGNIFICANCE_PERMUTATIONS,
        null=null_for_vertices(result.category_maps.shape[1], n_rotations=CLUSTER_NULL_ROTATIONS),
        progress=lambda done, total: progress(done / total, f"clustering significance: null sample {done}/{total}"))
    return {"q": test.q, "p": test.p_value, "best_k": int(test.clustering.best_k),
            "n_permutations": test.n_permutations, "null": test.null,
            "null_q_95": float(np.quantile(test.null_q, 0.95))}


def semantic_comparison(key: str, method: str) -> dict:
    """Semantic vs cortical similarity of category pairs, with a label-permutation test (10,000)."""
    if method not in SEMANTIC_METHODS:
        raise ValueError(f"Unknown method={method!r}; choose from {sorted(SEMANTIC_METHODS)}")
    return _semantic_comparison(key, method)


@functools.cache
def _semantic_comparison(key: str, method: str) -> dict:
    from core.semantics import semantic_cortical_test, semantic_similarity

    clustering = category_clustering(key)
    categories = clustering["categories"]
    semantic = semantic_similarity(categories, method=method)
    if (~np.isnan(semantic.matrix).all(axis=1)).sum() < 3:
        raise UserError(f"Fewer than 3 categories have {SEMANTIC_METHODS[method]} vectors (missing: "
                        f"{choices_text(semantic.unknown, last='and')}); choose another semantic measure")
    test = semantic_cortical_test(semantic.matrix, clustering["similarity"], n_permutations=10_000, random_state=0)
    names = [categories[i] for i in test.categories]
    pairs = [f"{names[i]} – {names[j]}" for i in range(len(names)) for j in range(i + 1, len(names))]
    return {"x": test.semantic, "y": test.cortical, "pair_labels": pairs, "r": test.r, "p": test.p_value,
            "unknown": semantic.unknown, "label": SEMANTIC_METHODS[method]}


def cluster_average_map(key: str, cluster: int) -> np.ndarray:
    """Mean category map over the categories of one cluster, (59412,)."""
    clustering = category_clustering(key)
    members = np.flatnonzero(clustering["cluster_labels"] == cluster)
    if not members.size:
        raise ValueError(f"Cluster {cluster} is empty; clusters are 0..{clustering['best_k'] - 1}")
    return _require(key).category_maps[members].mean(axis=0)


# --------------------------------------------------------------------------------------- layer-wise, finer, features

#: Semantic measures of the layer-wise curves.
LAYERWISE_SEMANTICS = ("wordnet_lch", "glove")
#: Settings of the feature visualisations (ResNet-50 at this size, Gaussian-noise starts).
VISUALISATION_SETTINGS = {"n_starts": 4, "image_size": 128}


def _reporter(progress):
    """``report(fraction, message)`` onto a job's ``core.runtime.Progress``, or a no-op when it has none."""
    return lambda fraction, message: report_progress(progress, round(PROGRESS_STEPS * fraction), PROGRESS_STEPS,
                                                     message)


def _write_arrays_and_info(prefix: Path, arrays: dict, info: dict) -> None:
    """Write ``prefix.npz`` then ``prefix.json`` atomically; the json, written last, marks the result complete."""
    with atomic_open(prefix.with_suffix(".npz")) as handle:
        np.savez(handle, **arrays)
    with atomic_open(prefix.with_suffix(".json"), "w") as handle:
        handle.write(json.dumps(info))


def _read_arrays_and_info(prefix: Path) -> tuple[dict, dict]:
    """The arrays and the info written by :func:`_write_arrays_and_info`.

    One read at a time (as :func:`experiment_result`): page callbacks run in threads, and np.load's header parsing
    is not thread-safe in CPython 3.11 (two callbacks of the Identity page raised "AST constructor recursion depth
    mismatch").
    """
    info = json.loads(prefix.with_suffix(".json").read_text())
    with _experiment_lock, np.load(prefix.with_suffix(".npz"), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}, info


def _cluster_analyses_prefix(key: str) -> Path:
    return cache_dir() / "clustering" / f"{key}-layerwise-finer-v4"


def _library_features(result, network: str, layers: list, progress):
    """Spatial-mean features of the experiment's images, (n_images, n_features) in ``layers`` order, via the cache."""
    from core.encoding import stack_layer_features
    from core.network_features import network_features

    features = network_features(library_subset(result.stimulus_ids), network, layers, progress=progress)
    if features.stimulus_ids != tuple(result.stimulus_ids):
        raise UserError("Some library images could not be decoded; re-run the experiment")
    return stack_layer_features({layer: features[layer] for layer in layers})[0]


def _encoding_model(key: str):
    from core.encoding import load_encoding_model
    from core.experiments import experiment_dir

    return load_encoding_model(experiment_dir(key) / "encoding")


def run_cluster_analyses(key: str, progress=None) -> str:
    """Background job: the clustering's significance (spin test), layer-wise contribution (Q and semantic r
    per layer) and finer clustering of every cluster.

    Returns the result prefix (``.npz`` + ``.json``); a cached result is returned at once.
    """
    from core import rsa
    from core.categories import single_layer_category_maps
    from core.experiments import predicted_maps
    from core.semantics import semantic_similarity

    report = _reporter(progress)
    prefix = _cluster_analyses_prefix(key)
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    result = _require(key)
    clustering = category_clustering(key)
    significance = _cluster_significance(key, lambda fraction, message: report(0.3 * fraction, message))
    mask, _ = _predictable_mask(result)
    labels = np.asarray(result.labels)
    kept = np.isin(labels, result.categories)
    model = _encoding_model(key)
    network = model.meta.get("model", "resnet50")
    X = _library_features(result, network, list(model.pca.layer_slices_), lambda done, total: report(
        0.3 + 0.2 * done / total, f"{network} features: chunk {done}/{total}"))
    report(0.5, "category maps from each layer alone")
    layer_maps = single_layer_category_maps(model.pca, model.encoder, X[kept], labels[kept],
                                            categories=result.categories)
    report(0.6, "semantic similarities (WordNet, GloVe)")
    semantic = {m: semantic_similarity(list(result.categories), method=m).matrix for m in LAYERWISE_SEMANTICS}
    report(0.7, "clustering of each layer's category maps")
    layerwise = rsa.layerwise_clustering(layer_maps.maps, mask=mask, semantic=semantic,
                                         k_range=clustering["k_values"], random_state=0)
    arrays = {"modularity": layerwise.modularity, "best_k": layerwise.best_k,
              **{f"semantic_r:{m}": r for m, r in layerwise.semantic_r.items()}}
    info = {"layers": list(layer_maps.layers), "semantic": list(layerwise.semantic_r), "finer": {},
            "significance": significance}
    responses = np.asarray(predicted_maps(key)[kept], dtype=np.float32)
    for cluster in range(clustering["best_k"]):
        report(0.8 + 0.2 * cluster / clustering["best_k"], f"finer clustering of cluster {cluster}")
        members = [c for c, k in zip(result.categories, clustering["cluster_labels"], strict=True) if k == cluster]
        try:
            finer = rsa.finer_clustering(responses, labels[kept], members, random_state=0)
        except ValueError as exc:
            info["finer"][str(cluster)] = {"error": str(exc)}
            continue
        info["finer"][str(cluster)] = {"categories": list(finer.categories), "best_k": finer.clustering.best_k,
                                       "n_specific": int(finer.specific.sum())}
        for name, value in (("similarity", finer.similarity), ("labels", finer.clustering.labels),
                            ("linkage", finer.linkage), ("order", finer.order),
                            ("k_values", finer.clustering.k_values),
                            ("modularity", finer.clustering.modularity)):
            arrays[f"finer{cluster}:{name}"] = value
    prefix.parent.mkdir(parents=True, exist_ok=True)
    _write_arrays_and_info(prefix, arrays, info)
    report(1.0, "done")
    return str(prefix)


def cluster_analyses(key: str) -> dict | None:
    """The finished :func:`run_cluster_analyses` of experiment ``key`` as plain values, or None.

    ``significance``: ``q``, ``p``, ``best_k``, ``n_permutations``, ``null`` (its description) and ``null_q_95``
    (95th percentile of the null's best Q) of the page's clustering.
    """
    prefix = _cluster_analyses_prefix(key)
    if not prefix.with_suffix(".json").exists():
        return None
    arrays, info = _read_arrays_and_info(prefix)
    finer = {}
    for cluster, entry in info["finer"].items():
        finer[int(cluster)] = entry | {name.split(":")[1]: a for name, a in arrays.items()
                                       if name.startswith(f"finer{cluster}:")}
    return {"layers": info["layers"], "modularity": arrays["modularity"], "best_k": arrays["best_k"],
            "semantic_r": {m: arrays[f"semantic_r:{m}"] for m in info["semantic"]}, "finer": finer,
            "significance": info["significance"]}


def visualisation_targets(key: str) -> list[dict]:
    """Dropdown options of feature-visualisation targets: each cluster's average map, then each driven area."""
    clustering = category_clustering(key)
    names = np.asarray(clustering["categories"])
    clusters = [{"label": f"cluster {k}: " + ", ".join(names[clustering["cluster_labels"] == k]),
                 "value": f"cluster:{k}"} for k in range(clustering["best_k"])]
    return clusters + [{"label": f"area {area_label(name)} (mean of its vertices)", "value": f"roi:{name}"}
                       for name in _driven_roi_vertices()]


def _target_vertex_weights(key: str, target: str) -> np.ndarray:
    """Vertex weights of a visualisation target: a cluster's centred average map over predictable vertices, or 1/n on an area."""
    kind, _, name = target.partition(":")
    if kind == "cluster":
        clustering = category_clustering(key)
        if not name.isdigit() or int(name) >= clustering["best_k"]:
            raise ValueError(f"Unknown cluster {name!r}; clusters are 0..{clustering['best_k'] - 1}")
        result = _require(key)
        mask, _ = _predictable_mask(result)
        centred = cluster_average_map(key, int(name)) - result.category_maps.mean(axis=0)
        weights = np.where(mask, centred, 0.0)
        return weights / np.abs(weights).sum()
    idx = _area_vertices(name) if kind == "roi" else None
    if idx is None:
        raise ValueError(f"Unknown target={target!r}; use 'cluster:<k>' or 'roi:<area driven in the subject>'")
    weights = np.zeros(_default_subject().n_vertices)
    weights[idx] = 1.0 / idx.size
    return weights


def _visualisation_path(key: str, target: str, n_steps: int) -> Path:
    digest = hashlib.sha256(f"{target}|{n_steps}|{sorted(VISUALISATION_SETTINGS.items())}".encode()).hexdigest()[:12]
    return cache_dir() / "visualisations" / f"{key}-{digest}-v1.npz"


def run_feature_visualisation(key: str, target: str, n_steps: int, progress=None) -> str:
    """Background job: activation maximisation of a target's predicted response; returns the result path.

    The objective is the target's weighted predicted response through the network (ResNet-50) and the
    experiment's encoding model (``core.activation_maximisation``), from ``n_starts`` Gaussian-noise images.
    """
    from core.activation_maximisation import encoding_objective_weights, maximise_activation
    from core.models import build_model

    if not 10 <= int(n_steps) <= 1000:
        raise UserError(f"Steps must be a whole number from 10 to 1000 (got {n_steps})")
    path = _visualisation_path(key, target, int(n_steps))
    if path.exists():
        return str(path)
    weights = _target_vertex_weights(key, target)
    model = _encoding_model(key)
    layer_weights, offset = encoding_objective_weights(model.pca, model.encoder, weights)
    result = maximise_activation(
        build_model(model.meta.get("model", "resnet50")), layer_weights, n_steps=int(n_steps), random_state=0, **VISUALISATION_SETTINGS,
        objective_offset=offset, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        np.savez(handle, images=(result.images * 255).round().astype(np.uint8),
                 objective=result.objective + offset, target=np.array(target))
    return str(path)


def _target_label(target: str) -> str:
    """``"cluster:0"`` → ``"cluster 0"``, ``"roi:FFC"`` → ``"area FFC — Fusiform Face Complex"``."""
    kind, _, name = target.partition(":")
    return f"cluster {name}" if kind == "cluster" else f"area {area_label(name)}"


def feature_visualisation_result(path: str) -> dict:
    """A finished visualisation: ``images`` (n, h, w, 3) uint8, ``objective`` (n_steps + 1, n), ``target`` and
    its ``label`` for titles."""
    resolved = _finished_result(path, "visualisations", "No feature visualisation at that location: run it first")
    with _experiment_lock, np.load(resolved, allow_pickle=False) as data:  # see _read_arrays_and_info
        target = str(data["target"])
        return {"images": data["images"], "objective": data["objective"], "target": target,
                "label": _target_label(target)}


#: CSV exports of the RDM Clusters page's figures: name → label.
RDM_CLUSTERS_TABLES = {
    "similarity": "Category similarity matrix (heatmap)",
    "modularity": "Signed modularity Q vs k",
    "dendrogram": "Dendrogram linkage",
    "semantic": "Semantic vs cortical similarity (scatter)",
    "cluster_map": "Cluster-average map (per vertex)",
    "layerwise": "Q and semantic r vs layer",
    "finer": "Finer clustering of the chosen cluster",
    "visualisation": "Feature visualisation objective per step",
}
#: CSV exports of the Selectivity page's figures: name → label.
SELECTIVITY_TABLES = {
    "dprime_map": "d′ map (per vertex)",
    "top": "Top-10 categories of the clicked vertex",
    "roi": "Mean d′ per area",
}


def _matrix_table(matrix, names, extra: dict | None = None):
    import pandas as pd

    table = pd.DataFrame(np.asarray(matrix), columns=list(names))
    for column, values in (extra or {}).items():
        table.insert(0, column, values)
    table.insert(0, "category", list(names))
    return table


def _vertex_table(values, value_name: str):
    import pandas as pd

    return pd.DataFrame({"grayordinate": np.arange(len(values)), "area": vertex_roi_names(), value_name: values})


def rdm_clusters_table(key: str, name: str, *, method: str = "wordnet_lch", cluster: int = 0,
                       visualisation: str | None = None) -> tuple[str, str]:
    """The numbers behind one RDM Clusters figure as ``(filename, csv_text)``."""
    import pandas as pd

    if name not in RDM_CLUSTERS_TABLES:
        raise ValueError(f"Unknown figure={name!r}; choose from {sorted(RDM_CLUSTERS_TABLES)}")
    c = category_clustering(key)
    if name == "similarity":
        table = _matrix_table(c["similarity"], c["categories"], {"cluster": c["cluster_labels"]})
    elif name == "modularity":
        table = pd.DataFrame({"k": c["k_values"], "signed_modularity_Q": c["modularity"]})
    elif name == "dendrogram":
        table = pd.DataFrame(c["linkage"], columns=["node_a", "node_b", "distance", "n_leaves"])
    elif name == "semantic":
        s = semantic_comparison(key, method)
        table = pd.DataFrame({"pair": s["pair_labels"], f"semantic_{method}": s["x"], "cortical_r": s["y"]})
        name = f"semantic_{method}"
    elif name == "cluster_map":
        table = _vertex_table(cluster_average_map(key, cluster), "predicted")
        name = f"cluster{cluster}_map"
    else:
        table = _analysis_table(key, name, cluster, visualisation)
        name = f"finer_cluster{cluster}" if name == "finer" else name
    return f"{name}.csv", table.to_csv(index=False)


def _analysis_table(key: str, name: str, cluster: int, visualisation: str | None):
    import pandas as pd

    if name == "visualisation":
        if not visualisation:
            raise UserError("No feature visualisation yet: run one first")
        objective = feature_visualisation_result(visualisation)["objective"]
        return pd.DataFrame(objective, columns=[f"start_{i}" for i in range(objective.shape[1])]).rename_axis(
            "step").reset_index()
    analyses = cluster_analyses(key)
    if analyses is None:
        raise UserError("The layer-wise and finer clustering have not been computed yet: press 'Compute'")
    if name == "layerwise":
        return pd.DataFrame({"layer": analyses["layers"], "signed_modularity_Q": analyses["modularity"],
                             "best_k": analyses["best_k"],
                             **{f"semantic_r_{m}": r for m, r in analyses["semantic_r"].items()}})
    finer = analyses["finer"].get(int(cluster))
    if finer is None or "error" in finer:
        raise UserError(f"Cluster {cluster} has no finer clustering: {(finer or {}).get('error', 'unknown cluster')}")
    return _matrix_table(finer["similarity"], finer["categories"], {"sub_cluster": finer["labels"]})


def selectivity_table(key: str, name: str, *, category: str = "__max__", grayordinate: int | None = None,
                      q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> tuple[str, str]:
    """The numbers behind one Selectivity figure as ``(filename, csv_text)``: only the vertices the model
    predicts (:func:`predicted_vertices` with ``q_max``, ``r_min``)."""
    import pandas as pd

    if name not in SELECTIVITY_TABLES:
        raise ValueError(f"Unknown figure={name!r}; choose from {sorted(SELECTIVITY_TABLES)}")
    label = "max" if category == "__max__" else category.replace(" ", "_")
    rule = dict(q_max=q_max, r_min=r_min)
    if name == "dprime_map":
        table = _vertex_table(selectivity_map(key, category, **rule), "dprime").dropna(subset=["dprime"])
        return f"dprime_{label}.csv", table.to_csv(index=False)
    if name == "roi":
        rois = roi_selectivity(key, category, **rule)
        table = pd.DataFrame({"area": rois["roi_names"], "stream": rois["streams"], "mean_dprime": rois["means"],
                              "sd": rois["sds"], "n_predicted_vertices": rois["n_vertices"]})
        return f"roi_dprime_{label}.csv", table.to_csv(index=False)
    if grayordinate is None:
        raise UserError("Click a vertex on the map first")
    names, dprime = top_categories_at(key, int(grayordinate), **rule)
    table = pd.DataFrame({"rank": np.arange(1, len(names) + 1), "category": names, "dprime": dprime})
    return f"top_categories_vertex{int(grayordinate)}.csv", table.to_csv(index=False)


# --------------------------------------------------------------------------------------- reconstruction

#: Simulated SNRs of the accuracy-vs-SNR curve (signal variance / noise variance).
RECONSTRUCTION_SNRS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Smallest and largest number of generated faces of a reconstruction run.
RECONSTRUCTION_FACES = (40, 2000)
#: Training-set sizes of the accuracy-vs-size curve (those below the run's training set, then all of it).
RECONSTRUCTION_SIZES = (15, 30, 60, 120, 240, 480, 960)
#: Latent explorer: offsets along the male − female axis, in SDs of the training faces' codes on it.
EXPLORER_OFFSETS_SD = tuple(np.linspace(-2.5, 2.5, 11).round(2).tolist())
_RECONSTRUCTION_VOXELS = 200


def _reconstruction_path(n_faces: int, snr: float) -> Path:
    return cache_dir() / "reconstructions" / f"dcgan-n{int(n_faces)}-snr{float(snr):g}-v2.npz"


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
        strips[f"explorer:{name}"] = latent_traversal(space, result.decoded_codes[name][0], direction, offsets)
    return strips


def run_reconstruction(n_faces: int, snr: float, progress=None) -> str:
    """Background job: DCGAN faces → simulated brain patterns → reconstructions; returns the result path.

    The brain is the linear simulation of ``core.reconstruction.simulate_face_responses`` (200 voxels whose
    truth is the generator's latent code); gender labels are model-made by face-api's age-gender net. Besides
    the reconstructions the job computes pixel pairwise accuracy against training-set size and SNR (same split
    for the GAN and PCA) and the latent-explorer strips (:func:`_explorer_strips`).
    """
    from core.reconstruction import (
        accuracy_vs_snr,
        accuracy_vs_training_size,
        run_reconstruction_experiment,
        simulate_face_responses,
    )

    if not RECONSTRUCTION_FACES[0] <= int(n_faces) <= RECONSTRUCTION_FACES[1]:
        raise UserError(f"Faces must be a whole number from {RECONSTRUCTION_FACES[0]} to {RECONSTRUCTION_FACES[1]} "
                        f"(got {n_faces})")
    if not float(snr) > 0:
        raise UserError(f"The signal-to-noise ratio must be above 0 (got {snr})")
    path = _reconstruction_path(n_faces, snr)
    if path.exists():
        return str(path)
    report = _reporter(progress)
    report(0.0, "generating faces and gender labels")
    z, images, gender = _dcgan_faces_with_gender(n_faces)
    responses = simulate_face_responses(z, n_voxels=_RECONSTRUCTION_VOXELS, snr=float(snr), random_state=0)
    result = run_reconstruction_experiment(
        images, responses, latent="gan", gender=gender, random_state=0, latent_params={"random_state": 0},
        progress=lambda step, total, message: report(
            0.8 * step / total, f"training the image→latent encoder: step {step}/{total}, {message}"))
    train, test = result.train_idx, result.test_idx
    sizes = [s for s in RECONSTRUCTION_SIZES if s < len(train)] + [len(train)]
    size_curve = accuracy_vs_training_size(
        result.models, result.train_codes, responses[train], responses[test], result.originals, sizes=sizes,
        random_state=0, progress=lambda done, total: report(0.8 + 0.1 * done / total,
                                                            f"accuracy vs training faces: {done}/{total}"))
    snr_curve = accuracy_vs_snr(
        result.models, result.train_codes, z, train, test, result.originals, snrs=RECONSTRUCTION_SNRS,
        n_voxels=_RECONSTRUCTION_VOXELS, random_state=0,
        progress=lambda done, total: report(0.9 + 0.1 * done / total, f"accuracy vs SNR: {done}/{total}"))
    arrays = {"originals": result.originals, "gan": result.reconstructions["gan"],
              "pca": result.reconstructions["pca"], "test_gender": gender[test],
              **_explorer_strips(result, gender)}
    for curve in (size_curve, snr_curve):
        arrays[f"curve:{curve.variable}:x"] = curve.x
        arrays.update({f"curve:{curve.variable}:{model}": acc for model, acc in curve.accuracy.items()})
    for model, spaces in result.pairwise.items():
        for space, score in spaces.items():
            arrays[f"pairwise:{model}:{space}"] = np.array([score.accuracy, score.p_value])
    for model, decoding in result.gender.items():
        arrays[f"gender:{model}"] = np.array([decoding.accuracy, decoding.chance])
    with atomic_open(path) as handle:
        np.savez(handle, **arrays)
    return str(path)


_MODEL_LABELS = {"gan": "GAN latent", "pca": "PCA baseline"}


def reconstruction_result(path: str) -> dict:
    """A finished reconstruction run (from :func:`run_reconstruction`) as plain arrays and numbers.

    Keys: ``originals`` and ``reconstructions`` (label → (n_test, 64, 64, 3) floats in [0, 1]); ``pairwise``
    ((model, space) → [accuracy, p]); ``gender`` (model → [accuracy, chance]); ``curves`` (variable →
    {"x": (n_points,), "accuracy": {label: (n_points,)}}); ``explorer`` (label → (n_offsets, 64, 64, 3), empty
    when the training faces had one gender only).
    """
    resolved = _finished_result(path, "reconstructions",
                                "No reconstruction result at that location: run the reconstruction first")
    with _experiment_lock, np.load(resolved, allow_pickle=False) as data:  # see _read_arrays_and_info
        arrays = {name: data[name] for name in data.files}
    pairwise = {tuple(k.split(":")[1:]): v for k, v in arrays.items() if k.startswith("pairwise:")}
    gender = {k.split(":")[1]: v for k, v in arrays.items() if k.startswith("gender:")}
    curves = {}
    for key, values in arrays.items():
        if key.startswith("curve:"):
            _, variable, name = key.split(":")
            curve = curves.setdefault(variable, {"x": None, "accuracy": {}})
            if name == "x":
                curve["x"] = values
            else:
                curve["accuracy"][_MODEL_LABELS[name]] = values
    explorer = {_MODEL_LABELS[k.split(":")[1]]: v for k, v in arrays.items() if k.startswith("explorer:")}
    return {"originals": arrays["originals"],
            "reconstructions": {label: arrays[model] for model, label in _MODEL_LABELS.items()},
            "pairwise": pairwise, "gender": gender, "curves": curves, "explorer": explorer}


# --------------------------------------------------------------------------------------- faces

#: Regions of the simulated subject compared with the face networks (area_hemisphere).
FACE_REGIONS = ("FFC_R", "STSvp_R", "FFC_L", "V1_L", "PHA1_R")
#: Faces of the default set (12 generated identities × 4 variants).
N_DEFAULT_FACES = 48
#: The two networks of the identity − expression difference test, and its stimulus bootstraps.
FACE_DIFFERENCE_NETWORKS = ("face_identity", "face_expression")
FACE_DIFFERENCE_BOOTSTRAPS = 1000
#: Largest uploaded .npz of region responses (bytes, as sent and unpacked) and most regions in one.
MAX_FACE_UPLOAD_BYTES = 64 * 2**20
MAX_FACE_UPLOAD_REGIONS = 20
_REGION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,39}")


def _faces_path() -> Path:
    from core.subject import DEFAULT_SPEC_PATH

    spec = hashlib.sha256(DEFAULT_SPEC_PATH.read_bytes()).hexdigest()[:12]
    max_images = experiment_settings()["max_images"]
    return cache_dir() / "faces" / f"default-{spec}-{max_images}-v3"


def run_face_analysis(progress=None) -> str:
    """Background job: the identity vs expression analyses on the default face set; returns the result path.

    Faces: 48 DCGAN faces (12 generated identities × 4 variants) with model-made expression labels.
    Brain: the calibrated simulated subject's regions (4 noisy repetitions), whose declared drivers
    are the truth (FFC R ← identity net, STSvp R ← expression net). Layers are read as spatial means
    per channel, the representation the subject's regions are driven by. The comparisons and the
    identity − expression difference are :func:`_compare_face_regions`'s; every layer's RDM is kept
    (``network_rdms``) so that uploaded regions are compared with the same network RDMs.
    """
    from core import faces
    from core.experiments import calibrated_default_subject
    from core.models import build_model
    from core.rsa import compute_rdm

    report = _reporter(progress)
    prefix = _faces_path()
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    *_, subject, _, _, _ = calibrated_default_subject(max_images=experiment_settings()["max_images"],
                                                     progress=lambda done, total, m: report(0.5 * done / total, m))
    report(0.5, "generating and labelling the default faces")
    face_set = faces.make_default_face_set(N_DEFAULT_FACES, random_state=0)
    features, rdms = {}, {}
    for i, (name, network) in enumerate(faces.FACE_NETWORKS.items()):
        report(0.55 + 0.3 * i / len(faces.FACE_NETWORKS), f"{name}: layer features and RDMs")
        features[name] = faces.network_features(face_set, build_model(name), layers=network.layers,
                                                reduction=faces.SIMULATED_SUBJECT_REDUCTION)
        rdms[name] = {layer: compute_rdm(values, metric="correlation", pattern_labels=face_set.ids)
                      for layer, values in features[name].items()}
    report(0.85, "simulated region responses, comparisons, identity − expression bootstrap")
    brain = faces.simulated_region_rdms(subject, face_set, FACE_REGIONS, features=features, n_repeats=4,
                                        random_state=0)
    arrays, info = _compare_face_regions(brain, rdms, progress=lambda f, m: report(0.85 + 0.1 * f, m))
    n_layers = max(len(layers) for layers in info["layers"])
    network_rdms = np.full((len(rdms), n_layers, len(face_set) * (len(face_set) - 1) // 2), np.nan)
    for j, layers in enumerate(rdms.values()):
        for k, rdm in enumerate(layers.values()):
            network_rdms[j, k] = rdm.dissimilarities[0]
    arrays.update(images=np.asarray(face_set.images), network_rdms=network_rdms)
    info.update(ids=list(face_set.ids), identities=list(face_set.identities),
                expressions=list(face_set.expressions), label_sources=face_set.label_sources, notes=[])
    report(0.95, "decoding, congruence")
    for name in ("face_identity", "face_expression"):
        try:
            decoding = faces.decoding_transfer(features[name], face_set.identities, face_set.expressions)
            arrays[f"decode_identity:{name}"] = decoding.identity_accuracy
            arrays[f"decode_expression:{name}"] = decoding.expression_accuracy
            info[f"chance:{name}"] = [decoding.identity_chance, decoding.expression_chance]
            congruence = faces.subspace_congruence(features[name], face_set.identities, face_set.expressions)
            arrays[f"congruence:{name}"] = congruence.congruence
            arrays[f"congruence_chance:{name}"] = congruence.chance
        except ValueError as exc:
            info["notes"].append(f"{name}: {exc}")
    _write_arrays_and_info(prefix, arrays, info)
    report(1.0, "done")
    return str(prefix)


def _compare_face_regions(brain: dict, network_rdms: dict, progress=None) -> tuple[dict, dict]:
    """Every region against every network layer, and the identity − expression difference per region.

    Comparisons: Spearman r with 1,000 condition-label permutations (``core.faces.compare_networks_to_regions``).
    Difference: ``core.faces.identity_vs_expression_difference`` between the layer of the identity net and
    the layer of the expression net (``FACE_DIFFERENCE_NETWORKS``) that each best match the region (highest
    mean r), on 1,000 stimulus bootstraps seeded alike for every region (95 % percentile interval,
    two-sided p). The layers are chosen on all stimuli and kept in the bootstrap, so the interval does not
    include the layer choice, and the network with more layers (identity: 16, expression: 5) has more
    chances to match.

    Parameters
    ----------
    brain : dict of str to core.rsa.RDM
        Region → its RDM(s) (repetitions or subjects stacked).
    network_rdms : dict of str to (dict of str to core.rsa.RDM)
        Network → layer → RDM, over the same stimuli.
    progress : callable(fraction, message), optional

    Returns
    -------
    arrays : dict
        ``r``, ``p`` (n_regions, n_networks, n_layers_max); ``ceiling_lower``, ``ceiling_upper``,
        ``difference``, ``difference_low``, ``difference_high``, ``difference_p`` (n_regions,).
    info : dict
        ``regions``, ``networks``, ``layers``, ``difference_layers`` ([identity layer, expression layer]
        per region), ``difference_n_bootstrap``.
    """
    from core import faces

    comparison = faces.compare_networks_to_regions(brain, network_rdms, method="spearman", n_permutations=1000,
                                                   random_state=0)
    columns = [comparison.networks.index(net) for net in FACE_DIFFERENCE_NETWORKS]
    tests, chosen = [], []
    for i, region in enumerate(comparison.regions):
        if progress is not None:
            progress(i / len(comparison.regions), f"identity − expression bootstrap: {region}")
        layers = [comparison.layers[j][int(np.nanargmax(comparison.r[i, j]))] for j in columns]
        identity, expression = (network_rdms[net][layer] for net, layer in zip(FACE_DIFFERENCE_NETWORKS, layers,
                                                                                strict=True))
        tests.append(faces.identity_vs_expression_difference(
            {region: brain[region]}, identity, expression, method="spearman",
            n_bootstrap=FACE_DIFFERENCE_BOOTSTRAPS, random_state=0))
        chosen.append(layers)
    arrays = {"r": comparison.r, "p": comparison.p, "ceiling_lower": comparison.noise_ceiling_lower,
              "ceiling_upper": comparison.noise_ceiling_upper,
              **{f"difference{suffix}": np.concatenate([getattr(t, name) for t in tests])
                 for suffix, name in (("", "observed"), ("_low", "ci_low"), ("_high", "ci_high"), ("_p", "p"))}}
    info = {"regions": list(comparison.regions), "networks": list(comparison.networks),
            "layers": [list(layers) for layers in comparison.layers], "difference_layers": chosen,
            "difference_n_bootstrap": FACE_DIFFERENCE_BOOTSTRAPS}
    return arrays, info


def face_analysis_result(path: str) -> dict:
    """A finished face analysis (from :func:`run_face_analysis` or :func:`compare_uploaded_face_regions`)
    as plain arrays and lists."""
    prefix = _finished_result(path, "faces", "No face analysis at that location: run it first", ".json")
    arrays, info = _read_arrays_and_info(prefix)
    return info | arrays


def default_faces_zip(path: str) -> tuple[str, bytes]:
    """The analysis' faces for your own experiment: ``(file name, zip bytes)``.

    The zip holds ``NN_<id>.png`` (64 × 64 RGB) in stimulus order (NN = 00 … 47, the row order an
    uploaded .npz must follow), ``faces.csv`` (index, file, id, identity, expression) and ``README.txt``
    (where the labels come from).
    """
    from PIL import Image

    res = face_analysis_result(path)
    rows = ["index,file,id,identity,expression"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, (face_id, identity, expression) in enumerate(zip(res["ids"], res["identities"], res["expressions"],
                                                                strict=True)):
            png = io.BytesIO()
            Image.fromarray(res["images"][k]).save(png, format="PNG")
            name = f"{k:02d}_{face_id}.png"
            zf.writestr(name, png.getvalue())
            rows.append(f"{k},{name},{face_id},{identity},{expression}")
        zf.writestr("faces.csv", "\n".join(rows) + "\n")
        sources = "\n".join(f"- {label}: {source}" for label, source in res["label_sources"].items())
        zf.writestr("README.txt", f"{len(res['ids'])} faces of the Virtual fMRI Studio's default set, in stimulus "
                    "order (file names NN_<id>.png).\nUpload responses as an .npz with one array per region, of "
                    "shape (n_faces, n_channels) or (n_repeats_or_subjects, n_faces, n_channels), rows in this "
                    f"order.\nLabel sources (model-made labels are predictions, not human judgements):\n{sources}\n")
    return f"virtual-fmri-studio-faces-{len(res['ids'])}.zip", buffer.getvalue()


def read_face_patterns(data: bytes, filename: str) -> dict[str, np.ndarray]:
    """Check an uploaded .npz of region responses to the default faces.

    Parameters
    ----------
    data : bytes
        An .npz (``numpy.savez``) with one array per region, named by region (letters, digits, ``_``,
        ``-``, ``.``, space; at most 40 characters), each of shape (48, n_channels) or
        (n_repeats_or_subjects, 48, n_channels) with rows in the order of :func:`default_faces_zip`.
    filename : str
        For the messages.

    Returns
    -------
    dict of str to ndarray of shape (n_repeats_or_subjects, 48, n_channels), float32

    Raises
    ------
    ValueError
        Over :data:`MAX_FACE_UPLOAD_BYTES` (sent or unpacked), not an .npz, pickled (object) arrays, more
        than :data:`MAX_FACE_UPLOAD_REGIONS` regions, a bad name, a non-numeric array, a wrong shape or
        stimulus count, fewer than 2 channels, NaN/infinite values or a constant pattern.
    """
    name = Path(filename or "upload").name
    _check_upload_size(name, len(data), MAX_FACE_UPLOAD_BYTES)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        hint = (" It holds a single .npy array: save one array per region with numpy.savez(file, FFA=..., OFA=...)."
                if data.startswith(b"\x93NUMPY") else "")
        raise UserError(f"{name} is not an .npz file (numpy.savez).{hint}")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    if unpacked > MAX_FACE_UPLOAD_BYTES:
        raise UserError(f"{name} unpacks to {unpacked / 2**20:.1f} MiB; the limit is "
                         f"{MAX_FACE_UPLOAD_BYTES // 2**20} MiB")
    patterns = {}
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        regions = npz.files
        if not regions:
            raise UserError(f"{name} holds no arrays; give one array per region")
        if len(regions) > MAX_FACE_UPLOAD_REGIONS:
            raise UserError(f"{name} holds {len(regions)} arrays; upload at most {MAX_FACE_UPLOAD_REGIONS} regions")
        for region in regions:
            if not _REGION_NAME.fullmatch(region):
                raise UserError(f"Array name {region!r} in {name} is not a region name: use letters, digits, "
                                 "'_', '-', '.' or spaces, at most 40 characters")
            try:
                values = npz[region]
            except ValueError as exc:
                raise UserError(f"Region {region!r} in {name} holds Python objects, which are not loaded "
                                "(no pickle): save numbers only") from exc
            patterns[region] = _checked_face_pattern(region, values)
    return patterns


def _check_upload_size(name: str, n_bytes: int, limit: int) -> None:
    """``UserError`` "NAME is N MiB; the limit is M MiB" (the browser's wording too) when over ``limit`` bytes."""
    if n_bytes > limit:
        raise UserError(f"{name} is {n_bytes / 2**20:.1f} MiB; the limit is {limit // 2**20} MiB")


def _checked_face_pattern(region: str, values: np.ndarray) -> np.ndarray:
    """One uploaded region's responses as float32 (n_repeats_or_subjects, 48, n_channels); ValueError if unfit."""
    shapes = (f"(48, channels) or (repeats or subjects, 48, channels), got "
              f"({', '.join(map(str, values.shape))})")
    if values.dtype.kind not in "iuf":
        raise UserError(f"Region {region!r} does not hold numbers; give real numbers (float or int)")
    if values.ndim not in (2, 3) or 0 in values.shape:
        raise UserError(f"Region {region!r} must have shape {shapes}")
    if values.shape[-2] != N_DEFAULT_FACES:
        hint = " (stimuli must be the rows: transpose it)" if values.shape[-1] == N_DEFAULT_FACES else ""
        raise UserError(f"Region {region!r} has {values.shape[-2]} stimuli; the default face set has "
                         f"{N_DEFAULT_FACES}, in the order of the downloaded faces. Shape must be {shapes}{hint}")
    if values.shape[-1] < 2:
        raise UserError(f"Region {region!r} has 1 channel; the correlation distance needs at least 2")
    values = values.reshape(-1, *values.shape[-2:]).astype(np.float32)
    bad = np.count_nonzero(~np.isfinite(values))
    if bad:
        raise UserError(f"Region {region!r} has {bad} missing or infinite values (not numbers); remove or fill those channels")
    constant = np.argwhere(values.std(axis=-1) == 0)
    if len(constant):
        repeat, stimulus = constant[0]
        raise UserError(f"Region {region!r}: {len(constant)} stimulus pattern(s) are constant across channels "
                         f"(first: stimulus {stimulus}, repeat {repeat}); their correlation distance is undefined")
    return values


def compare_uploaded_face_regions(data: bytes, filename: str, analysis: str | None, progress=None) -> str:
    """Background job: uploaded region responses vs the network RDMs of a finished face analysis.

    The file is checked by :func:`read_face_patterns`; each region's RDMs (correlation distance, one per
    repeat or subject) are compared as in the default analysis (:func:`_compare_face_regions`), with the
    network RDMs that analysis cached. The result (keyed by the file's content and the analysis) is
    cached beside it; returns its path for :func:`face_analysis_result`.
    """
    from core import faces
    from core.rsa import RDM

    report = _reporter(progress)
    if not analysis:
        raise UserError("Run the analysis first: uploaded regions are compared with its network RDMs "
                         "(same 48 faces)")
    res = face_analysis_result(analysis)
    report(0.0, "checking the file")
    patterns = read_face_patterns(data, filename)
    digest = hashlib.sha256(data).hexdigest()[:16]
    prefix = cache_dir() / "faces" / "uploads" / f"{digest}-{Path(analysis).name}"
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    labels = tuple(res["ids"])
    network_rdms = {net: {layer: RDM(res["network_rdms"][j, k], "correlation", labels)
                          for k, layer in enumerate(res["layers"][j])} for j, net in enumerate(res["networks"])}
    report(0.05, "region RDMs")
    brain = faces.brain_rdms_from_patterns(patterns, pattern_labels=labels)
    arrays, info = _compare_face_regions(brain, network_rdms, progress=lambda f, m: report(0.1 + 0.9 * f, m))
    info.update(filename=Path(filename or "upload").name,
                shapes={region: list(values.shape) for region, values in patterns.items()})
    _write_arrays_and_info(prefix, arrays, info)
    report(1.0, "done")
    return str(prefix)


def _face_region_grayordinates() -> dict[str, np.ndarray]:
    """Grayordinates of each ``FACE_REGIONS`` entry ("FFC_R" is the area "R_FFC")."""
    names = np.asarray(vertex_roi_names())
    return {region: np.flatnonzero(names == "{1}_{0}".format(*region.rsplit("_", 1))) for region in FACE_REGIONS}


def face_regions() -> list[dict]:
    """The face-analysis regions of the default subject: ``region``, declared ``driver``, ``n_vertices``."""
    spec = _default_subject().spec
    rows = []
    for region, vertices in _face_region_grayordinates().items():
        area, hemisphere = region.rsplit("_", 1)
        drivers = [f"{d.network}:{d.layer}" for d in spec.drivers if d.roi == area and d.hemisphere in (None, hemisphere)]
        rows.append({"region": region, "driver": "; ".join(drivers) or "not driven", "n_vertices": int(len(vertices))})
    return rows


def face_region_map(selected: str) -> np.ndarray:
    """fsLR-32k map of the face regions: 2 in ``selected``, 1 in the others, NaN elsewhere; (59412,) float32."""
    if selected not in FACE_REGIONS:
        raise ValueError(f"Unknown region={selected!r}; choose from {list(FACE_REGIONS)}")
    values = np.full(cortex.N_VERTICES["fsLR32k"], np.nan, dtype=np.float32)
    for region, vertices in _face_region_grayordinates().items():
        values[vertices] = 2.0 if region == selected else 1.0
    return values


def face_region_at(view: str, trace: int, mesh_vertex: int) -> str | None:
    """The ``FACE_REGIONS`` entry under a clicked mesh vertex (trace 0 = left, 1 = right), or None."""
    index = grayordinate_at(view, trace, mesh_vertex)
    if index is None:
        return None
    hemisphere, _, area = vertex_roi_names()[index].partition("_")
    region = f"{area}_{hemisphere}"
    return region if region in FACE_REGIONS else None


# --------------------------------------------------------------------------------------- cortical maps page

#: Colour-bar titles of the computed and uploaded map families (quality maps use ``QUALITY_MAPS``).
_MAP_FAMILY_UNITS = {"dprime": "d′", "category": "a.u.", "predicted": "a.u.", "upload": "value"}

#: Largest uploaded file and most maps per upload on the Cortical Maps page.
MAX_MAP_UPLOAD_BYTES = 64 * 2**20
MAX_UPLOAD_MAPS = 50

_UPLOAD_CHOICE = re.compile(r"upload:([0-9a-f]{16}):([0-9]+)")
_LEFT_NAME = re.compile(r"(^|[._-])(l|lh|left|hemi-l)[._-]", re.IGNORECASE)
_RIGHT_NAME = re.compile(r"(^|[._-])(r|rh|right|hemi-r)[._-]", re.IGNORECASE)


def category_map(key: str, category: str) -> np.ndarray:
    """Mean predicted map over the library images of one category, (59412,)."""
    result = _require(key)
    if category not in result.categories:
        raise ValueError(f"Unknown category={category!r}; choose from {list(result.categories)}")
    return result.category_maps[result.categories.index(category)]


#: Computed-map families of the default experiment: choice prefix → (key, name) → map.
_COMPUTED_MAPS = {
    "quality": lambda key, name: quality_map(key, name, fdr=False),
    "dprime": selectivity_map,
    "category": category_map,
    "predicted": predicted_map,
}


def computed_map_choices(key: str) -> list[dict]:
    """Dropdown options of every map computed by experiment ``key``; [] before it has run.

    Values are ``"<family>:<name>"`` with the families of ``_COMPUTED_MAPS``: quality maps
    (``QUALITY_MAPS``), d′ per category (``"__max__"`` = maximum over categories), category maps
    and the predicted map of each library image.
    """
    result = experiment_result(key)
    if result is None:
        return []
    options = [{"label": label, "value": f"quality:{name}"} for name, (label, _) in QUALITY_MAPS.items()]
    options += [{"label": f"Selectivity d′: {o['label']}", "value": f"dprime:{o['value']}"}
                for o in category_choices(key)]
    options += [{"label": f"Category map (mean predicted response): {c}", "value": f"category:{c}"}
                for c in result.categories]
    return options + [{"label": f"Predicted response: {o['label']}", "value": f"predicted:{o['value']}"}
                      for o in library_choices(key)]


#: Kinds of maps on the Cortical Maps page: a choice's family (the part before ":", "declared" without one) → label.
MAP_KINDS = {"declared": "Ground truth (simulated subject)", "quality": "Model quality",
             "dprime": "Selectivity d′", "category": "Category maps", "predicted": "Predicted response per image",
             "upload": "Uploaded maps"}


def map_kind(choice: str) -> str:
    """The ``MAP_KINDS`` key of a map choice."""
    family, _, name = choice.partition(":")
    return family if name else "declared"


def computed_map_groups(key: str) -> dict[str, list[dict]]:
    """``computed_map_choices`` of experiment ``key`` by kind ({} before it has run).

    The predicted maps are ordered by category, each category opened by a disabled header option
    (``"── face (500 images) ──"``), and labelled ``"<category> — <image>"`` so that typing a category finds them.
    """
    result = experiment_result(key)
    if result is None:
        return {}
    groups = {kind: [] for kind in ("quality", "dprime", "category")}
    for option in computed_map_choices(key):
        if map_kind(option["value"]) in groups:
            label = option["label"].removeprefix("Selectivity d′: ").removeprefix(
                "Category map (mean predicted response): ")
            groups[map_kind(option["value"])].append({**option, "label": label})
    by_category = {}
    for stimulus_id, label in zip(result.stimulus_ids, result.labels, strict=True):
        by_category.setdefault(label, []).append(stimulus_id)
    groups["predicted"] = [
        option for category, ids in sorted(by_category.items())
        for option in [{"label": f"── {category} ({len(ids)} images) ──", "value": f"__{category}__",
                        "disabled": True},
                       *({"label": f"{category} — {Path(i).name}", "value": f"predicted:{i}"} for i in ids)]]
    return groups


def cortex_map(choice: str) -> np.ndarray:
    """Any map the Cortical Maps page offers, float32 of shape (59412,) fsLR-32k or (20484,) fsaverage5.

    ``choice`` is a declared map name (``declared_map_choices``), a ``computed_map_choices`` value of
    the default experiment or an uploaded map (``save_uploaded_maps``).
    """
    family, _, name = choice.partition(":")
    if not name:
        return declared_map(choice)
    if family == "upload":
        return _uploaded_map(choice)
    if family not in _COMPUTED_MAPS:
        raise ValueError(f"Unknown map={choice!r}; map families are {sorted(_COMPUTED_MAPS) + ['upload']}")
    return np.asarray(_COMPUTED_MAPS[family](experiment_key(), name), dtype=np.float32)


@functools.cache
def _fsaverage5_plain(surface: str) -> tuple[dict, np.ndarray]:
    loaded = cortex.load_fsaverage5(surface)
    return loaded.to_plain(), loaded.sulc


def map_surface(n_values: int, view: str) -> dict:
    """Where a map of ``n_values`` values is drawn in page view ``view``.

    Returns
    -------
    dict with ``space`` ("fsLR32k" or "fsaverage5"), ``mesh`` (plain arrays), ``sulc`` (n_values,),
    ``vertex_names`` (Glasser area with its full name per vertex, :func:`vertex_area_labels`), ``borders``
    (:func:`roi_border_mask`) and ``figure_view``. fsaverage5 has no Glasser areas (names and borders are
    None) and no very inflated surface; its inflated one is shown instead.
    """
    surface_name, figure = _check_view(view)
    if n_values == cortex.N_VERTICES["fsLR32k"]:
        return {"space": "fsLR32k", "mesh": cortex_mesh(view), "sulc": cortex_sulc(),
                "vertex_names": vertex_area_labels(), "borders": roi_border_mask(), "figure_view": figure}
    if n_values == cortex.N_VERTICES["fsaverage5"]:
        mesh, sulc = _fsaverage5_plain("flat" if surface_name == "flat" else "inflated")
        return {"space": "fsaverage5", "mesh": mesh, "sulc": sulc, "vertex_names": None, "borders": None,
                "figure_view": figure}
    raise ValueError(f"A map with {n_values} values fits no surface; choose from {cortex.N_VERTICES}")


def _order_gifti_pair(names: list[str]) -> list[int]:
    """Indices of the left then the right file of an uploaded GIFTI pair, from their names."""
    left = [i for i, n in enumerate(names) if _LEFT_NAME.search(n)]
    right = [i for i, n in enumerate(names) if _RIGHT_NAME.search(n)]
    if len(left) != 1 or len(right) != 1 or left == right:
        raise UserError(f"Cannot tell left from right in {choices_text(names, last='and')}: name the files with "
                        ".L./.R., lh/rh or "
                         "hemi-L/hemi-R")
    return [left[0], right[0]]


def save_uploaded_maps(files: list[tuple[str, bytes]]) -> list[dict]:
    """Read an uploaded map file (or a left + right GIFTI pair) and keep it in the cache.

    Files are read by ``core.cortex.load_brain_data`` (CIFTI, GIFTI, npz, mat, NIfTI volumes, which
    are projected onto fsaverage5), so the checks and messages are core's: vertex count, NaN.

    Parameters
    ----------
    files : list of (filename, content)
        One file, or the two hemispheres of a GIFTI map; each at most ``MAX_MAP_UPLOAD_BYTES``.

    Returns
    -------
    list of dict
        Dropdown options, one per map in the file (at most ``MAX_UPLOAD_MAPS``), values
        ``"upload:<content digest>:<map index>"`` for ``cortex_map``.
    """
    if not 1 <= len(files) <= 2:
        raise UserError(f"Upload one map file, or the left and right GIFTI files together; got {len(files)} files")
    names = [Path(name).name for name, _ in files]
    for name, (sent, content) in zip(names, files, strict=True):
        if name in ("", ".", ".."):
            raise UserError(f"Upload file name {sent!r} names no file")
        _check_upload_size(name, len(content), MAX_MAP_UPLOAD_BYTES)
    if len(files) == 1 and names[0].lower().endswith(".gii"):
        raise UserError(f"{names[0]} is one hemisphere: upload the left and right GIFTI files together")
    order = _order_gifti_pair(names) if len(files) == 2 else [0]
    with tempfile.TemporaryDirectory(dir=_uploads_dir()) as tmp:
        paths = []
        for i in order:
            paths.append(Path(tmp) / names[i])
            paths[-1].write_bytes(files[i][1])
        data = cortex.load_brain_data(paths[0], path_right=paths[1] if len(paths) == 2 else None)
    if len(data) > MAX_UPLOAD_MAPS:
        raise UserError(f"{names[order[0]]} holds {len(data)} maps; upload at most {MAX_UPLOAD_MAPS} "
                         "(summary maps, not a time series)")
    digest = hashlib.sha256(b"".join(files[i][1] for i in order)).hexdigest()[:16]
    with atomic_open(_uploaded_file(f"{digest}.npy")) as handle:
        np.save(handle, data, allow_pickle=False)
    label = " + ".join(names[i] for i in order)
    space = "" if data.shape[1] == cortex.N_VERTICES["fsLR32k"] else " (fsaverage5)"
    return [{"label": f"{label}{space}" + (f" [map {i + 1} of {len(data)}]" if len(data) > 1 else ""),
             "value": f"upload:{digest}:{i}"} for i in range(len(data))]


def _uploaded_map(choice: str) -> np.ndarray:
    match = _UPLOAD_CHOICE.fullmatch(choice)
    if match is None:
        raise ValueError(f"Malformed uploaded map {choice!r}; expected 'upload:<16 hex digits>:<index>'")
    path = _uploaded_file(f"{match[1]}.npy")
    if not path.exists():
        raise UserError("That uploaded map is no longer on the server: upload the file again")
    with _experiment_lock:  # see _read_arrays_and_info
        maps = np.load(path, mmap_mode="r", allow_pickle=False)
    index = int(match[2])
    if index >= len(maps):
        raise UserError(f"The upload holds {len(maps)} maps; there is no map {index + 1}")
    return np.array(maps[index], dtype=np.float32)
