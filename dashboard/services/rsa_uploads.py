"""Uploads of the Model–Brain RSA page: stimulus sets and brain RDM files, checked and stored.

Uploads go to the private upload folder (``dashboard.services._files``), each set in a folder named by the hash of
its content: stimuli as ``rsa-stimuli-<hash>/`` (images plus a ``stimuli.tsv`` giving their order), RDM files as
``rsa-rdms-<hash>/<name>``. The page keeps only those folder names, never a path the browser could choose; the job
(``dashboard.services.model_brain_rsa.run_rsa``) reads them back through :func:`stimulus_set` and :func:`rdm_path`.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import re
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import UserError, choices_text
from dashboard import services
from dashboard.services._files import _uploaded_file

__all__ = [
    "LIBRARY",
    "MAX_RDM_FILES",
    "MAX_RDM_UPLOAD_BYTES",
    "MAX_STIMULI",
    "MAX_STIMULUS_UPLOAD_BYTES",
    "rdm_path",
    "save_rdm_uploads",
    "save_stimulus_upload",
    "stimulus_order",
    "stimulus_order_tsv",
    "stimulus_set",
]

#: Largest stimulus upload (a zip, or the images together) and largest RDM file, in bytes (sent and unpacked).
MAX_STIMULUS_UPLOAD_BYTES = 64 * 2**20
MAX_RDM_UPLOAD_BYTES = 64 * 2**20
#: Most images in an uploaded stimulus set, and most RDM files in one upload.
MAX_STIMULI = 2000
MAX_RDM_FILES = 20
#: The stimulus-set choice "the studio's stimulus library".
LIBRARY = "library"
_STIMULI_PREFIX = "rsa-stimuli-"
_RDMS_PREFIX = "rsa-rdms-"
_FILE_NAME = re.compile(r"[^\w.\- ]")


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


def stimulus_set(choice: str):
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
    stimuli = stimulus_set(choice)
    return [{"position": i, "file": s, "label": label}
            for i, (s, label) in enumerate(zip(stimuli.ids, stimuli.labels, strict=True), start=1)]


def stimulus_order_tsv(choice: str) -> str:
    """The order as tab-separated text (``position``, ``file``, ``label``), readable back as a ``stimuli.tsv``."""
    from core.stimulus_order import stimulus_order_table

    return stimulus_order_table(stimulus_set(choice))


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
            labels = stimulus_set(stimuli).ids
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


def rdm_path(value: str) -> Path:
    path = _uploaded_file(value) if (value or "").startswith(_RDMS_PREFIX) else None
    if path is None or not path.is_file():
        raise UserError("An uploaded RDM file is no longer on the server: upload it again")
    return path
