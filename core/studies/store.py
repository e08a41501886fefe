"""The studio's store of studies: ``core.weights.cache_dir() / "studies" / NAME``.

A study folder holds ``responses.npy`` (float32, presentations × vertices, read by memory map),
``presentations.npy``, ``vertices.npy``, ``source_columns.npy``, optional ``ncsnr.npy`` and ``rois/<class>.npy``,
optional ``images/`` (copied images) and ``study.json`` (stimuli, ROI tables, provenance). An import writes
everything into a hidden temporary sibling folder, writes ``study.json`` last and renames the folder into
place, so a killed import never leaves a half-written study under its name (the hidden folder it leaves is
removed by the next import once its process is gone).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.studies.images import check_images, copy_images
from core.studies.sources import Responses, read_npy, write_npy_header
from core.studies.study import Study, read_study, study_json

__all__ = ["STUDY_FORMAT_VERSION", "StudyPlan", "check_study_name", "list_studies", "load_study", "remove_study",
           "resolve_in_allowed_roots", "studies_dir", "write_study"]

STUDY_FORMAT_VERSION = 1

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TEMPORARY = re.compile(r"\.(?:import|remove|fit)-(?:.*-)?(\d+)-[^-]*")

#: Why each kind of vertex is dropped (provenance).
DROP_REASONS = {"nan": "with missing (NaN) or infinite values in at least one row",
                "constant": "with the same value in every row (nothing to model)"}


def studies_dir() -> Path:
    """Folder of the store (not created here)."""
    from core.runtime import cache_folder

    return cache_folder("studies")


def check_study_name(name: str) -> str:
    """``name`` if it can name a study: letters, digits, ``-`` and ``_`` (1 to 64), so never a path."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(f"The study name {name!r} cannot be used: use 1 to 64 letters, digits, '-' or '_' (no "
                        "spaces, dots or path separators), e.g. 'nsd-subj01'")
    return name


def list_studies() -> list[str]:
    """Names of the studies in the store, sorted."""
    root = studies_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _NAME.fullmatch(p.name) and (p / "study.json").is_file())


def load_study(name: str, *, check_images: bool = True) -> Study:
    """A study of the store.

    Parameters
    ----------
    name : str
    check_images : bool
        Check that every image is where it was and unchanged (``Study.check_images``).

    Raises
    ------
    core.errors.UserError
        No such study, an unreadable study folder, or images missing or changed since the import.
    """
    folder = studies_dir() / check_study_name(name)
    if not (folder / "study.json").is_file():
        known = list_studies()
        raise UserError(f"There is no study named {name!r}; " + (
            f"the studies are {', '.join(known)}" if known else "no study has been imported yet"))
    try:
        study = read_study(folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"Study {name!r} cannot be read (its folder is damaged); remove it and import it again") \
            from exc
    if check_images:
        problems = study.check_images()
        if problems:
            raise UserError(f"Study {name!r}: {len(problems)} images are missing or changed since the import ("
                            + "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
                            + "). Put them back, or remove the study and import it again")
    return study


def remove_study(name: str) -> None:
    """Remove a study from the store (renamed away first, so it vanishes at once)."""
    folder = studies_dir() / check_study_name(name)
    if not (folder / "study.json").is_file():
        raise UserError(f"There is no study named {name!r} to remove")
    trash = Path(tempfile.mkdtemp(prefix=f".remove-{name}-{os.getpid()}-", dir=folder.parent))
    os.replace(folder, trash / name)
    shutil.rmtree(trash, ignore_errors=True)


def resolve_in_allowed_roots(path) -> Path:
    """``path`` resolved, if it lies inside a folder of ``VFS_DATA_ROOTS`` (the app imports only from there).

    ``VFS_DATA_ROOTS`` lists folders separated by ``os.pathsep``; none by default, and then nothing can be
    imported by path from the app (the command line may import any folder its user names).

    Raises
    ------
    core.errors.UserError
        No allowed folder is set, the path does not exist, or it lies outside every allowed folder (links
        are followed before the check).
    """
    roots = [Path(r).expanduser().resolve() for r in os.environ.get("VFS_DATA_ROOTS", "").split(os.pathsep)
             if r.strip()]
    if not roots:
        raise UserError("The app may import studies only from folders named in VFS_DATA_ROOTS, and none is set: "
                        f"set VFS_DATA_ROOTS to your data folders (separated by '{os.pathsep}') and restart the app, "
                        "or import from the command line (python -m core study import)")
    try:
        resolved = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"{path}: no such folder") from exc
    if not any(resolved.is_relative_to(root) for root in roots):
        raise UserError(f"{path} lies outside the folders the app may import from "
                        f"({', '.join(str(r) for r in roots)}); move the study there or add its folder to "
                        "VFS_DATA_ROOTS")
    return resolved


# ---------------------------------------------------------------------------------------------- writing


@dataclass
class StudyPlan:
    """What an importer found, checked for consistency, ready to be written.

    Attributes
    ----------
    format : str
    source : Path
        The imported folder.
    responses : Responses
        Row source, space and data vertex of each column (columns in the source's order).
    images : list of Path
        Distinct stimuli, in stimulus order; ``image_ids`` and ``categories`` match.
    image_ids, categories : list of str
    presentations : ndarray of shape (n_rows, 2), int64
        Stimulus index and repetition of each response row.
    rows_name : str
        How to name the responses in messages.
    stimuli_text : str
        What the stimuli hold, for messages (e.g. "subj01/stimuli.tsv lists 750 presentations").
    test_images, test_ids : list
        Images without responses.
    roi_classes : dict of str to (ndarray of shape (n_columns,), dict of int to str)
    ncsnr : ndarray of shape (n_columns,) or None
    notes : list of str
    """

    format: str
    source: Path
    responses: Responses
    images: list
    image_ids: list
    categories: list
    presentations: np.ndarray
    rows_name: str
    stimuli_text: str
    test_images: list = field(default_factory=list)
    test_ids: list = field(default_factory=list)
    roi_classes: dict = field(default_factory=dict)
    ncsnr: np.ndarray | None = None
    notes: list = field(default_factory=list)

    def check(self) -> None:
        """Rows match presentations; per-column arrays match the columns."""
        source = self.responses.source
        if source.n_rows != len(self.presentations):
            raise UserError(f"{self.rows_name} has {source.n_rows:,} rows but {self.stimuli_text}; the rows must "
                            "match them one to one, in the same order")
        if source.n_rows == 0:
            raise UserError(f"{self.rows_name} has no rows")
        if len(self.responses.vertices) != source.n_columns:
            raise ValueError("one data vertex per column is needed")


def _report(progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def remove_stale_scratch(root: Path) -> None:
    """Remove the hidden scratch folders in ``root`` (``.import-NAME-PID-*``, ``.remove-…``, ``.fit-PID-*``) whose
    process is gone (killed or cancelled jobs)."""
    for folder in root.iterdir():
        match = _TEMPORARY.fullmatch(folder.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass


def _write_responses(source, folder: Path, progress, span: tuple[float, float]) -> tuple[np.ndarray, dict]:
    """Stream the rows into ``folder/responses.npy``, dropping NaN/infinite and constant columns.

    Returns the kept columns (source order) and the drop counts. At most one block of rows is in memory.
    """
    n_rows, n_columns = source.n_rows, source.n_columns
    finite = np.ones(n_columns, bool)
    low = np.full(n_columns, np.inf, np.float32)
    high = np.full(n_columns, -np.inf, np.float32)
    everything = folder / "responses-all.npy"
    start_fraction, stop_fraction = span
    with open(everything, "wb") as handle:
        write_npy_header(handle, n_rows, n_columns)
        for start in range(0, n_rows, source.chunk_rows):
            stop = min(start + source.chunk_rows, n_rows)
            block = source.read(start, stop)
            if block.shape != (stop - start, n_columns):
                raise ValueError(f"{source.name}: read {block.shape}, expected {(stop - start, n_columns)}")
            finite &= np.isfinite(block).all(axis=0)
            np.fmin(low, np.fmin.reduce(block, axis=0), out=low)
            np.fmax(high, np.fmax.reduce(block, axis=0), out=high)
            np.ascontiguousarray(block, dtype="<f4").tofile(handle)
            _report(progress, start_fraction + (stop_fraction - start_fraction) * stop / n_rows,
                    f"responses: {stop:,}/{n_rows:,} rows")
    constant = finite & (high <= low)
    keep = np.flatnonzero(finite & ~constant)
    dropped = {"nan": int((~finite).sum()), "constant": int(constant.sum())}
    if not len(keep):
        raise UserError(f"Every one of the {n_columns:,} vertices of {source.name} is NaN, infinite or constant; "
                        f"there is nothing to model{getattr(source, 'hint', '')}")
    if len(keep) == n_columns:
        os.replace(everything, folder / "responses.npy")
        return keep, dropped
    written = read_npy(everything, source.name)
    with open(folder / "responses.npy", "wb") as handle:
        write_npy_header(handle, n_rows, len(keep))
        for start in range(0, n_rows, written.chunk_rows):
            stop = min(start + written.chunk_rows, n_rows)
            np.ascontiguousarray(written.read(start, stop)[:, keep]).tofile(handle)
    everything.unlink()
    return keep, dropped


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array, allow_pickle=False)


def write_study(plan: StudyPlan, name: str, *, copy: bool = False,
                progress: Callable[[float, str], None] | None = None) -> Study:
    """Write a checked plan into the store as study ``name`` (temporary folder, ``study.json`` last, rename).

    Parameters
    ----------
    plan : StudyPlan
    name : str
    copy : bool
        Copy the images into the study (else they are referenced in place).
    progress : callable(fraction, message), optional

    Returns
    -------
    Study
    """
    import core

    check_study_name(name)
    root = studies_dir()
    if (root / name).exists():
        raise UserError(f"A study named {name!r} already exists; choose another name or remove it first "
                        f"(python -m core study remove --name {name})")
    plan.check()
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_scratch(root)
    folder = Path(tempfile.mkdtemp(prefix=f".import-{name}-{os.getpid()}-", dir=root))
    try:
        _report(progress, 0.0, f"checking {len(plan.images) + len(plan.test_images):,} images")
        n_images = max(1, len(plan.images) + len(plan.test_images))
        stimuli = check_images(plan.images, plan.image_ids, plan.categories, progress=lambda done, total: _report(
            progress, 0.4 * done / n_images, f"images: {done:,}/{n_images:,} decoded"))
        tests = check_images(plan.test_images, plan.test_ids, [""] * len(plan.test_images),
                             progress=lambda done, total: _report(
                                 progress, 0.4 * (len(plan.images) + done) / n_images,
                                 f"images: {len(plan.images) + done:,}/{n_images:,} decoded"))
        if copy:
            _report(progress, 0.4, "copying images")
            stimuli, tests = copy_images(stimuli, folder, "images"), copy_images(tests, folder, "images")
        keep, dropped = _write_responses(plan.responses.source, folder, progress, (0.42, 0.97))
        _save(folder / "presentations.npy", np.asarray(plan.presentations, dtype=np.int64))
        _save(folder / "vertices.npy", plan.responses.vertices[keep].astype(np.int64))
        _save(folder / "source_columns.npy", keep.astype(np.int64))
        if plan.ncsnr is not None:
            _save(folder / "ncsnr.npy", np.asarray(plan.ncsnr, dtype=np.float32)[keep])
        for class_name, (labels, _) in plan.roi_classes.items():
            _save(folder / "rois" / f"{class_name}.npy", np.asarray(labels, dtype=np.int32)[keep])
        info = {
            "study_format": STUDY_FORMAT_VERSION, "name": name, "format": plan.format,
            "space": plan.responses.space, "n_source_columns": int(plan.responses.source.n_columns),
            "has_ncsnr": plan.ncsnr is not None,
            "roi_classes": {c: {str(k): v for k, v in names.items()} for c, (_, names) in plan.roi_classes.items()},
            "stimuli": [dataclasses.asdict(s) for s in stimuli], "test_images": [dataclasses.asdict(s) for s in tests],
            "provenance": {
                "format": plan.format, "source": str(plan.source),
                "imported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "import_id": uuid.uuid4().hex,  # two imports in one second differ (fits are keyed by study.json)
                "tool_version": f"virtual-fmri-studio {core.__version__} (study format {STUDY_FORMAT_VERSION})",
                "images": "copied into the study" if copy else "referenced in place (checked by sha256)",
                "dropped": {kind: {"count": count, "reason": DROP_REASONS[kind]} for kind, count in dropped.items()},
                "notes": list(plan.responses.notes) + list(plan.notes),
            },
        }
        (folder / "study.json").write_text(study_json(info))
        if (root / name).exists():
            raise UserError(f"A study named {name!r} was imported meanwhile; choose another name")
        os.replace(folder, root / name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _report(progress, 1.0, f"study {name} imported")
    return load_study(name, check_images=False)
