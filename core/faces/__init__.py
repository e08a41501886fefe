"""Identity- vs expression-trained networks against brain representations (Schwartz et al. 2023).

Schwartz, Alreja, Richardson, Ghuman & Anzellotti (J Neurosci 2023) compared deep networks
trained to recognise face identity with networks trained to recognise facial expression, layer by
layer, against intracranial (iEEG) face responses. This module holds the compute side:

- Face sets: :class:`FaceSet` (images + identity/expression labels + where each label came from);
  :func:`load_face_folder`, :func:`load_face_csv`, :func:`load_yale_faces`, and the embedded default
  :func:`make_default_face_set` (DCGAN faces whose labels are **made by networks**, see
  :func:`label_faces`).
- Face preparation: :func:`prepare_faces` / :func:`prepare_face_set` (detect → 68 landmarks → rotate
  the eyes level → square crop), reporting the images where no face is found.
- Network representations: :data:`FACE_NETWORKS` (identity net, two expression nets, ResNet-50 as a
  non-face control), :func:`network_features`, :func:`network_rdms`.
- Brain representations: :func:`brain_rdms_from_patterns` (iEEG electrodes or fMRI voxels ×
  stimuli, or ready RDMs),
  :func:`simulated_region_patterns` and :func:`simulated_region_rdms` (the simulated subject's regions).
- Statistics: :func:`compare_networks_to_regions` (region × network × layer similarity,
  condition-label permutation p, noise ceiling), :func:`identity_vs_expression_difference`
  (stimulus bootstrap of the difference of two model–brain correlations),
  :func:`decoding_transfer` (identity decoded across expressions, expression across identities) and
  :func:`subspace_congruence` (Tucker's congruence of the identity and expression subspaces).

Arrays are numpy at the boundary, stimuli on the first axis; results are float64.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.svm import LinearSVC

from core._validation import check_choice, check_finite_array, check_same_length
from core.rsa import (
    COMPARE_METHODS,
    RDM,
    RDM_METRICS,
    compare_rdms,
    compute_rdm,
    rdm_noise_ceiling,
    rdm_permutation_test,
)
from core.stimuli import IMAGE_EXTENSIONS, StimulusSet, decode_image, load_images

__all__ = [
    "CLASSIFIERS",
    "CSV_COLUMNS",
    "FACE_COMPARE_METHODS",
    "FACE_NETWORKS",
    "FEATURE_REDUCTIONS",
    "FULL_MAX_UNITS",
    "SUBSPACE_METHODS",
    "USER_LABELS",
    "YALE_CONDITIONS",
    "YALE_EXPRESSIONS",
    "DecodingTransfer",
    "DifferenceTest",
    "FaceLabels",
    "FaceNetwork",
    "FaceSet",
    "NetworkRegionComparison",
    "PreparedFaces",
    "SubspaceCongruence",
    "brain_rdms_from_patterns",
    "compare_networks_to_regions",
    "decoding_transfer",
    "identity_vs_expression_difference",
    "label_faces",
    "load_face_csv",
    "load_face_folder",
    "load_yale_faces",
    "make_default_face_set",
    "network_features",
    "network_rdms",
    "prepare_face_set",
    "prepare_faces",
    "simulated_region_patterns",
    "simulated_region_rdms",
    "subspace_congruence",
    "tucker_congruence",
]

#: Value of :attr:`FaceSet.label_sources` for labels given by the user (folder names, CSV, file names).
USER_LABELS = "user"


# ---------------------------------------------------------------------------------------------
# face sets
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# running zoo models
# ---------------------------------------------------------------------------------------------


def _model(model, device: str):
    """A zoo model from its name (built pretrained) or the module itself."""
    if isinstance(model, str):
        from core.models import build_model

        return build_model(model, device=device)
    return model


def _outputs(model, images: np.ndarray, *, layer: str = "fc", device: str = "cpu") -> np.ndarray:
    """Flattened output of one layer of a zoo model (``fc`` holds the output of the face nets)."""
    from core.features import extract_features

    return extract_features(model, images, layers=[layer], reduction="full", device=device)[layer].astype(np.float64)


def _uint8_batch(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 of shape (n, height, width, 3), got {images.dtype} {images.shape}")
    return images


# ---------------------------------------------------------------------------------------------
# face preparation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreparedFaces:
    """Aligned square face crops and the inputs where no face was found.

    Attributes
    ----------
    faces : ndarray of shape (n_found, size, size, 3), uint8
    indices : ndarray of shape (n_found,), int
        Position in the input of each face.
    failures : tuple of (int, str)
        ``(input position, reason)`` for every input left out.
    """

    faces: np.ndarray
    indices: np.ndarray
    failures: tuple


def _landmarks_in_crop(landmarker, crops: np.ndarray, device: str) -> np.ndarray:
    """68 landmarks in pixel coordinates of the square crops: (n, 68, 2)."""
    relative = _outputs(landmarker, crops, device=device).reshape(len(crops), 68, 2)
    return relative * crops.shape[1]


def prepare_faces(images, *, size: int = 160, align: bool = True, detect: bool = True, margin: float = 0.2,
                  min_confidence: float = 0.5, detector=None, landmarker=None,
                  device: str = "cpu") -> PreparedFaces:
    """Detect, align and crop faces, one per image.

    With ``detect=True`` each image goes through the SSD face detector
    (``core.models.face_detector.detect_faces``) and its highest-scoring face is kept. With
    ``align=True`` the detection box (square, no margin) is cropped to the input of the 68-landmark
    net (``"face_landmarks68"``, 112×112), which places the landmarks, and ``align_face`` rotates
    the image so that the eyes are level and crops the square around the landmarks enlarged by
    ``margin``. Without
    alignment the box itself is cropped square with ``margin`` (``crop_faces``). ``detect=False`` is
    for faces that are already cropped (DCGAN faces, aligned photo sets): the whole image is the face
    box.

    Parameters
    ----------
    images : sequence of ndarray of shape (height, width, 3), uint8, or ndarray (n, height, width, 3)
        RGB images of any sizes.
    size : int
        Side of the output crops in pixels.
    align : bool
        Level the eyes using the 68 landmarks.
    detect : bool
        Run the face detector; ``False`` treats each image as a face crop.
    margin : float
        Border around the face, a fraction of its extent on each side.
    min_confidence : float
        Detection score threshold, in (0, 1).
    detector, landmarker : torch.nn.Module, optional
        Detector (``"face_detector"``) and landmark net (``"face_landmarks68"`` convention: layer
        ``fc`` outputs 68 interleaved relative ``(x, y)``); built pretrained when omitted.
    device : str

    Returns
    -------
    PreparedFaces
        Images without a detected face are listed in ``failures``, never silently dropped.
    """
    from core.models.face_detector import align_face, crop_faces, detect_faces

    images = [np.asarray(image) for image in images]
    for k, image in enumerate(images):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"images[{k}] must be uint8 RGB of shape (height, width, 3), "
                             f"got {image.dtype} {image.shape}")
    if not images:
        raise ValueError("images is empty")
    if detect:
        detector = _model("face_detector" if detector is None else detector, device)
        detections = detect_faces(images, min_confidence=min_confidence, max_faces=1, model=detector, device=device)
    else:
        detections = [np.array([[0.0, 0.0, image.shape[1], image.shape[0], 1.0]]) for image in images]
    failures = tuple((k, f"no face found (min_confidence={min_confidence})")
                     for k, boxes in enumerate(detections) if len(boxes) == 0)
    kept = np.array([k for k, boxes in enumerate(detections) if len(boxes)], dtype=int)
    if not align:
        faces = [crop_faces(images[k], detections[k][:1], size=size, margin=margin)[0] for k in kept]
    elif len(kept):
        landmarker = _model("face_landmarks68" if landmarker is None else landmarker, device)
        boxes = [detections[k][0, :4] for k in kept]
        side_in = int(landmarker.input_size[0])
        crops = np.stack([crop_faces(images[k], box[None], size=side_in, margin=0.0)[0]
                          for k, box in zip(kept, boxes, strict=True)])
        points = _landmarks_in_crop(landmarker, crops, device)
        faces = []
        for k, box, crop_points in zip(kept, boxes, points, strict=True):
            side = max(box[2] - box[0], box[3] - box[1])
            corner = np.array([(box[0] + box[2] - side) / 2, (box[1] + box[3] - side) / 2])
            faces.append(align_face(images[k], corner + crop_points * side / side_in, size, margin=margin))
    else:
        faces = []
    faces = np.stack(faces) if faces else np.zeros((0, size, size, 3), dtype=np.uint8)
    return PreparedFaces(faces, kept, failures)


def prepare_face_set(face_set: FaceSet, *, size: int = 160, align: bool = True, detect: bool = True,
                     margin: float = 0.2, min_confidence: float = 0.5, detector=None, landmarker=None,
                     device: str = "cpu") -> FaceSet:
    """:func:`prepare_faces` on a face set; the result holds the crops and reports the failures.

    Returns
    -------
    FaceSet
        In-memory crops (n_found, size, size, 3) with the labels of the faces found; faces without
        a detection are appended to ``skipped`` with the reason.
    """
    prepared = prepare_faces(face_set.pixels(), size=size, align=align, detect=detect, margin=margin,
                             min_confidence=min_confidence, detector=detector, landmarker=landmarker,
                             device=device)
    if len(prepared.indices) < 2:
        raise ValueError(f"Faces were found in only {len(prepared.indices)} of {len(face_set)} images: "
                         f"{list(prepared.failures)[:10]}")
    found = face_set.subset(prepared.indices)
    skipped = face_set.skipped + tuple((face_set.ids[k], reason) for k, reason in prepared.failures)
    return FaceSet(prepared.faces, found.identities, found.expressions, found.label_sources, ids=found.ids,
                   genders=found.genders, skipped=skipped)


# ---------------------------------------------------------------------------------------------
# model-made labels and the embedded default face set
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FaceLabels:
    """Labels predicted by face networks (**model-made**, not ground truth).

    Attributes
    ----------
    genders : tuple of str
        ``"male"`` or ``"female"``: the larger of face_age_gender's two probabilities.
    expressions : tuple of str
        Argmax of face_expression over its labels (neutral, happy, sad, angry, fearful, disgusted,
        surprised).
    p_male : ndarray of shape (n_faces,)
    expression_probabilities : ndarray of shape (n_faces, n_expressions)
    expression_labels : tuple of str
        Column names of ``expression_probabilities``.
    label_sources : dict of str to str
        ``{"gender": "model: face_age_gender", "expression": "model: face_expression"}``.
    """

    genders: tuple
    expressions: tuple
    p_male: np.ndarray
    expression_probabilities: np.ndarray
    expression_labels: tuple
    label_sources: dict = field(default_factory=dict)


def label_faces(images, *, expression_model=None, age_gender_model=None, device: str = "cpu") -> FaceLabels:
    """Gender and expression of face crops, **predicted by networks** (model-made labels).

    Parameters
    ----------
    images : ndarray of shape (n_faces, height, width, 3), uint8
        Face crops (resized to each net's input).
    expression_model, age_gender_model : torch.nn.Module, optional
        ``"face_expression"`` and ``"face_age_gender"`` zoo models (built pretrained when omitted);
        their layer ``fc`` holds the expression logits and ``[age, p_male, p_female]``.
    device : str

    Returns
    -------
    FaceLabels
    """
    images = _uint8_batch(images)
    expression_model = _model("face_expression" if expression_model is None else expression_model, device)
    age_gender_model = _model("face_age_gender" if age_gender_model is None else age_gender_model, device)
    logits = _outputs(expression_model, images, device=device)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = tuple(expression_model.labels)
    columns = list(age_gender_model.labels)
    age_gender = _outputs(age_gender_model, images, device=device)
    p_male = age_gender[:, columns.index("male")]
    genders = tuple(np.where(p_male >= age_gender[:, columns.index("female")], "male", "female").tolist())
    return FaceLabels(genders, tuple(labels[i] for i in probabilities.argmax(axis=1)), p_male, probabilities,
                      labels, {"gender": "model: face_age_gender", "expression": "model: face_expression"})


def make_default_face_set(n: int = 48, *, n_per_identity: int = 4, jitter: float = 0.3, random_state=0,
                          generator=None, expression_model=None, age_gender_model=None,
                          device: str = "cpu") -> FaceSet:
    """The studio's embedded default: DCGAN faces with **model-made** labels.

    ``n / n_per_identity`` latent vectors are drawn from the generator's prior; each synthetic
    identity is that latent plus ``n_per_identity`` small perturbations (``z + jitter · ε``,
    ε ~ N(0, I)), which keep the person and change details. Identity labels are therefore fixed by
    construction (``"generated: ..."``), while expression and gender labels are **predictions of the
    face_expression and face_age_gender networks** (:func:`label_faces`), not human judgements. The
    64×64 outputs are already aligned face crops (no detection needed).

    Parameters
    ----------
    n : int
        Number of faces, a multiple of ``n_per_identity``.
    n_per_identity : int
        Images per synthetic identity (>= 2 so that identity can be decoded across images).
    jitter : float
        Standard deviation of the latent perturbations (the prior has unit variance).
    random_state : int, numpy.random.Generator or None
    generator, expression_model, age_gender_model : torch.nn.Module, optional
        ``"dcgan_faces"``, ``"face_expression"`` and ``"face_age_gender"`` (pretrained when omitted).
    device : str

    Returns
    -------
    FaceSet
        ``images`` (n, 64, 64, 3) uint8, identities ``"gan00"``..., expressions and genders
        model-made; ``label_sources`` says so.
    """
    import torch

    if n_per_identity < 2 or n < 2 * n_per_identity or n % n_per_identity:
        raise ValueError(f"n={n} must be a multiple of n_per_identity={n_per_identity} >= 2, with >= 2 identities")
    if jitter < 0:
        raise ValueError(f"jitter={jitter!r} must be non-negative")
    rng = np.random.default_rng(random_state)
    generator = _model("dcgan_faces" if generator is None else generator, device)
    n_identities = n // n_per_identity
    centres = generator.sample_latent(n_identities, random_state=rng)
    z = np.repeat(centres, n_per_identity, axis=0) + jitter * rng.standard_normal(
        (n, centres.shape[1])).astype(np.float32)
    with torch.no_grad():
        rgb = generator.generate(torch.from_numpy(z).to(device)).clamp(0, 1)
    images = (rgb.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
    labels = label_faces(images, expression_model=expression_model, age_gender_model=age_gender_model,
                         device=device)
    identities = tuple(f"gan{k // n_per_identity:02d}" for k in range(n))
    sources = {"identity": f"generated: one dcgan_faces latent per identity, {n_per_identity} jittered "
                           f"images each (jitter={jitter})", **labels.label_sources}
    return FaceSet(images, identities, labels.expressions, sources,
                   ids=tuple(f"{identity}_{k % n_per_identity}" for k, identity in enumerate(identities)),
                   genders=labels.genders)


# ---------------------------------------------------------------------------------------------
# network representations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceNetwork:
    """A network of the identity-vs-expression comparison.

    Attributes
    ----------
    model : str
        Zoo model name (``core.models.MODEL_REGISTRY``).
    task : str
        What it was trained for: ``"identity"``, ``"expression"`` or ``"objects"`` (control).
    layers : str
        Its layer set.
    description : str
    """

    model: str
    task: str
    layers: str
    description: str


#: Networks compared on the identity/expression page, by zoo model name.
FACE_NETWORKS = {
    "face_identity": FaceNetwork("face_identity", "identity", "default",
                                 "face-api FaceRecognitionNet (dlib ResNet-34-like), trained on face identity"),
    "face_expression": FaceNetwork("face_expression", "expression", "default",
                                   "face-api FaceExpressionNet, 7 expressions"),
    "fer_minixception": FaceNetwork("fer_minixception", "expression", "default",
                                    "mini-Xception trained on FER2013, 7 expressions (64×64 grey)"),
    "resnet50": FaceNetwork("resnet50", "objects", "wen18", "ResNet-50 trained on ImageNet objects (non-face control)"),
}

#: Layers with at most this many units per image are kept whole (``"full"``); larger ones are
#: averaged over space (``"mean"``, one value per channel). At 90 faces a full layer of this size
#: takes 72 MB in float32.
FULL_MAX_UNITS = 200_000

#: Reductions accepted by :func:`network_features`.
FEATURE_REDUCTIONS = ("auto", "full", "mean")


def network_features(face_set: FaceSet, model, *, layers: str | Sequence[str] = "default",
                     reduction: str = "auto", device: str = "cpu", batch_size: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Layer activations of a network for the faces of a (prepared) face set.

    Parameters
    ----------
    face_set : FaceSet
        Prepared face crops (:func:`prepare_face_set`); a file-backed set is centre-cropped to the
        network's input by ``core.features.extract_features``.
    model : str or torch.nn.Module
        Zoo model name (e.g. a key of :data:`FACE_NETWORKS`) or a zoo-convention module.
    layers : str or sequence of str
        Layer-set name or module paths.
    reduction : {"auto", "full", "mean"}
        ``"auto"``: per layer, the whole flattened activation when it has at most
        :data:`FULL_MAX_UNITS` units (all layers of the face nets, ResNet-50's ``layer4`` and
        ``fc``), else the spatial mean per channel (ResNet-50's large early maps). Face nets' late
        layers are small (2×2 to 7×7 maps, 128-d descriptors, 7 logits), so averaging them would
        throw away most of their units.
    device : str
    batch_size : int, optional

    Returns
    -------
    dict of str to ndarray of shape (n_faces, n_units), float32
        In layer order.
    """
    model = _model(model, device)
    return _extract(face_set, model, _layer_reductions(face_set, model, layers, reduction, device),
                    device=device, batch_size=batch_size)


def _layer_reductions(face_set: FaceSet, model, layers, reduction: str, device: str) -> dict[str, str]:
    """Layer name -> ``"full"`` or ``"mean"`` (``"auto"``: by the layer's size on two faces)."""
    from core.features import extract_features, resolve_layers

    check_choice("reduction", reduction, FEATURE_REDUCTIONS)
    names = resolve_layers(model, layers)
    if reduction != "auto":
        return dict.fromkeys(names, reduction)
    sizes = extract_features(model, face_set.subset([0, 1]).images, layers=names, reduction="full",
                             batch_size=2, device=device)
    return {name: "full" if sizes[name].shape[1] <= FULL_MAX_UNITS else "mean" for name in names}


def _extract(face_set: FaceSet, model, reductions: Mapping[str, str], *, device: str,
             batch_size: int | None) -> dict[str, np.ndarray]:
    from core.features import extract_features

    out = {}
    for kind in ("full", "mean"):
        group = [name for name, chosen in reductions.items() if chosen == kind]
        if group:
            features = extract_features(model, face_set.images, layers=group, reduction=kind,
                                        batch_size=batch_size, device=device)
            if features.skipped:
                raise ValueError(f"Faces could not be decoded: {list(features.skipped)[:10]}")
            out.update(features.arrays)
    return {name: out[name] for name in reductions}


def network_rdms(face_set: FaceSet, model, *, layers: str | Sequence[str] = "default",
                 metric: str = "correlation", reduction: str = "auto", device: str = "cpu",
                 batch_size: int | None = None) -> dict[str, RDM]:
    """Layer-wise RDMs of a network over the faces of a (prepared) face set.

    Parameters
    ----------
    face_set : FaceSet
    model : str or torch.nn.Module
        Zoo model name (e.g. a key of :data:`FACE_NETWORKS`) or a zoo-convention module.
    layers : str or sequence of str
        Layer-set name (``"default"``; ``"wen18"`` for ResNet-50) or module paths.
    metric : str
        A 2-D metric of ``core.rsa.RDM_METRICS`` (``"correlation"``, ``"cosine"``, ``"euclidean"``).
    reduction : {"auto", "full", "mean"}
        See :func:`network_features`.
    device : str
    batch_size : int, optional

    Returns
    -------
    dict of str to RDM
        In layer order; pattern labels are the face set's ids; descriptors name the network,
        layer, reduction and number of units.
    """
    valid = sorted(name for name, spec in RDM_METRICS.items() if spec.ndim == 2)
    check_choice("metric", metric, valid)
    name = model if isinstance(model, str) else type(model).__name__
    model = _model(model, device)
    reductions = _layer_reductions(face_set, model, layers, reduction, device)
    features = _extract(face_set, model, reductions, device=device, batch_size=batch_size)
    return {layer: compute_rdm(X, metric=metric, pattern_labels=face_set.ids,
                               descriptors={"network": name, "layer": layer, "reduction": reductions[layer],
                                            "n_units": int(X.shape[1])})
            for layer, X in features.items()}


# ---------------------------------------------------------------------------------------------
# brain representations
# ---------------------------------------------------------------------------------------------


def brain_rdms_from_patterns(patterns: Mapping[str, object], *, metric: str = "correlation",
                             pattern_labels: Sequence | None = None) -> dict[str, RDM]:
    """RDM(s) of each brain region from its response patterns (or pass ready RDMs through).

    Parameters
    ----------
    patterns : mapping of str to ndarray or RDM
        Per region, one of:

        - ndarray of shape (n_stimuli, n_channels): one pattern per stimulus (iEEG electrodes ×
          stimuli transposed, fMRI voxels) → one RDM;
        - ndarray of shape (n_subjects, n_stimuli, n_channels): one RDM per subject or repetition
          (stacked; enables the noise ceiling). For ``metric="crossnobis"`` the leading axis is the
          runs of one subject and the shapes are one axis longer;
        - an ``core.rsa.RDM``: used as it is (its pattern labels must match the others').
    metric : str
        Key of ``core.rsa.RDM_METRICS``.
    pattern_labels : sequence of length n_stimuli, optional
        Stimulus ids (e.g. ``FaceSet.ids``); defaults to ``0 .. n_stimuli - 1``.

    Returns
    -------
    dict of str to RDM
        ``descriptors["region"]`` names the region.
    """
    check_choice("metric", metric, RDM_METRICS)
    if not patterns:
        raise ValueError("patterns is empty: give at least one region")
    spec = RDM_METRICS[metric]
    out = {}
    for region, value in patterns.items():
        if isinstance(value, RDM):
            out[region] = value
            continue
        x = check_finite_array(f"patterns[{region!r}]", value)
        if x.ndim == spec.ndim:
            stack = x[None]
        elif x.ndim == spec.ndim + 1:
            stack = x
        else:
            raise ValueError(f"patterns[{region!r}] must have {spec.ndim} or {spec.ndim + 1} dimensions for "
                             f"metric={metric!r}, got shape {x.shape}")
        rdms = [compute_rdm(one, metric=metric, pattern_labels=pattern_labels) for one in stack]
        out[region] = RDM(np.concatenate([r.dissimilarities for r in rdms]), rdms[0].measure,
                          rdms[0].pattern_labels, {"region": str(region)})
    labels = {rdm.pattern_labels for rdm in out.values()}
    if len(labels) > 1:
        raise ValueError(f"Regions have different stimuli: {sorted(len(x) for x in labels)} conditions; "
                         "use RDM.subset to align them")
    return out


def simulated_region_patterns(subject, features: Mapping[tuple[str, str], np.ndarray], regions: Sequence[str], *,
                              n_repeats: int = 1, random_state=None) -> dict[str, np.ndarray]:
    """Noisy responses of a simulated subject's regions to stimuli.

    The subject's noise-free signal (``subject.signal(features)``) plus its Gaussian measurement
    noise (``subject.measure``), sliced to the vertices of each region (both hemispheres).

    Parameters
    ----------
    subject : core.subject.SimulatedSubject
        Calibrated.
    features : mapping of (network, layer) to ndarray of shape (n_stimuli, n_units)
        Features of the stimuli for every source the subject's spec needs.
    regions : sequence of str
        ROI names of the subject (``subject.roi_vertices`` keys' first element), both hemispheres;
        or ``"NAME_L"`` / ``"NAME_R"`` for one hemisphere.
    n_repeats : int
        Independent noisy repetitions (>= 2 gives a noise ceiling).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    dict of str to ndarray of shape (n_repeats, n_stimuli, n_region_vertices), float32
        Ready for :func:`brain_rdms_from_patterns` (one RDM per repetition).
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    selections = {region: _region_vertices(subject.roi_vertices, region) for region in regions}
    unknown = [region for region, parts in selections.items() if not parts]
    if unknown or not regions:
        known = sorted({roi for roi, _ in subject.roi_vertices})
        raise ValueError(f"Unknown regions {unknown or list(regions)}; choose from {known} "
                         "(append _L or _R for one hemisphere)")
    measured = subject.measure(subject.signal(features), n_repeats=n_repeats, random_state=random_state)
    return {region: measured[:, :, np.unique(np.concatenate(parts)).astype(int)]
            for region, parts in selections.items()}


def simulated_region_rdms(subject, face_set: FaceSet, regions: Sequence[str], *,
                          features: Mapping[str, Mapping[str, np.ndarray]] | None = None, n_repeats: int = 4,
                          metric: str = "correlation", random_state=None, device: str = "cpu") -> dict[str, RDM]:
    """RDMs of a simulated subject's regions viewing a face set, one per noisy repetition.

    The subject reads the faces as it reads any image (``core.subject.subject_features``: for the default
    subject, its declared networks' whole feature maps through its receptive fields); nothing is chosen
    so that a region matches its declared network better.

    Parameters
    ----------
    subject : core.subject.SimulatedSubject
        Calibrated.
    face_set : FaceSet
    regions : sequence of str
        See :func:`simulated_region_patterns`.
    features : mapping of str to (mapping of str to ndarray of shape (n_faces, n_features)), optional
        Network → layer → the subject's reading of ``face_set`` (``subject_features``), already at hand.
    n_repeats : int
        Noisy repetitions (>= 2 gives a noise ceiling).
    metric : str
        Key of ``core.rsa.RDM_METRICS`` (2-D metrics).
    random_state : int, numpy.random.Generator or None
    device : str

    Returns
    -------
    dict of str to RDM
        ``n_repeats`` stacked RDMs per region; pattern labels are the face set's ids.
    """
    from core.subject import subject_features

    if features is None:
        features = subject_features(subject, face_set.images, device=device)
    missing = [source for source in subject.spec.feature_sources
               if source[1] not in features.get(source[0], {})]
    if missing:
        raise ValueError(f"features lack the subject's readings of {missing}; compute them with "
                         "core.subject.subject_features")
    drivers = {source: features[source[0]][source[1]] for source in subject.spec.feature_sources}
    patterns = simulated_region_patterns(subject, drivers, regions, n_repeats=n_repeats, random_state=random_state)
    return brain_rdms_from_patterns(patterns, metric=metric, pattern_labels=face_set.ids)


def _region_vertices(roi_vertices, region: str) -> list:
    """Vertex arrays of ``region`` ("FFC": both hemispheres; "FFC_R": right only)."""
    name, _, hemisphere = region.rpartition("_") if region.endswith(("_L", "_R")) else (region, "", "")
    return [v for (roi, hemi), v in roi_vertices.items() if roi == name and hemisphere in ("", hemi)]


# ---------------------------------------------------------------------------------------------
# network ↔ region comparisons
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NetworkRegionComparison:
    """Similarity of every network layer's RDM with every region's RDM.

    Arrays have shape (n_regions, n_networks, n_layers_max); a network with fewer layers is padded
    with NaN (its layer names are in ``layers``).

    Attributes
    ----------
    regions : tuple of str
    networks : tuple of str
    layers : tuple of tuple of str
        Layer names of each network, in depth order.
    r : ndarray
        Mean over the region's RDMs (subjects/repetitions) of the similarity with the layer RDM.
    p : ndarray
        One-sided condition-label permutation p (``core.rsa.rdm_permutation_test``) of the layer RDM
        against the region's pooled RDM; NaN where the method has no permutation test
        (``"kendall_tau_a"``) or ``n_permutations=0``.
    noise_ceiling_lower, noise_ceiling_upper : ndarray of shape (n_regions,)
        Leave-one-out bounds (``core.rsa.rdm_noise_ceiling``); NaN for a region with one RDM.
    method : str
    n_permutations : int
    """

    regions: tuple
    networks: tuple
    layers: tuple
    r: np.ndarray
    p: np.ndarray
    noise_ceiling_lower: np.ndarray
    noise_ceiling_upper: np.ndarray
    method: str
    n_permutations: int

    def curve(self, region: str, network: str) -> tuple[tuple, np.ndarray, np.ndarray]:
        """``(layers, r, p)`` of one network in one region, without padding."""
        check_choice("region", region, self.regions)
        check_choice("network", network, self.networks)
        i, j = self.regions.index(region), self.networks.index(network)
        n = len(self.layers[j])
        return self.layers[j], self.r[i, j, :n], self.p[i, j, :n]


#: Methods of :func:`compare_networks_to_regions`, a subset of ``core.rsa.COMPARE_METHODS``.
FACE_COMPARE_METHODS = ("kendall_tau_a", "spearman")


def compare_networks_to_regions(brain_rdms: Mapping[str, RDM], network_rdms_by_net: Mapping[str, Mapping[str, RDM]],
                                *, method: str = "spearman", n_permutations: int = 1000,
                                random_state=None) -> NetworkRegionComparison:
    """Compare each layer of each network with each brain region.

    Parameters
    ----------
    brain_rdms : mapping of str to RDM
        Region → RDM(s) (:func:`brain_rdms_from_patterns`); several stacked RDMs are subjects or
        repetitions.
    network_rdms_by_net : mapping of str to (mapping of str to RDM)
        Network → layer → RDM (:func:`network_rdms`), over the same stimuli in the same order.
    method : {"spearman", "kendall_tau_a"}
        Rank correlation of the RDMs (``"kendall_tau_a"`` is slower and has no permutation test).
    n_permutations : int
        Condition-label permutations per test (0: no test).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    NetworkRegionComparison
    """
    check_choice("method", method, FACE_COMPARE_METHODS)
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    if not brain_rdms or not network_rdms_by_net or not all(network_rdms_by_net.values()):
        raise ValueError("brain_rdms and network_rdms_by_net need at least one region, network and layer")
    rng = np.random.default_rng(random_state)
    spec = COMPARE_METHODS[method]
    testable = spec.embed is not None and n_permutations > 0
    regions, networks = tuple(brain_rdms), tuple(network_rdms_by_net)
    layers = tuple(tuple(network_rdms_by_net[net]) for net in networks)
    shape = (len(regions), len(networks), max(len(names) for names in layers))
    r, p = np.full(shape, np.nan), np.full(shape, np.nan)
    lower, upper = np.full(len(regions), np.nan), np.full(len(regions), np.nan)
    for i, region in enumerate(regions):
        brain = brain_rdms[region]
        pooled = RDM(spec.pool(brain.dissimilarities), brain.measure, brain.pattern_labels)
        if brain.n_rdms > 1:
            ceiling = rdm_noise_ceiling(brain, method=method)
            lower[i], upper[i] = ceiling.lower, ceiling.upper
        for j, net in enumerate(networks):
            for k, layer in enumerate(layers[j]):
                model_rdm = network_rdms_by_net[net][layer]
                r[i, j, k] = compare_rdms(model_rdm, brain, method=method).mean()
                if testable:
                    p[i, j, k] = rdm_permutation_test(model_rdm, pooled, method=method,
                                                      n_permutations=n_permutations, random_state=rng).p_value
    return NetworkRegionComparison(regions, networks, layers, r, p, lower, upper, method, int(n_permutations))


@dataclass(frozen=True, eq=False)
class DifferenceTest:
    """Bootstrap test of ``r(brain, identity model) − r(brain, expression model)`` per region.

    Attributes
    ----------
    regions : tuple of str
    observed : ndarray of shape (n_regions,)
        Difference on all stimuli.
    mean : ndarray of shape (n_regions,)
        Mean of the bootstrap differences.
    ci_low, ci_high : ndarray of shape (n_regions,)
        Percentile confidence interval.
    p : ndarray of shape (n_regions,)
        Two-sided bootstrap p: ``min(1, 2 (1 + min(#{d ≤ 0}, #{d ≥ 0})) / (1 + n_bootstrap))``.
    confidence : float
    n_bootstrap : int
    method : str
    """

    regions: tuple
    observed: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    confidence: float
    n_bootstrap: int
    method: str


def identity_vs_expression_difference(brain_rdms: Mapping[str, RDM], identity_rdm: RDM, expression_rdm: RDM, *,
                                      method: str = "spearman", n_bootstrap: int = 1000,
                                      confidence: float = 0.95, random_state=None) -> DifferenceTest:
    """Is a region closer to the identity network or to the expression network? Stimulus bootstrap.

    Each bootstrap sample draws ``n_stimuli`` stimuli with replacement, takes the sub-RDMs of the
    brain and both models over the drawn stimuli (all pairs of draws, leaving out the pairs of a
    stimulus with a copy of itself, whose dissimilarity is the diagonal's 0), and recomputes
    ``r(brain, identity) − r(brain, expression)`` with ``method``; a region with several RDMs
    (subjects) gives the mean difference over them, on the same draws.

    Parameters
    ----------
    brain_rdms : mapping of str to RDM
    identity_rdm, expression_rdm : RDM
        One RDM each (e.g. the best or last layer of each network), same stimuli as the brain.
    method : {"spearman", "kendall_tau_a"}
    n_bootstrap : int
    confidence : float
        Of the percentile interval, in (0, 1).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    DifferenceTest
    """
    check_choice("method", method, FACE_COMPARE_METHODS)
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    for name, rdm in (("identity_rdm", identity_rdm), ("expression_rdm", expression_rdm)):
        if rdm.n_rdms != 1:
            raise ValueError(f"{name} must hold one RDM, got {rdm.n_rdms}")
    if identity_rdm.pattern_labels != expression_rdm.pattern_labels:
        raise ValueError("identity_rdm and expression_rdm have different pattern_labels")
    compare = COMPARE_METHODS[method].compare
    rng = np.random.default_rng(random_state)
    n = identity_rdm.n_conditions
    models = np.stack([identity_rdm.matrix(), expression_rdm.matrix()])
    iu, ju = np.triu_indices(n, 1)
    draws = [rng.integers(0, n, n) for _ in range(n_bootstrap)]
    pairs = []
    for draw in draws:
        a, b = draw[iu], draw[ju]
        keep = a != b
        pairs.append((a[keep], b[keep]))
    regions = tuple(brain_rdms)
    observed, mean, low, high, p = (np.empty(len(regions)) for _ in range(5))
    tail = (1 - confidence) / 2
    for i, region in enumerate(regions):
        brain = brain_rdms[region]
        if brain.pattern_labels != identity_rdm.pattern_labels:
            raise ValueError(f"Region {region!r} has different pattern_labels from the model RDMs")
        square = np.stack([brain.matrix(s) for s in range(brain.n_rdms)])
        sims = compare(models[:, iu, ju], brain.dissimilarities)
        observed[i] = (sims[0] - sims[1]).mean()
        diffs = np.empty(n_bootstrap)
        for k, (rows, cols) in enumerate(pairs):
            sims = compare(models[:, rows, cols], square[:, rows, cols])
            diffs[k] = (sims[0] - sims[1]).mean()
        mean[i] = diffs.mean()
        low[i], high[i] = np.quantile(diffs, [tail, 1 - tail])
        extreme = min(np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0))
        p[i] = min(1.0, 2 * (1 + extreme) / (1 + n_bootstrap))
    return DifferenceTest(regions, observed, mean, low, high, p, float(confidence), int(n_bootstrap), method)


# ---------------------------------------------------------------------------------------------
# transfer readouts
# ---------------------------------------------------------------------------------------------


def _logreg(random_state: int):
    return LogisticRegression(max_iter=2000, random_state=random_state)


def _linear_svc(random_state: int):
    return LinearSVC(max_iter=10_000, random_state=random_state)


#: Linear classifiers of :func:`decoding_transfer`: name -> factory(random_state).
CLASSIFIERS: dict[str, Callable] = {"linear_svc": _linear_svc, "logreg": _logreg}


@dataclass(frozen=True, eq=False)
class DecodingTransfer:
    """Cross-factor decoding accuracy per layer.

    Attributes
    ----------
    layers : tuple of str
    identity_accuracy : ndarray of shape (n_layers,)
        Identity decoded with leave-one-expression-out cross-validation (train on the other
        expressions, test on the held-out one); pooled over folds.
    expression_accuracy : ndarray of shape (n_layers,)
        Expression decoded with leave-one-identity-out cross-validation.
    identity_chance, expression_chance : float
        ``1 / n_classes``.
    classifier : str
    identity_p, expression_p : ndarray of shape (n_layers,)
        One-sided permutation p of each accuracy against chance (NaN without permutations): the decoded
        labels are shuffled within each level of the other factor (identities within an expression), which
        keeps every fold's classes, and the whole cross-validation is re-run.
    n_permutations : int
    """

    layers: tuple
    identity_accuracy: np.ndarray
    expression_accuracy: np.ndarray
    identity_chance: float
    expression_chance: float
    classifier: str
    identity_p: np.ndarray
    expression_p: np.ndarray
    n_permutations: int = 0


def _standardised_components(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise both folds with the training fold's statistics, then, when there are at least as
    many units as training samples, project both on all ``n_train − 1`` principal components of the
    standardised training fold.

    The components come from the eigendecomposition of the training Gram matrix (O(n_train² n_units)),
    which gives sklearn's ``StandardScaler`` → ``PCA(n_components=n_train − 1)`` up to the signs of the
    components, many times faster when units ≫ samples. Constant units are left unscaled, as sklearn.
    """
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    train, test = (train - mean) / std, (test - mean) / std
    if train.shape[1] < train.shape[0]:
        return train, test
    eigenvalues, vectors = np.linalg.eigh(train @ train.T)
    order = np.argsort(eigenvalues)[::-1][:len(train) - 1]
    keep = order[eigenvalues[order] > eigenvalues.max() * 1e-12]
    components = train.T @ (vectors[:, keep] / np.sqrt(eigenvalues[keep]))
    return train @ components, test @ components


def _cv_accuracy(X: np.ndarray, y: np.ndarray, groups: np.ndarray, classifier: str, seed: int) -> float:
    """Pooled leave-one-group-out accuracy of standardise → PCA (when units ≥ n_train) → classifier."""
    predicted = np.empty_like(y)
    for train, test in LeaveOneGroupOut().split(X, y, groups):
        x_train, x_test = _standardised_components(X[train], X[test])
        predicted[test] = CLASSIFIERS[classifier](seed).fit(x_train, y[train]).predict(x_test)
    return float(np.mean(predicted == y))


def _factor_labels(identities, expressions, n: int) -> tuple[np.ndarray, np.ndarray]:
    identities, expressions = np.asarray(identities).astype(str), np.asarray(expressions).astype(str)
    check_same_length(features=np.empty(n), identities=identities, expressions=expressions)
    for name, labels in (("identities", identities), ("expressions", expressions)):
        if len(np.unique(labels)) < 2:
            raise ValueError(f"{name} needs at least 2 distinct labels, got {np.unique(labels).tolist()}")
    return identities, expressions


def _checked_layers(features_by_layer: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not features_by_layer:
        raise ValueError("features_by_layer is empty")
    return {layer: check_finite_array(f"features[{layer!r}]", X, ndim=2).astype(np.float64)
            for layer, X in features_by_layer.items()}


def _permutation_p(observed: float, accuracy_of: Callable[[np.ndarray], float], labels: np.ndarray,
                   blocks: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """``(1 + #{accuracy_of(labels shuffled within blocks) ≥ observed}) / (1 + n_permutations)``; NaN for 0."""
    if n_permutations == 0:
        return float("nan")
    null = [accuracy_of(_shuffle_within(labels, blocks, rng)) for _ in range(n_permutations)]
    return (1 + int(np.sum(np.array(null) >= observed - 1e-12))) / (1 + n_permutations)


def decoding_transfer(features_by_layer: Mapping[str, np.ndarray], identities, expressions, *,
                      classifier: str = "logreg", n_permutations: int = 0, random_state=0) -> DecodingTransfer:
    """Decode identity across expressions and expression across identities, layer by layer.

    The tolerance test of Schwartz et al. (2023): a layer carries identity information that
    generalises over expressions when a classifier trained on some expressions recognises the
    identities in an unseen expression (leave-one-expression-out), and vice versa
    (leave-one-identity-out for expression). Features are standardised; when a layer has at least
    as many units as training samples they are first projected on their ``n_train − 1`` principal
    components (fitted on the training fold only, through its Gram matrix; see
    ``_standardised_components``).

    Parameters
    ----------
    features_by_layer : mapping of str to ndarray of shape (n_faces, n_units)
        E.g. :func:`network_features`.
    identities, expressions : sequence of str, length n_faces
    classifier : {"linear_svc", "logreg"}
        Key of :data:`CLASSIFIERS`.
    n_permutations : int
        Label shuffles for the p-values against chance (0: none; each re-runs the cross-validation, so the
        cost is ``1 + n_permutations`` times that of the accuracies).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    DecodingTransfer
    """
    check_choice("classifier", classifier, CLASSIFIERS)
    if int(n_permutations) < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    layers = _checked_layers(features_by_layer)
    identities, expressions = _factor_labels(identities, expressions, len(next(iter(layers.values()))))
    rng = np.random.default_rng(random_state)
    seed = int(rng.integers(2**31 - 1))
    results = {"identity": ([], []), "expression": ([], [])}
    for X in layers.values():
        for factor, labels, groups in (("identity", identities, expressions), ("expression", expressions, identities)):
            def accuracy_of(y, X=X, groups=groups):
                return _cv_accuracy(X, y, groups, classifier, seed)

            observed = accuracy_of(labels)
            results[factor][0].append(observed)
            results[factor][1].append(_permutation_p(observed, accuracy_of, labels, groups, int(n_permutations), rng))
    (ident, ident_p), (expr, expr_p) = (tuple(np.array(v) for v in results[f]) for f in ("identity", "expression"))
    return DecodingTransfer(tuple(layers), ident, expr, 1 / len(np.unique(identities)),
                            1 / len(np.unique(expressions)), classifier, ident_p, expr_p, int(n_permutations))


# ---------------------------------------------------------------------------------------------
# subspace congruence
# ---------------------------------------------------------------------------------------------


def _pca_scores(X: np.ndarray) -> np.ndarray:
    """Coordinates of the centred rows in an orthonormal basis of their span: (n, rank).

    From the eigendecomposition of the Gram matrix, so the cost is O(n² n_units); the map is an
    isometry of the centred data, so angles between subspaces of that span are unchanged.
    """
    centred = X - X.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(centred @ centred.T)
    keep = eigenvalues > eigenvalues.max() * 1e-10
    return vectors[:, keep] * np.sqrt(eigenvalues[keep])


def _class_mean_directions(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Centred class means (n_classes, dims): the between-class directions of one factor."""
    means = np.stack([Z[labels == c].mean(axis=0) for c in np.unique(labels)])
    return means - means.mean(axis=0)


def _lda_directions(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fisher discriminant directions (n_classes, dims), spanning the LDA subspace.

    ``Σ_w⁻¹ (μ_c − μ)`` for each class c, with the within-class covariance ``Σ_w`` shrunk towards
    ``tr(Σ_w)/dims · I`` by the Ledoit–Wolf amount (the span of the between-class directions after
    whitening by the within-class noise; its rank is at most n_classes − 1).
    """
    means = _class_mean_directions(Z, labels)
    index = np.unique(labels, return_inverse=True)[1]
    residuals = Z - (means + Z.mean(axis=0))[index]
    within = residuals.T @ residuals / len(Z)
    alpha = ledoit_wolf_shrinkage(residuals, assume_centered=True)
    target = np.trace(within) / within.shape[0] * np.eye(within.shape[0])
    return np.linalg.solve((1 - alpha) * within + alpha * target, means.T).T


#: How :func:`subspace_congruence` finds the discriminant directions of a factor.
SUBSPACE_METHODS: dict[str, Callable] = {"class_means": _class_mean_directions, "lda": _lda_directions}


def _orthonormal_basis(directions: np.ndarray) -> np.ndarray:
    """Orthonormal basis (dims, rank) of the span of the rows of ``directions``."""
    u, s, _ = np.linalg.svd(directions.T, full_matrices=False)
    return u[:, s > s.max() * 1e-10] if s.size and s.max() > 0 else u[:, :0]


def tucker_congruence(x, y) -> float:
    """Tucker's congruence coefficient ``φ(x, y) = Σ xy / sqrt(Σ x² Σ y²)`` (an uncentred cosine).

    Parameters
    ----------
    x, y : ndarray of shape (n,)

    Returns
    -------
    float
        In [-1, 1]; 0 when either vector is zero.
    """
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    denominator = np.sqrt((x**2).sum() * (y**2).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


@dataclass(frozen=True, eq=False)
class SubspaceCongruence:
    """Congruence of the identity and expression subspaces per layer.

    Attributes
    ----------
    layers : tuple of str
    congruence : ndarray of shape (n_layers,)
        Mean |Tucker φ| over matched principal vectors (see :func:`subspace_congruence`); NaN for a
        layer whose activations do not vary.
    chance : ndarray of shape (n_layers,)
        Mean congruence with the expression labels shuffled within each identity (NaN when
        ``n_permutations=0``): the level that subspaces of these dimensions reach in this layer's
        activation space by chance.
    principal_cosines : tuple of ndarray
        Per layer, the |φ| of each matched pair, largest first (length ``min(k_identity,
        k_expression)``).
    identity_dims, expression_dims : ndarray of shape (n_layers,), int
        Dimensions of the two subspaces.
    method : str
    """

    layers: tuple
    congruence: np.ndarray
    chance: np.ndarray
    principal_cosines: tuple
    identity_dims: np.ndarray
    expression_dims: np.ndarray
    method: str


def _matched_congruences(q_id: np.ndarray, q_ex: np.ndarray) -> np.ndarray:
    """|Tucker φ| of the matched principal vectors of two orthonormal bases, largest first."""
    a, sigma, bt = np.linalg.svd(q_id.T @ q_ex)
    return np.abs([tucker_congruence(q_id @ a[:, i], q_ex @ bt[i]) for i in range(len(sigma))])


def _shuffle_within(labels: np.ndarray, blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``labels`` permuted independently inside each block (e.g. expressions within identities)."""
    out = labels.copy()
    for block in np.unique(blocks):
        members = np.flatnonzero(blocks == block)
        out[members] = labels[rng.permutation(members)]
    return out


def subspace_congruence(features_by_layer: Mapping[str, np.ndarray], identities, expressions, *,
                        method: str = "class_means", n_permutations: int = 100,
                        random_state=None) -> SubspaceCongruence:
    """How much identity and expression share coding directions, layer by layer.

    Definition. In each layer the centred activations are expressed in an orthonormal basis of
    their span (an isometry, see ``_pca_scores``). For each factor the discriminant directions are
    found (``"class_means"``: the class means of the factor, centred on their mean; ``"lda"``: the
    same contrasts whitened by the shrunk within-class covariance, i.e. the Fisher/LDA
    discriminant subspace) and orthonormal bases ``Q_id`` (``k_id`` columns) and ``Q_ex``
    (``k_ex`` columns) of their spans are taken. The singular value decomposition
    ``Q_idᵀ Q_ex = A Σ Bᵀ`` pairs the subspaces' principal vectors ``u_i = Q_id a_i`` and
    ``v_i = Q_ex b_i`` (the most similar pair first, then the most similar pair orthogonal to it,
    ...). The congruence is the mean over the ``m = min(k_id, k_ex)`` pairs of Tucker's
    ``|φ(u_i, v_i)|``, with ``φ(x, y) = Σ xy / sqrt(Σ x² Σ y²)``; for unit vectors φ(u_i, v_i) = σ_i,
    the cosine of the i-th principal angle. It is 1 when the smaller subspace lies in the larger,
    0 when they are orthogonal.

    Two unrelated subspaces are not at 0: in a layer whose activations span d dimensions, random
    subspaces of dimensions k_id and k_ex have congruence around ``sqrt(k_id / d)``, and when
    ``k_id + k_ex > d`` (e.g. a 7-unit logit layer against 14 identity directions) they must
    intersect and the congruence is 1 whatever the data. Read the congruence against ``chance``.

    Parameters
    ----------
    features_by_layer : mapping of str to ndarray of shape (n_faces, n_units)
    identities, expressions : sequence of str, length n_faces
        A balanced identity × expression design makes the class means of one factor free of the
        other.
    method : {"class_means", "lda"}
        Key of :data:`SUBSPACE_METHODS`.
    n_permutations : int
        Shuffles of the expression labels within each identity for ``chance`` (0: none).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    SubspaceCongruence
    """
    check_choice("method", method, SUBSPACE_METHODS)
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    layers = _checked_layers(features_by_layer)
    identities, expressions = _factor_labels(identities, expressions, len(next(iter(layers.values()))))
    rng = np.random.default_rng(random_state)
    shuffles = [_shuffle_within(expressions, identities, rng) for _ in range(n_permutations)]
    directions = SUBSPACE_METHODS[method]
    congruence, chance, cosines, k_id, k_ex = [], [], [], [], []
    for X in layers.values():
        Z = _pca_scores(X)
        q_id = _orthonormal_basis(directions(Z, identities))
        q_ex = _orthonormal_basis(directions(Z, expressions))
        phi = _matched_congruences(q_id, q_ex)
        null = [_matched_congruences(q_id, _orthonormal_basis(directions(Z, labels))) for labels in shuffles]
        null = [values.mean() for values in null if values.size]
        congruence.append(phi.mean() if phi.size else np.nan)
        chance.append(np.mean(null) if null else np.nan)
        cosines.append(phi)
        k_id.append(q_id.shape[1])
        k_ex.append(q_ex.shape[1])
    return SubspaceCongruence(tuple(layers), np.array(congruence), np.array(chance), tuple(cosines),
                              np.array(k_id), np.array(k_ex), method)
