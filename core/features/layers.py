"""The :class:`Features` container, cache constants, layer names of a model and the forward hooks that read
them."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

FEATURES_VERSION = "features/v1"
#: Stimuli per cache chunk unless ``VFS_FEATURE_CHUNK_SIZE`` is set (:func:`feature_chunk_size`).
CHUNK_SIZE = 64


@dataclass(frozen=True)
class Features(Mapping):
    """Layer activations with the stimuli they belong to; reads like ``{layer: array}``.

    Attributes
    ----------
    arrays : dict of str to ndarray of shape (n_stimuli, n_units), float32
    stimulus_ids : tuple of str, length n_stimuli
        Ids of the stimuli whose features were extracted, in row order.
    skipped : tuple of (str, str)
        ``(id, reason)`` of stimuli that could not be decoded and were left out.
    """

    arrays: dict
    stimulus_ids: tuple
    skipped: tuple = field(default_factory=tuple)

    def __post_init__(self):
        for name, array in self.arrays.items():
            if len(array) != len(self.stimulus_ids):
                raise ValueError(f"Layer {name!r} has {len(array)} rows for {len(self.stimulus_ids)} stimuli")

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.arrays[layer]

    def __iter__(self):
        return iter(self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)


def list_layers(model) -> list[str]:
    """Module paths of ``model`` usable as layer names (``named_modules()`` without the root)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layers(model, layers: str | Sequence[str]) -> list[str]:
    """Turn a layer-set name, one module path or a list of module paths into module paths.

    Raises
    ------
    ValueError
        Naming the unknown layers, the model's layer sets, and pointing to :func:`list_layers`.
    """
    layer_sets = getattr(model, "layer_sets", {})
    if isinstance(layers, str):
        names = list(layer_sets[layers]) if layers in layer_sets else [layers]
    else:
        names = list(layers)
    if not names:
        raise ValueError("No layers requested")
    valid = set(list_layers(model))
    missing = [name for name in names if name not in valid]
    if missing:
        raise ValueError(
            f"Unknown layers {missing}; layer sets are {sorted(layer_sets)}, and "
            f"core.features.list_layers(model) lists the {len(valid)} valid module paths "
            f"(e.g. {sorted(valid)[:5]})"
        )
    return names

@contextlib.contextmanager
def layer_hooks(model, layers: Sequence[str], store: dict, *, detach: bool = True):
    """Register one forward hook per layer that stores its output in ``store[layer]``; always removes them.

    The output is detached, unless ``detach`` is False (it then keeps its graph, for gradients); a layer that
    returns a tuple stores its first element. Raises ValueError for a layer name the model does not have.
    """
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"Unknown layers {missing}; see core.features.list_layers(model)")
    handles = []

    def make_hook(name):
        def hook(_module, _inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            store[name] = output.detach() if detach else output
        return hook

    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(make_hook(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()
