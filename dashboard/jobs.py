"""The background-callback manager: Celery when ``REDIS_URL`` is set, else diskcache.

Exactly one manager exists, created by ``app.create_app``. Job processes are started with the
"spawn" method, so a job never inherits the web process's threads or a CUDA context.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["job_cache_dir", "make_background_manager"]


def job_cache_dir() -> Path:
    """Folder of the diskcache that carries background-job state."""
    from core.weights import cache_dir

    return cache_dir() / "dash-jobs"


def make_background_manager():
    """Return a ``CeleryManager`` if ``REDIS_URL`` is set, else a ``DiskcacheManager``."""
    from dash import CeleryManager, DiskcacheManager

    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        from celery import Celery

        celery_app = Celery(__name__, broker=redis_url, backend=redis_url)
        return CeleryManager(celery_app)

    import diskcache
    import multiprocess

    try:
        multiprocess.set_start_method("spawn")
    except RuntimeError:  # already set in this process
        pass
    return DiskcacheManager(diskcache.Cache(str(job_cache_dir())))
