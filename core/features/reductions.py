"""Layer reductions: every unit, the channel means, or a seeded random projection (count sketch);
:class:`LayerReduction` for your own."""

from __future__ import annotations

import abc
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


def _reduce_full(activation, _state):
    return activation.flatten(1)


def _reduce_mean(activation, _state):
    return activation.flatten(2).mean(-1) if activation.ndim > 2 else activation


def _reduce_random_projection(activation, state):
    flat = activation.flatten(1)
    if flat.shape[1] <= state.n_components:
        return flat
    buckets, signs = state.sketch(flat.shape[1], flat.device)
    return flat.new_zeros((flat.shape[0], state.n_components)).index_add_(1, buckets, flat * signs)


REDUCTIONS: dict[str, Callable] = {
    "full": _reduce_full,
    "mean": _reduce_mean,
    "random_projection": _reduce_random_projection,
}

#: What names a built-in reduction in cache keys: its name, plus the algorithm where it changed (the
#: random projection was a very sparse matrix product until the count sketch replaced it).
_REDUCTION_KEYS = {"full": "full", "mean": "mean", "random_projection": "random_projection/count-sketch"}


def layer_seed(random_state: int, layer: str) -> int:
    """Seed of one layer's random projection: from ``random_state`` and the layer's name, so a layer is
    projected the same way whichever other layers are extracted with it."""
    return int(np.random.SeedSequence([random_state, zlib.crc32(layer.encode())]).generate_state(1)[0])


@dataclass
class _ProjectionState:
    """A fixed, seeded count sketch of one layer (Charikar, Chen & Farach-Colton 2002).

    Every unit is added, with a random sign, to one of ``n_components`` outputs; inner products and
    distances are kept in expectation (a sparse Johnson–Lindenstrauss transform with one non-zero per
    unit). It needs two numbers per unit (8 MB for an 800k-unit ResNet-50 map) and one pass over the
    activation, where a sparse projection matrix took ~60 MB and 5 s per 64 images for the same layer.
    """

    n_components: int
    seed: int
    _sketch: tuple | None = None

    def sketch(self, n_units: int, device):
        """``(buckets, signs)``: int64 output index and ±1 (float32) of each of ``n_units`` inputs."""
        import torch

        if self._sketch is None or len(self._sketch[0]) != n_units:
            rng = np.random.default_rng(self.seed)
            buckets = torch.from_numpy(rng.integers(0, self.n_components, n_units))
            signs = torch.from_numpy(rng.choice(np.array([-1.0, 1.0], dtype=np.float32), n_units))
            self._sketch = (buckets.to(device), signs.to(device))
        return self._sketch


class LayerReduction(abc.ABC):
    """How each layer's activation becomes one row of numbers per stimulus, and what names it in cache keys.

    The built-in reductions are made by :func:`make_reduction`; other modules subclass this (e.g. the
    simulated subject's receptive-field reading, ``core.retinotopy.ReceptiveFieldReading``) and pass an
    instance as ``reduction`` to :func:`extract_features`.

    Attributes
    ----------
    key_parts : tuple of str
        Everything that changes the output besides the model, the layer and the images (cache keys).
    """

    key_parts: tuple = ()

    @abc.abstractmethod
    def __call__(self, activation, layer: str):
        """``activation``: float tensor (n, ...) of one layer → tensor (n, n_features)."""


class _BuiltinReduction(LayerReduction):
    def __init__(self, name: str, n_components: int, random_state: int):
        self.name, self.n_components, self.random_state = name, n_components, random_state
        self.key_parts = (_REDUCTION_KEYS[name], str(n_components), str(random_state))
        self._states: dict[str, _ProjectionState] = {}

    def __call__(self, activation, layer: str):
        if layer not in self._states:
            self._states[layer] = _ProjectionState(self.n_components, layer_seed(self.random_state, layer))
        return REDUCTIONS[self.name](activation, self._states[layer])


def make_reduction(reduction: str | LayerReduction = "mean", *, n_components: int = 4096,
                   random_state: int = 0) -> LayerReduction:
    """A :class:`LayerReduction` from a built-in name (``REDUCTIONS``) and its options; an instance is returned as is."""
    if isinstance(reduction, LayerReduction):
        return reduction
    if reduction not in REDUCTIONS:
        raise ValueError(f"Unknown reduction={reduction!r}; choose from {sorted(REDUCTIONS)}")
    if n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components}")
    return _BuiltinReduction(reduction, n_components, random_state)


def reduction_options(meta: Mapping) -> dict:
    """The ``reduction``, ``n_components`` and ``random_state`` of :func:`extract_features` recorded in a
    fitted model's metadata (defaults: spatial means, the defaults of :func:`extract_features`), so that new
    images are reduced exactly as the training images were."""
    return {"reduction": str(meta.get("reduction", "mean")), "n_components": int(meta.get("n_components", 4096)),
            "random_state": int(meta.get("random_state", 0))}
