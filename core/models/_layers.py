"""Building blocks shared by the zoo's ports: TensorFlow-compatible layers and the input check.

TensorFlow's ``padding="same"`` gives ``ceil(size / stride)`` outputs and, when the total padding
is odd, puts the extra row/column after the input (bottom/right). Torch's ``padding=k // 2`` is
symmetric, so a stride-2 convolution on an even input reads a different window. Here one rule,
:func:`tf_same_padding`, serves every padding need: :func:`pad_same` for a tensor (zeros before a
convolution, ``-inf`` before a max-pool, whose padded cells TF ignores), :class:`SamePad2d` as a
module, :class:`TFConv2d` as a convolution, and :class:`SeparableConv2d` for TF.js's
``separableConv2d``. :func:`check_rgb_batch` is the input check of every model's ``prepare``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core._validation import check_choice

__all__ = ["TF_PADDINGS", "SamePad2d", "SeparableConv2d", "TFConv2d", "check_rgb_batch", "pad_same",
           "tf_same_padding"]

#: Padding modes of TensorFlow convolutions.
TF_PADDINGS = ("same", "valid")


def check_rgb_batch(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch of RGB images, as ``prepare`` expects.

    Parameters
    ----------
    x : Tensor of shape (n, 3, height, width)
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"x must have shape (n, 3, height, width), got {tuple(x.shape)}")


def tf_same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """Padding ``(before, after)`` of TensorFlow's ``padding="same"`` along one axis.

    The output has ``ceil(size / stride)`` positions; when the total padding is odd the extra
    element goes after the input.

    Parameters
    ----------
    size : int
        Input length in pixels.
    kernel_size, stride : int
        Of the convolution or pooling window.

    Returns
    -------
    tuple of int
        Pixels to add before and after the input.

    Examples
    --------
    >>> tf_same_padding(224, 3, 2)
    (0, 1)
    >>> tf_same_padding(15, 3, 2)
    (1, 1)
    """
    total = max((-(-size // stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int], *,
             value: float = 0.0) -> torch.Tensor:
    """Pad ``(..., height, width)`` maps so that a following 'valid' window acts like TF "same".

    Parameters
    ----------
    x : Tensor of shape (n, channels, height, width)
    kernel_size, stride : int or tuple of int
        Of the window that follows, as ``(height, width)`` pairs or one value for both axes.
    value : float
        Fill value: 0 before a convolution, ``-inf`` before a max-pool (TF ignores padded cells).

    Returns
    -------
    Tensor of shape (n, channels, height + top + bottom, width + left + right)
        ``x`` itself when no padding is needed.
    """
    kernel_h, kernel_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    stride_h, stride_w = (stride, stride) if isinstance(stride, int) else stride
    top, bottom = tf_same_padding(x.shape[-2], kernel_h, stride_h)
    left, right = tf_same_padding(x.shape[-1], kernel_w, stride_w)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class SamePad2d(nn.Module):
    """Module form of :func:`pad_same`, e.g. before an ``nn.MaxPool2d`` (with ``value=-inf``).

    Parameters
    ----------
    kernel_size, stride : int
        Of the window that follows.
    value : float
        Fill value: 0 before a convolution, ``-inf`` before a max-pool (TF ignores padded cells).
    """

    def __init__(self, kernel_size: int, stride: int, value: float = 0.0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pad_same(x, self.kernel_size, self.stride, value=self.value)


class TFConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``'same'`` (possibly asymmetric) or ``'valid'`` padding.

    Its parameters and state-dict keys are those of ``nn.Conv2d``.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride : int
    padding : {"same", "valid"}
    groups : int
        ``in_channels`` for a depthwise convolution.
    bias : bool
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: str = "same", groups: int = 1, bias: bool = True):
        check_choice("padding", padding, TF_PADDINGS)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0,
                         groups=groups, bias=bias)
        self.tf_padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tf_padding == "same":
            x = pad_same(x, self.kernel_size, self.stride)
        return self._conv_forward(x, self.weight, self.bias)


class SeparableConv2d(nn.Module):
    """TF ``separableConv2d``: 3×3 depthwise with the stride, then 1×1 pointwise, optionally a bias.

    Parameters
    ----------
    in_channels, out_channels : int
    stride : int
        Stride of the depthwise convolution; padding is TF ``'same'``.
    bias : bool
        Add a learned per-channel bias after the pointwise convolution (TF.js face-api), or not
        (Keras ``SeparableConv2D(use_bias=False)``).

    Attributes
    ----------
    depthwise : TFConv2d
        Weight of shape ``(in_channels, 1, 3, 3)``.
    pointwise : TFConv2d
        Weight of shape ``(out_channels, in_channels, 1, 1)``.
    bias : Parameter of shape (out_channels,) or None
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, bias: bool = True):
        super().__init__()
        self.depthwise = TFConv2d(in_channels, in_channels, 3, stride=stride, groups=in_channels, bias=False)
        self.pointwise = TFConv2d(in_channels, out_channels, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pointwise(self.depthwise(x))
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)
