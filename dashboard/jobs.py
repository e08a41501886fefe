"""The background-callback manager: Celery when ``REDIS_URL`` is set, else diskcache.

Exactly one manager exists, created by ``app.create_app``. Job processes are started with the
"spawn" method, so a job never inherits the web process's threads or a CUDA context.

With ``REDIS_URL`` set, every long job is a Celery task that any worker can take: start one or more
workers (one per GPU machine, say) against the same Redis and cache folder with
``REDIS_URL=redis://HOST:6379/0 celery -A app:celery_app worker --concurrency 1``. The same Celery app
carries the feature-chunk tasks of ``dashboard.sharding``, so a job's feature extraction is spread over
all the workers.

A job whose process dies before it writes a result (killed, out of memory, worker lost) is reported
to the page as an error carrying :data:`JOB_LOST_MESSAGE`; Dash on its own would drop it silently. A job
ended on purpose (Cancel, or a newer run of the same callback) is not reported. Jobs write their results
with ``core.files.atomic_open``, so a killed job leaves no partial entry.

Every run has a job-store key of its own. Dash keys a job by its function and inputs, so two identical
runs (two browsers pressing the same button, or two app processes on one cache folder) would share one
result and one progress channel: one run took the other's result, the other was reported lost, and a
progress bar showed both runs' progress in turn.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

from dash import CeleryManager, DiskcacheManager

__all__ = ["JOB_LOST_MESSAGE", "job_cache_dir", "make_background_manager", "make_celery_app"]

#: Shown on the page when a job's process ended without a result.
JOB_LOST_MESSAGE = ("The background job stopped before it finished (its process was killed or crashed). "
                    "Nothing was saved; press the button again to re-run it.")

#: Seconds a diskcache job's "ended on purpose" mark is kept (its page stops polling within a second).
_ENDED_MARK_SECONDS = 3600


def job_cache_dir() -> Path:
    """Folder of the diskcache that carries background-job state."""
    from core.runtime import cache_folder

    return cache_folder("dash-jobs")


class _JobsOfTheirOwn:
    """Mixin for a Dash manager: a key per run, and a job that ended without a result and without being
    ended on purpose (:meth:`ended_on_purpose`) becomes an error, not silence."""

    def build_cache_key(self, fn, args, cache_args_to_ignore, triggered):
        return f"{super().build_cache_key(fn, args, cache_args_to_ignore, triggered)}-{secrets.token_hex(8)}"

    def get_result(self, key, job):
        running = job is not None and self.job_running(job)  # before reading: a job writes, then ends
        result = super().get_result(key, job)
        if result is self.UNDEFINED and job is not None and not running and not self.ended_on_purpose(job):
            return {"background_callback_error": {"msg": JOB_LOST_MESSAGE, "tb": ""}}
        return result


class LostJobDiskcacheManager(_JobsOfTheirOwn, DiskcacheManager):
    """``DiskcacheManager`` (one process per job, its id the process id) that reports killed jobs.

    A job ended by Dash (:meth:`terminate_job`) is marked in the job store, which every app process on the
    cache folder shares; the mark of a process id is dropped when a new job gets that id.
    """

    def call_job_fn(self, key, job_fn, args, context):
        job = super().call_job_fn(key, job_fn, args, context)
        self.handle.delete(("ended", str(job)))
        return job

    def terminate_job(self, job):
        if job is not None:
            self.handle.set(("ended", str(job)), True, expire=_ENDED_MARK_SECONDS)
        super().terminate_job(job)

    def ended_on_purpose(self, job) -> bool:
        return bool(self.handle.get(("ended", str(job))))


class LostJobCeleryManager(_JobsOfTheirOwn, CeleryManager):
    """``CeleryManager`` (Redis broker and results) that reports jobs whose worker died."""

    def ended_on_purpose(self, job) -> bool:
        task = self.get_task(job)
        return task is not None and task.status == "REVOKED"


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
