"""Loading pixels on demand: :func:`load_images`, :func:`load_images_with_report` and :func:`content_hashes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from core.images import image_content_hash
from core.stimuli.base import MAX_PIXELS, LoadReport, StimulusError, StimulusSet, _check_indices
from core.stimuli.decoding import RESIZE_MODES, _check_size, _resize, _to_rgb, decode_image

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
