"""Face detection with face-api.js's SSD-MobileNetV1, ported to torch, and face crop/alignment helpers.

The network is the one of ``faceapi.SsdMobilenetv1`` (justadudewhohacks/face-api.js,
``src/ssdMobilenetv1/``), a TensorFlow object-detection-API SSD trained on WIDER FACE, with the
weights of the MIT-licensed npm package ``@vladmandic/face-api@1.7.15``
(``model/ssd_mobilenetv1_model.bin``, uint8-quantised, dequantised on conversion):

- input: 512×512 RGB scaled to [-1, 1] (``x / 127.5 - 1``);
- backbone: MobileNetV1 (depth multiplier 1): a 3×3/2 convolution then 13 depthwise-separable
  blocks (3×3 depthwise convolution + BatchNorm with eps 1e-3 + ReLU6, then 1×1 convolution whose
  BatchNorm is folded into a bias + ReLU6); strides 2 in blocks 2, 4, 6 and 12;
- prediction layers: four extra 1×1 + 3×3/2 convolution pairs on the 16×16 backbone output, and
  six box predictors (1×1 convolutions) on feature maps of 32, 16, 8, 4, 2 and 1 cells with 3 or
  6 anchors per cell, 5118 anchors in all;
- output: box offsets ``(ty, tx, th, tw)`` decoded against the anchors with the scales
  ``(10, 10, 5, 5)`` of the TF box coder, and face scores ``sigmoid(logit[:, 1])``;
- post-processing: greedy non-maximum suppression at IoU 0.5 of the boxes scoring above the
  minimum confidence (0.5 by default).

TensorFlow's ``'same'`` padding puts the odd pixel of a stride-2 convolution at the bottom/right,
unlike torch's symmetric ``padding``; :class:`~core.models._layers.TFConv2d` reproduces it exactly.

Images of any shape are padded with black on the bottom or right to a square and resized to
512×512 with TF's legacy bilinear sampling, exactly as face-api does for tensor inputs in Node, and
boxes are mapped back to the original pixels (clipped to the image, which face-api does not do).
On skimage's astronaut, coffee and chelsea photos the boxes and scores of all 5118 anchors agree
with face-api 1.7.15 run in Node (tfjs CPU backend) to within 1e-4.

The crop and alignment helpers (:func:`crop_faces`, :func:`align_face`) live in ``core.models.face_crops``
and are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import nms

from core.models._layers import TFConv2d, check_rgb_batch
from core.models._loading import load_pretrained
from core.models._tfjs import read_tfjs_weights
from core.models.face_crops import _check_rgb, align_face, crop_faces
from core.weights import WeightSource, register_source

__all__ = [
    "BACKBONE_LAYERS",
    "BOX_CODER_SCALES",
    "FaceDetectorSSD",
    "NMS_IOU",
    "align_face",
    "convert_ssd_mobilenetv1",
    "crop_faces",
    "decode_boxes",
    "detect_faces",
    "face_detector_ssd",
    "non_max_suppression",
    "ssd_anchors",
    "tfjs_to_torch_state_dict",
]

#: Divisors of the encoded ``(ty, tx, th, tw)`` box offsets (TF object-detection ``FasterRcnnBoxCoder``).
BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)

#: BatchNorm epsilon of the depthwise convolutions (``mobileNetV1.ts``).
_BN_EPS = 1e-3

#: IoU above which the lower-scoring of two boxes is suppressed (``SsdMobilenetv1.locateFaces``).
NMS_IOU = 0.5

#: Backbone blocks ``conv_1``..``conv_13``: (output channels, depthwise stride).
_MOBILENET_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

#: Extra prediction convolutions ``conv_0``..``conv_7``: (output channels, kernel, stride).
_PREDICTION_CONVS = (
    (256, 1, 1),
    (512, 3, 2),
    (128, 1, 1),
    (256, 3, 2),
    (128, 1, 1),
    (256, 3, 2),
    (64, 1, 1),
    (128, 3, 2),
)

#: Box predictors 0..5: (feature map they read, its channels, anchors per cell, grid cells per side).
_BOX_PREDICTORS = (
    ("backbone.conv_11", 512, 3, 32),
    ("backbone.conv_13", 1024, 6, 16),
    ("prediction.conv_1", 512, 6, 8),
    ("prediction.conv_3", 256, 6, 4),
    ("prediction.conv_5", 256, 6, 2),
    ("prediction.conv_7", 128, 6, 1),
)

#: Anchor scales of the six feature maps (``linspace(0.2, 0.95, 6)``) and the extra 1.0 used to
#: interpolate the second square anchor of the last map.
_ANCHOR_SCALES = (*np.linspace(0.2, 0.95, 6).tolist(), 1.0)

#: The 14 backbone conv blocks (after ReLU6), from (n, 32, 256, 256) to (n, 1024, 16, 16).
BACKBONE_LAYERS: tuple[str, ...] = tuple(f"backbone.conv_{i}" for i in range(14))

#: Mismatch allowed between the shipped ``Output/extra_dim`` anchors and :func:`ssd_anchors`.
_ANCHOR_TOLERANCE = 1e-4

#: Name parts of the frozen graph's constants stored beside the weights (not parameters).
_GRAPH_CONSTANTS = ("/Preprocessor/", "/Postprocessor/", "/concat_1/", "/stack", "/strided_slice/")

_WEIGHT_SOURCE = register_source(
    WeightSource(
        name="face_detector_ssd",
        registry="npm",
        package="@vladmandic/face-api",
        version="1.7.15",
        archive_sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        converter="core.models.face_detector:convert_ssd_mobilenetv1",
        download_url="https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz",
        description="face-api.js SSD-MobileNetV1 face detector (WIDER FACE, TF.js port)",
        license="MIT",
    )
)


def ssd_anchors() -> np.ndarray:
    """Return the 5118 SSD anchor boxes of the 512×512 detector.

    Per feature map of ``g`` cells per side (32, 16, 8, 4, 2, 1) with scale ``s`` and next scale
    ``s'``, each cell centred at ``((i + 0.5) / g, (j + 0.5) / g)`` holds boxes of height
    ``s / sqrt(a)`` and width ``s * sqrt(a)`` for the (scale, aspect ratio) pairs
    ``(0.1, 1), (s, 2), (s, 1/2)`` on the first map and ``(s, 1), (sqrt(s s'), 1), (s, 2),
    (s, 1/2), (s, 3), (s, 1/3)`` on the others (TF ``ssd_anchor_generator`` with
    ``reduce_boxes_in_lowest_layer``). Order: map, row, column, anchor.

    Returns
    -------
    ndarray of shape (5118, 4), float32
        ``(ymin, xmin, ymax, xmax)`` relative to the input (0..1, may exceed it).
    """
    boxes = []
    for level, (_, _, _, grid) in enumerate(_BOX_PREDICTORS):
        scale, next_scale = _ANCHOR_SCALES[level], _ANCHOR_SCALES[level + 1]
        if level == 0:
            specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            specs = [
                (scale, 1.0),
                (math.sqrt(scale * next_scale), 1.0),
                (scale, 2.0),
                (scale, 0.5),
                (scale, 3.0),
                (scale, 1.0 / 3.0),
            ]
        specs = np.array(specs)
        heights = specs[:, 0] / np.sqrt(specs[:, 1])
        widths = specs[:, 0] * np.sqrt(specs[:, 1])
        centres = (np.arange(grid) + 0.5) / grid
        cy, cx = (c[..., None] for c in np.meshgrid(centres, centres, indexing="ij"))
        corners = np.broadcast_arrays(cy - heights / 2, cx - widths / 2, cy + heights / 2, cx + widths / 2)
        boxes.append(np.stack(corners, axis=-1).reshape(-1, 4))
    return np.concatenate(boxes).astype(np.float32)


def decode_boxes(encodings: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Decode SSD box offsets against their anchors (``outputLayer.ts``).

    Parameters
    ----------
    encodings : Tensor of shape (..., 4)
        Offsets ``(ty, tx, th, tw)``: centre shifts in units of anchor size (times 10) and log
        size ratios (times 5), see :data:`BOX_CODER_SCALES`.
    anchors : Tensor of shape (..., 4)
        ``(ymin, xmin, ymax, xmax)`` anchors, broadcastable against ``encodings``.

    Returns
    -------
    Tensor of shape (..., 4)
        Boxes ``(x0, y0, x1, y1)`` in the anchors' relative coordinates.
    """
    scales = torch.tensor(BOX_CODER_SCALES, dtype=encodings.dtype, device=encodings.device)
    ty, tx, th, tw = (encodings / scales).unbind(-1)
    ymin, xmin, ymax, xmax = anchors.unbind(-1)
    height, width = ymax - ymin, xmax - xmin
    cy = ymin + height / 2 + ty * height
    cx = xmin + width / 2 + tx * width
    half_h, half_w = torch.exp(th) * height / 2, torch.exp(tw) * width / 2
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)


def non_max_suppression(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    *,
    min_confidence: float,
    max_output: int,
    iou_threshold: float = NMS_IOU,
) -> torch.Tensor:
    """Greedy NMS of the boxes scoring above ``min_confidence`` (``nonMaxSuppression.ts``).

    Parameters
    ----------
    boxes : Tensor of shape (n_boxes, 4)
        ``(x0, y0, x1, y1)``.
    scores : Tensor of shape (n_boxes,)
    min_confidence : float
        Boxes scoring at or below it are dropped first.
    max_output : int
        Most boxes kept.
    iou_threshold : float
        A box overlapping a kept, higher-scoring one with IoU above it is suppressed.

    Returns
    -------
    Tensor of shape (n_kept,), int64
        Indices into ``boxes``, by decreasing score.
    """
    candidates = torch.nonzero(scores > min_confidence).flatten()
    kept = nms(boxes[candidates].float(), scores[candidates].float(), iou_threshold)
    return candidates[kept[:max_output]]


def _pointwise(in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    """Convolution + bias (folded BatchNorm) + ReLU6 (``pointwiseConvLayer.ts``)."""
    return nn.Sequential(TFConv2d(in_channels, out_channels, kernel, stride=stride), nn.ReLU6())


def _depthwise(channels: int, stride: int) -> nn.Sequential:
    """3×3 depthwise convolution + BatchNorm + ReLU6 (``mobileNetV1.ts``)."""
    return nn.Sequential(
        TFConv2d(channels, channels, 3, stride=stride, groups=channels, bias=False),
        nn.BatchNorm2d(channels, eps=_BN_EPS),
        nn.ReLU6(),
    )


class _BoxPredictor(nn.Module):
    """1×1 convolutions giving 4 box offsets and 3 class logits per anchor (``boxPredictionLayer.ts``)."""

    def __init__(self, channels: int, n_anchors: int):
        super().__init__()
        self.box_encoding = nn.Conv2d(channels, n_anchors * 4, 1)
        self.class_logits = nn.Conv2d(channels, n_anchors * 3, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        # channels-last before flattening, so anchors are ordered (row, column, anchor) as in TF
        encodings = self.box_encoding(x).permute(0, 2, 3, 1).reshape(n, -1, 4)
        logits = self.class_logits(x).permute(0, 2, 3, 1).reshape(n, -1, 3)
        return encodings, logits


class FaceDetectorSSD(nn.Module):
    """face-api.js SSD-MobileNetV1, following the zoo-model convention of :mod:`core.models`.

    Built with random weights; use :func:`face_detector_ssd` for the pretrained network.
    ``forward`` takes the output of :meth:`prepare` and returns ``(boxes, scores)`` for all 5118
    anchors, before thresholding and NMS (see :func:`detect_faces`).

    Attributes
    ----------
    input_size : tuple of int
        ``(512, 512)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"`` (= ``"backbone"``): :data:`BACKBONE_LAYERS`, the 14 MobileNetV1 conv blocks
        after ReLU6: ``conv_0`` (n, 32, 256, 256), ``conv_1`` (n, 64, 256, 256), ``conv_2``–``conv_3``
        (n, 128, 128, 128), ``conv_4``–``conv_5`` (n, 256, 64, 64), ``conv_6``–``conv_11``
        (n, 512, 32, 32), ``conv_12``–``conv_13`` (n, 1024, 16, 16).
    labels : tuple of str
        ``("face",)``.
    anchors : Tensor of shape (5118, 4)
        Buffer of ``(ymin, xmin, ymax, xmax)`` anchors, :func:`ssd_anchors`.
    """

    input_size = (512, 512)
    labels = ("face",)

    def __init__(self):
        super().__init__()
        blocks = {"conv_0": _pointwise(3, 32, kernel=3, stride=2)}
        in_channels = 32
        for index, (out_channels, stride) in enumerate(_MOBILENET_BLOCKS, start=1):
            blocks[f"conv_{index}"] = nn.Sequential(
                _depthwise(in_channels, stride), _pointwise(in_channels, out_channels)
            )
            in_channels = out_channels
        self.backbone = nn.ModuleDict(blocks)
        prediction = {}
        for index, (out_channels, kernel, stride) in enumerate(_PREDICTION_CONVS):
            prediction[f"conv_{index}"] = _pointwise(in_channels, out_channels, kernel, stride)
            in_channels = out_channels
        self.prediction = nn.ModuleDict(prediction)
        self.box_predictors = nn.ModuleList(
            _BoxPredictor(channels, n_anchors) for _, channels, n_anchors, _ in _BOX_PREDICTORS
        )
        self.register_buffer("anchors", torch.from_numpy(ssd_anchors()))
        self.layer_sets = {"default": BACKBONE_LAYERS, "backbone": BACKBONE_LAYERS}

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Map RGB images in [0, 1] to the network's input in [-1, 1].

        Parameters
        ----------
        x : Tensor of shape (n, 3, 512, 512)
            RGB values in [0, 1].

        Returns
        -------
        Tensor of shape (n, 3, 512, 512)
            ``2 x - 1`` (face-api's ``pixels / 127.5 - 1``).
        """
        check_rgb_batch(x)
        return x * 2.0 - 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Score and place a box at every anchor.

        Parameters
        ----------
        x : Tensor of shape (n, 3, 512, 512)
            Output of :meth:`prepare`.

        Returns
        -------
        boxes : Tensor of shape (n, 5118, 4)
            ``(x0, y0, x1, y1)`` relative to the input (0..1 inside it).
        scores : Tensor of shape (n, 5118)
            Face probabilities.
        """
        features = {}
        for name, block in self.backbone.items():
            x = features[f"backbone.{name}"] = block(x)
        for name, conv in self.prediction.items():
            x = features[f"prediction.{name}"] = conv(x)
        outputs = [
            predictor(features[source])
            for predictor, (source, _, _, _) in zip(self.box_predictors, _BOX_PREDICTORS, strict=True)
        ]
        encodings = torch.cat([encoding for encoding, _ in outputs], dim=1)
        logits = torch.cat([logit for _, logit in outputs], dim=1)
        return decode_boxes(encodings, self.anchors), torch.sigmoid(logits[..., 1])


def tfjs_to_torch_state_dict(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Turn face-api's SSD-MobileNetV1 TF.js weights into a :class:`FaceDetectorSSD` state dict.

    Every weight tensor is used exactly once; the constants of the frozen graph (slice bounds,
    reshape sizes, concat axis, the preprocessing scalars ``1/127.5`` and ``1``) are ignored. A missing or
    left-over weight tensor raises ``ValueError``, as do anchors that differ from :func:`ssd_anchors`.

    Parameters
    ----------
    weights : dict of str to ndarray
        TF names (``"MobilenetV1/Conv2d_1_depthwise/depthwise_weights"``...) to arrays in TF
        layout: conv kernels ``(kh, kw, in, out)``, depthwise kernels ``(kh, kw, channels, 1)``,
        ``"Output/extra_dim"`` anchors ``(1, 5118, 4)``.

    Returns
    -------
    dict of str to Tensor
        float32 tensors in torch layout (OIHW kernels) plus ``num_batches_tracked = 0`` per BatchNorm.
    """
    remaining = {
        name: value
        for name, value in weights.items()
        if not any(marker in f"/{name}" for marker in _GRAPH_CONSTANTS)
    }

    def take(name: str) -> torch.Tensor:
        if name not in remaining:
            raise ValueError(f"SSD-MobileNetV1 weights lack tensor {name!r}")
        return torch.from_numpy(np.ascontiguousarray(remaining.pop(name), dtype=np.float32))

    def conv(prefix: str, target: str, kernel: str = "weights", bias: str = "convolution_bn_offset") -> None:
        state[f"{target}.weight"] = take(f"{prefix}/{kernel}").permute(3, 2, 0, 1).contiguous()
        state[f"{target}.bias"] = take(f"{prefix}/{bias}")

    state: dict[str, torch.Tensor] = {}
    conv("MobilenetV1/Conv2d_0_pointwise", "backbone.conv_0.0")
    for index in range(1, len(_MOBILENET_BLOCKS) + 1):
        tf_dw, torch_dw = f"MobilenetV1/Conv2d_{index}_depthwise", f"backbone.conv_{index}.0"
        state[f"{torch_dw}.0.weight"] = take(f"{tf_dw}/depthwise_weights").permute(2, 3, 0, 1).contiguous()
        for tf_name, torch_name in (
            ("gamma", "weight"),
            ("beta", "bias"),
            ("moving_mean", "running_mean"),
            ("moving_variance", "running_var"),
        ):
            state[f"{torch_dw}.1.{torch_name}"] = take(f"{tf_dw}/BatchNorm/{tf_name}")
        state[f"{torch_dw}.1.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
        conv(f"MobilenetV1/Conv2d_{index}_pointwise", f"backbone.conv_{index}.1.0")
    for index in range(len(_PREDICTION_CONVS)):
        conv(f"Prediction/Conv2d_{index}_pointwise", f"prediction.conv_{index}.0")
    for index in range(len(_BOX_PREDICTORS)):
        for tf_name, torch_name in (
            ("BoxEncodingPredictor", "box_encoding"),
            ("ClassPredictor", "class_logits"),
        ):
            conv(
                f"Prediction/BoxPredictor_{index}/{tf_name}",
                f"box_predictors.{index}.{torch_name}",
                bias="biases",
            )
    anchors = take("Output/extra_dim")[0]
    mismatch = float((anchors - torch.from_numpy(ssd_anchors())).abs().max())
    if mismatch > _ANCHOR_TOLERANCE:
        raise ValueError(f"Shipped anchors differ from ssd_anchors() by up to {mismatch:.3g}")
    state["anchors"] = anchors
    if remaining:
        raise ValueError(
            f"SSD-MobileNetV1 weights have {len(remaining)} unused tensors: {sorted(remaining)[:10]}"
        )
    return state


def convert_ssd_mobilenetv1(package_dir: Path) -> dict[str, torch.Tensor]:
    """Convert the unpacked npm package ``@vladmandic/face-api@1.7.15`` to a state dict.

    The result loads into :class:`FaceDetectorSSD`.

    Parameters
    ----------
    package_dir : Path
        Folder the package archive was unpacked into (it holds
        ``package/model/ssd_mobilenetv1_model-weights_manifest.json`` and its ``.bin`` shard).

    Returns
    -------
    dict of str to Tensor
        See :func:`tfjs_to_torch_state_dict`.
    """
    manifest = Path(package_dir) / "package" / "model" / "ssd_mobilenetv1_model-weights_manifest.json"
    return tfjs_to_torch_state_dict(read_tfjs_weights(manifest))


def face_detector_ssd(*, pretrained: bool = True) -> FaceDetectorSSD:
    """Build the SSD-MobileNetV1 face detector in eval mode, with face-api's weights when ``pretrained``.

    Parameters
    ----------
    pretrained : bool
        Load the converted weights (fetched from npm and cached on first use, see
        :func:`core.weights.fetch_weights`); ``False`` keeps torch's random initialisation.

    Returns
    -------
    FaceDetectorSSD
    """
    model = FaceDetectorSSD()
    return load_pretrained(model, _WEIGHT_SOURCE.name) if pretrained else model.eval()


def _resize_bilinear_tf(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """TF's legacy ``resizeBilinear`` (no corner alignment, no half-pixel centres) of a square image.

    Output pixel ``i`` samples the input at ``i * in / size``, interpolating towards the next pixel
    (the last one repeated), as ``tf.image.resizeBilinear(x, size, false, false)`` in face-api.

    Parameters
    ----------
    tensor : Tensor of shape (channels, side, side)
    size : int

    Returns
    -------
    Tensor of shape (channels, size, size)
    """
    side = tensor.shape[-1]
    source = torch.arange(size, dtype=torch.float64) * (side / size)
    low = source.floor().long().clamp(max=side - 1)
    high = (low + 1).clamp(max=side - 1)
    weight = (source - low).to(tensor.dtype)
    rows = tensor[:, low] * (1 - weight[:, None]) + tensor[:, high] * weight[:, None]
    return rows[:, :, low] * (1 - weight) + rows[:, :, high] * weight


def _square_input(image: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (h, w, 3) -> float (3, size, size) in [0, 1]: black padding bottom/right, then resize."""
    height, width = image.shape[:2]
    side = max(height, width)
    tensor = torch.tensor(image).permute(2, 0, 1).float() / 255.0  # a copy: images may be read-only views
    return _resize_bilinear_tf(F.pad(tensor, (0, side - width, 0, side - height)), size)


def detect_faces(
    images: Sequence[np.ndarray],
    *,
    min_confidence: float = 0.5,
    max_faces: int = 10,
    model: FaceDetectorSSD | None = None,
    batch_size: int = 8,
    device: str = "cpu",
) -> list[np.ndarray]:
    """Find faces with SSD-MobileNetV1, as face-api's ``detectAllFaces(img, SsdMobilenetv1Options)``.

    Parameters
    ----------
    images : sequence of ndarray of shape (height, width, 3), uint8
        RGB images of any size.
    min_confidence : float
        Keep detections scoring above it, in (0, 1).
    max_faces : int
        Most faces returned per image (the highest-scoring ones).
    model : FaceDetectorSSD, optional
        Detector to use; by default the pretrained one is built (pass it when calling repeatedly).
    batch_size : int
        Images per forward pass.
    device : str
        Torch device string.

    Returns
    -------
    list of ndarray of shape (n_faces, 5), float32
        One per image: ``[x0, y0, x1, y1, score]`` with the corners in pixels of that image
        (clipped to it), by decreasing score.

    Examples
    --------
    >>> from skimage.data import astronaut  # doctest: +SKIP
    >>> detect_faces([astronaut()])[0]  # doctest: +SKIP
    array([[174.,  26., 277., 171., 0.99]], dtype=float32)
    """
    images = [_check_rgb(f"images[{i}]", image) for i, image in enumerate(images)]
    if not 0.0 < min_confidence < 1.0:
        raise ValueError(f"min_confidence={min_confidence!r} must lie in (0, 1)")
    for name, value in (("max_faces", max_faces), ("batch_size", batch_size)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive integer")
    model = (face_detector_ssd() if model is None else model).to(device)
    was_training = model.training
    model.eval()
    results = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                batch = torch.stack([_square_input(image, model.input_size[0]) for image in chunk]).to(device)
                boxes, scores = model(model.prepare(batch))
                for image, image_boxes, image_scores in zip(chunk, boxes.cpu(), scores.cpu(), strict=True):
                    keep = non_max_suppression(
                        image_boxes, image_scores, min_confidence=min_confidence, max_output=max_faces
                    )
                    height, width = image.shape[:2]
                    pixels = image_boxes[keep] * max(height, width)
                    pixels[:, 0::2] = pixels[:, 0::2].clamp(0, width)
                    pixels[:, 1::2] = pixels[:, 1::2].clamp(0, height)
                    results.append(torch.cat([pixels, image_scores[keep, None]], dim=1).numpy())
    finally:
        model.train(was_training)
    return results
