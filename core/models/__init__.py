"""The model zoo: real pretrained networks ported to PyTorch, built by zero-argument factories.

Every zoo model is a ``torch.nn.Module`` in eval mode that also carries:

- ``input_size`` : ``(height, width)`` in pixels expected by ``prepare``;
- ``prepare(x)`` : maps a float tensor ``(n, 3, height, width)`` of RGB values in [0, 1] to the
  network's own input (channel order, scaling, mean subtraction, grey conversion...);
- ``layer_sets`` : ``dict[str, tuple[str, ...]]`` of named layer lists (module paths in
  ``named_modules()``), e.g. ``"wen18"`` for the paper's 18 ResNet-50 layers; ``"default"`` always exists;
- ``labels`` : tuple of output class names, or ``()`` when the output is not a classifier.

A generator (``"dcgan_faces"``) maps latents to images instead, so it carries ``latent_dim`` (int),
``output_size`` (``(height, width)`` of its images), ``generate(z)`` (latents ``(n, latent_dim)``
to RGB images ``(n, 3, height, width)`` in [0, 1]) and
``sample_latent(n_samples, *, random_state=None)`` (an ndarray ``(n_samples, latent_dim)`` drawn
from its training prior), together with ``layer_sets`` and ``labels = ()``, in place of
``input_size`` and ``prepare``.

Each factory takes ``pretrained`` (keyword-only), builds the network with random weights and, when
``pretrained``, loads its converted weights strictly (``core.models._loading.load_pretrained``).

``MODEL_REGISTRY`` maps a model name to ``"module:factory"``; :func:`build_model` imports the module
on demand, so importing this package loads neither torch nor any weights.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

__all__ = ["MODEL_REGISTRY", "RESNET50_WEN18", "build_model", "list_models", "load_imagenet_labels"]

_IMAGENET_LABELS_PATH = Path(__file__).resolve().parents[2] / "data" / "imagenet_labels.json"

#: The 18 ResNet-50 layers of Wen et al. 2018: conv1 (after BN + ReLU), the 16 bottleneck blocks,
#: and the output layer (logits). Declared here, torch-free, so the dashboard can name them.
RESNET50_WEN18: tuple[str, ...] = (
    "relu",
    *(f"layer{stage}.{block}" for stage, n_blocks in enumerate((3, 4, 6, 3), start=1) for block in range(n_blocks)),
    "fc",
)

MODEL_REGISTRY: dict[str, str] = {
    "resnet50": "core.models.resnet:resnet50_imagenet",
    "efficientnet_lite0": "core.models.efficientnet:efficientnet_lite0",
    "fer_minixception": "core.models.fer:fer_minixception",
    "dcgan_faces": "core.models.generator:dcgan_faces",
    "alexnet": "core.models.alexnet:alexnet_imagenet",
    "face_detector": "core.models.face_detector:face_detector_ssd",
    "face_identity": "core.models.face_api:face_identity_net",
    "face_expression": "core.models.face_api:face_expression_net",
    "face_age_gender": "core.models.face_api:face_age_gender_net",
    "face_landmarks68": "core.models.face_api:face_landmarks68_net",
}


def load_imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names in the output order of the ImageNet classifiers of the zoo.

    Returns
    -------
    tuple of str
        Keras spelling, e.g. ``labels[0] == "tench"``, ``labels[285] == "Egyptian_cat"``; read from
        the shipped ``data/imagenet_labels.json`` (its ``"labels"`` list).
    """
    return tuple(json.loads(_IMAGENET_LABELS_PATH.read_text())["labels"])


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(MODEL_REGISTRY)


def build_model(name: str, *, pretrained: bool = True, device: str = "cpu"):
    """Build zoo model ``name`` in eval mode on ``device``.

    Parameters
    ----------
    name : str
        Key of :data:`MODEL_REGISTRY`.
    pretrained : bool
        Load the converted pretrained weights (fetched on first use); ``False`` gives random weights.
    device : str
        Torch device string.
    """
    if name not in MODEL_REGISTRY:
        raise ValueError(f"Unknown model {name!r}; choose from {list_models()}")
    module_name, factory_name = MODEL_REGISTRY[name].split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    return factory(pretrained=pretrained).to(device).eval()
