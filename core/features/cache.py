"""The chunk-level feature cache on disk, model digests and features files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.features.layers import FEATURES_VERSION, Features
from core.files import atomic_open


class FeatureCache:
    """Chunk-level feature store on disk (one ``.npy`` per chunk and layer), written atomically.

    Parameters
    ----------
    root : path-like
        Folder of the store (created on first write).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def key(self, *parts: str) -> str:
        """Hex digest naming one chunk of one layer."""
        return hashlib.sha256("|".join((FEATURES_VERSION, *parts)).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The stored array, or ``None`` when absent or unreadable (an unreadable file is removed)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, value: np.ndarray) -> None:
        """Store ``value`` under ``key`` atomically."""
        with atomic_open(self._path(key)) as handle:
            np.save(handle, value, allow_pickle=False)


def model_digest(model) -> str:
    """sha256 (hex) of a model's parameters and buffers: names the weights in cache keys."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_features(path: str | os.PathLike, features: Features, *, labels: Sequence[str] = ()) -> Path:
    """Write features to ``.npz`` (one array per layer, plus ``stimulus_ids``, ``labels``, ``skipped``).

    Written atomically; readable with ``np.load(path, allow_pickle=False)``.
    """
    path = Path(path)
    arrays = {f"layer:{name}": array for name, array in features.arrays.items()}
    arrays["stimulus_ids"] = np.asarray(features.stimulus_ids, dtype=str)
    arrays["labels"] = np.asarray(list(labels), dtype=str)
    arrays["skipped"] = np.asarray([f"{i}: {reason}" for i, reason in features.skipped], dtype=str)
    with atomic_open(path) as handle:
        np.savez(handle, **arrays)
    return path
