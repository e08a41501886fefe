"""Face sets: :class:`FaceSet` and its loaders (folders, CSV files, the Yale Face Database)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from core.stimuli import IMAGE_EXTENSIONS, StimulusSet, decode_image, load_images

#: Value of :attr:`FaceSet.label_sources` for labels given by the user (folder names, CSV, file names).
USER_LABELS = "user"

@dataclass(frozen=True, eq=False)
class FaceSet:
    """Face images with their identity and expression labels and where the labels came from.

    Attributes
    ----------
    images : ndarray of shape (n_faces, height, width, 3), uint8, or core.stimuli.StimulusSet
        RGB pixels, or a (file-backed) stimulus set decoded on demand.
    identities : tuple of str, length n_faces
        Who each face is.
    expressions : tuple of str, length n_faces
        The expression (or condition) of each face.
    label_sources : dict of str to str
        For ``"identity"``, ``"expression"`` (and ``"gender"`` when given): ``"user"`` for labels
        the user supplied, ``"model: <zoo model>"`` for labels predicted by a network, or
        ``"generated: <how>"`` for labels fixed by construction. Model-made labels are predictions,
        not ground truth.
    ids : tuple of str, length n_faces
        Unique stimulus ids (RDM pattern labels); by default the stimulus set's ids or ``"0"``,
        ``"1"``, ...
    genders : tuple of str, length n_faces, or ()
        Optional gender labels; ``()`` when unknown.
    skipped : tuple of (str, str)
        ``(id, reason)`` of faces left out upstream (no face found, undecodable file).
    """

    images: object
    identities: tuple
    expressions: tuple
    label_sources: dict
    ids: tuple = ()
    genders: tuple = ()
    skipped: tuple = ()

    def __post_init__(self):
        if isinstance(self.images, StimulusSet):
            n = len(self.images)
            default_ids = self.images.ids
        else:
            images = np.asarray(self.images)
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
                raise ValueError(f"images must be a StimulusSet or uint8 of shape (n, height, width, 3), "
                                 f"got {images.dtype} {images.shape}")
            object.__setattr__(self, "images", images)
            n = len(images)
            default_ids = tuple(str(i) for i in range(n))
        for name in ("identities", "expressions", "ids", "genders"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        if not self.ids:
            object.__setattr__(self, "ids", tuple(default_ids))
        lengths = {"images": n, "identities": len(self.identities), "expressions": len(self.expressions),
                   "ids": len(self.ids)}
        if self.genders:
            lengths["genders"] = len(self.genders)
        if len(set(lengths.values())) > 1:
            raise ValueError(f"FaceSet fields differ in length: {lengths}")
        if n < 2:
            raise ValueError(f"A face set needs at least 2 faces, got {n}")
        repeated = sorted(i for i, count in Counter(self.ids).items() if count > 1)
        if repeated:
            raise ValueError(f"FaceSet ids must be unique; repeated: {repeated[:10]}")
        needed = {"identity", "expression"} | ({"gender"} if self.genders else set())
        missing = sorted(needed - set(self.label_sources))
        if missing:
            raise ValueError(f"label_sources lacks {missing}; it must name the source of {sorted(needed)}")
        object.__setattr__(self, "label_sources", dict(self.label_sources))
        object.__setattr__(self, "skipped", tuple((str(i), str(r)) for i, r in self.skipped))

    def __len__(self) -> int:
        return len(self.ids)

    def pixels(self) -> list[np.ndarray]:
        """Each face's RGB pixels at native size: list of ndarray (height, width, 3), uint8."""
        if not isinstance(self.images, StimulusSet):
            return list(self.images)
        if self.images.kind == "arrays":
            return [load_images(self.images, [k], size=self.images.pixels.shape[1:3])[0] for k in range(len(self))]
        return [decode_image(source, name=i) for source, i in zip(self.images.sources, self.ids, strict=True)]

    def subset(self, indices: Sequence[int]) -> FaceSet:
        """New face set with the faces at ``indices`` (in that order); ``skipped`` is kept."""
        indices = [int(i) for i in indices]
        images = (self.images.subset(indices) if isinstance(self.images, StimulusSet)
                  else self.images[indices])

        def pick(values: tuple) -> tuple:
            return tuple(values[i] for i in indices) if values else ()

        return FaceSet(images, pick(self.identities), pick(self.expressions), self.label_sources,
                       ids=pick(self.ids), genders=pick(self.genders), skipped=self.skipped)


def _file_face_set(paths: Sequence[Path], ids: Sequence[str], identities, expressions) -> FaceSet:
    n = len(paths)
    stimuli = StimulusSet(ids=tuple(ids), labels=tuple(identities), groups=("",) * n,
                          sources=tuple(str(p) for p in paths), licences=("",) * n)
    return FaceSet(stimuli, tuple(identities), tuple(expressions),
                   {"identity": USER_LABELS, "expression": USER_LABELS})


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_face_folder(root: str | os.PathLike) -> FaceSet:
    """Read a face set laid out as ``root/<identity>/<expression>/<image>``.

    Image files have any extension of ``core.stimuli.IMAGE_EXTENSIONS`` (any case); hidden files and
    folders are ignored. Labels are user-given (the folder names). No pixel is read here.

    Parameters
    ----------
    root : path-like

    Returns
    -------
    FaceSet
        File-backed; ids are the paths relative to ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a folder")
    paths, identities, expressions = [], [], []
    for identity in _visible_dirs(root):
        for expression in _visible_dirs(identity):
            for path in sorted(expression.iterdir()):
                if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS:
                    paths.append(path)
                    identities.append(identity.name)
                    expressions.append(expression.name)
    if not paths:
        raise ValueError(f"{str(root)!r} holds no images in the layout identity/expression/<image> "
                         f"(extensions {', '.join(IMAGE_EXTENSIONS)})")
    return _file_face_set(paths, [p.relative_to(root).as_posix() for p in paths], identities, expressions)


#: Columns :func:`load_face_csv` needs.
CSV_COLUMNS = ("path", "identity", "expression")


def _confined_path(folder: Path, relative: str, row: int) -> Path:
    """``folder / relative`` after checking that it stays inside ``folder`` (no absolute, no escape)."""
    if not relative or PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute() \
            or PureWindowsPath(relative).drive:
        raise ValueError(f"row {row}: path {relative!r} must be relative to the CSV's folder")
    resolved = (folder / relative).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise ValueError(f"row {row}: path {relative!r} leaves the CSV's folder {str(folder)!r}; refused")
    return resolved


def load_face_csv(csv_path: str | os.PathLike) -> FaceSet:
    """Read a face set listed in a CSV file with columns ``path, identity, expression``.

    Paths are relative to the CSV's folder and must stay inside it: absolute paths and paths that
    leave the folder (``..``, symbolic links pointing out) are refused. Labels are user-given.

    Parameters
    ----------
    csv_path : path-like
        UTF-8 CSV with a header row naming at least :data:`CSV_COLUMNS`.

    Returns
    -------
    FaceSet
        File-backed; ids are the paths as written in the CSV.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ValueError(f"{str(csv_path)!r} is not a file")
    folder = csv_path.parent
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{str(csv_path)!r} lacks columns {missing}; it has {reader.fieldnames}, "
                             f"needs {list(CSV_COLUMNS)}")
        rows = [(row["path"].strip(), row["identity"].strip(), row["expression"].strip()) for row in reader]
    if not rows:
        raise ValueError(f"{str(csv_path)!r} lists no faces")
    paths = [_confined_path(folder, path, k + 2) for k, (path, _, _) in enumerate(rows)]
    absent = [rows[k][0] for k, p in enumerate(paths) if not p.is_file()]
    if absent:
        raise ValueError(f"{str(csv_path)!r} lists missing files {absent[:10]}")
    return _file_face_set(paths, [PurePosixPath(r[0]).as_posix() for r in rows],
                          [r[1] for r in rows], [r[2] for r in rows])


#: The Yale Face Database's conditions (file suffixes).
YALE_CONDITIONS = ("centerlight", "glasses", "happy", "leftlight", "noglasses", "normal", "rightlight",
                   "sad", "sleepy", "surprised", "wink")

#: The Yale conditions that are facial expressions.
YALE_EXPRESSIONS = ("normal", "happy", "sad", "sleepy", "surprised", "wink")


def load_yale_faces(folder: str | os.PathLike, *, expressions: Sequence[str] = YALE_EXPRESSIONS) -> FaceSet:
    """Read the Yale Face Database (Belhumeur, Hespanha & Kriegman 1997): identity × condition.

    Files are named ``subjectNN.CONDITION`` without extension (GIF, 320×243 grey); 15 identities ×
    the 6 expressions of :data:`YALE_EXPRESSIONS` give 90 images. Missing files are simply absent
    from the set. Labels are user-given (the file names). Research use; cite the authors.

    Parameters
    ----------
    folder : path-like
    expressions : sequence of str
        Conditions to read, from :data:`YALE_CONDITIONS`.

    Returns
    -------
    FaceSet
        File-backed, ordered by identity then by the order of ``expressions``; ids are file names.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a folder")
    expressions = tuple(expressions)
    unknown = sorted(set(expressions) - set(YALE_CONDITIONS))
    if unknown or not expressions:
        raise ValueError(f"Unknown Yale conditions {unknown or list(expressions)}; choose from {list(YALE_CONDITIONS)}")
    subjects = sorted({p.stem for p in folder.iterdir() if p.is_file() and p.name.startswith("subject")})
    found = [(subject, condition) for subject in subjects for condition in expressions
             if (folder / f"{subject}.{condition}").is_file()]
    if not found:
        raise ValueError(f"{str(folder)!r} holds no Yale files subjectNN.{{{','.join(expressions)}}}")
    return _file_face_set([folder / f"{s}.{c}" for s, c in found], [f"{s}.{c}" for s, c in found],
                          [s for s, _ in found], [c for _, c in found])
