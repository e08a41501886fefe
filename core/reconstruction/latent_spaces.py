"""The latent spaces registered in :data:`LATENT_SPACES`: :class:`GanLatentSpace` (frozen DCGAN generator and an
encoder trained on its samples), :class:`VaeLatentSpace` and :class:`PcaLatentSpace` (eigenfaces). All share
``fit(images)``, ``transform(images) -> (n, d)``, ``inverse_transform(latents) -> (n, h, w, 3)`` and ``latent_dim_``.
None writes to disk: a trained GAN encoder is cached by ``core.workflows.reconstruction.fit_gan_latent_space``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_is_fitted
from torch import nn

from core.models import build_model
from core.reconstruction._common import (
    _BATCH,
    _CHECKPOINT_VERSION,
    _batched,
    _check_faces_for,
    _check_images,
    _conv_encoder,
    _ConvDecoder,
    _device_default,
    _frozen,
    _seed,
    _seeded_init,
    _state_hash,
    _to_images,
    _to_tensor,
    _train_loop,
    gaussian_kl,
)
from core.reconstruction.decoder import _check_latents
from core.runtime import Progress, report
from core.stats import torch_device


class GanLatentSpace(BaseEstimator):
    """The latent space of a frozen face GAN, made invertible by a trained encoder.

    The generator ``G`` maps ``z ~ N(0, I)`` to a face. An encoder ``E`` (a small conv net, image ->
    z) is trained self-supervised on generated pairs: each step samples ``z``, makes ``x = G(z)``
    and minimises::

        mean((E(x) - z)²) + pixel_weight * mean((G(E(x)) - x)²)

    with Adam and a cosine-decaying learning rate. ``G`` stays frozen. ``fit`` writes nothing: a caller that
    keeps trained encoders stores ``encoder_.state_dict()`` under :meth:`training_key` and hands it back to
    ``fit(encoder_state=...)`` (``core.workflows.reconstruction.fit_gan_latent_space`` does).

    Parameters
    ----------
    generator : torch.nn.Module, optional
        An object with ``latent_dim`` (int), ``output_size`` ((h, w)) and ``generate(z)``, which maps
        a tensor ``(n, latent_dim)`` to images ``(n, 3, h, w)`` in [0, 1] differentiably. ``None``
        builds the zoo's ``"dcgan_faces"`` (z of size 100, 64 × 64).
    n_steps : int, optional
        Training steps; ``None`` gives 3000 on CUDA and 300 on CPU (a coarser encoder).
    batch_size : int, optional
        Generated pairs per step; ``None`` gives 64 on CUDA and 32 on CPU.
    lr : float
        Initial Adam learning rate.
    pixel_weight : float
        Weight λ of the image-space loss ``mean((G(E(x)) - x)²)``; 0 (default) trains on the latent
        loss only, which also skips the backward pass through G. On the zoo's DCGAN with the CPU
        default of 300 steps (faces of the 300-face demo), λ = 0 recovered z better than λ = 10 (mean
        per-dimension r(E(G(z)), z) 0.47 vs 0.30) and G(E(G(z))) matched G(z) better too (pixel r
        0.76 vs 0.72): the pixel term pulls short trainings towards codes of an average face. Pixel
        fit for faces that are not G's samples is the job of ``refine_steps``.
    width : int
        Channels of the encoder's first conv stage.
    refine_steps : int
        Gradient steps (Adam on z, rate ``refine_lr``) that refine ``E(x)`` by minimising
        ``mean((G(z) - x)²)`` in :meth:`transform`. Useful for faces that are not G's samples (library
        photos), which E has never seen; 0 (default) keeps ``E(x)``, which is fast and exact enough
        for G's own samples.
    refine_lr : float
    random_state : int, numpy Generator or None
    device : str
        Torch device ("cpu" default).

    Attributes
    ----------
    generator_ : torch.nn.Module
        The frozen generator.
    encoder_ : torch.nn.Module
        The trained encoder, in eval mode.
    latent_dim_ : int
    image_size_ : tuple of int
        ``(h, w)`` of the generator's images.
    loss_history_ : list of float
        Training loss per step (empty when the encoder was given to ``fit``).
    """

    def __init__(self, generator=None, *, n_steps=None, batch_size=None, lr=1e-3, pixel_weight=0.0, width=32,
                 refine_steps=0, refine_lr=0.05, random_state=0, device="cpu"):
        self.generator = generator
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.pixel_weight = pixel_weight
        self.width = width
        self.refine_steps = refine_steps
        self.refine_lr = refine_lr
        self.random_state = random_state
        self.device = device

    def _generator(self, dev: torch.device) -> nn.Module:
        generator = build_model("dcgan_faces", device=str(dev)) if self.generator is None else self.generator
        return generator.to(dev)

    def training_key(self) -> str:
        """What :meth:`fit` would train, as 16 hex digits: a hash of the generator's weights and every training
        setting (``refine_steps``, ``refine_lr`` and the device's name left out); equal keys train equal encoders
        when ``random_state`` is an int."""
        dev = torch_device(self.device)
        generator = self._generator(dev)
        settings = {"version": _CHECKPOINT_VERSION, "generator": _state_hash(generator),
                    "latent_dim": int(generator.latent_dim), "size": list(generator.output_size),
                    "n_steps": _device_default("n_steps", self.n_steps, dev),
                    "batch_size": _device_default("batch_size", self.batch_size, dev), "lr": float(self.lr),
                    "pixel_weight": float(self.pixel_weight), "width": int(self.width),
                    "random_state": self.random_state}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    def fit(self, images=None, *, encoder_state: dict | None = None, progress: Progress | None = None):
        """Train the encoder on the generator's own samples, or take a trained one; writes nothing.

        Parameters
        ----------
        images : ndarray of shape (n_faces, h, w, 3), optional
            Not used for training (E learns from G's samples, which cost nothing to draw); when
            given, only their size is checked against the generator's.
        encoder_state : dict of str to torch.Tensor, optional
            ``encoder_.state_dict()`` of an encoder trained with the same :meth:`training_key`: loaded
            instead of training.
        progress : callable, optional
            Called as ``progress(step, n_steps, "loss x")`` after every training step.

        Returns
        -------
        self
        """
        dev = torch_device(self.device)
        generator = self._generator(dev)
        size = tuple(int(s) for s in generator.output_size)
        if images is not None and _check_images(images).shape[1:3] != size:
            raise ValueError(f"images are {np.shape(images)[1:3]} but the generator makes {size}")
        n_steps = _device_default("n_steps", self.n_steps, dev)
        batch_size = _device_default("batch_size", self.batch_size, dev)
        latent_dim = int(generator.latent_dim)
        seed = _seed(self.random_state)
        with _seeded_init(seed):
            encoder = _conv_encoder(size, latent_dim, self.width)
        encoder = encoder.to(dev)
        if encoder_state is not None:
            encoder.load_state_dict(encoder_state)
            self.loss_history_ = []
        else:
            self.loss_history_ = self._train(encoder, generator, n_steps, batch_size, seed, dev, progress)
        self.generator_ = generator
        self.encoder_ = encoder.eval().requires_grad_(False)
        self.latent_dim_ = latent_dim
        self.image_size_ = size
        return self

    def _train(self, encoder, generator, n_steps, batch_size, seed, dev, progress) -> list[float]:
        gen = torch.Generator(device=dev).manual_seed(seed)

        def batch_loss() -> torch.Tensor:
            z = torch.randn(batch_size, generator.latent_dim, generator=gen, device=dev)
            with torch.no_grad():
                x = generator.generate(z)
            z_hat = encoder(x)
            loss = (z_hat - z).pow(2).mean()
            if self.pixel_weight > 0:
                loss = loss + self.pixel_weight * (generator.generate(z_hat) - x).pow(2).mean()
            return loss

        encoder.train()
        with _frozen(generator):
            return _train_loop(encoder.parameters(), batch_loss, n_steps=n_steps, lr=self.lr, progress=progress)

    def transform(self, images) -> np.ndarray:
        """Latent codes of faces: ``E(x)``, then ``refine_steps`` of ``min_z mean((G(z) - x)²)``.

        Parameters
        ----------
        images : ndarray of shape (n_faces, h, w, 3)
            Of the generator's size.

        Returns
        -------
        latents : ndarray of shape (n_faces, latent_dim_), float32
        """
        images = _check_faces_for(self, images, "the generator makes")
        dev = next(self.encoder_.parameters()).device
        x = _to_tensor(images, dev)
        with torch.no_grad():
            z = _batched(self.encoder_, x)
        if self.refine_steps > 0:
            z = torch.cat([self._refine(z[start:start + _BATCH], x[start:start + _BATCH])
                           for start in range(0, len(x), _BATCH)])
        return z.cpu().numpy().astype(np.float32)

    def _refine(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Adam on ``z`` (n, d) for ``refine_steps`` against ``mean((G(z) - x)²)``, x (n, 3, h, w)."""
        z = z.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=self.refine_lr)
        with torch.enable_grad(), _frozen(self.generator_):
            for _ in range(self.refine_steps):
                loss = (self.generator_.generate(z) - x).pow(2).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return z.detach()

    def inverse_transform(self, latents) -> np.ndarray:
        """Faces ``G(z)``.

        Parameters
        ----------
        latents : ndarray of shape (n_faces, latent_dim_)

        Returns
        -------
        images : ndarray of shape (n_faces, h, w, 3), float32 in [0, 1]
        """
        check_is_fitted(self)
        z = _check_latents(latents, self.latent_dim_)
        dev = next(self.encoder_.parameters()).device
        with torch.no_grad(), _frozen(self.generator_):
            return _to_images(_batched(self.generator_.generate, torch.from_numpy(z).to(dev)))


class VaeLatentSpace(BaseEstimator):
    """A convolutional variational auto-encoder trained on the given faces.

    Encoder: stride-2 convs down to 4 × 4, then a linear layer to the posterior mean and log-variance.
    Decoder: the mirror image, ending in logits. The loss is the negative ELBO per image::

        BCE(decoder(z), x) summed over pixels + beta * KL(N(mu, sigma²) || N(0, I))

    with ``z = mu + sigma * eps`` (reparameterisation), Adam and a cosine-decaying learning rate.

    Parameters
    ----------
    latent_dim : int, optional
        Size of the code. ``None`` gives 1024 (the paper's size) when at least 10 000 faces are
        given to :meth:`fit`, and 64 otherwise: a small set cannot fill a large code.
    beta : float
        Weight of the KL term (1 is the plain ELBO).
    n_steps : int, optional
        Training steps; ``None`` gives 3000 on CUDA and 300 on CPU.
    batch_size : int, optional
        Faces per step; ``None`` gives 64 on CUDA and 32 on CPU.
    lr : float
    width : int
        Channels of the first conv stage.
    random_state : int, numpy Generator or None
    device : str

    Attributes
    ----------
    encoder_, decoder_ : torch.nn.Module
        In eval mode.
    latent_dim_ : int
    image_size_ : tuple of int
    loss_history_ : list of float
        Negative ELBO per image (nats) at every step.
    """

    def __init__(self, latent_dim=None, *, beta=1.0, n_steps=None, batch_size=None, lr=1e-3, width=32,
                 random_state=0, device="cpu"):
        self.latent_dim = latent_dim
        self.beta = beta
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.width = width
        self.random_state = random_state
        self.device = device

    def fit(self, images, *, progress: Progress | None = None):
        """Train the VAE.

        Parameters
        ----------
        images : ndarray of shape (n_faces, h, w, 3)
            Square, power-of-two side ≥ 8.
        progress : callable, optional
            Called as ``progress(step, n_steps, "loss x")`` after every step.

        Returns
        -------
        self
        """
        images = _check_images(images)
        dev = torch_device(self.device)
        size = images.shape[1:3]
        n_steps = _device_default("n_steps", self.n_steps, dev)
        batch_size = _device_default("batch_size", self.batch_size, dev)
        latent_dim = self.latent_dim or (1024 if len(images) >= 10_000 else 64)
        seed = _seed(self.random_state)
        with _seeded_init(seed):
            encoder = _conv_encoder(size, 2 * latent_dim, self.width).to(dev)
            decoder = _ConvDecoder(latent_dim, size, self.width).to(dev)
        gen = torch.Generator(device=dev).manual_seed(seed)
        x_all = _to_tensor(images, dev)

        def batch_loss() -> torch.Tensor:
            x = x_all[torch.randint(len(x_all), (min(batch_size, len(x_all)),), generator=gen, device=dev)]
            mu, logvar = encoder(x).chunk(2, dim=1)
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=gen, device=dev)
            recon = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").flatten(1).sum(1)
            return (recon + self.beta * gaussian_kl(mu, logvar)).mean()

        self.loss_history_ = _train_loop([*encoder.parameters(), *decoder.parameters()], batch_loss,
                                         n_steps=n_steps, lr=self.lr, progress=progress)
        self.encoder_ = encoder.eval().requires_grad_(False)
        self.decoder_ = decoder.eval().requires_grad_(False)
        self.latent_dim_ = int(latent_dim)
        self.image_size_ = tuple(size)
        return self

    def transform(self, images) -> np.ndarray:
        """Posterior means.

        Parameters
        ----------
        images : ndarray of shape (n_faces, h, w, 3)

        Returns
        -------
        latents : ndarray of shape (n_faces, latent_dim_), float32
        """
        images = _check_faces_for(self, images, "the VAE was fitted on")
        x = _to_tensor(images, next(self.encoder_.parameters()).device)
        with torch.no_grad():
            mu = _batched(lambda b: self.encoder_(b)[:, :self.latent_dim_], x)
        return mu.cpu().numpy().astype(np.float32)

    def inverse_transform(self, latents) -> np.ndarray:
        """Decoded faces ``sigmoid(decoder(z))``.

        Parameters
        ----------
        latents : ndarray of shape (n_faces, latent_dim_)

        Returns
        -------
        images : ndarray of shape (n_faces, h, w, 3), float32 in [0, 1]
        """
        check_is_fitted(self)
        z = torch.from_numpy(_check_latents(latents, self.latent_dim_)).to(next(self.decoder_.parameters()).device)
        with torch.no_grad():
            return _to_images(torch.sigmoid(_batched(self.decoder_, z)))


class PcaLatentSpace(BaseEstimator):
    """Eigenfaces: PCA on flattened pixels, the paper's baseline.

    Parameters
    ----------
    latent_dim : int
        Requested number of components. The fitted size is capped at ``n_train - 1`` (the rank of
        the centred training faces: more components carry no variance) and at the number of pixels.
    random_state : int, numpy Generator or None
        For sklearn's randomized solver on large sets.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    latent_dim_ : int
        ``min(latent_dim, n_train - 1, h * w * 3)``.
    image_size_ : tuple of int
    """

    def __init__(self, latent_dim=64, *, random_state=0):
        self.latent_dim = latent_dim
        self.random_state = random_state

    def fit(self, images, *, progress: Progress | None = None):
        """Fit the eigenfaces.

        Parameters
        ----------
        images : ndarray of shape (n_faces, h, w, 3)
            At least 2 faces.
        progress : callable, optional
            Accepted for the common interface; called once as ``progress(1, 1, "fitted")``.

        Returns
        -------
        self
        """
        images = _check_images(images)
        if len(images) < 2:
            raise ValueError(f"PCA needs at least 2 faces, got {len(images)}")
        if int(self.latent_dim) < 1:
            raise ValueError(f"latent_dim must be ≥ 1, got {self.latent_dim}")
        flat = images.reshape(len(images), -1)
        n_components = min(int(self.latent_dim), len(images) - 1, flat.shape[1])
        seed = None if self.random_state is None else _seed(self.random_state) % 2**32
        self.pca_ = PCA(n_components=n_components, random_state=seed).fit(flat)
        self.latent_dim_ = n_components
        self.image_size_ = images.shape[1:3]
        report(progress, 1, 1, "fitted")
        return self

    def transform(self, images) -> np.ndarray:
        """Principal-component scores.

        Parameters
        ----------
        images : ndarray of shape (n_faces, h, w, 3)

        Returns
        -------
        latents : ndarray of shape (n_faces, latent_dim_), float32
        """
        images = _check_faces_for(self, images, "PCA was fitted on")
        return self.pca_.transform(images.reshape(len(images), -1)).astype(np.float32)

    def inverse_transform(self, latents) -> np.ndarray:
        """Faces rebuilt from their scores, clipped to [0, 1].

        Parameters
        ----------
        latents : ndarray of shape (n_faces, latent_dim_)

        Returns
        -------
        images : ndarray of shape (n_faces, h, w, 3), float32 in [0, 1]
        """
        check_is_fitted(self)
        flat = self.pca_.inverse_transform(_check_latents(latents, self.latent_dim_))
        return np.clip(flat, 0.0, 1.0).reshape(len(flat), *self.image_size_, 3).astype(np.float32)


#: Latent spaces by name; each class has ``fit(images)``, ``transform``, ``inverse_transform`` and ``latent_dim_``.
LATENT_SPACES: dict[str, type] = {"gan": GanLatentSpace, "pca": PcaLatentSpace, "vae": VaeLatentSpace}
