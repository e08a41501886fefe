"""Extraction: :func:`extract_features` over an image set in cached chunks, and :func:`extract_chunk` for one
chunk."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from core.features.cache import FeatureCache
from core.features.layers import CHUNK_SIZE, Features, layer_hooks, resolve_layers
from core.features.reductions import LayerReduction, make_reduction
from core.images import image_content_hash


def _probe_batch_size(model, image, names, store, device: str) -> int:
    """Largest power-of-two batch (≤ 256) whose activations fit a quarter of free memory.

    One image is run through the model; the hooked activations, times 4 for the intermediate
    tensors of the forward pass, give the bytes one image needs.
    """
    import psutil
    import torch

    store.clear()
    model(model.prepare(_to_tensor_batch(image[None], model.input_size, device, pin=False)))
    per_image = 4 * sum(store[name].numel() * store[name].element_size() for name in names)
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
    else:
        free = psutil.virtual_memory().available
    batch = max(1, min(256, int(free // 4 // max(per_image, 1))))
    return 1 << (batch.bit_length() - 1)


def _to_tensor_batch(images: np.ndarray, input_size, device: str, pin: bool):
    """uint8 (n, h, w, 3) → float (n, 3, H, W) in [0, 1] on ``device``, resized to ``input_size``."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if pin:
        tensor = tensor.pin_memory()
    tensor = tensor.to(device, non_blocking=True).float().div_(255.0)
    if tuple(tensor.shape[-2:]) != tuple(input_size):
        tensor = F.interpolate(tensor, size=tuple(input_size), mode="bilinear", align_corners=False,
                               antialias=True)
    return tensor


def _iter_chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def feature_chunk_size() -> int:
    """Stimuli per cache chunk: the environment variable ``VFS_FEATURE_CHUNK_SIZE`` if set, else ``CHUNK_SIZE``."""
    value = os.environ.get("VFS_FEATURE_CHUNK_SIZE", str(CHUNK_SIZE))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"VFS_FEATURE_CHUNK_SIZE must be a positive integer, got {value!r}")
    return int(value)


def chunk_slices(n_stimuli: int, chunk_size: int | None = None) -> list[slice]:
    """The stimuli of each cache chunk of a set of ``n_stimuli``, in set order.

    ``chunk_size`` defaults to :func:`feature_chunk_size`. :func:`extract_features` reads and writes the
    cache in exactly these chunks.
    """
    if chunk_size is None:
        chunk_size = feature_chunk_size()
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    return list(_iter_chunks(n_stimuli, chunk_size))


def _array_chunks(images: np.ndarray, chunks: list[slice]) -> Iterator[tuple[np.ndarray, list[str], list]]:
    """Chunks of an in-memory uint8 array: (images, ids, skipped)."""
    for chunk in chunks:
        yield images[chunk], [str(i) for i in range(chunk.start, chunk.stop)], []


def _set_chunks(stimuli, size, chunks: list[slice]) -> Iterator[tuple[np.ndarray, list[str], list]]:
    """Chunks of a StimulusSet, decoded and resized; undecodable images are skipped and reported."""
    from core.stimuli import load_images_with_report

    for chunk in chunks:
        images, report = load_images_with_report(stimuli, range(chunk.start, chunk.stop), size=size)
        yield images, [stimuli.ids[i] for i in report.loaded_indices], list(report.skipped)


def extract_features(
    model,
    images,
    *,
    layers: str | Sequence[str] = "default",
    reduction: str | LayerReduction = "mean",
    n_components: int = 4096,
    random_state: int = 0,
    batch_size: int | None = None,
    device: str = "cpu",
    cache: FeatureCache | None = None,
    model_key: str | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Features:
    """Activations of ``layers`` of a zoo model for every image.

    Parameters
    ----------
    model : torch.nn.Module
        A zoo model (``prepare``, ``input_size``, ``layer_sets``; see ``core.models``).
    images : ndarray of shape (n_stimuli, height, width, 3), uint8, or core.stimuli.StimulusSet
        RGB images, resized to ``model.input_size`` (arrays: bilinear, antialiased; sets: as
        ``core.stimuli.load_images``). Images of a set that cannot be decoded are skipped and reported.
    layers : str or sequence of str
        A layer-set name (``"wen18"``, ``"default"``), a module path, or a list of module paths.
    reduction : {"full", "mean", "random_projection"} or LayerReduction
        Per layer: the whole flattened activation map, its spatial average (channels), or a fixed
        seeded count sketch of the whole map to ``n_components`` dimensions (a random projection
        that streams: two numbers per unit, one pass; layers with fewer units are kept whole); or a
        :class:`LayerReduction` instance.
    n_components : int
        Output size of ``"random_projection"``.
    random_state : int
        Seed of the random projections (each layer's seed also depends on its name, :func:`layer_seed`).
    batch_size : int, optional
        Images per forward pass; by default the largest that fits a quarter of free memory.
    device : str
        ``"cpu"`` or ``"cuda[:i]"``; on CUDA, bf16 autocast, channels_last and pinned memory.
    cache : FeatureCache, optional
        Chunk store; requires ``model_key`` (model name + weights tag). Features computed on CUDA (bf16)
        are stored apart from CPU (float32) ones.
    model_key : str, optional
        Names the model and its weights in cache keys (e.g. ``"resnet50:<sha256>"``).
    chunk_size : int, optional
        Stimuli per cache chunk (:func:`chunk_slices`); by default :func:`feature_chunk_size`.
    progress : callable, optional
        ``progress(done, total)`` after each chunk.

    Returns
    -------
    Features
        ``{layer: ndarray (n_loaded, n_units) float32}`` with the stimulus ids and skipped stimuli.
    """
    import torch

    reduce = make_reduction(reduction, n_components=n_components, random_state=random_state)
    is_array = isinstance(images, np.ndarray)
    if not is_array and not hasattr(images, "ids"):
        raise ValueError(f"images must be a uint8 array or a StimulusSet, got {type(images).__name__}")
    if is_array and (images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8):
        raise ValueError(f"images must be uint8 of shape (n, height, width, 3), got {images.dtype} "
                         f"{images.shape}")
    n_stimuli, slices = len(images), chunk_slices(len(images), chunk_size)
    chunks = _array_chunks(images, slices) if is_array else _set_chunks(images, tuple(model.input_size), slices)
    if n_stimuli == 0:
        raise ValueError("images is empty: no stimuli to extract features from")
    if cache is not None and not model_key:
        raise ValueError("A feature cache needs model_key naming the model and its weights")
    names = resolve_layers(model, layers)
    on_cuda = device.startswith("cuda")
    model = model.to(device)
    was_training = model.training
    model.eval()
    if on_cuda:
        model = model.to(memory_format=torch.channels_last)
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    ids: list[str] = []
    skipped: list = []
    n_chunks = len(slices)
    store: dict = {}
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext())
    try:
        with torch.no_grad(), layer_hooks(model, names, store), autocast:
            for done, (chunk_images, chunk_ids, chunk_skipped) in enumerate(chunks, 1):
                skipped.extend(chunk_skipped)
                if len(chunk_images):
                    cached = _chunk_features(model, chunk_images, names, store, reduce, cache,
                                             _cache_key_parts(model_key, reduce, on_cuda),
                                             batch_size, device, on_cuda)
                    ids.extend(chunk_ids)
                    for name in names:
                        out[name].append(cached[name])
                if progress is not None:
                    progress(done, n_chunks)
    finally:
        model.train(was_training)
    if not ids:
        raise ValueError(f"None of the {n_stimuli} images could be decoded: {skipped[:5]}")
    return Features({name: np.concatenate(parts) for name, parts in out.items()}, tuple(ids), tuple(skipped))


def extract_chunk(model, stimuli, *, cache: FeatureCache, model_key: str, **options) -> int:
    """Store the features of one cache chunk in ``cache``, under the keys :func:`extract_features` reads.

    Parameters
    ----------
    model : torch.nn.Module
        A zoo model, as for :func:`extract_features`.
    stimuli : core.stimuli.StimulusSet
        Exactly one chunk of a larger set: ``full.subset(range(s.start, s.stop))`` for one ``s`` of
        ``chunk_slices(len(full))``. ``extract_features(model, full, cache=cache, ...)`` then reads this
        chunk instead of computing it.
    cache : FeatureCache
    model_key : str
    **options
        ``layers``, ``reduction``, ``n_components``, ``random_state``, ``batch_size``, ``device`` of
        :func:`extract_features`; the same values as the later call.

    Returns
    -------
    int
        Images decoded; undecodable ones are left out of the chunk, as :func:`extract_features` does
        (0: nothing is stored).
    """
    from core.stimuli import load_images_with_report

    images, _ = load_images_with_report(stimuli, size=tuple(model.input_size))
    if len(images):
        extract_features(model, images, cache=cache, model_key=model_key, chunk_size=len(images), **options)
    return len(images)


def _cache_key_parts(model_key: str, reduction: LayerReduction, on_cuda: bool) -> tuple[str, ...]:
    """What names a chunk's features besides the layer and the images. CUDA runs in bf16 autocast, so its
    features are cached apart from the CPU's float32 ones (workers of both kinds can share one cache)."""
    parts = (model_key, *reduction.key_parts)
    return parts + ("cuda-bf16",) if on_cuda else parts


def _chunk_features(model, images, names, store, reduce, cache, key_parts, batch_size, device,
                    on_cuda) -> dict[str, np.ndarray]:
    """Features of one chunk: from the cache where present, else computed (and stored)."""
    keys, found = {}, {}
    if cache is not None:
        chunk_hash = hashlib.sha256("".join(image_content_hash(i) for i in images).encode()).hexdigest()
        for name in names:
            keys[name] = cache.key(*key_parts, name, chunk_hash)
            value = cache.get(keys[name])
            if value is not None and len(value) == len(images):
                found[name] = value
    if len(found) < len(names):
        if batch_size is None:
            batch_size = _probe_batch_size(model, images[0], names, store, device)
        computed = _forward_chunk(model, images, names, store, reduce, batch_size, device, on_cuda)
        for name in names:
            if name not in found:
                found[name] = computed[name]
                if cache is not None:
                    cache.put(keys[name], computed[name])
    return found


def _forward_chunk(model, images, names, store, reduce, batch_size, device, on_cuda):
    """Run the model over one chunk of images in batches; returns ``{layer: (n, units) float32}``."""
    import torch

    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for batch in _iter_chunks(len(images), batch_size):
        x = _to_tensor_batch(images[batch], model.input_size, device, pin=on_cuda)
        if on_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        store.clear()
        model(model.prepare(x))
        for name in names:
            activation = store[name]
            if activation.shape[0] != x.shape[0]:
                raise ValueError(f"Layer {name!r} returned batch size {activation.shape[0]} for "
                                 f"{x.shape[0]} images; it cannot be used as a per-image feature")
            reduced = reduce(activation.float(), name)
            parts[name].append(reduced.to("cpu", torch.float32).numpy())
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}
