"""The only door from the dashboard to ``core``: loads inputs, calls core, caches on disk.

Results are cached with diskcache under the user cache folder, keyed by versioned names, so job
processes and the web process share them. Functions here return plain values (numpy arrays, dicts,
strings), never figures. Heavy modules (torch, the model zoo) are imported inside the functions that
need them, which run in background jobs, never at import.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import diskcache
import numpy as np

from core import cortex, subject
from core.files import atomic_open
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
    """Colour-bar title of a map."""
    return subject.DECLARED_MAPS.get(name, ("", "mm"))[1]


def vertex_info(view: str, trace: int, mesh_vertex: int, map_name: str) -> dict:
    """Grayordinate, area and declared-map value under a clicked mesh vertex.

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
    index = grayordinate_at(view, trace, mesh_vertex)
    if index is None:
        return {"hemisphere": hemi, "grayordinate": None, "area": "medial wall", "value": None}
    value = float(declared_map(map_name)[index])
    return {"hemisphere": hemi, "grayordinate": index, "area": vertex_roi_names()[index] or "none",
            "value": None if np.isnan(value) else value}


def export_map(name: str, fmt: str) -> tuple[str, bytes]:
    """A map as a downloadable file: ``(filename, content)``; GIFTI is a zip of the L/R files."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown format={fmt!r}; choose from {list(EXPORT_FORMATS)}")
    values = np.nan_to_num(declared_map(name), nan=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "cifti":
            path = cortex.save_cifti_dscalar(values, Path(tmp) / f"{name}.dscalar.nii", names=[name])
            return path.name, path.read_bytes()
        left, right = cortex.save_gifti(values, Path(tmp) / name)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(left, left.name)
            zf.write(right, right.name)
        return f"{name}.gifti.zip", buffer.getvalue()


# --------------------------------------------------------------------------------------- experiment

#: Maps of the default experiment shown on the Virtual fMRI page: name → (label, colour-bar units).
QUALITY_MAPS = {
    "r": ("Test r (mean over sessions)", "r"),
    "noise_ceiling": ("Noise ceiling (Monte-Carlo estimate)", "r"),
    "normalized_accuracy": ("Ceiling-normalised accuracy", "r / ceiling"),
    "best_layer": ("Best ResNet-50 layer (single-layer R²)", "layer"),
    "true_ceiling": ("True noise ceiling (known from the simulation)", "r"),
    "r2": ("Test R²", "R²"),
}


def experiment_settings() -> dict:
    """Settings of the default experiment; ``VFS_EXPERIMENT_MAX_IMAGES`` limits the library (tests, slow laptops)."""
    max_images = os.environ.get("VFS_EXPERIMENT_MAX_IMAGES")
    return dict(n_repeats=10, test_fraction=0.2, n_folds=9, n_permutations=1000,
                max_images=int(max_images) if max_images else None, random_state=0)


def experiment_key() -> str:
    """Cache key of the default experiment with the current settings."""
    from core.experiments import experiment_key as key

    return key(**experiment_settings())


def run_experiment(progress=None) -> str:
    """Run (or load) the default experiment; for background jobs. Returns its key."""
    from core.experiments import run_default_experiment

    run_default_experiment(**experiment_settings(), progress=progress)
    return experiment_key()


def experiment_result(key: str):
    """The finished experiment ``key`` (``core.experiments.ExperimentResult``), or None."""
    from core.experiments import load_experiment

    return _cached_experiment(key) if load_experiment(key) is not None else None


@functools.lru_cache(maxsize=2)
def _cached_experiment(key: str):
    from core.experiments import load_experiment

    return load_experiment(key)


def quality_map(key: str, name: str, *, fdr: bool) -> np.ndarray:
    """One model-quality map; with ``fdr``, vertices with q ≥ 0.05 are blanked (NaN)."""
    if name not in QUALITY_MAPS:
        raise ValueError(f"Unknown map={name!r}; choose from {sorted(QUALITY_MAPS)}")
    result = _require(key)
    values = result.maps[name].astype(np.float32)
    if name == "best_layer":
        values = values + 1  # layers numbered 1..18 as in the paper
    if fdr:
        values = np.where(result.maps["q"] < 0.05, values, np.nan)
    return values


def _require(key: str):
    result = experiment_result(key)
    if result is None:
        raise ValueError("The default experiment has not been run yet: press 'Run experiment'")
    return result


def roi_scores(key: str, map_name: str = "r") -> dict:
    """Mean ± SE of a map over the vertices of each driven Glasser area (both hemispheres pooled).

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``means`` (n_rois,), ``ses`` (n_rois,), ``ceiling`` (n_rois,).
    """
    result = _require(key)
    sim = _default_subject()
    names = sorted({d.roi for d in sim.spec.drivers})
    streams = {roi.name: roi.stream for roi in cortex.roi_table()}
    means, ses, ceilings = [], [], []
    for name in names:
        idx = np.concatenate([sim.roi_vertices[(name, h)] for h in ("L", "R") if (name, h) in sim.roi_vertices])
        values = result.maps[map_name][idx]
        means.append(float(values.mean()))
        ses.append(float(values.std(ddof=1) / np.sqrt(len(values))))
        ceilings.append(float(result.maps["noise_ceiling"][idx].mean()))
    return {"roi_names": names, "streams": [streams.get(n, "other") for n in names],
            "means": np.array(means), "ses": np.array(ses), "ceiling": np.array(ceilings)}


def library_choices(key: str) -> list[dict]:
    """Dropdown options of the library images of experiment ``key`` (label: category — id)."""
    result = _require(key)
    return [{"label": f"{label} — {Path(i).name}", "value": i}
            for i, label in zip(result.stimulus_ids, result.labels, strict=True)]


def predicted_map(key: str, stimulus_id: str) -> np.ndarray:
    """Predicted cortical map of one library image, (59412,) float32."""
    from core.experiments import predicted_maps

    result = _require(key)
    if stimulus_id not in result.stimulus_ids:
        raise ValueError(f"Unknown image {stimulus_id!r} for this experiment")
    return np.asarray(predicted_maps(key)[result.stimulus_ids.index(stimulus_id)], dtype=np.float32)


def library_thumbnail(stimulus_id: str, size: int = 128) -> np.ndarray:
    """A library image as uint8 (size, size, 3)."""
    from core.stimuli import load_images, load_stimulus_library

    library = load_stimulus_library()
    if stimulus_id not in library.ids:
        raise ValueError(f"Unknown library image {stimulus_id!r}")
    return load_images(library, [library.ids.index(stimulus_id)], size=(size, size))[0]


# --------------------------------------------------------------------------------------- selectivity

def category_choices(key: str) -> list[dict]:
    """Dropdown options: the maximum over categories, then each category."""
    result = _require(key)
    return [{"label": "max over categories (general selectivity)", "value": "__max__"}] + [
        {"label": c, "value": c} for c in result.categories]


def selectivity_map(key: str, category: str) -> np.ndarray:
    """d′ map of one category, or of the most selective category (``"__max__"``), (59412,)."""
    result = _require(key)
    if category == "__max__":
        return result.dprime.max(axis=0)
    if category not in result.categories:
        raise ValueError(f"Unknown category={category!r}; choose from {list(result.categories)}")
    return result.dprime[result.categories.index(category)]


def top_categories_at(key: str, grayordinate: int, k: int = 10) -> tuple[list[str], np.ndarray]:
    """The ``k`` categories with the highest d′ at one vertex, best first."""
    from core.categories import top_categories

    result = _require(key)
    column = result.dprime[:, [grayordinate]]
    order = top_categories(column, k=min(k, len(result.categories)))[0]
    return [result.categories[i] for i in order], column[order, 0]


def roi_selectivity(key: str, category: str) -> dict:
    """Mean ± SE over vertices of the d′ map per Glasser area, for areas of the four visual streams."""
    from core.categories import roi_summary

    values = selectivity_map(key, category)
    areas = {}
    for roi in cortex.roi_table():
        if roi.stream != "other":
            areas.setdefault((roi.stream, roi.name), []).append(roi.grayordinates)
    indices = {name: np.concatenate(parts) for (_, name), parts in sorted(areas.items())}
    summary = roi_summary(values, indices)
    streams = {name: stream for stream, name in areas}
    names = list(indices)
    return {"roi_names": names, "streams": [streams[n] for n in names],
            "means": np.asarray(summary.mean), "ses": np.asarray(summary.se)}


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
    criterion is relaxed to q < 0.05 and r > 0, and the result says so.
    """
    return _category_clustering(key)


@functools.cache
def _category_clustering(key: str) -> dict:
    from sklearn.metrics import adjusted_rand_score

    from core import rsa

    result = _require(key)
    criterion = "q < 0.01 and r > 0.2 (as the paper)"
    mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.2, q_max=0.01)
    if mask.sum() < 100:
        criterion = "q < 0.05 and r > 0 (relaxed: fewer than 100 vertices passed q < 0.01, r > 0.2)"
        mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.0, q_max=0.05)
    if mask.sum() < 10:
        raise ValueError(f"Only {int(mask.sum())} vertices are predictable (q < 0.05, r > 0): too few to compare "
                         "category maps. Run the experiment with more images.")
    S = rsa.category_similarity(result.category_maps, mask=mask)
    n = len(result.categories)
    clustering = rsa.cluster_categories(S, k_range=range(2, min(11, n)), random_state=0)
    significance = rsa.modularity_significance(S, clustering.labels, n_permutations=10_000, random_state=0)
    linkage, order = rsa.category_dendrogram(S)
    labels, groups = np.asarray(result.labels), np.asarray(result.groups)
    category_group = [max(set(groups[labels == c]), key=list(groups[labels == c]).count) for c in result.categories]
    return {"similarity": S, "categories": list(result.categories), "cluster_labels": clustering.labels,
            "k_values": clustering.k_values, "modularity": clustering.modularity, "best_k": clustering.best_k,
            "p_value": significance.p_value, "linkage": linkage, "order": order,
            "n_vertices": int(mask.sum()), "criterion": criterion, "groups": category_group,
            "ari": float(adjusted_rand_score(category_group, clustering.labels))}


def semantic_comparison(key: str, method: str) -> dict:
    """Semantic vs cortical similarity of category pairs, with a label-permutation test (10,000)."""
    if method not in SEMANTIC_METHODS:
        raise ValueError(f"Unknown method={method!r}; choose from {sorted(SEMANTIC_METHODS)}")
    return _semantic_comparison(key, method)


@functools.cache
def _semantic_comparison(key: str, method: str) -> dict:
    from scipy.spatial.distance import squareform

    from core import rsa
    from core.semantics import semantic_similarity

    clustering = category_clustering(key)
    categories = clustering["categories"]
    semantic = semantic_similarity(categories, method=method)
    known = ~np.isnan(semantic.matrix).all(axis=1)
    idx = np.flatnonzero(known)
    if len(idx) < 3:
        raise ValueError(f"Fewer than 3 categories have {method} vectors: {semantic.unknown}")
    sem = semantic.matrix[np.ix_(idx, idx)]
    cor = clustering["similarity"][np.ix_(idx, idx)]
    x, y = squareform(sem, checks=False), squareform(cor, checks=False)
    test = rsa.rdm_permutation_test(1 - y, -x, method="pearson", n_permutations=10_000, random_state=0)
    names = [categories[i] for i in idx]
    pairs = [f"{names[i]} – {names[j]}" for i in range(len(names)) for j in range(i + 1, len(names))]
    return {"x": x, "y": y, "pair_labels": pairs, "r": float(np.corrcoef(x, y)[0, 1]), "p": test.p_value,
            "unknown": semantic.unknown, "label": SEMANTIC_METHODS[method]}


def cluster_average_map(key: str, cluster: int) -> np.ndarray:
    """Mean category map over the categories of one cluster, (59412,)."""
    clustering = category_clustering(key)
    members = np.flatnonzero(clustering["cluster_labels"] == cluster)
    if not members.size:
        raise ValueError(f"Cluster {cluster} is empty; clusters are 0..{clustering['best_k'] - 1}")
    return _require(key).category_maps[members].mean(axis=0)


# --------------------------------------------------------------------------------------- reconstruction

def _reconstruction_path(n_faces: int, snr: float) -> Path:
    return cache_dir() / "reconstructions" / f"dcgan-n{int(n_faces)}-snr{float(snr):g}-v1.npz"


def run_reconstruction(n_faces: int, snr: float, progress=None) -> str:
    """Background job: DCGAN faces → simulated brain patterns → reconstructions; returns the result path.

    The brain is the linear simulation of ``core.reconstruction.simulate_face_responses`` (200 voxels whose
    truth is the generator's latent code); gender labels are model-made by face-api's age-gender net.
    """
    import torch

    from core.models import build_model
    from core.reconstruction import run_reconstruction_experiment, simulate_face_responses

    if not 40 <= int(n_faces) <= 2000:
        raise ValueError(f"n_faces must be between 40 and 2000, got {n_faces}")
    path = _reconstruction_path(n_faces, snr)
    if path.exists():
        return str(path)
    generator = build_model("dcgan_faces")
    z = generator.sample_latent(int(n_faces), random_state=0)
    with torch.no_grad():
        images = generator.generate(torch.from_numpy(z)).permute(0, 2, 3, 1).numpy()
        faces = torch.from_numpy(images).permute(0, 3, 1, 2)
        age_gender = build_model("face_age_gender")
        probabilities = age_gender(age_gender.prepare(torch.nn.functional.interpolate(
            faces, size=age_gender.input_size, mode="bilinear", align_corners=False)))
    gender = np.where(probabilities[:, 1].numpy() > 0.5, "male", "female")
    responses = simulate_face_responses(z, n_voxels=200, snr=float(snr), random_state=0)
    result = run_reconstruction_experiment(
        (images * 255).round().astype(np.uint8), responses, latent="gan", gender=gender, random_state=0,
        progress=None if progress is None else lambda step, total, loss: progress(
            step / total, f"training the image→latent encoder: step {step}/{total}, loss {loss:.3f}"))
    arrays = {"originals": result.originals, "gan": result.reconstructions["gan"],
              "pca": result.reconstructions["pca"], "test_gender": gender[result.test_idx]}
    for model, spaces in result.pairwise.items():
        for space, score in spaces.items():
            arrays[f"pairwise:{model}:{space}"] = np.array([score.accuracy, score.p_value])
    for model, decoding in result.gender.items():
        arrays[f"gender:{model}"] = np.array([decoding.accuracy, decoding.chance])
    with atomic_open(path) as handle:
        np.savez(handle, **arrays)
    return str(path)


def reconstruction_result(path: str) -> dict:
    """A finished reconstruction run (from :func:`run_reconstruction`) as plain arrays and numbers."""
    root = (cache_dir() / "reconstructions").resolve()
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(root) or not resolved.exists():
        raise ValueError("No reconstruction result at that location: run the reconstruction first")
    with np.load(resolved, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    pairwise = {tuple(k.split(":")[1:]): v for k, v in arrays.items() if k.startswith("pairwise:")}
    gender = {k.split(":")[1]: v for k, v in arrays.items() if k.startswith("gender:")}
    return {"originals": arrays["originals"], "reconstructions": {"GAN latent": arrays["gan"],
                                                                  "PCA baseline": arrays["pca"]},
            "pairwise": pairwise, "gender": gender}


# --------------------------------------------------------------------------------------- faces

#: Regions of the simulated subject compared with the face networks (area_hemisphere).
FACE_REGIONS = ("FFC_R", "STSvp_R", "FFC_L", "V1_L", "PHA1_R")


def _faces_path() -> Path:
    from core.subject import DEFAULT_SPEC_PATH

    spec = hashlib.sha256(DEFAULT_SPEC_PATH.read_bytes()).hexdigest()[:12]
    max_images = experiment_settings()["max_images"]
    return cache_dir() / "faces" / f"default-{spec}-{max_images}-v1"


def run_face_analysis(progress=None) -> str:
    """Background job: the identity vs expression analyses on the default face set; returns the result path.

    Faces: 48 DCGAN faces (12 generated identities × 4 variants) with model-made expression labels.
    Brain: the calibrated simulated subject's regions (4 noisy repetitions), whose declared drivers
    are the truth (FFC R ← identity net, STSvp R ← expression net).
    """
    from core import faces
    from core.experiments import calibrated_default_subject
    from core.models import build_model
    from core.rsa import compute_rdm

    def report(fraction, message):
        if progress is not None:
            progress(fraction, message)

    prefix = _faces_path()
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    *_, subject, _, _, _ = calibrated_default_subject(max_images=experiment_settings()["max_images"],
                                                     progress=lambda f, m: report(0.5 * f, m))
    report(0.5, "generating and labelling the default faces")
    face_set = faces.make_default_face_set(48, random_state=0)
    features, rdms = {}, {}
    for i, (name, network) in enumerate(faces.FACE_NETWORKS.items()):
        report(0.55 + 0.3 * i / len(faces.FACE_NETWORKS), f"{name}: layer features and RDMs")
        features[name] = faces.network_features(face_set, build_model(name), layers=network.layers)
        rdms[name] = {layer: compute_rdm(values, metric="correlation") for layer, values in features[name].items()}
    report(0.85, "simulated region responses, comparisons, decoding, congruence")
    layers_by_net: dict[str, list] = {}
    for net, layer in subject.spec.feature_sources:
        layers_by_net.setdefault(net, []).append(layer)
    drivers = {}
    for net, layers in layers_by_net.items():
        means = faces.network_features(face_set, build_model(net), layers=layers, reduction="mean")
        drivers.update({(net, layer): means[layer] for layer in layers})
    patterns = faces.simulated_region_patterns(subject, drivers, FACE_REGIONS, n_repeats=4, random_state=0)
    comparison = faces.compare_networks_to_regions(faces.brain_rdms_from_patterns(patterns), rdms,
                                                   method="spearman", n_permutations=1000, random_state=0)
    arrays = {"r": comparison.r, "p": comparison.p, "ceiling_lower": comparison.noise_ceiling_lower,
              "ceiling_upper": comparison.noise_ceiling_upper, "images": np.asarray(face_set.images)}
    info = {"regions": list(comparison.regions), "networks": list(comparison.networks),
            "layers": [list(layers) for layers in comparison.layers], "identities": list(face_set.identities),
            "expressions": list(face_set.expressions), "label_sources": face_set.label_sources, "notes": []}
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
    with atomic_open(prefix.with_suffix(".npz")) as handle:
        np.savez(handle, **arrays)
    with atomic_open(prefix.with_suffix(".json"), "w") as handle:
        handle.write(json.dumps(info))
    report(1.0, "done")
    return str(prefix)


def face_analysis_result(path: str) -> dict:
    """A finished face analysis (from :func:`run_face_analysis`) as plain arrays and lists."""
    root = (cache_dir() / "faces").resolve()
    prefix = Path(path).resolve()
    if not prefix.is_relative_to(root) or not prefix.with_suffix(".json").exists():
        raise ValueError("No face analysis at that location: run it first")
    info = json.loads(prefix.with_suffix(".json").read_text())
    with np.load(prefix.with_suffix(".npz"), allow_pickle=False) as data:
        info.update({name: data[name] for name in data.files})
    return info
