"""Network representations of a face set: :data:`FACE_NETWORKS`, layer features and RDMs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core._validation import check_choice
from core.faces.preparation import _model
from core.faces.sets import FaceSet
from core.rsa import (
    RDM,
    RDM_METRICS,
    compute_rdm,
)


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
