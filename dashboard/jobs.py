"""The background-callback manager: Celery when ``REDIS_URL`` is set, else diskcache.

Exactly one manager exists, created by ``app.create_app``. Job processes are started with the
"spawn" method, so a job never inherits the web process's threads or a CUDA context.

With ``REDIS_URL`` set, every long job is a Celery task that any worker can take: start one or more
workers (one per GPU machine, say) against the same Redis and cache folder with
``REDIS_URL=redis://HOST:6379/0 celery -A app:celery_app worker --concurrency 1``. The same Celery app
carries the feature-chunk tasks of ``dashboard.sharding``, so a job's feature extraction is spread over
all the workers.

A job whose process dies before it writes a result (killed, out of memory, worker lost) is reported
to the page as an error carrying :data:`JOB_LOST_MESSAGE`; Dash on its own would drop it silently.
Jobs write their results with ``core.files.atomic_open``, so a killed job leaves no partial entry.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from dash import CeleryManager, DiskcacheManager

__all__ = ["JOB_LOST_MESSAGE", "job_cache_dir", "make_background_manager", "make_celery_app"]

#: Shown on the page when a job's process ended without a result.
JOB_LOST_MESSAGE = ("The background job stopped before it finished (its process was killed or crashed). "
                    "Nothing was saved; press the button again to re-run it.")


def job_cache_dir() -> Path:
    """Folder of the diskcache that carries background-job state."""
    from core.runtime import cache_folder

    return cache_folder("dash-jobs")


class _ReportLostJobs:
    """Mixin for a Dash manager: a finished job without a result becomes an error, not silence."""

    def get_result(self, key, job):
        running = job is not None and self.job_running(job)  # before reading: a job writes, then ends
        result = super().get_result(key, job)
        if result is self.UNDEFINED and job is not None and not running:
            return {"background_callback_error": {"msg": JOB_LOST_MESSAGE, "tb": ""}}
        return result


class LostJobDiskcacheManager(_ReportLostJobs, DiskcacheManager):
    """``DiskcacheManager`` (one process per job) that reports killed jobs."""


class LostJobCeleryManager(_ReportLostJobs, CeleryManager):
    """``CeleryManager`` (Redis broker and results) that reports jobs whose worker died."""


@functools.cache
def make_celery_app(redis_url: str):
    """The Celery app (broker and results in Redis at ``redis_url``) with the feature-chunk tasks; one per URL."""
    from celery import Celery

    from dashboard.sharding import register_tasks

    celery_app = Celery(__name__, broker=redis_url, backend=redis_url)
    # JSON only: nothing from the broker is unpickled. One long job at a time per worker process;
    # a job is taken only when a worker is free.
    celery_app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                           worker_prefetch_multiplier=1, task_track_started=True,
                           broker_connection_retry_on_startup=True)
    register_tasks(celery_app)
    return celery_app


def make_background_manager():
    """Return a Celery manager if ``REDIS_URL`` is set, else a diskcache manager."""
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        return LostJobCeleryManager(make_celery_app(redis_url))

    import diskcache
    import multiprocess

    try:
        multiprocess.set_start_method("spawn")
    except RuntimeError:  # already set in this process
        pass
    return LostJobDiskcacheManager(diskcache.Cache(str(job_cache_dir())))
