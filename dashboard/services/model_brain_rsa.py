"""Services of the Model–Brain RSA page: stimulus and RDM uploads, the background job, figure data.

The page's only door to ``core.model_brain_rsa`` and ``core.rdm_files``.

Uploads go to the private upload folder (``dashboard.services._files``), each set in a folder named by the hash of
its content: stimuli as ``rsa-stimuli-<hash>/`` (images plus a ``stimuli.tsv`` giving their order), RDM files as
``rsa-rdms-<hash>/<name>``. The page keeps only those folder names, never a path the browser could choose. The
job reads them, so it must run on the machine of the web process (the diskcache manager does; a Celery worker
on another machine would not find them). Results are ``core.model_brain_rsa`` stores in
the cache folder ``model_brain_rsa/<key>``, the key hashing every input, so a re-run with the same inputs is instant.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from core.errors import UserError, choices_text
from core.runtime import cache_folder
from dashboard import services
from dashboard.services._files import _finished_result, _uploaded_file

__all__ = [
    "LIBRARY",
    "MAX_RDM_FILES",
    "MAX_RDM_UPLOAD_BYTES",
    "MAX_STIMULI",
    "MAX_STIMULUS_UPLOAD_BYTES",
    "RSA_BOOTSTRAP",
    "RSA_METHODS",
    "RSA_NETWORK_OPTIONS",
    "RSA_PERMUTATIONS",
    "mds_data",
    "profile_data",
    "rdm_pair_data",
    "result_order_tsv",
    "rows_csv",
    "rsa_result",
    "run_rsa",
    "save_rdm_uploads",
    "save_stimulus_upload",
    "stimulus_order",
    "stimulus_order_tsv",
]

#: Largest stimulus upload (a zip, or the images together) and largest RDM file, in bytes (sent and unpacked).
MAX_STIMULUS_UPLOAD_BYTES = 64 * 2**20
MAX_RDM_UPLOAD_BYTES = 64 * 2**20
#: Most images in an uploaded stimulus set, and most RDM files in one upload.
MAX_STIMULI = 2000
MAX_RDM_FILES = 20
#: The stimulus-set choice "the studio's stimulus library".
LIBRARY = "library"
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
_STIMULI_PREFIX = "rsa-stimuli-"
_RDMS_PREFIX = "rsa-rdms-"
_RESULTS = "model_brain_rsa"
_FILE_NAME = re.compile(r"[^\w.\- ]")


# ----------------------------------------------------------------------------------------- uploads


def _decode(contents: str, filename: str) -> bytes:
    """The bytes of a ``dcc.Upload`` data URL."""
    header, comma, payload = (contents or "").partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise UserError(f"Upload {filename!r} did not arrive complete; upload it again")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise UserError(f"Upload {filename!r} did not arrive intact; upload it again") from exc


def _content_folder(prefix: str, parts: list[tuple[str, bytes]]) -> Path:
    digest = hashlib.sha256()
    for name, data in parts:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return _uploaded_file(prefix + digest.hexdigest()[:16])


def _zip_members(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """``(relative path, bytes)`` of a zip's images and order table (folders, hidden files, others left out)."""
    from core.stimuli import IMAGE_EXTENSIONS
    from core.stimulus_order import ORDER_FILE

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UserError(f"{name} is not a readable zip file") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(m.filename).parts)
                   and (PurePosixPath(m.filename).suffix.lower() in IMAGE_EXTENSIONS
                        or PurePosixPath(m.filename).name == ORDER_FILE)]
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_STIMULUS_UPLOAD_BYTES:
            raise UserError(f"{name} unpacks to {unpacked / 2**20:.1f} MiB; the limit is "
                            f"{MAX_STIMULUS_UPLOAD_BYTES // 2**20} MiB")
        try:
            return [(m.filename, archive.read(m)) for m in members]
        except (zipfile.BadZipFile, OSError, NotImplementedError) as exc:
            raise UserError(f"{name} could not be unpacked (damaged or encrypted); zip the images again") from exc


def _order_rows(table: bytes, stored: dict[str, str]) -> list[str]:
    """Stored file names in the order a ``stimuli.tsv`` gives (its ``file`` column: paths in the zip)."""
    from core.stimulus_order import ORDER_FILE

    rows = list(csv.DictReader(io.StringIO(table.decode("utf-8-sig", errors="replace")), delimiter="\t"))
    files = [(row.get("file") or "").strip() for row in rows if (row.get("file") or "").strip()]
    if not files:
        raise UserError(f"{ORDER_FILE} needs a column 'file' listing the images in order (tab-separated)")
    by_name = {**{PurePosixPath(k).name: v for k, v in stored.items()}, **stored}
    unknown = [f for f in files if f not in by_name]
    if unknown:
        raise UserError(f"{ORDER_FILE} names images that were not uploaded ({choices_text(unknown[:5])})")
    return [by_name[f] for f in files]


def save_stimulus_upload(contents: list[str], filenames: list[str]) -> dict:
    """Check and store uploaded stimuli: one zip of images, or several images; returns the stimulus choice.

    The order is the zip's ``stimuli.tsv`` (column ``file``) when it holds one, else the natural sort of the
    paths (``img2`` before ``img10``); a folder in the zip gives its images' category label.

    Returns
    -------
    dict
        ``{"value": "rsa-stimuli-<hash>", "label": str, "n": n_images}``.

    Raises
    ------
    UserError
        Incomplete upload, over :data:`MAX_STIMULUS_UPLOAD_BYTES`, a bad zip, not an image, over
        :data:`MAX_STIMULI` images or fewer than 3, an order table naming other files.
    """
    from core.stimuli import from_upload
    from core.stimulus_order import ORDER_FILE, natural_key, ordered_stimuli

    files = [(Path(name or "upload").name, _decode(c, name)) for c, name in zip(contents, filenames, strict=True)]
    total = sum(len(data) for _, data in files)
    if total > MAX_STIMULUS_UPLOAD_BYTES:
        raise UserError(f"The stimuli are {total / 2**20:.1f} MiB; the limit is {MAX_STIMULUS_UPLOAD_BYTES // 2**20} "
                        "MiB")
    members = []
    for name, data in files:
        members += _zip_members(name, data) if name.lower().endswith(".zip") else [(name, data)]
    tables = [data for path, data in members if PurePosixPath(path).name == ORDER_FILE]
    images = [(path, data) for path, data in members if PurePosixPath(path).name != ORDER_FILE]
    if not 3 <= len(images) <= MAX_STIMULI:
        raise UserError(f"Upload between 3 and {MAX_STIMULI} images (a zip of them, or the images); got "
                        f"{len(images)}")
    folder = _content_folder(_STIMULI_PREFIX, members)
    if not (folder / ORDER_FILE).is_file():
        folder.mkdir(exist_ok=True)
        stored, labels = {}, {}
        for path, data in images:
            name = from_upload(data, PurePosixPath(path).name, upload_dir=folder,
                               max_bytes=services.MAX_UPLOAD_BYTES).ids[0]
            stored[path] = name
            labels[name] = PurePosixPath(path).parent.name
        order = (_order_rows(tables[0], stored) if tables
                 else [stored[path] for path in sorted(stored, key=natural_key)])
        lines = ["file\tlabel"] + [f"{name}\t{labels[name]}" for name in order]
        (folder / ORDER_FILE).write_text("\n".join(lines) + "\n")
    n = len(ordered_stimuli(folder))
    return {"value": folder.name, "label": f"{n} uploaded images", "n": n}


def _stimuli(choice: str):
    """The StimulusSet of a stimulus choice (:data:`LIBRARY` or a :func:`save_stimulus_upload` value)."""
    from core.stimuli import load_stimulus_library
    from core.stimulus_order import ordered_stimuli

    if choice == LIBRARY:
        return load_stimulus_library()
    if not (choice or "").startswith(_STIMULI_PREFIX):
        raise UserError("Choose the stimuli first: upload a zip of images, or use the stimulus library")
    folder = _uploaded_file(choice)
    if not folder.is_dir():
        raise UserError("Those uploaded stimuli are no longer on the server: upload them again")
    return ordered_stimuli(folder)


def stimulus_order(choice: str) -> list[dict]:
    """The stimuli in the order the RDM rows must follow: ``[{"position": 1, "file": id, "label": str}, ...]``."""
    stimuli = _stimuli(choice)
    return [{"position": i, "file": s, "label": label}
            for i, (s, label) in enumerate(zip(stimuli.ids, stimuli.labels, strict=True), start=1)]


def stimulus_order_tsv(choice: str) -> str:
    """The order as tab-separated text (``position``, ``file``, ``label``), readable back as a ``stimuli.tsv``."""
    from core.stimulus_order import stimulus_order_table

    return stimulus_order_table(_stimuli(choice))


def _safe_name(filename: str) -> str:
    from core.rdm_files import RDM_SUFFIXES

    name = _FILE_NAME.sub("_", Path(filename or "upload").name).strip(" .") or "upload"
    if Path(name).suffix.lower() not in RDM_SUFFIXES:
        raise UserError(f"{name}: file type not accepted; upload RDM files ({choices_text(RDM_SUFFIXES)})")
    return name


def save_rdm_uploads(contents: list[str], filenames: list[str], stimuli: str | None = None) -> list[dict]:
    """Check and store uploaded brain RDM files, each on its own.

    Parameters
    ----------
    contents, filenames : list of str
        ``dcc.Upload``'s data URLs and names.
    stimuli : str, optional
        The chosen stimuli: RDMs must then be over that many conditions.

    Returns
    -------
    list of dict
        Per file ``{"file": name, "value": "rsa-rdms-<hash>/<name>" or None, "message": str}``: what it holds
        (its RDMs, subjects and conditions), or why it cannot be used (``value`` None).
    """
    from core.rdm_files import read_rdms

    if len(filenames) > MAX_RDM_FILES:
        raise UserError(f"Upload at most {MAX_RDM_FILES} RDM files at once; got {len(filenames)}")
    labels = None
    if stimuli:
        try:
            labels = _stimuli(stimuli).ids
        except UserError:
            labels = None
    out = []
    for content, filename in zip(contents, filenames, strict=True):
        name = Path(filename or "upload").name
        try:
            name = _safe_name(name)
            data = _decode(content, name)
            if len(data) > MAX_RDM_UPLOAD_BYTES:
                raise UserError(f"{name} is {len(data) / 2**20:.1f} MiB; the limit is "
                                f"{MAX_RDM_UPLOAD_BYTES // 2**20} MiB")
            folder = _content_folder(_RDMS_PREFIX, [(name, data)])
            folder.mkdir(exist_ok=True)
            path = folder / name
            if not path.is_file():
                path.write_bytes(data)
            rdms = read_rdms(path, pattern_labels=labels)
        except UserError as exc:
            out.append({"file": name, "value": None, "message": str(exc)})
            continue
        described = ", ".join(f"{region} ({rdm.n_rdms} subject{'s' * (rdm.n_rdms > 1)})"
                              for region, rdm in rdms.items())
        n = next(iter(rdms.values())).n_conditions
        out.append({"file": name, "value": f"{folder.name}/{name}",
                    "message": f"{name}: {described}; {n} conditions"})
    return out


def _rdm_path(value: str) -> Path:
    path = _uploaded_file(value) if (value or "").startswith(_RDMS_PREFIX) else None
    if path is None or not path.is_file():
        raise UserError("An uploaded RDM file is no longer on the server: upload it again")
    return path


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
    paths = [_rdm_path(value) for value in rdm_files]
    settings = [MODEL_BRAIN_RSA_VERSION, stimuli, list(rdm_files), list(networks), method, int(n_permutations),
                int(n_bootstrap)]
    prefix = cache_folder(_RESULTS) / hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:20]
    if prefix.with_suffix(".json").exists():
        return str(prefix)
    stimulus_set = _stimuli(stimuli)
    result = run_model_brain_rsa(stimulus_set, [str(p) for p in paths], networks, method=method,
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


def _square(vector: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import squareform

    return squareform(np.asarray(vector, dtype=np.float64), checks=False)


def rdm_pair_data(path: str, region: str) -> dict:
    """A region's mean brain RDM and its best layer's RDM, square, ordered by an average-linkage clustering of
    the brain RDM; each as percentiles of its dissimilarities (0–100), so the two share one colour scale.

    Returns
    -------
    dict
        ``brain``, ``model`` (n, n) percentiles; ``labels`` (n,) stimulus ids; ``order`` (n,) leaf order;
        ``region``, ``model_name`` ("network · layer"), ``r``.
    """
    import scipy.cluster.hierarchy
    from scipy.stats import rankdata

    res = rsa_result(path)
    if region not in res.regions:
        region = res.regions[0]
    k = res.regions.index(region)
    brain = res.brain_rdms[res.brain_region == k].mean(axis=0)
    model = res.best_rdms[k]
    order = scipy.cluster.hierarchy.leaves_list(scipy.cluster.hierarchy.linkage(brain, method="average"))

    def percentiles(v):
        return _square(100.0 * (rankdata(v) - 1) / max(len(v) - 1, 1))

    best = int(res.best[k])
    return {"brain": percentiles(brain), "model": percentiles(model), "labels": list(res.stimulus_ids),
            "order": order, "region": region, "r": float(res.r[best, k]),
            "model_name": f"{_network_label(res.networks[best])} · {res.layers[best]}"}


def _classical_mds(distance: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS: the top eigenvectors of the double-centred squared distances, scaled by the
    square roots of their eigenvalues; (n, n) → (n, n_components), zeros where an eigenvalue is not positive."""
    n = len(distance)
    centring = np.eye(n) - 1.0 / n
    b = -0.5 * centring @ (distance**2) @ centring
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    top = np.argsort(values)[::-1][:n_components]
    xy = vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))
    return np.pad(xy, ((0, 0), (0, n_components - xy.shape[1])))


def mds_data(path: str) -> dict:
    """Second-order MDS of every RDM (each region's mean RDM and every layer's): classical MDS of
    ``1 − similarity`` (the result's method) in 2-D.

    Returns
    -------
    dict
        ``xy`` (n_rdms, 2); ``labels``; ``groups`` ("brain" or the network label) and ``depth`` (layer index
        within its network, −1 for brain RDMs), each of length n_rdms; ``method`` label.
    """
    res = rsa_result(path)
    similarity = np.nan_to_num(np.asarray(res.second_order, dtype=np.float64), nan=0.0)
    distance = np.clip(1.0 - (similarity + similarity.T) / 2, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    depth = [-1] * len(res.regions) + [res.networks[:i].count(n) for i, n in enumerate(res.networks)]
    return {"xy": _classical_mds(distance), "labels": list(res.regions) + list(res.layers),
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
