"""The only door from the dashboard to ``core``: loads inputs, calls core, caches on disk.

Results are cached with diskcache under the user cache folder, keyed by versioned names, so job
processes and the web process share them. Heavy modules (torch, the model zoo) are imported
inside the functions that need them, which run in background jobs, never at import.
"""

from __future__ import annotations

import functools

import diskcache

from core.weights import cache_dir

__all__ = ["result_cache"]


@functools.cache
def result_cache() -> diskcache.Cache:
    """The on-disk cache shared by the web process and the job processes."""
    return diskcache.Cache(str(cache_dir() / "results"), size_limit=8 * 2**30)
