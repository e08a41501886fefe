"""Where results and uploads live: the shared result cache, the private upload folder, paths sent back by the browser."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import diskcache

from core.errors import UserError
from core.files import private_dir
from core.runtime import PROGRESS_STEPS
from core.runtime import report as report_progress
from core.weights import cache_dir

__all__ = [
    "result_cache",
]


@functools.cache
def result_cache() -> diskcache.Cache:
    """The on-disk cache shared by the web process and the job processes."""
    return diskcache.Cache(str(cache_dir() / "results"), size_limit=8 * 2**30)


def _uploads_dir() -> Path:
    """The one folder holding uploaded images and maps: ``$VFS_UPLOADS``, else a private per-user folder in
    the system temporary directory; created with mode 0o700 (``core.files.private_dir``).

    Uploads are read by the web process and the prediction worker it starts on the same machine, never
    by background jobs, so the folder need not be shared with Celery workers on other machines.
    """
    default = Path(tempfile.gettempdir()) / f"virtual-fmri-studio-uploads-{os.getuid()}"
    return private_dir(os.environ.get("VFS_UPLOADS") or default)


def _inside(root: Path, path: Path, refusal: str) -> Path:
    """``path`` resolved, if it lies inside the folder ``root`` (not ``root`` itself); else ``UserError(refusal)``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()) or resolved == root.resolve():
        raise UserError(refusal)
    return resolved


def _finished_result(path: str, folder: str, missing: str, marker_suffix: str = "") -> Path:
    """A result path sent back by the browser, resolved: it must lie in ``cache_dir()/folder`` and its file
    (``path`` + ``marker_suffix``) must exist, else ``UserError(missing)``."""
    resolved = _inside(cache_dir() / folder, Path(path), missing)
    if not Path(f"{resolved}{marker_suffix}").exists():
        raise UserError(missing)
    return resolved


def _uploaded_file(name: str) -> Path:
    """``name`` resolved inside the uploads folder; ``ValueError`` if it points anywhere else."""
    root = _uploads_dir()
    return _inside(root, root / name, f"Upload {name!r} points outside the upload folder; refused")


def _reporter(progress):
    """``report(fraction, message)`` onto a job's ``core.runtime.Progress``, or a no-op when it has none."""
    return lambda fraction, message: report_progress(progress, round(PROGRESS_STEPS * fraction), PROGRESS_STEPS,
                                                     message)


def _check_upload_size(name: str, n_bytes: int, limit: int) -> None:
    """``UserError`` "NAME is N MiB; the limit is M MiB" (the browser's wording too) when over ``limit`` bytes."""
    if n_bytes > limit:
        raise UserError(f"{name} is {n_bytes / 2**20:.1f} MiB; the limit is {limit // 2**20} MiB")
