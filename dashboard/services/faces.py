"""The Identity & Expression page: the face analysis (``core.workflows.faces``), uploaded region responses, the face
regions on the cortex."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np

from core import cortex
from core.cortex import CorticalMap
from core.errors import UserError
from core.weights import cache_dir
from core.workflows.faces import FACE_REGIONS, N_DEFAULT_FACES
from dashboard.services._files import _check_upload_size, _finished_result, _reporter
from dashboard.services.experiment import _default_subject, experiment_settings
from dashboard.services.surface import grayordinate_at, vertex_roi_names

__all__ = [
    "FACE_REGIONS",
    "MAX_FACE_UPLOAD_BYTES",
    "MAX_FACE_UPLOAD_REGIONS",
    "N_DEFAULT_FACES",
    "compare_uploaded_face_regions",
    "default_faces_zip",
    "face_analysis_result",
    "face_region_at",
    "face_region_map",
    "face_regions",
    "read_face_patterns",
    "run_face_analysis",
]


#: Largest uploaded .npz of region responses (bytes, as sent and unpacked) and most regions in one.
MAX_FACE_UPLOAD_BYTES = 64 * 2**20


MAX_FACE_UPLOAD_REGIONS = 20


_REGION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\- ]{0,39}")


def _faces_path() -> Path:
    from core.subject import DEFAULT_SPEC_PATH

    spec = hashlib.sha256(DEFAULT_SPEC_PATH.read_bytes()).hexdigest()[:12]
    max_images = experiment_settings()["max_images"]
    return cache_dir() / "faces" / f"default-{spec}-{max_images}-v6"


def run_face_analysis(progress=None) -> str:
    """Background job: ``core.workflows.faces.run_face_analysis`` on the experiment's library size, stored once;
    returns its path."""
    from core.workflows.faces import run_face_analysis as run
    from core.workflows.store import is_stored, save_result

    prefix = _faces_path()
    if not is_stored(prefix):
        save_result(run(max_images=experiment_settings()["max_images"], progress=progress), prefix)
    return str(prefix)


def face_analysis_result(path: str) -> dict:
    """A finished face analysis (from :func:`run_face_analysis` or :func:`compare_uploaded_face_regions`)
    as plain arrays and lists; per-network values under ``"<value>:<network>"`` (``decode_identity:face_identity``).
    The network RDMs, read only by :func:`compare_uploaded_face_regions`, are left out."""
    from core.workflows.faces import FaceAnalysisResult, FaceComparison
    from core.workflows.store import load_result

    prefix = _finished_result(path, "faces", "No face analysis at that location: run it first", ".json")
    result = load_result(prefix, (FaceAnalysisResult, FaceComparison))
    plain = {}
    for name in type(result).__dataclass_fields__:
        value = getattr(result, name)
        if name == "network_rdms":
            continue
        if name in ("decode_identity", "decode_expression", "chance", "congruence", "congruence_chance"):
            plain.update({f"{name}:{network}": v for network, v in value.items()})
        elif name == "meta":
            plain.update(value)
        else:
            plain[name] = [list(v) if isinstance(v, tuple) else v for v in value] if isinstance(value, tuple) else value
    return plain


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

    The file is checked by :func:`read_face_patterns` and compared by
    ``core.workflows.faces.compare_uploaded_regions``. The result (keyed by the file's content and the
    analysis) is stored beside it; returns its path for :func:`face_analysis_result`.
    """
    from core.workflows.faces import FaceAnalysisResult, compare_uploaded_regions
    from core.workflows.store import is_stored, load_result, save_result

    report = _reporter(progress)
    if not analysis:
        raise UserError("Run the analysis first: uploaded regions are compared with its network RDMs "
                         "(same 48 faces)")
    prefix = _finished_result(analysis, "faces", "No face analysis at that location: run it first", ".json")
    result = load_result(prefix, FaceAnalysisResult)
    report(0.0, "checking the file")
    patterns = read_face_patterns(data, filename)
    digest = hashlib.sha256(data).hexdigest()[:16]
    upload = cache_dir() / "faces" / "uploads" / f"{digest}-{Path(analysis).name}"
    if not is_stored(upload):
        meta = {"filename": Path(filename or "upload").name,
                "shapes": {region: list(values.shape) for region, values in patterns.items()}}
        save_result(compare_uploaded_regions(patterns, result, meta=meta, progress=progress), upload)
    report(1.0, "done")
    return str(upload)


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


def face_region_map(selected: str) -> CorticalMap:
    """fsLR-32k map of the face regions: 2 in ``selected``, 1 in the others, NaN elsewhere (codes, no units)."""
    if selected not in FACE_REGIONS:
        raise ValueError(f"Unknown region={selected!r}; choose from {list(FACE_REGIONS)}")
    values = np.full(cortex.N_VERTICES["fsLR32k"], np.nan, dtype=np.float32)
    for region, vertices in _face_region_grayordinates().items():
        values[vertices] = 2.0 if region == selected else 1.0
    return CorticalMap(values, "fsLR32k", f"face regions ({selected} selected)")


def face_region_at(view: str, trace: int, mesh_vertex: int) -> str | None:
    """The ``FACE_REGIONS`` entry under a clicked mesh vertex (trace 0 = left, 1 = right), or None."""
    index = grayordinate_at(view, trace, mesh_vertex)
    if index is None:
        return None
    hemisphere, _, area = vertex_roi_names()[index].partition("_")
    region = f"{area}_{hemisphere}"
    return region if region in FACE_REGIONS else None
