"""Shared torch helpers of the latent spaces: image checks and conversions, seeding, the convolutional encoder and
decoder, the training loop, batching, :func:`gaussian_kl` and state hashes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from core._validation import check_finite_array
from core.runtime import Progress, report

_CHECKPOINT_VERSION = "gan-encoder/v1"
_BATCH = 64


# --------------------------------------------------------------------------- images and seeds


def _check_images(images, name: str = "images") -> np.ndarray:
    """Return ``images`` as float32 ``(n, h, w, 3)`` in [0, 1] (uint8 input is divided by 255)."""
    arr = check_finite_array(name, images, ndim=4)
    if arr.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n_faces, height, width, 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"float {name} must lie in [0, 1], got range [{arr.min():.3g}, {arr.max():.3g}]; "
                         "pass uint8 for 0..255 values")
    return arr.astype(np.float32, copy=False)


def _check_faces_for(space, images, expected: str) -> np.ndarray:
    """``images`` checked as by :func:`_check_images` for a fitted latent space of size ``space.image_size_``.

    ``expected`` completes the size error: "images are (h, w) but {expected} (h', w')".
    """
    check_is_fitted(space)
    images = _check_images(images)
    if images.shape[1:3] != space.image_size_:
        raise ValueError(f"images are {images.shape[1:3]} but {expected} {space.image_size_}")
    return images


def _to_tensor(images: np.ndarray, dev: torch.device) -> torch.Tensor:
    """(n, h, w, 3) numpy -> (n, 3, h, w) float32 tensor on ``dev``."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(dev)


def _to_images(tensor: torch.Tensor) -> np.ndarray:
    """(n, 3, h, w) tensor -> (n, h, w, 3) float32 numpy clipped to [0, 1]."""
    return tensor.detach().clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)


def _n_down(size: Sequence[int]) -> int:
    """Stride-2 stages that take a square power-of-two image (≥ 8 pixels) down to 4 × 4."""
    h, w = (int(s) for s in size)
    if h != w or h < 8 or h & (h - 1):
        raise ValueError(f"images must be square with a power-of-two side ≥ 8, got {h} × {w}")
    return int(math.log2(h)) - 2


def _seed(random_state) -> int:
    """An int seed for torch, drawn from ``random_state`` (None, int or numpy Generator)."""
    return int(np.random.default_rng(random_state).integers(2**62))


@contextmanager
def _seeded_init(seed: int):
    """Seed torch's CPU generator for layer initialisation without touching global state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def _frozen(module: nn.Module):
    """Put ``module`` in eval mode with frozen parameters; restore both on exit."""
    flags = [p.requires_grad for p in module.parameters()]
    was_training = module.training
    module.eval().requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        module.train(was_training)


#: Training defaults when ``n_steps`` / ``batch_size`` are None: (CUDA, CPU). The CPU values give a
#: coarser model in a few minutes.
_DEVICE_DEFAULTS = {"n_steps": (3000, 300), "batch_size": (64, 32)}


def _device_default(name: str, value: int | None, dev: torch.device) -> int:
    """``value``, or its :data:`_DEVICE_DEFAULTS` entry for ``dev`` when None; must be ≥ 1."""
    if value is None:
        return _DEVICE_DEFAULTS[name][dev.type != "cuda"]
    if int(value) < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value}")
    return int(value)


# --------------------------------------------------------------------------- conv nets


def _conv_encoder(size: Sequence[int], out_features: int, width: int) -> nn.Sequential:
    """Image (n, 3, s, s) -> (n, out_features): stride-2 convs down to 4 × 4, then a linear layer.

    Channels double at each stage from ``width`` (capped at ``8 * width``).
    """
    layers: list[nn.Module] = []
    channels = 3
    for stage in range(_n_down(size)):
        out = width * min(2**stage, 8)
        layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
        channels = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 16, out_features))


class _ConvDecoder(nn.Module):
    """Latent (n, d) -> image logits (n, 3, s, s): a linear layer to 4 × 4, then stride-2 deconvs."""

    def __init__(self, latent_dim: int, size: Sequence[int], width: int):
        super().__init__()
        n_up = _n_down(size)
        channels = [width * min(2**stage, 8) for stage in reversed(range(n_up))]
        self.channels = channels[0]
        self.fc = nn.Linear(latent_dim, channels[0] * 16)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.ConvTranspose2d(channels[-1], 3, 4, stride=2, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(F.relu(self.fc(z)).view(len(z), self.channels, 4, 4))


def _train_loop(params, batch_loss: Callable[[], torch.Tensor], *, n_steps: int, lr: float,
                progress: Progress | None = None) -> list[float]:
    """Minimise ``batch_loss()`` (a fresh mini-batch each call) over ``params`` for ``n_steps`` steps.

    Adam with a learning rate decaying from ``lr`` to 0 on a cosine; calls ``progress(step, n_steps, "loss x")``
    after every step and returns the loss of every step.
    """
    optimizer = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_steps)
    history = []
    for step in range(n_steps):
        loss = batch_loss()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        report(progress, step + 1, n_steps, f"loss {history[-1]:.3f}")
    return history


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = _BATCH) -> torch.Tensor:
    return torch.cat([fn(x[start:start + batch]) for start in range(0, len(x), batch)])


# --------------------------------------------------------------------------- latent spaces


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of the posterior N(mu, diag(exp(logvar))) from the prior N(0, I), per sample.

    Parameters
    ----------
    mu, logvar : Tensor of shape (n, d)

    Returns
    -------
    kl : Tensor of shape (n,), nats
        ``0.5 * sum(mu² + exp(logvar) - 1 - logvar)``; exactly 0 for ``mu = 0, logvar = 0``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def _state_hash(module: nn.Module) -> str:
    """sha256 of a module's state dict (names, shapes and values), to key caches by content."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
