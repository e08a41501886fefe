"""Services of the Model–Brain RSA page: the background job and its result as figure data and tables; on a study
chosen in the navbar, what the page offers (``study_rsa_setup``, ``study_rsa_plan``) and its job (``run_study_rsa``).

The page's only door to ``core.model_brain_rsa``. Uploads (stimuli, brain RDM files) are checked and stored by
``dashboard.services.rsa_uploads``, whose names are re-exported here. The job reads the uploads, so it must run on
the machine of the web process (the diskcache manager does; a Celery worker on another machine would not find
them). Results are ``core.model_brain_rsa`` stores in the cache folder ``model_brain_rsa/<key>``, the key hashing
every input, so a re-run with the same inputs is instant.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np

from core.errors import UserError, choices_text
from core.runtime import cache_folder
from dashboard.services._files import _finished_result
from dashboard.services.rsa_uploads import (  # noqa: F401  (re-exported for the page)
    LIBRARY,
    MAX_RDM_FILES,
    MAX_RDM_UPLOAD_BYTES,
    MAX_STIMULI,
    MAX_STIMULUS_UPLOAD_BYTES,
    rdm_path,
    save_rdm_uploads,
    save_stimulus_upload,
    stimulus_order,
    stimulus_order_tsv,
    stimulus_set,
)

__all__ = [
    "LIBRARY",
    "MAX_RDM_FILES",
    "MAX_RDM_UPLOAD_BYTES",
    "MAX_STIMULI",
    "MAX_STIMULUS_UPLOAD_BYTES",
    "GLASSER_DEFAULT_REGIONS",
    "RSA_BOOTSTRAP",
    "RSA_METHODS",
    "RSA_NETWORK_OPTIONS",
    "RSA_PERMUTATIONS",
    "STUDY_MAX_REGIONS",
    "STUDY_MAX_STIMULI",
    "STUDY_STIMULI",
    "mds_data",
    "profile_data",
    "rdm_pair_data",
    "result_order_tsv",
    "rows_csv",
    "rsa_result",
    "run_rsa",
    "run_study_rsa",
    "save_rdm_uploads",
    "save_stimulus_upload",
    "stimulus_order",
    "stimulus_order_tsv",
    "study_result_note",
    "study_rsa_order_tsv",
    "study_rsa_plan",
    "study_rsa_setup",
]

#: Comparison methods offered (``core.rsa.COMPARE_METHODS``) with their labels.
RSA_METHODS = {"spearman": "Spearman ρ", "kendall_tau_a": "Kendall τ-a", "rho_a": "Spearman ρ-a",
               "pearson": "Pearson r", "cosine": "cosine"}
#: Networks offered (``core.model_brain_rsa.RSA_NETWORKS``) with their labels.
RSA_NETWORK_OPTIONS = {"resnet50": "ResNet-50 (ImageNet)", "efficientnet_lite0": "EfficientNet-Lite0 (ImageNet)",
                       "alexnet": "AlexNet (ImageNet)", "face_identity": "face-api identity net",
                       "face_expression": "face-api expression net", "face_age_gender": "face-api age/gender net",
                       "face_landmarks68": "face-api landmark net", "face_detector": "face detector (SSD)",
                       "fer_minixception": "FER2013 mini-Xception (expressions)"}
#: Default stimulus permutations and bootstrap samples of a run.
RSA_PERMUTATIONS = 1000
RSA_BOOTSTRAP = 1000
_RESULTS = "model_brain_rsa"


# ----------------------------------------------------------------------------------------- the job


def run_rsa(stimuli: str, rdm_files: list[str], networks: list[str], method: str, n_permutations: int,
            n_bootstrap: int, progress=None) -> str:
    """Background job: every layer of ``networks`` against the uploaded brain RDMs; returns the result path.

    Parameters
    ----------
    stimuli : str
        :data:`LIBRARY` or a :func:`save_stimulus_upload` value.
    rdm_files : list of str
        :func:`save_rdm_uploads` values.
    networks : list of str
        Keys of :data:`RSA_NETWORK_OPTIONS`.
    method : str
        A key of :data:`RSA_METHODS`.
    n_permutations, n_bootstrap : int
        Stimulus permutations per test and bootstrap samples (see ``core.model_brain_rsa``).
    progress : core.runtime.Progress, optional
        ``progress(done, total, message)``.
    """
    from core.model_brain_rsa import MODEL_BRAIN_RSA_VERSION, run_model_brain_rsa, save_model_brain_rsa

    if not rdm_files:
        raise UserError("Upload at least one brain RDM file first")
    if not networks:
        raise UserError(f"Choose at least one network from {choices_text(RSA_NETWORK_OPTIONS.values())}")
    paths = [rdm_path(value) for value in rdm_files]
    settings = [MODEL_BRAIN_RSA_VERSION, stimuli, list(rdm_files), list(networks), method, int(n_permutations),
                int(n_bootstrap)]
    prefix = cache_folder(_RESULTS) / hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:20]
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    result = run_model_brain_rsa(stimulus_set(stimuli), [str(p) for p in paths], networks, method=method,
                                 n_permutations=int(n_permutations), n_bootstrap=int(n_bootstrap), seed=0,
                                 progress=progress)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    save_model_brain_rsa(result, prefix)
    return str(prefix)


def rsa_result(path: str):
    """The ``core.model_brain_rsa.ModelBrainRSAResult`` of a finished :func:`run_rsa` (its returned path)."""
    from core.model_brain_rsa import load_model_brain_rsa

    prefix = _finished_result(path, _RESULTS, "No model–brain RSA result there: run the analysis first",
                                       ".json")
    return load_model_brain_rsa(prefix)


# ----------------------------------------------------------------------------------------- figure data


def _network_label(network: str) -> str:
    return RSA_NETWORK_OPTIONS.get(network, network)


def profile_data(path: str) -> dict:
    """Layer profiles for ``dashboard.figures.model_brain_rsa.layer_profile_figure``.

    Returns
    -------
    dict
        ``regions`` (n_regions,), ``profiles`` {network label: {"layers", "r", "ci_low", "ci_high", "q"}
        (arrays of shape (n_layers, n_regions))}, ``ceiling_lower``/``ceiling_upper`` (n_regions,), ``best``
        [(network label, layer)] per region, ``method`` label, ``n_bootstrap``, ``n_permutations``.
    """
    res = rsa_result(path)
    profiles = {}
    for network in res.network_names:
        rows = [i for i, n in enumerate(res.networks) if n == network]
        profiles[_network_label(network)] = {"layers": [res.layers[i] for i in rows],
                                             **{k: getattr(res, k)[rows] for k in ("r", "ci_low", "ci_high", "q")}}
    return {"regions": list(res.regions), "profiles": profiles, "ceiling_lower": res.ceiling_lower,
            "ceiling_upper": res.ceiling_upper,
            "best": [(_network_label(res.networks[i]), res.layers[i]) for i in res.best],
            "method": RSA_METHODS.get(res.method, res.method), "n_bootstrap": res.meta["n_bootstrap"],
            "n_permutations": res.meta["n_permutations"]}


def rdm_pair_data(path: str, region: str) -> dict:
    """A region's mean brain RDM and its best layer's RDM (``core.model_brain_rsa.region_rdm_pair``): square, as
    percentiles of their dissimilarities (0–100), with the leaf order of the brain RDM's clustering; an unknown
    region gives the first.

    Returns
    -------
    dict
        ``brain``, ``model`` (n, n) percentiles; ``labels`` (n,) stimulus ids; ``order`` (n,) leaf order;
        ``region``, ``model_name`` ("network · layer"), ``r``.
    """
    from core.model_brain_rsa import region_rdm_pair

    res = rsa_result(path)
    if region not in res.regions:
        region = res.regions[0]
    brain, model, order, best = region_rdm_pair(res, region)
    return {"brain": brain, "model": model, "labels": list(res.stimulus_ids), "order": order, "region": region,
            "r": float(res.r[best, res.regions.index(region)]),
            "model_name": f"{_network_label(res.networks[best])} · {res.layers[best]}"}


def mds_data(path: str) -> dict:
    """Second-order MDS of every RDM (each region's mean RDM and every layer's; ``core.model_brain_rsa.
    second_order_mds``) in 2-D.

    Returns
    -------
    dict
        ``xy`` (n_rdms, 2); ``labels``; ``groups`` ("brain" or the network label) and ``depth`` (layer index
        within its network, −1 for brain RDMs), each of length n_rdms; ``method`` label.
    """
    from core.model_brain_rsa import second_order_mds

    res = rsa_result(path)
    depth = [-1] * len(res.regions) + [res.networks[:i].count(n) for i, n in enumerate(res.networks)]
    return {"xy": second_order_mds(res), "labels": list(res.regions) + list(res.layers),
            "groups": ["brain"] * len(res.regions) + [_network_label(n) for n in res.networks],
            "depth": depth, "method": RSA_METHODS.get(res.method, res.method)}


def rows_csv(path: str) -> str:
    """The result's rows as CSV: network, layer, rdm, r, p, q, ci_low, ci_high (conservative 95 % bootstrap
    interval), best (1 for each region's best layer); empty cells where a value is missing; then the noise
    ceilings and the settings as ``#`` comment lines."""
    res = rsa_result(path)

    def cell(value) -> str:
        return f"{value:.6g}" if np.isfinite(value) else ""

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["network", "layer", "rdm", "r", "p", "q", "ci_low", "ci_high", "best"])
    for i in range(len(res.networks)):
        for k, region in enumerate(res.regions):
            writer.writerow([res.networks[i], res.layers[i], region,
                             *(cell(getattr(res, name)[i, k]) for name in ("r", "p", "q", "ci_low", "ci_high")),
                             int(res.best[k] == i)])
    buffer.write(f"# method {res.method}; {res.meta['n_permutations']} stimulus permutations (one-sided p, BH q over "
                 f"each network's layers); {res.meta['n_bootstrap']} bootstrap samples of the stimuli (the 95 % "
                 "interval is conservative: it over-covers)\n")
    for k, region in enumerate(res.regions):
        if res.n_subjects[k] > 1:
            buffer.write(f"# noise ceiling {region}: lower {cell(res.ceiling_lower[k])}, upper "
                         f"{cell(res.ceiling_upper[k])}\n")
    return buffer.getvalue()


def result_order_tsv(path: str) -> str:
    """The stimulus order a result used: ``position``, ``file`` (tab-separated)."""
    res = rsa_result(path)
    return "position\tfile\n" + "".join(f"{i}\t{s}\n" for i, s in enumerate(res.stimulus_ids, start=1))


# ----------------------------------------------------------------------------------------- on a study
#
# On a study chosen in the navbar the stimuli are the study's images (at most a chosen number, picked by
# ``core.studies.rsa.select_stimuli``) and the brain RDMs come from its responses, one region at a time, over the
# regions of one of its ROI classes (``core.studies.study_roi_sets``); the comparison is the same job's.

#: Study images used by default, and the most a run may use (an RDM is n × n; every layer is tested against it).
STUDY_STIMULI = 300
STUDY_MAX_STIMULI = MAX_STIMULI
#: Most regions in one run (each one is tested against every layer), and the Glasser areas chosen by default:
#: the ventral visual stream from V1 to the fusiform face complex, in both hemispheres.
STUDY_MAX_REGIONS = 24
GLASSER_DEFAULT_REGIONS = ("V1", "V2", "V4", "PIT", "FFC", "VVC")


def _study_rsa_inputs(study: str, *, check_images: bool = False):
    """The study and its ROI sets (``UserError`` for an unknown study)."""
    from core.studies import study_roi_sets
    from dashboard.services.studies import _stamp, _study

    _stamp(study)  # a clear message for a study that is not in the store
    loaded = _study(study, check_images=check_images)
    return loaded, study_roi_sets(loaded)


def _default_regions(roi_class: str, regions: list[str]) -> list[str]:
    from core.studies import GLASSER

    if roi_class == GLASSER:
        return [r for r in regions if r.split(" ", 1)[-1] in GLASSER_DEFAULT_REGIONS]
    return regions[:12]


def study_rsa_setup(study: str) -> dict:
    """What the page offers on ``study``.

    Returns
    -------
    dict
        ``name``, ``n_stimuli``, ``roi_source`` (which atlas, in words), ``roi_classes`` {class: [regions]},
        ``default_regions`` {class: [regions]}, ``splits`` {split: label} (``"sessions"`` only when the study
        has repeat sessions of 3 or more stimuli), ``n_session_stimuli``.
    """
    from core.studies import study_roi_source
    from core.studies.rsa import RDM_SPLITS, session_stimuli

    loaded, sets = _study_rsa_inputs(study)
    classes = {name: list(regions) for name, regions in sets.items()}
    n_session = len(session_stimuli(loaded))
    return {"name": loaded.name, "n_stimuli": loaded.n_stimuli, "roi_source": study_roi_source(loaded),
            "roi_classes": classes, "default_regions": {c: _default_regions(c, r) for c, r in classes.items()},
            "splits": {k: v for k, v in RDM_SPLITS.items() if k == "average" or n_session >= 3},
            "n_session_stimuli": n_session}


def _study_choice(loaded, max_stimuli, split: str):
    """The stimuli a run on ``loaded`` uses (``core.studies.rsa.select_stimuli``)."""
    from core.studies.rsa import RDM_SPLITS, select_stimuli, session_stimuli

    if split not in RDM_SPLITS:
        raise UserError(f"Unknown choice of brain RDMs {split!r}; choose from {choices_text(RDM_SPLITS)}")
    n = int(max_stimuli or 0)
    if not 3 <= n <= STUDY_MAX_STIMULI:
        raise UserError(f"Use between 3 and {STUDY_MAX_STIMULI:,} of the study's images (got {n})")
    return select_stimuli(loaded.categories, n, eligible=session_stimuli(loaded) if split == "sessions" else None)


def _checked_regions(sets: dict, roi_class: str, regions) -> dict:
    if roi_class not in sets:
        raise UserError(f"Unknown ROI class {roi_class!r}; choose from {choices_text(sets)}" if sets else
                        "This study has no ROI masks to compute brain RDMs from")
    regions = [r for r in dict.fromkeys(regions or []) if r in sets[roi_class]]
    if not regions:
        raise UserError(f"Choose at least one region of {roi_class}")
    if len(regions) > STUDY_MAX_REGIONS:
        raise UserError(f"Choose at most {STUDY_MAX_REGIONS} regions (got {len(regions)}): each one is tested "
                        "against every layer")
    return {r: sets[roi_class][r] for r in regions}


def study_rsa_plan(study: str, max_stimuli, split: str) -> dict:
    """The stimuli a run would use: ``n_used``, ``n_stimuli``, ``rows`` [{"file", "label"}] in RDM order and
    ``rule`` (how they were chosen, in words)."""
    from core.studies.rsa import session_stimuli

    loaded, _ = _study_rsa_inputs(study)
    chosen = _study_choice(loaded, max_stimuli, split)
    pool = len(session_stimuli(loaded)) if split == "sessions" else loaded.n_stimuli
    words = "images shown in every repeat session" if split == "sessions" else "images"
    if len(chosen) == pool:
        rule = f"all {pool:,} {words}"
    else:
        rule = f"{len(chosen):,} of the {pool:,} {words}, " + (
            "each category in proportion, evenly spaced in study order within it" if any(loaded.categories)
            else "evenly spaced in study order")
    return {"n_used": len(chosen), "n_stimuli": loaded.n_stimuli, "rule": rule,
            "rows": [{"file": loaded.stimuli[i].id, "label": loaded.stimuli[i].category} for i in chosen]}


def study_rsa_order_tsv(study: str, max_stimuli, split: str) -> str:
    """The stimuli a run would use, in RDM order: ``position``, ``file``, ``category`` (tab-separated)."""
    rows = study_rsa_plan(study, max_stimuli, split)["rows"]
    return "position\tfile\tcategory\n" + "".join(f"{i}\t{r['file']}\t{r['label']}\n"
                                                 for i, r in enumerate(rows, start=1))


def run_study_rsa(study: str, roi_class: str, regions: list[str], max_stimuli: int, split: str, networks: list[str],
                  method: str, n_permutations: int, n_bootstrap: int, progress=None) -> str:
    """Background job: every layer of ``networks`` against the RDMs of ``regions`` of ``study``'s ``roi_class``;
    returns the result path (cached: the key digests the study's import, the regions and every setting)."""
    from core.model_brain_rsa import MODEL_BRAIN_RSA_VERSION, save_model_brain_rsa
    from core.studies.rsa import study_model_brain_rsa
    from dashboard.services.studies import _stamp

    if not networks:
        raise UserError(f"Choose at least one network from {choices_text(RSA_NETWORK_OPTIONS.values())}")
    loaded, sets = _study_rsa_inputs(study)
    chosen = _checked_regions(sets, roi_class, regions)
    _study_choice(loaded, max_stimuli, split)
    settings = [MODEL_BRAIN_RSA_VERSION, "study", study, _stamp(study), roi_class, list(chosen), int(max_stimuli),
                split, list(networks), method, int(n_permutations), int(n_bootstrap)]
    prefix = cache_folder(_RESULTS) / hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:20]
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    loaded, _ = _study_rsa_inputs(study, check_images=True)
    result = study_model_brain_rsa(loaded, chosen, networks, max_stimuli=int(max_stimuli), split=split,
                                   method=method, n_permutations=int(n_permutations), n_bootstrap=int(n_bootstrap),
                                   seed=0, progress=progress, meta={"roi_class": roi_class})
    prefix.parent.mkdir(parents=True, exist_ok=True)
    save_model_brain_rsa(result, prefix)
    return str(prefix)


def study_result_note(path: str) -> str:
    """For a result on a study: which study, stimuli, regions and RDMs, and the regions left out (why); "" for
    a result on uploads."""
    from core.studies.rsa import RDM_SPLITS

    res = rsa_result(path)
    meta = res.meta
    if "study" not in meta:
        return ""
    note = (f"Study {meta['study']}: {len(res.stimulus_ids):,} of its {meta['n_study_stimuli']:,} images; "
            f"{len(res.regions)} regions of {meta.get('roi_class', 'its ROIs')}; {RDM_SPLITS[meta['split']]}.")
    if meta.get("left_out"):
        note += " Left out: " + "; ".join(f"{region} ({why})" for region, why in meta["left_out"].items()) + "."
    return note
