"""Importers: a folder on disk → a checked :class:`~core.studies.store.StudyPlan` → a study in the store.

``algonauts2023``
    One subject folder of the Algonauts 2023 challenge (NSD): ``training_split/training_fmri/{lh,rh}_training_
    fmri.npy`` (images × challenge vertices), ``training_split/training_images/train-NNNN_nsd-NNNNN.png`` (rows in
    file-name order), optional ``test_split/test_images/test-NNNN_nsd-NNNNN.png`` (no responses),
    ``roi_masks/{lh,rh}.all-vertices_fsaverage_space.npy`` (which of the 163,842 fsaverage vertices of each
    hemisphere are challenge vertices) and any ``roi_masks/{lh,rh}.<class>_challenge_space.npy`` (region id per
    challenge vertex). The pickled ``roi_masks/mapping_<class>.npy`` files are never read: region names come
    from the published tables in ``data/algonauts2023_rois.json``.
``folder``
    ``stimuli/`` (images; a sub-folder's name is its images' category; rows in the order of
    ``core.stimuli.from_folder``) or ``stimuli.tsv`` (tab-separated, header ``file`` and optional ``category``,
    ``repetition``; one line per response row; a file named on several lines was presented several times),
    and one responses file (``core.studies.sources.RESPONSE_PATTERNS``). Optional: ``ncsnr.npy`` (one value
    per response column) and ``rois/<class>.npy`` (one value per response column: boolean, or integer ids
    named by ``rois/<class>.tsv`` with lines ``id<TAB>name``).
``simulated``
    The studio's default simulated subject viewing the stimulus library, written in the ``folder`` layout by
    ``core.studies.simulate`` and imported by the ``folder`` code (no path).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import UserError, choices_text
from core.studies.sources import (
    ALGONAUTS_ROI_TABLES_PATH,
    Responses,
    _ColumnStack,
    algonauts_roi_tables,
    read_npy,
    read_responses_file,
)
from core.studies.store import StudyPlan, studies_dir, write_study
from core.studies.study import SPACES, Study

__all__ = ["ALGONAUTS_ROI_TABLES_PATH", "IMPORTERS", "algonauts_roi_tables", "import_study", "plan_folder"]


#: Image names of the challenge folders (4 digits in the challenge; more are read, in number order).
_TRAIN_IMAGE = re.compile(r"train-(\d{4,})_nsd-(\d{5})\.png")
_TEST_IMAGE = re.compile(r"test-(\d{4,})_nsd-(\d{5})\.png")
_CHALLENGE_MASK = re.compile(r"([lr]h)\.(.+)_challenge_space\.npy")
_FSAVERAGE_HEMISPHERE = SPACES["fsaverage"][0]


def _inside(path: Path, within: Path | None, display: str) -> Path:
    """``path`` resolved; when ``within`` is given (imports from the app), it must lie inside it."""
    resolved = path.resolve()
    if within is not None and not resolved.is_relative_to(within.resolve()):
        raise UserError(f"{display} lies outside the folders the app may import from (through '..' or a link); "
                        "keep every file of the study inside its folder")
    return resolved


def _load_small_npy(path: Path, display: str) -> np.ndarray:
    """A mask or per-vertex array (never unpickled)."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise UserError(f"{display} holds pickled Python objects, which the studio never loads (unpickling can "
                            "run code); save a plain numeric array") from exc
        raise UserError(f"Could not read {display}: it is not a valid NumPy .npy file") from exc
    except (OSError, EOFError) as exc:
        raise UserError(f"Could not read {display}: it is not a valid NumPy .npy file") from exc


def _per_column(array: np.ndarray, n_columns: int, display: str, what: str) -> np.ndarray:
    if array.ndim != 1 or len(array) != n_columns:
        raise UserError(f"{display} has shape {array.shape}; expected {n_columns:,} values, {what}")
    return array


def _roi_labels(labels: np.ndarray, names: dict, display: str) -> np.ndarray:
    if labels.dtype.kind not in "iub":
        raise UserError(f"{display} holds {labels.dtype} values; expected integer region ids")
    unknown = sorted(set(np.unique(labels).tolist()) - set(names) - {0})
    if unknown:
        raise UserError(f"{display} holds region ids {unknown[:10]} that its table does not name (it names "
                        f"{choices_text(sorted(names))})")
    return labels.astype(np.int32)


# ---------------------------------------------------------------------------------------------- algonauts


def _numbered_images(folder: Path, pattern: re.Pattern, display: str) -> list[Path]:
    """Images named like ``train-0001_nsd-00013.png`` in number order, numbered 1..n without gaps."""
    files = [p for p in folder.iterdir() if not p.name.startswith(".")]
    strangers = sorted(p.name for p in files if not pattern.fullmatch(p.name))
    if strangers:
        example = pattern.pattern.split("-")[0] + "-NNNN_nsd-NNNNN.png"
        raise UserError(f"{display} holds files not named like {example}: {', '.join(strangers[:5])}")
    files.sort(key=lambda p: int(pattern.fullmatch(p.name).group(1)))
    numbers = [int(pattern.fullmatch(p.name).group(1)) for p in files]
    missing = sorted(set(range(1, len(files) + 1)) - set(numbers))
    if missing:
        raise UserError(f"{display}: image number {missing[0]:04d} is missing (the images must be numbered 1 to "
                        f"{len(files)} without gaps, one per row of the responses)")
    return files


def _fsaverage_mask(path: Path, display: str) -> np.ndarray:
    mask = _load_small_npy(path, display)
    if mask.shape != (_FSAVERAGE_HEMISPHERE,):
        raise UserError(f"{display} has shape {mask.shape}; expected ({_FSAVERAGE_HEMISPHERE:,},): one value per "
                        "fsaverage vertex of the hemisphere")
    if mask.dtype.kind not in "biu" or not np.isin(mask, (0, 1, 2)).all():
        raise UserError(f"{display} must be a boolean mask (or 0/1) over the fsaverage vertices")
    return np.flatnonzero(mask)


def plan_algonauts(path: Path, *, within: Path | None = None, **_) -> StudyPlan:
    """The plan of one Algonauts 2023 subject folder (see the module docstring)."""
    name = path.name
    fmri = path / "training_split" / "training_fmri"
    parts, vertices, hemispheres = [], [], ("lh", "rh")
    for hemisphere in hemispheres:
        file = fmri / f"{hemisphere}_training_fmri.npy"
        display = f"{name}/training_split/training_fmri/{file.name}"
        if not file.is_file():
            raise UserError(f"{display} is missing: the algonauts2023 layout needs both hemispheres "
                            "(lh_training_fmri.npy and rh_training_fmri.npy)")
        parts.append(read_npy(_inside(file, within, display), display))
        mask_file = path / "roi_masks" / f"{hemisphere}.all-vertices_fsaverage_space.npy"
        mask_display = f"{name}/roi_masks/{mask_file.name}"
        if not mask_file.is_file():
            raise UserError(f"{mask_display} is missing: it says which fsaverage vertices the columns of {file.name} "
                            "are")
        selected = _fsaverage_mask(_inside(mask_file, within, mask_display), mask_display)
        if len(selected) != parts[-1].n_columns:
            raise UserError(f"{mask_display} selects {len(selected):,} vertices but {display} has "
                            f"{parts[-1].n_columns:,} columns; they must match (same subject?)")
        vertices.append(selected + (_FSAVERAGE_HEMISPHERE if hemisphere == "rh" else 0))
    responses = Responses(_ColumnStack(parts, f"{name}/training_split/training_fmri/{{lh,rh}}_training_fmri.npy"),
                          "fsaverage", np.concatenate(vertices))
    image_folder = path / "training_split" / "training_images"
    if not image_folder.is_dir():
        raise UserError(f"{name}/training_split/training_images/ is missing")
    images = _numbered_images(image_folder, _TRAIN_IMAGE, f"{name}/training_split/training_images")
    test_folder = path / "test_split" / "test_images"
    tests = _numbered_images(test_folder, _TEST_IMAGE, f"{name}/test_split/test_images") \
        if test_folder.is_dir() else []
    roi_classes, notes = {}, []
    tables = algonauts_roi_tables()
    found = {}
    for file in sorted((path / "roi_masks").glob("*_challenge_space.npy")):
        match = _CHALLENGE_MASK.fullmatch(file.name)
        if match:
            found.setdefault(match.group(2), {})[match.group(1)] = file
    for class_name, files in found.items():
        if set(files) != set(hemispheres):
            have = next(iter(files))
            raise UserError(f"{name}/roi_masks/{files[have].name} has no "
                            f"{'rh' if have == 'lh' else 'lh'}.{class_name}_challenge_space.npy (a hemisphere is "
                            "missing)")
        names = tables.get(class_name)
        if names is None:
            notes.append(f"ROI class {class_name} has no published name table here; its regions are named by id")
        labels = []
        for hemisphere, part in zip(hemispheres, parts, strict=True):
            display = f"{name}/roi_masks/{files[hemisphere].name}"
            array = _per_column(_load_small_npy(_inside(files[hemisphere], within, display), display),
                                part.n_columns, display, f"one per column of {hemisphere}_training_fmri.npy")
            if names is None:
                names = {int(i): f"{class_name} {int(i)}" for i in np.unique(array) if i != 0}
            labels.append(_roi_labels(array, names, display))
        roi_classes[class_name] = (np.concatenate(labels), names)
    if found:
        notes.append("ROI names from the published NSD tables (data/algonauts2023_rois.json); the pickled "
                     "roi_masks/mapping_*.npy files were not read")
    notes.append("responses are NSD betas z-scored per session and averaged over each image's repeats (Algonauts "
                  "2023), so the study has no repeats")
    n = len(images)
    return StudyPlan(
        format="algonauts2023", source=path, responses=responses,
        images=[_inside(p, within, p.name) for p in images],
        image_ids=[p.relative_to(path).as_posix() for p in images], categories=[""] * n,
        presentations=np.column_stack([np.arange(n), np.zeros(n, np.int64)]),
        rows_name=responses.source.name, stimuli_text=f"{name}/training_split/training_images holds {n:,} images",
        test_images=[_inside(p, within, p.name) for p in tests],
        test_ids=[p.relative_to(path).as_posix() for p in tests], roi_classes=roi_classes, notes=notes)


# ---------------------------------------------------------------------------------------------- folder


def _stimuli_from_tsv(path: Path, within: Path | None, display: str):
    """Images, ids, categories and presentations from ``stimuli.tsv``."""
    tsv = path / "stimuli.tsv"
    try:
        with open(tsv, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"Could not read {display}/stimuli.tsv: it must be a tab-separated UTF-8 text file") from exc
    if "file" not in header:
        raise UserError(f"{display}/stimuli.tsv needs a header line with a 'file' column (and optionally 'category' "
                        "and 'repetition'), separated by tabs")
    if not rows:
        raise UserError(f"{display}/stimuli.tsv lists no stimulus")
    index, images, ids, categories, presentations, seen = {}, [], [], [], [], {}
    for line, row in enumerate(rows, 2):
        where = f"{display}/stimuli.tsv line {line}"
        file = (row.get("file") or "").strip()
        if not file or Path(file).is_absolute():
            raise UserError(f"{where}: the file must be a path relative to the study folder, got {file!r}")
        image = _inside(path / file, within, f"{where}: {file}")
        if not image.is_file():
            raise UserError(f"{where}: {file} does not exist")
        category = (row.get("category") or "").strip()
        if image not in index:
            index[image] = len(images)
            images.append(image)
            ids.append(Path(file).as_posix())
            categories.append(category)
        elif categories[index[image]] != category:
            raise UserError(f"{where}: {file} has category {category!r} here but {categories[index[image]]!r} "
                            "earlier; give each image one category")
        stimulus = index[image]
        text = (row.get("repetition") or "").strip()
        try:
            repetition = int(text) if text else seen.get(stimulus, -1) + 1
        except ValueError as exc:
            raise UserError(f"{where}: repetition {text!r} is not a whole number") from exc
        if repetition < 0 or (stimulus, repetition) in presentations:
            raise UserError(f"{where}: {file} repetition {repetition} is negative or listed twice")
        seen[stimulus] = max(seen.get(stimulus, -1), repetition)
        presentations.append((stimulus, repetition))
    return images, ids, categories, np.asarray(presentations, dtype=np.int64)


def _stimuli_from_folder(path: Path, within: Path | None, display: str):
    from core.stimuli import from_folder

    stimuli = from_folder(path / "stimuli")
    images = [_inside(Path(s), within, f"{display}/stimuli/{i}") for s, i in zip(stimuli.sources, stimuli.ids,
                                                                                      strict=True)]
    n = len(images)
    return (images, [f"stimuli/{i}" for i in stimuli.ids], list(stimuli.labels),
            np.column_stack([np.arange(n), np.zeros(n, np.int64)]))


def _folder_rois(path: Path, n_columns: int, within: Path | None, display: str) -> dict:
    classes = {}
    for file in sorted((path / "rois").glob("*.npy")):
        where = f"{display}/rois/{file.name}"
        labels = _per_column(_load_small_npy(_inside(file, within, where), where), n_columns, where,
                             "one per response column")
        name = file.name[:-len(".npy")]
        if labels.dtype == bool:
            classes[name] = (labels.astype(np.int32), {1: name})
            continue
        table = file.with_suffix(".tsv")
        if not table.is_file():
            raise UserError(f"{where} holds region ids; add {display}/rois/{table.name} with lines 'id<TAB>name'")
        names = {}
        for line in _inside(table, within, table.name).read_text(encoding="utf-8").splitlines():
            fields = line.strip().split("\t")
            if len(fields) == 2 and fields[0].strip().lstrip("-").isdigit():
                names[int(fields[0])] = fields[1].strip()
            elif line.strip():
                raise UserError(f"{display}/rois/{table.name}: the line {line!r} is not 'id<TAB>name'")
        names.pop(0, None)
        classes[name] = (_roi_labels(labels, names, where), names)
    return classes


def plan_folder(path: Path, *, within: Path | None = None, format: str = "folder", display: str | None = None,
                **_) -> StudyPlan:
    """The plan of a ``folder``-layout study (see the module docstring); ``display`` names it in messages."""
    display = display or path.name
    has_folder, has_tsv = (path / "stimuli").is_dir(), (path / "stimuli.tsv").is_file()
    if has_folder == has_tsv:
        raise UserError(f"{display} needs exactly one of stimuli/ (images, sub-folders = categories) or stimuli.tsv "
                        f"(file, category, repetition); it has {'both' if has_folder else 'neither'}")
    reader = _stimuli_from_tsv if has_tsv else _stimuli_from_folder
    images, ids, categories, presentations = reader(path, within, display)
    for file in path.iterdir():
        if file.name.startswith("responses"):
            _inside(file, within, f"{display}/{file.name}")
    responses = read_responses_file(path, display)
    ncsnr = None
    if (path / "ncsnr.npy").is_file():
        where = f"{display}/ncsnr.npy"
        ncsnr = _per_column(_load_small_npy(_inside(path / "ncsnr.npy", within, where), where),
                            responses.source.n_columns, where, "one per response column").astype(np.float32)
    return StudyPlan(
        format=format, source=path, responses=responses, images=images, image_ids=ids, categories=categories,
        presentations=presentations, rows_name=responses.source.name,
        stimuli_text=(f"{display}/stimuli.tsv lists {len(presentations):,} presentations" if has_tsv else
                      f"{display}/stimuli holds {len(images):,} images"), ncsnr=ncsnr,
        roi_classes=_folder_rois(path, responses.source.n_columns, within, display))


def plan_simulated(path, *, scratch: Path, progress=None, options=None, **_) -> StudyPlan:
    """The default simulated subject written in the folder layout into ``scratch``, then planned as a folder.

    ``options`` go to :func:`core.studies.simulate.write_default_study` (``max_images``, ``n_repeats``...).
    """
    from core.studies.simulate import write_default_study

    folder = scratch / "simulated"
    write_default_study(folder, progress=progress, **(options or {}))
    return plan_folder(folder, format="simulated")


#: Format → (planner, images copied by default, description).
IMPORTERS = {
    "algonauts2023": (plan_algonauts, False, "one subject folder of the Algonauts 2023 challenge (NSD)"),
    "folder": (plan_folder, False, "stimuli/ or stimuli.tsv + responses.* (npy, npz, dscalar, GIFTI, MGH, NIfTI)"),
    "simulated": (plan_simulated, True, "the studio's simulated subject viewing the stimulus library"),
}


def import_study(format: str, path, name: str, progress: Callable[[float, str], None] | None = None, *,
                 copy_images: bool | None = None, within: Path | None = None, options: dict | None = None) -> Study:
    """Import a study into the store, validated; nothing is left under ``name`` when it fails.

    Parameters
    ----------
    format : str
        A key of :data:`IMPORTERS`.
    path : str or Path or None
        The folder to import (``None`` for ``simulated``).
    name : str
        Name in the store: letters, digits, ``-`` and ``_``.
    progress : callable(fraction, message), optional
    copy_images : bool, optional
        Copy the images into the study; default: referenced in place, except for ``simulated``.
    within : Path, optional
        Refuse files that resolve outside this folder (the app passes its allowed root, see
        :func:`core.studies.resolve_in_allowed_roots`); the command line reads what its user names.
    options : dict, optional
        Settings of the format (``simulated``: those of ``core.studies.simulate.write_default_study``).

    Returns
    -------
    Study

    Raises
    ------
    core.errors.UserError
        Bad input; the message names the file and the problem.
    """
    from core.studies.store import check_study_name

    if format not in IMPORTERS:
        raise UserError(f"Unknown study format {format!r}; choose from {choices_text(sorted(IMPORTERS))}")
    check_study_name(name)
    planner, copy_default, _ = IMPORTERS[format]
    if format != "simulated":
        if path is None or not Path(path).is_dir():
            raise UserError(f"{path}: no such folder (the {format} format imports a folder)")
        path = Path(path).resolve()
    root = studies_dir()
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".import-{name}-{os.getpid()}-scratch", dir=root))
    try:
        plan = planner(path, within=within, scratch=scratch, options=options, progress=None if progress is None else
                       (lambda fraction, message: progress(0.5 * fraction, message)))
        inner = progress if progress is None or format != "simulated" else (
            lambda fraction, message: progress(0.5 + 0.5 * fraction, message))
        return write_study(plan, name, copy=copy_default if copy_images is None else copy_images, progress=inner)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
