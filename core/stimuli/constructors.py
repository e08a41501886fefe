"""Stimulus sets from image folders, files, arrays, uploads and video frames: :func:`from_folder`, :func:`from_files`,
:func:`from_arrays`, :func:`from_upload` and :func:`from_video`.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import choices_text
from core.files import atomic_open
from core.stimuli.base import IMAGE_EXTENSIONS, StimulusError, StimulusSet
from core.stimuli.decoding import decode_image
from core.stimuli.loading import _video_frame_index

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
