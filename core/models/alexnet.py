"""AlexNet (Krizhevsky et al. 2012, torchvision's one-GPU variant) for users who have its weights.

No package registry ships AlexNet's ImageNet weights, so this model has no
:class:`~core.weights.WeightSource`. The weights are taken, in this order, from:

1. the file named by the environment variable ``VFS_ALEXNET_WEIGHTS``: a torchvision AlexNet state
   dict (e.g. ``alexnet-owt-7be5be79.pth``), read with ``weights_only=True``;
2. torchvision's own download of ``AlexNet_Weights.IMAGENET1K_V1`` (into the torch hub cache; this
   needs internet the first time).

If neither works, :func:`alexnet_imagenet` raises :class:`~core.weights.WeightsUnavailableError`
saying how to supply the file. Inputs are normalised with the ImageNet mean and std, as torchvision's
weights expect.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import AlexNet

from core.models import load_imagenet_labels
from core.models._layers import check_rgb_batch
from core.models._loading import load_pretrained
from core.weights import WeightsUnavailableError, load_state_dict

__all__ = ["ALEXNET_LAYERS", "ALEXNET_WEIGHTS_ENV", "IMAGENET_MEAN", "IMAGENET_STD", "ZooAlexNet",
           "alexnet_imagenet", "load_alexnet_state_dict"]

#: Environment variable naming a torchvision AlexNet state dict file.
ALEXNET_WEIGHTS_ENV = "VFS_ALEXNET_WEIGHTS"

#: ImageNet RGB mean and std on the [0, 1] scale (torchvision's ``ImageClassification`` preset).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The five convolutional ReLUs and the outputs of the three fully connected layers.
ALEXNET_LAYERS = ("features.1", "features.4", "features.7", "features.9", "features.11",
                  "classifier.1", "classifier.4", "classifier.6")


class ZooAlexNet(AlexNet):
    """torchvision's AlexNet following the zoo-model convention of :mod:`core.models`.

    Built with random weights; use :func:`alexnet_imagenet` for the pretrained network. ReLUs are
    not in-place, so a hooked fully connected output is not overwritten by the ReLU after it.

    Attributes
    ----------
    input_size : tuple of int
        ``(224, 224)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: :data:`ALEXNET_LAYERS`, i.e. conv1–conv5 after ReLU (64×55×55, 192×27×27,
        384×13×13, 256×13×13, 256×13×13) and fc6, fc7 (4096, before their ReLU) and fc8 (the 1000
        logits).
    labels : tuple of str
        The 1000 ImageNet class names in output order.
    """

    input_size = (224, 224)

    def __init__(self):
        super().__init__(num_classes=1000)
        for module in self.modules():
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.layer_sets = {"default": ALEXNET_LAYERS}
        self.labels = load_imagenet_labels()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise RGB images in [0, 1] with the ImageNet mean and std.

        Parameters
        ----------
        x : Tensor of shape (n, 3, 224, 224)
            RGB values in [0, 1].

        Returns
        -------
        Tensor of shape (n, 3, 224, 224)
            ``(x - IMAGENET_MEAN) / IMAGENET_STD`` per channel, on ``x``'s device.
        """
        check_rgb_batch(x)
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


def _torchvision_state_dict() -> dict:
    """torchvision's ImageNet AlexNet weights (downloaded into the torch hub cache if absent)."""
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)


def load_alexnet_state_dict() -> dict:
    """Find AlexNet's ImageNet state dict: ``$VFS_ALEXNET_WEIGHTS``, else torchvision's download.

    Returns
    -------
    dict of str to Tensor
        A torchvision AlexNet state dict.

    Raises
    ------
    WeightsUnavailableError
        When the environment variable names no file, or it is unset and the download fails.
    """
    path = os.environ.get(ALEXNET_WEIGHTS_ENV)
    if path:
        if not Path(path).is_file():
            raise WeightsUnavailableError(
                f"{ALEXNET_WEIGHTS_ENV}={path!r} is not a file. Point it at a torchvision AlexNet "
                f"state dict such as alexnet-owt-7be5be79.pth.")
        return load_state_dict(path)
    try:
        return _torchvision_state_dict()
    except (OSError, RuntimeError) as exc:  # no network (URLError is an OSError), bad hash
        raise WeightsUnavailableError(
            f"AlexNet's ImageNet weights are not available: {ALEXNET_WEIGHTS_ENV} is unset and "
            f"torchvision's download failed ({exc}). No package registry ships them: download "
            f"https://download.pytorch.org/models/alexnet-owt-7be5be79.pth on a machine with internet "
            f"and set {ALEXNET_WEIGHTS_ENV}=/path/to/alexnet-owt-7be5be79.pth, or use "
            f"pretrained=False for random weights.") from exc


def alexnet_imagenet(*, pretrained: bool = True) -> ZooAlexNet:
    """Build AlexNet in eval mode, with the ImageNet weights when ``pretrained``.

    Parameters
    ----------
    pretrained : bool
        Load the weights found by :func:`load_alexnet_state_dict` (strictly); ``False`` keeps
        torchvision's random initialisation.

    Returns
    -------
    ZooAlexNet
    """
    model = ZooAlexNet()
    return load_pretrained(model, load_alexnet_state_dict()) if pretrained else model.eval()
