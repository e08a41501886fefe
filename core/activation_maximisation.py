"""Feature visualisation by activation maximisation (Wen et al. 2018, Fig. 3; Olah et al. 2017).

- :func:`encoding_objective_weights`: the predicted response of a weighted set of vertices, written
  as weights on each layer's spatially averaged features (the encoding model is affine).
- :func:`maximise_activation`: gradient ascent on images from Gaussian noise (several random
  starts) to maximise ``Σ_layer mean_xy(activation_layer) · weights_layer``, with random jitter,
  a total-variation penalty and an L2 pull towards grey as regularisers.

Images are RGB in [0, 1], shape (n, height, width, 3) at the numpy boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core._validation import check_finite_array
from core.features import layer_hooks
from core.runtime import Progress, report

__all__ = ["FeatureVisualisation", "encoding_objective_weights", "maximise_activation"]


def encoding_objective_weights(model, vertex_weights) -> tuple[dict[str, np.ndarray], float]:
    """Write ``Σ_v w_v ŷ_v(x)`` of a fitted encoding model as weights on each layer's features.

    With ``ŷ = ((s − mean_) @ components_) @ coef_ + intercept_`` and the stage-1 scores
    ``s_l = (x_l − m_l) @ C_l`` of each layer, the objective is ``Σ_l x_l · a_l + b`` with
    ``g = components_ @ coef_ @ w``, ``a_l = C_l @ g_l`` and
    ``b = intercept_ · w − mean_ · g − Σ_l m_l · a_l``.

    Parameters
    ----------
    model : fitted core.encoding.EncodingModel
        Its PCA (``pca_``: ``mean_``, ``components_``, per-layer ``m_l``, ``C_l``) and ridge (``ridge_``).
    vertex_weights : ndarray of shape (n_vertices,)
        E.g. ``1 / n`` on an ROI's vertices, or a cluster's centred average map.

    Returns
    -------
    layer_weights : dict of str to ndarray of shape (n_units_layer,), float64
        In the model's layer order; ``x_l`` is the layer's spatially averaged activation.
    offset : float
        ``b``, the objective of features equal to zero.
    """
    pca, encoder = model.pca_, model.ridge_
    coef = np.asarray(encoder.coef_, dtype=np.float64)
    coef = coef[:, None] if coef.ndim == 1 else coef
    w = check_finite_array("vertex_weights", vertex_weights, ndim=1).astype(np.float64)
    if w.shape[0] != coef.shape[1]:
        raise ValueError(f"vertex_weights has {w.shape[0]} entries but the encoder predicts {coef.shape[1]} vertices")
    g = np.asarray(pca.components_, dtype=np.float64) @ (coef @ w)
    offset = float(np.sum(np.broadcast_to(np.asarray(encoder.intercept_, dtype=np.float64), w.shape) * w))
    offset -= float(np.asarray(pca.mean_, dtype=np.float64) @ g)
    weights, start = {}, 0
    for layer, components in pca.layer_components_.items():
        stop = start + components.shape[1]
        weights[layer] = np.asarray(components, dtype=np.float64) @ g[start:stop]
        offset -= float(np.asarray(pca.layer_means_[layer], dtype=np.float64) @ weights[layer])
        start = stop
    return weights, offset


@dataclass(frozen=True, eq=False)
class FeatureVisualisation:
    """Result of :func:`maximise_activation`.

    Attributes
    ----------
    images : ndarray of shape (n_starts, height, width, 3), float32
        Optimised RGB images in [0, 1].
    objective : ndarray of shape (n_steps + 1, n_starts), float64
        Objective of each image at every step: row 0 is the noise start, the last row the result
        (both unshifted); rows in between are of the jittered images the steps used.
    """

    images: np.ndarray
    objective: np.ndarray


def _total_variation(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def maximise_activation(model, layer_weights: Mapping[str, np.ndarray], *, n_starts: int = 4, n_steps: int = 200,
                        image_size: int = 128, learning_rate: float = 0.05, jitter: int = 8,
                        tv_weight: float = 0.5, l2_weight: float = 0.05, noise_sd: float = 0.1,
                        random_state=None, device: str = "cpu", objective_offset: float = 0.0,
                        reduction: Mapping | None = None,
                        progress: Progress | None = None) -> FeatureVisualisation:
    """Optimise images from Gaussian noise to maximise a weighted sum of layer activations.

    Objective of an image: ``Σ_l reduce(a_l(image)) · layer_weights[l]`` where ``a_l`` is the
    output of module ``l``, reduced as the features the weights were fitted on (``reduction``; by default the
    spatial average of each channel). Each step rolls the
    images by a random offset of up to ``jitter`` pixels, and Adam follows
    ``∇objective / rms(∇objective) − tv_weight ∇TV − l2_weight ∇‖x − 0.5‖²`` per image (the
    objective's gradient is normalised, so the regulariser weights do not depend on its
    scale); pixels are clipped to [0, 1].

    Parameters
    ----------
    model : torch.nn.Module
        With ``prepare(x)`` mapping RGB in [0, 1] (n, 3, H, W) to the network's input (the zoo's
        convention, ``core.models``); its parameters are not changed.
    layer_weights : mapping of str to ndarray of shape (n_units_layer,)
        Module paths and weights on their channels (e.g. :func:`encoding_objective_weights`,
        or a one-hot vector for one channel).
    n_starts : int
        Independent images, each from its own Gaussian noise.
    n_steps : int
    image_size : int
        Height and width in pixels.
    learning_rate : float
        Adam step size on the [0, 1] pixel scale.
    jitter : int
        Largest random shift in pixels per step (0 = none).
    tv_weight, l2_weight : float
        Regulariser weights.
    noise_sd : float
        Standard deviation of the starting noise around grey (0.5).
    random_state : int or None
        Seed of the noise and the jitter.
    device : str
    reduction : mapping, optional
        ``reduction``, ``n_components`` and ``random_state`` of ``core.features.extract_features`` (as
        ``core.features.reduction_options`` reads them from a fitted model's meta); None: channel means. Any
        reduction other than the means sees the image at the model's ``input_size``, as the training images
        were seen (a whole-map projection depends on the map's size).
    objective_offset : float
        Added to the objective in progress messages (e.g. an encoding model's intercept, so that they read
        as the predicted response).
    progress : core.runtime.Progress, optional
        ``progress(step, n_steps, "step s/n: mean objective v")`` after each step.

    Returns
    -------
    result : FeatureVisualisation
    """
    import torch

    from core.features import make_reduction
    from core.stats import torch_device

    options = dict(reduction or {"reduction": "mean"})
    reduce = make_reduction(options.pop("reduction"), **options)
    whole_map = reduce.key_parts[0] != "mean"
    if not layer_weights:
        raise ValueError("layer_weights is empty; give at least one {layer: weights}")
    if n_starts < 1 or n_steps < 1 or image_size < 8:
        raise ValueError(f"need n_starts >= 1, n_steps >= 1 and image_size >= 8, got {n_starts}, {n_steps}, "
                         f"{image_size}")
    dev = torch_device(device)
    weights = {name: torch.as_tensor(check_finite_array(f"layer_weights[{name!r}]", w, ndim=1),
                                     dtype=torch.float32, device=dev) for name, w in layer_weights.items()}
    generator = torch.Generator().manual_seed(int(np.random.default_rng(random_state).integers(2**31 - 1)))
    start = 0.5 + noise_sd * torch.randn(n_starts, 3, image_size, image_size, generator=generator)
    image = start.clamp(0, 1).to(dev).requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=learning_rate)
    store: dict = {}
    was_training = model.training
    requires_grad = [p.requires_grad for p in model.parameters()]
    history = []

    def objective(x):
        if whole_map and tuple(x.shape[2:]) != tuple(model.input_size):
            x = torch.nn.functional.interpolate(x, size=tuple(model.input_size), mode="bilinear",
                                                align_corners=False)
        model(model.prepare(x))
        total = 0.0
        for name, w in weights.items():
            out = reduce(store[name], name)
            if out.shape[1] != w.shape[0]:
                raise ValueError(f"layer_weights[{name!r}] has {w.shape[0]} entries but the layer's features have "
                                 f"{out.shape[1]}")
            total = total + out @ w
        return total

    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with layer_hooks(model, list(weights), store, detach=False):
            for step in range(n_steps + 1):
                if jitter and 0 < step < n_steps:  # the start and the result are scored unshifted
                    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
                    shifted = torch.roll(image, shifts=(dy, dx), dims=(2, 3))
                else:
                    shifted = image
                value = objective(shifted)
                history.append(value.detach().cpu().double().numpy())
                if step == n_steps:
                    break
                grad = torch.autograd.grad(value.sum(), image)[0]
                grad = grad / grad.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-12)
                penalty = tv_weight * _total_variation(image) * n_starts + l2_weight * (image - 0.5).pow(2).mean(
                    dim=(1, 2, 3)).sum()
                grad = grad - torch.autograd.grad(penalty, image)[0]
                optimiser.zero_grad()
                image.grad = -grad
                optimiser.step()
                with torch.no_grad():
                    image.clamp_(0, 1)
                report(progress, step + 1, n_steps,
                       f"step {step + 1}/{n_steps}: mean objective {float(history[-1].mean()) + objective_offset:.3f}")
    finally:
        for p, flag in zip(model.parameters(), requires_grad, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    images = image.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
    return FeatureVisualisation(images, np.stack(history))
