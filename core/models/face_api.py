"""face-api.js face networks (identity, expression, age-gender, 68 landmarks) ported to PyTorch.

The weights come from the MIT-licensed npm package ``@vladmandic/face-api@1.7.15`` (a maintained
fork of justadudewhohacks/face-api.js), whose ``model/`` folder holds TF.js weight manifests and
mostly uint8-quantised shards. The architectures follow the package's TypeScript sources
(``src/faceRecognitionNet``, ``src/faceFeatureExtractor``, ``src/faceProcessor``,
``src/xception``, ``src/ageGenderNet``):

- :class:`FaceRecognitionNet` (``"face_identity"``): the port of dlib's ResNet-34-like face
  recogniser, 150×150 input, 128-d descriptor; two faces are the same person when the
  descriptors are closer than :data:`SAME_PERSON_THRESHOLD` (Euclidean).
- :class:`FaceExpressionNet` (``"face_expression"``) and :class:`FaceLandmark68Net`
  (``"face_landmarks68"``): one :class:`FaceFeatureExtractor` (four dense blocks of separable
  convolutions, 112×112 input) followed by a fully connected layer.
- :class:`AgeGenderNet` (``"face_age_gender"``): a :class:`TinyXception` backbone (112×112) with an
  age regressor and a male/female classifier.

All four nets take ``(x·255 − MEAN_RGB) / 255`` of an RGB image (:data:`FACE_API_MEAN_RGB`),
which face-api computes after padding the face crop to a square (centred) and resizing it
bilinearly to the input size. TF.js convolutions with ``'same'`` padding pad
asymmetrically when the stride is 2 (nothing before, one pixel after for a 3×3 kernel on an even
input), so :class:`~core.models._layers.TFConv2d` pads explicitly the way TensorFlow does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core._validation import check_choice
from core.models._layers import SeparableConv2d, TFConv2d, check_rgb_batch, pad_same
from core.models._loading import load_pretrained
from core.models._tfjs import read_tfjs_weights
from core.weights import WeightSource, register_source

__all__ = [
    "AGE_GENDER_LABELS",
    "EXPRESSION_LABELS",
    "FACE_API_MANIFESTS",
    "FACE_API_MEAN_RGB",
    "SAME_PERSON_THRESHOLD",
    "AgeGenderNet",
    "DenseBlock4",
    "FaceExpressionNet",
    "FaceFeatureExtractor",
    "FaceLandmark68Net",
    "FaceRecognitionNet",
    "TinyXception",
    "convert_face_api",
    "face_age_gender_net",
    "face_expression_net",
    "face_identity_net",
    "face_landmarks68_net",
    "tfjs_to_torch_state_dict",
]

#: Mean RGB on the 0–255 scale that face-api subtracts before dividing by 255.
FACE_API_MEAN_RGB = (122.782, 117.001, 104.298)

#: Euclidean distance between face descriptors below which face-api calls two faces one person.
SAME_PERSON_THRESHOLD = 0.6

#: Output classes of :class:`FaceExpressionNet`, in face-api's order.
EXPRESSION_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")

#: Columns of the output of :class:`AgeGenderNet`.
AGE_GENDER_LABELS = ("age", "male", "female")

_WEIGHT_SOURCE = register_source(WeightSource(
    name="face_api",
    registry="npm",
    package="@vladmandic/face-api",
    version="1.7.15",
    archive_sha256="0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
    converter="core.models.face_api:convert_face_api",
    download_url="https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz",
    description="face-api.js identity, expression, age-gender and 68-landmark nets (TF.js port)",
    license="MIT",
))

#: State-dict prefix of each net -> its face-api weight manifest in ``package/model/``.
FACE_API_MANIFESTS = {
    "identity": "face_recognition_model-weights_manifest.json",
    "expression": "face_expression_model-weights_manifest.json",
    "age_gender": "age_gender_model-weights_manifest.json",
    "landmarks68": "face_landmark_68_model-weights_manifest.json",
}

class _FaceApiNet(nn.Module):
    """Shared preprocessing of the face-api nets (zoo-model convention of :mod:`core.models`)."""

    input_size: tuple[int, int]

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Map RGB face crops in [0, 1] to face-api's input.

        Parameters
        ----------
        x : Tensor of shape (n, 3, height, width)
            RGB values in [0, 1], square crops at :attr:`input_size`.

        Returns
        -------
        Tensor of shape (n, 3, height, width)
            ``(x·255 − FACE_API_MEAN_RGB) / 255``, on ``x``'s device and dtype.
        """
        check_rgb_batch(x)
        mean = torch.tensor(FACE_API_MEAN_RGB, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * 255.0 - mean) / 255.0


# --- identity: FaceRecognitionNet -------------------------------------------------------------


class _Scale(nn.Module):
    """Per-channel affine map ``x·weight + bias`` (dlib's affine layer replacing BatchNorm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class _ScaledConv(nn.Module):
    """Convolution + bias, then :class:`_Scale`, then optionally ReLU (face-api ``convLayer``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, down: bool, relu: bool):
        super().__init__()
        self.conv = TFConv2d(in_channels, out_channels, kernel_size, stride=2 if down else 1,
                             padding="valid" if down else "same")
        self.scale = _Scale(out_channels)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.scale(self.conv(x))
        return F.relu(out) if self.relu else out


class _ResidualBlock(nn.Module):
    """face-api ``residual`` / ``residualDown``.

    The down-sampling variant uses a 'valid' stride-2 first convolution; its shortcut is a
    2×2/2 average pool whose channels are doubled with zeros, and the residual branch is padded
    with zeros at the bottom/right when it comes out one pixel smaller than the pool.
    """

    def __init__(self, in_channels: int, out_channels: int, *, down: bool):
        super().__init__()
        self.conv1 = _ScaledConv(in_channels, out_channels, 3, down=down, relu=True)
        self.conv2 = _ScaledConv(out_channels, out_channels, 3, down=False, relu=False)
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        if not self.down:
            return F.relu(out + x)
        pooled = F.avg_pool2d(x, 2, 2)
        if pooled.shape[1] != out.shape[1]:
            pooled = torch.cat([pooled, torch.zeros_like(pooled)], dim=1)
        out = F.pad(out, (0, pooled.shape[3] - out.shape[3], 0, pooled.shape[2] - out.shape[2]))
        return F.relu(out + pooled)


#: FaceRecognitionNet's residual blocks: name -> (in_channels, out_channels, down-sampling).
_RECOGNITION_BLOCKS = {
    "conv32_1": (32, 32, False), "conv32_2": (32, 32, False), "conv32_3": (32, 32, False),
    "conv64_down": (32, 64, True), "conv64_1": (64, 64, False), "conv64_2": (64, 64, False),
    "conv64_3": (64, 64, False),
    "conv128_down": (64, 128, True), "conv128_1": (128, 128, False), "conv128_2": (128, 128, False),
    "conv256_down": (128, 256, True), "conv256_1": (256, 256, False), "conv256_2": (256, 256, False),
    "conv256_down_out": (256, 256, True),
}


class FaceRecognitionNet(_FaceApiNet):
    """face-api's FaceRecognitionNet (dlib ResNet), built with random weights.

    ``forward`` takes the output of :meth:`prepare` and returns face descriptors of shape
    ``(n, 128)``; descriptors of one person lie within :data:`SAME_PERSON_THRESHOLD` (Euclidean).

    Attributes
    ----------
    input_size : tuple of int
        ``(150, 150)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: ``conv32_down`` (7×7/2 'valid' conv + scale + ReLU, ``(n, 32, 72, 72)``),
        the 14 residual blocks (``conv32_*`` ``(n, 32, 35, 35)``, ``conv64_*`` ``(n, 64, 17, 17)``,
        ``conv128_*`` ``(n, 128, 8, 8)``, ``conv256_down``/``_1``/``_2`` ``(n, 256, 4, 4)``,
        ``conv256_down_out`` ``(n, 256, 2, 2)``) and ``fc``, the descriptor ``(n, 128)``.
    labels : tuple
        Empty: the output is a descriptor, not class scores.
    """

    input_size = (150, 150)

    def __init__(self):
        super().__init__()
        self.conv32_down = _ScaledConv(3, 32, 7, down=True, relu=True)
        self.pool = nn.MaxPool2d(3, 2)
        for name, (c_in, c_out, down) in _RECOGNITION_BLOCKS.items():
            self.add_module(name, _ResidualBlock(c_in, c_out, down=down))
        self.fc = nn.Linear(256, 128, bias=False)
        self.layer_sets = {"default": ("conv32_down", *_RECOGNITION_BLOCKS, "fc")}
        self.labels = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.conv32_down(x))
        for name in _RECOGNITION_BLOCKS:
            out = getattr(self, name)(out)
        return self.fc(out.mean(dim=(2, 3)))


# --- expression and landmarks: FaceFeatureExtractor + fc ---------------------------------------


class DenseBlock4(nn.Module):
    """face-api ``denseBlock4``: four convolutions with dense (summed) connections.

    ``conv0`` has stride 2 (a plain 3×3 convolution in the first block, separable otherwise);
    each later separable convolution sees the ReLU of the sum of all earlier outputs, and the
    block returns the ReLU of the sum of all four.
    """

    def __init__(self, in_channels: int, out_channels: int, *, first: bool = False):
        super().__init__()
        self.conv0 = (TFConv2d(in_channels, out_channels, 3, stride=2) if first
                      else SeparableConv2d(in_channels, out_channels, stride=2))
        self.conv1 = SeparableConv2d(out_channels, out_channels)
        self.conv2 = SeparableConv2d(out_channels, out_channels)
        self.conv3 = SeparableConv2d(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + out2 + out3))
        return F.relu(out1 + out2 + out3 + out4)


class FaceFeatureExtractor(nn.Module):
    """face-api's FaceFeatureExtractor: four :class:`DenseBlock4` and a 7×7/2 average pool.

    Maps ``(n, 3, 112, 112)`` to ``(n, 256)``; the blocks output ``(n, 32, 56, 56)``,
    ``(n, 64, 28, 28)``, ``(n, 128, 14, 14)`` and ``(n, 256, 7, 7)``.
    """

    def __init__(self):
        super().__init__()
        self.dense0 = DenseBlock4(3, 32, first=True)
        self.dense1 = DenseBlock4(32, 64)
        self.dense2 = DenseBlock4(64, 128)
        self.dense3 = DenseBlock4(128, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dense3(self.dense2(self.dense1(self.dense0(x))))
        return F.avg_pool2d(out, 7, 2).flatten(1)


_EXTRACTOR_LAYERS = tuple(f"features.dense{i}" for i in range(4))


class FaceExpressionNet(_FaceApiNet):
    """face-api's FaceExpressionNet, built with random weights.

    ``forward`` takes the output of :meth:`prepare` and returns softmax probabilities of shape
    ``(n, 7)`` over :data:`EXPRESSION_LABELS` (as face-api's ``predictExpressions``).

    Attributes
    ----------
    input_size : tuple of int
        ``(112, 112)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: ``features.dense0``–``features.dense3`` (see :class:`FaceFeatureExtractor`)
        and ``fc``, the pre-softmax logits ``(n, 7)``.
    labels : tuple of str
        :data:`EXPRESSION_LABELS`.
    """

    input_size = (112, 112)

    def __init__(self):
        super().__init__()
        self.features = FaceFeatureExtractor()
        self.fc = nn.Linear(256, len(EXPRESSION_LABELS))
        self.layer_sets = {"default": (*_EXTRACTOR_LAYERS, "fc")}
        self.labels = EXPRESSION_LABELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(self.features(x)), dim=1)


class FaceLandmark68Net(_FaceApiNet):
    """face-api's FaceLandmark68Net, built with random weights.

    ``forward`` takes the output of :meth:`prepare` and returns 68 landmarks of shape
    ``(n, 68, 2)``: ``(x, y)`` in relative coordinates of the square input (0 = left/top edge,
    1 = right/bottom edge), in the iBUG-300W order (jaw 0–16, brows 17–26, nose 27–35,
    eyes 36–47, mouth 48–67).

    Attributes
    ----------
    input_size : tuple of int
        ``(112, 112)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: ``features.dense0``–``features.dense3`` and ``fc``, the 136 interleaved
        coordinates ``(n, 136)``.
    labels : tuple
        Empty: the output is coordinates.
    """

    input_size = (112, 112)

    def __init__(self):
        super().__init__()
        self.features = FaceFeatureExtractor()
        self.fc = nn.Linear(256, 136)
        self.layer_sets = {"default": (*_EXTRACTOR_LAYERS, "fc")}
        self.labels = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)).view(-1, 68, 2)


# --- age and gender: TinyXception + two fc heads ----------------------------------------------


class _ReductionBlock(nn.Module):
    """TinyXception reduction block: two separable convs, 3×3/2 'same' max pool, 1×1/2 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, *, activate_input: bool = True):
        super().__init__()
        self.separable_conv0 = SeparableConv2d(in_channels, out_channels)
        self.separable_conv1 = SeparableConv2d(out_channels, out_channels)
        self.expansion_conv = TFConv2d(in_channels, out_channels, 1, stride=2)
        self.activate_input = activate_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.separable_conv0(F.relu(x) if self.activate_input else x)
        out = self.separable_conv1(F.relu(out))
        out = F.max_pool2d(pad_same(out, 3, 2, value=-math.inf), 3, 2)
        return out + self.expansion_conv(x)


class _MainBlock(nn.Module):
    """TinyXception main block: three ReLU + separable conv steps and an identity shortcut."""

    def __init__(self, channels: int):
        super().__init__()
        self.separable_conv0 = SeparableConv2d(channels, channels)
        self.separable_conv1 = SeparableConv2d(channels, channels)
        self.separable_conv2 = SeparableConv2d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.separable_conv0(F.relu(x))
        out = self.separable_conv1(F.relu(out))
        return self.separable_conv2(F.relu(out)) + x


class _Flow(nn.Module):
    """Named container mirroring face-api's ``entry_flow``/``middle_flow``/``exit_flow`` groups."""

    def __init__(self, **blocks: nn.Module):
        super().__init__()
        for name, block in blocks.items():
            self.add_module(name, block)


class TinyXception(nn.Module):
    """face-api's TinyXception backbone with two main blocks: ``(n, 3, 112, 112) -> (n, 512, 7, 7)``.

    Block outputs: ``entry_flow.conv_in`` ``(n, 32, 56, 56)`` (before its ReLU),
    ``entry_flow.reduction_block_0`` ``(n, 64, 28, 28)``, ``entry_flow.reduction_block_1`` and
    ``middle_flow.main_block_0``/``_1`` ``(n, 128, 14, 14)``, ``exit_flow.reduction_block``
    ``(n, 256, 7, 7)``, ``exit_flow.separable_conv`` ``(n, 512, 7, 7)`` (before its ReLU).
    """

    def __init__(self):
        super().__init__()
        self.entry_flow = _Flow(
            conv_in=TFConv2d(3, 32, 3, stride=2),
            reduction_block_0=_ReductionBlock(32, 64, activate_input=False),
            reduction_block_1=_ReductionBlock(64, 128),
        )
        self.middle_flow = _Flow(main_block_0=_MainBlock(128), main_block_1=_MainBlock(128))
        self.exit_flow = _Flow(reduction_block=_ReductionBlock(128, 256),
                               separable_conv=SeparableConv2d(256, 512))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        entry, middle, exit_ = self.entry_flow, self.middle_flow, self.exit_flow
        out = F.relu(entry.conv_in(x))
        out = entry.reduction_block_1(entry.reduction_block_0(out))
        out = middle.main_block_1(middle.main_block_0(out))
        return F.relu(exit_.separable_conv(exit_.reduction_block(out)))


class _AgeGenderHead(nn.Module):
    """``age`` regressor and ``gender`` classifier on pooled features: ``(n, 512) -> (n, 3)``."""

    def __init__(self):
        super().__init__()
        self.age = nn.Linear(512, 1)
        self.gender = nn.Linear(512, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.age(x), torch.softmax(self.gender(x), dim=1)], dim=1)


class AgeGenderNet(_FaceApiNet):
    """face-api's AgeGenderNet, built with random weights.

    ``forward`` takes the output of :meth:`prepare` and returns ``(n, 3)``: column 0 the age in
    years (regression), columns 1–2 the softmax probabilities of male and female
    (:data:`AGE_GENDER_LABELS`).

    Attributes
    ----------
    input_size : tuple of int
        ``(112, 112)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: the seven :class:`TinyXception` blocks (prefixed ``backbone.``) and
        ``fc``, the ``(n, 3)`` output.
    labels : tuple of str
        :data:`AGE_GENDER_LABELS` (the output columns).
    """

    input_size = (112, 112)

    def __init__(self):
        super().__init__()
        self.backbone = TinyXception()
        self.fc = _AgeGenderHead()
        blocks = ("entry_flow.conv_in", "entry_flow.reduction_block_0", "entry_flow.reduction_block_1",
                  "middle_flow.main_block_0", "middle_flow.main_block_1", "exit_flow.reduction_block",
                  "exit_flow.separable_conv")
        self.layer_sets = {"default": (*(f"backbone.{name}" for name in blocks), "fc")}
        self.labels = AGE_GENDER_LABELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.avg_pool2d(self.backbone(x), 7, 2).flatten(1))


# --- weights -----------------------------------------------------------------------------------

#: TF.js weight leaf name -> torch parameter path.
_LEAF_NAMES = {
    "filters": "weight",
    "depthwise_filter": "depthwise.weight",
    "pointwise_filter": "pointwise.weight",
    "weights": "weight",
    "biases": "bias",
    "bias": "bias",
}

#: Net prefix -> TF.js path prefix of the modules that are nested one level deeper in torch.
_MODULE_PREFIXES = {
    "identity": "",
    "expression": "features.",
    "age_gender": "backbone.",
    "landmarks68": "features.",
}


def _tf_tensor_to_torch(leaf: str, value: np.ndarray) -> np.ndarray:
    """TF.js layout -> torch layout: HWIO -> OIHW, depthwise (H, W, C, M) -> (C·M, 1, H, W), fc transposed."""
    if leaf == "depthwise_filter":
        height, width, channels, multiplier = value.shape
        return value.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, height, width)
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 2:
        return value.T
    return value


def tfjs_to_torch_state_dict(weights: dict[str, np.ndarray], net: str) -> dict[str, torch.Tensor]:
    """Turn one face-api net's TF.js weights into a state dict of the matching torch module.

    Parameters
    ----------
    weights : dict of str to ndarray
        TF.js names (``"dense0/conv1/depthwise_filter"``, ``"conv32_1/conv1/scale/weights"``,
        ``"fc/age/weights"``, ``"fc"``...) to arrays in TF.js layout: conv kernels HWIO,
        depthwise kernels ``(3, 3, channels, 1)``, fc weights ``(in, out)``.
    net : {"identity", "expression", "age_gender", "landmarks68"}
        Which net the weights belong to (keys of :data:`FACE_API_MANIFESTS`).

    Returns
    -------
    dict of str to Tensor
        float32, contiguous tensors keyed like the net's ``state_dict()`` (without a net prefix).
    """
    check_choice("net", net, FACE_API_MANIFESTS)
    state = {}
    for name, value in weights.items():
        *path, leaf = name.split("/")
        if leaf not in _LEAF_NAMES:  # identity's bare "fc" matrix
            path, leaf = [*path, leaf], "weights"
        prefix = "" if path[0] == "fc" else _MODULE_PREFIXES[net]
        key = prefix + ".".join([*path, _LEAF_NAMES[leaf]])
        array = _tf_tensor_to_torch(leaf, np.asarray(value, dtype=np.float32))
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
    return state


def convert_face_api(package_dir: Path) -> dict[str, torch.Tensor]:
    """Convert the unpacked npm package ``@vladmandic/face-api@1.7.15`` to one state dict.

    Parameters
    ----------
    package_dir : Path
        Folder the package archive was unpacked into (it holds ``package/model/``).

    Returns
    -------
    dict of str to Tensor
        The four nets' tensors under the prefixes ``"identity."``, ``"expression."``,
        ``"age_gender."`` and ``"landmarks68."`` (see :func:`tfjs_to_torch_state_dict`).
    """
    model_dir = Path(package_dir) / "package" / "model"
    state = {}
    for net, manifest in FACE_API_MANIFESTS.items():
        converted = tfjs_to_torch_state_dict(read_tfjs_weights(model_dir / manifest), net)
        state.update({f"{net}.{key}": value for key, value in converted.items()})
    return state


def face_identity_net(*, pretrained: bool = True) -> FaceRecognitionNet:
    """Build face-api's FaceRecognitionNet in eval mode (128-d descriptors of 150×150 faces).

    Parameters
    ----------
    pretrained : bool
        Load the converted face-api weights (fetched from npm and cached on first use, see
        :func:`core.weights.fetch_weights`); ``False`` keeps a random initialisation.

    Examples
    --------
    >>> net = face_identity_net()  # doctest: +SKIP
    >>> descriptors = net(net.prepare(faces))  # faces: (n, 3, 150, 150) RGB in [0, 1]  # doctest: +SKIP
    >>> same = torch.cdist(descriptors, descriptors) < SAME_PERSON_THRESHOLD  # doctest: +SKIP
    """
    model = FaceRecognitionNet()
    return load_pretrained(model, _WEIGHT_SOURCE.name, prefix="identity.") if pretrained else model.eval()


def face_expression_net(*, pretrained: bool = True) -> FaceExpressionNet:
    """Build face-api's FaceExpressionNet in eval mode (7 expression probabilities, 112×112 faces).

    Parameters
    ----------
    pretrained : bool
        Load the converted face-api weights; ``False`` keeps a random initialisation.
    """
    model = FaceExpressionNet()
    return load_pretrained(model, _WEIGHT_SOURCE.name, prefix="expression.") if pretrained else model.eval()


def face_age_gender_net(*, pretrained: bool = True) -> AgeGenderNet:
    """Build face-api's AgeGenderNet in eval mode (``[age, p_male, p_female]``, 112×112 faces).

    Parameters
    ----------
    pretrained : bool
        Load the converted face-api weights; ``False`` keeps a random initialisation.
    """
    model = AgeGenderNet()
    return load_pretrained(model, _WEIGHT_SOURCE.name, prefix="age_gender.") if pretrained else model.eval()


def face_landmarks68_net(*, pretrained: bool = True) -> FaceLandmark68Net:
    """Build face-api's FaceLandmark68Net in eval mode (68 relative ``(x, y)``, 112×112 faces).

    Parameters
    ----------
    pretrained : bool
        Load the converted face-api weights; ``False`` keeps a random initialisation.
    """
    model = FaceLandmark68Net()
    return load_pretrained(model, _WEIGHT_SOURCE.name, prefix="landmarks68.") if pretrained else model.eval()
