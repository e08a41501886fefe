"""Image helpers shared by the stimulus loaders and the feature extractor (below both in the import order)."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["image_content_hash"]


def image_content_hash(image: np.ndarray) -> str:
    """sha256 of an image's pixels, shape and dtype (hex)."""
    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(f"{image.shape}|{image.dtype}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
