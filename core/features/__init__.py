"""Layer activations of zoo models for image sets, with reductions, batching and an on-disk cache.

The main entry point is :func:`extract_features`; :func:`list_layers` tells which module paths exist.
Features are returned as ``{layer_name: ndarray (n_stimuli, n_units)}`` keyed by the names asked for.

The cache stores each fixed-size chunk of stimuli (:func:`chunk_slices`: ``CHUNK_SIZE`` images in set
order, or ``VFS_FEATURE_CHUNK_SIZE``) per layer as one ``.npy`` file, named by a hash of (model, weights
tag, layer, reduction, the chunk's image content hashes, ``FEATURES_VERSION``). A second run of the same
set only reads; a killed run resumes at the first missing chunk; a changed image changes its chunk's key,
so stale features are never returned. Files are written atomically (temporary file + rename).
:func:`extract_chunk` fills the cache with one chunk, so that several processes or machines can share the
chunks of one set.
"""

from __future__ import annotations

from core.features.cache import (
    FeatureCache,
    model_digest,
    save_features,
)
from core.features.extraction import _cache_key_parts as _cache_key_parts
from core.features.extraction import (
    chunk_slices,
    extract_chunk,
    extract_features,
    feature_chunk_size,
)
from core.features.hrf import (
    canonical_hrf,
    features_to_tr,
)
from core.features.layers import (
    CHUNK_SIZE,
    FEATURES_VERSION,
    Features,
    layer_hooks,
    list_layers,
    resolve_layers,
)
from core.features.reductions import (
    REDUCTIONS,
    LayerReduction,
    layer_seed,
    make_reduction,
    reduction_options,
)
from core.images import image_content_hash

__all__ = [
    "CHUNK_SIZE",
    "FEATURES_VERSION",
    "REDUCTIONS",
    "FeatureCache",
    "Features",
    "LayerReduction",
    "canonical_hrf",
    "chunk_slices",
    "extract_chunk",
    "extract_features",
    "feature_chunk_size",
    "features_to_tr",
    "image_content_hash",
    "layer_hooks",
    "layer_seed",
    "list_layers",
    "make_reduction",
    "model_digest",
    "reduction_options",
    "resolve_layers",
    "save_features",
]
