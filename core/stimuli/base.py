"""The stimulus data objects: :class:`StimulusSet` (per-image descriptors, no pixels), :class:`LoadReport`,
:class:`StimulusError`, and the shared constants (:data:`GROUPS`, :data:`IMAGE_EXTENSIONS`, :data:`MAX_PIXELS`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError

#: Superordinate groups a stimulus may belong to ("" = unknown).
GROUPS = ("biological", "non-biological", "scene", "")

#: File name endings read as images by :func:`from_folder` and accepted by :func:`from_upload`.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")

#: Default limit on width x height, checked from the file header before decoding.
MAX_PIXELS = 40_000_000

#: Grey (0-255) that transparent pixels are composited on, and that "pad" fills with.
BACKGROUND_GREY = 128


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


def _check_indices(indices, n: int) -> tuple[int, ...]:
    if indices is None:
        return tuple(range(n))
    indices = tuple(int(i) for i in np.asarray(indices).ravel())
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ValueError(f"indices {bad[:10]} out of range for a set of {n} stimuli")
    return indices
