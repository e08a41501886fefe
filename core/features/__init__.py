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

import abc
import contextlib
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.files import atomic_open
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


# --------------------------------------------------------------------------------------- reductions

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


# --------------------------------------------------------------------------------------- hooks

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


# --------------------------------------------------------------------------------------- cache

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


# --------------------------------------------------------------------------------------- extraction

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


# --------------------------------------------------------------------------------------- video / HRF

def canonical_hrf(dt: float, *, duration: float = 32.0, peak: float = 4.0, undershoot: float = 14.0,
                  ratio: float = 6.0) -> np.ndarray:
    """Double-gamma haemodynamic response sampled every ``dt`` seconds, peaking at ``peak`` s.

    h(t) = Γ(t; peak + 1, 1) − Γ(t; undershoot + 1, 1) / ratio (gamma densities of unit scale, whose
    modes are ``peak`` and ``undershoot``), normalised to unit sum.

    Returns
    -------
    ndarray of shape (ceil(duration / dt),), float64
    """
    from scipy.stats import gamma

    if dt <= 0 or duration <= dt:
        raise ValueError(f"Need 0 < dt < duration, got dt={dt}, duration={duration}")
    t = np.arange(0.0, duration, dt)
    h = gamma.pdf(t, peak + 1.0) - gamma.pdf(t, undershoot + 1.0) / ratio
    return h / h.sum()


def features_to_tr(features: np.ndarray, *, frame_rate: float, tr: float, n_volumes: int | None = None,
                   standardize: bool = True) -> np.ndarray:
    """Frame-wise features of a movie → fMRI regressors at the repetition time (as Wen et al. 2018).

    Each feature time series is convolved with :func:`canonical_hrf` at the frame rate, averaged
    within each TR, and (by default) z-scored over time.

    Parameters
    ----------
    features : ndarray of shape (n_frames, n_units)
    frame_rate : float
        Frames per second of ``features``.
    tr : float
        Repetition time in seconds.
    n_volumes : int, optional
        Number of volumes to return (default: as many whole TRs as the frames cover).

    Returns
    -------
    ndarray of shape (n_volumes, n_units), float32
    """
    from scipy.signal import fftconvolve

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"features must be (n_frames, n_units) and non-empty, got {features.shape}")
    if frame_rate <= 0 or tr <= 0:
        raise ValueError(f"frame_rate and tr must be positive, got {frame_rate}, {tr}")
    hrf = canonical_hrf(1.0 / frame_rate)
    convolved = fftconvolve(features, hrf[:, None], mode="full", axes=0)[: len(features)]
    frames_per_tr = tr * frame_rate
    if n_volumes is None:
        n_volumes = int(len(features) // frames_per_tr)
    if n_volumes < 1:
        raise ValueError(f"{len(features)} frames at {frame_rate} fps cover less than one TR of {tr} s")
    edges = np.round(np.arange(n_volumes + 1) * frames_per_tr).astype(int)
    if edges[-1] > len(features):
        raise ValueError(f"{n_volumes} volumes of {tr} s need {edges[-1]} frames, have {len(features)}")
    sums = np.add.reduceat(convolved, edges[:-1], axis=0)
    out = sums / np.diff(edges)[:, None]
    if standardize:
        std = out.std(axis=0)
        out = (out - out.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out.astype(np.float32)
