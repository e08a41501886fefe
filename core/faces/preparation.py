"""Face preparation (detect, 68 landmarks, level the eyes, square crop), labels made by networks and the
embedded default face set."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.faces.sets import FaceSet


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
