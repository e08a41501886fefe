"""Feature extraction of the stimulus library's images, or of a study's, spread over Celery workers, one task
per feature-cache chunk.

A coordinating job (``services.shard_library_features``; ``services.run_experiment`` and ``services.fit_study``
call it when ``REDIS_URL`` is set) sends a Celery ``group`` of chunk tasks, one per chunk of
``core.features.chunk_slices``, to the workers of ``app:celery_app``. A task gets JSON only: the network,
its layers, the reduction, the model key the coordinator expects, the chunk's image ids (of the library, or of
the study named by ``study``, read from the store of the shared cache) and its index. It stores the chunk's
features in the shared ``FeatureCache`` (``VFS_CACHE/features``) with
``core.features.extract_chunk``, under the keys that ``extract_features`` reads for that chunk of the
whole set, and returns ``{"chunk", "hostname", "seconds", "n_images"}``. The coordinator then runs the
normal in-process path, which finds every chunk in the cache: the results are the in-process results.

Why the coordinator cannot deadlock: it is itself a Celery task (a Dash background job) and may hold the
only worker process there is (``--concurrency 1``), so it never blocks on a result (no ``.get()``). It
reads the tasks' states and, while some chunk is not done, computes one itself: the last chunk no worker
has started (workers take the queue from the front), else the first unfinished one (failed, or running on
a worker that may be dead). It returns when every chunk was done by a worker or by itself, and revokes the
tasks it did not need, so that workers skip them. With one busy worker it computes every chunk itself
(the chunk that worker has prefetched is still "not started", so it is computed here and revoked there).

Lost workers: chunk tasks are ``acks_late`` with ``reject_on_worker_lost``, so the chunk of a worker
process that dies goes back to the queue for another worker; a chunk whose whole worker machine is gone
(its message returns only after Redis's visibility timeout) is computed by the coordinator. The cache is
written atomically, so a killed chunk leaves no partial entry. A failing chunk is computed again by the
coordinator, whose error then ends the job with its message.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable, Sequence

__all__ = ["CHUNK_TASK", "chunk_jobs", "compute_chunk", "register_tasks", "run_sharded"]

#: Name of the Celery task that computes one chunk (``compute_chunk``).
CHUNK_TASK = "vfs.features.chunk"


def register_tasks(celery_app) -> None:
    """Register the chunk task on ``celery_app`` (``dashboard.jobs.make_celery_app`` does)."""
    def extract_feature_chunk(task, **job) -> dict:
        return compute_chunk(job, hostname=task.request.hostname)

    celery_app.task(name=CHUNK_TASK, bind=True, shared=False, acks_late=True,
                    reject_on_worker_lost=True)(extract_feature_chunk)


@functools.lru_cache(maxsize=4)
def _model_and_key(network: str):
    """A zoo network on the CPU and its cache key ``"network:<weights sha256>"``, built once per process."""
    from core.network_features import zoo_network

    model, digest = zoo_network(network)
    return model, f"{network}:{digest}"


def chunk_jobs(network: str, layers: str | Sequence[str], stimulus_ids: Sequence[str], *,
               reduction: str = "mean", study: str | None = None) -> list[dict]:
    """The chunk tasks' arguments (JSON) for the features of these images, one per cache chunk: library images,
    or with ``study`` the images of that study of the store (``stimulus_ids``: all its stimuli, in order)."""
    from core.features import chunk_slices

    layers = layers if isinstance(layers, str) else list(layers)
    model_key = _model_and_key(network)[1]
    source = {} if study is None else {"study": study}
    return [dict(network=network, layers=layers, reduction=reduction, model_key=model_key, chunk=index,
                 stimulus_ids=list(stimulus_ids[chunk]), **source)
            for index, chunk in enumerate(chunk_slices(len(stimulus_ids)))]


def _chunk_stimuli(job: dict):
    """The ``core.stimuli.StimulusSet`` of a chunk task: its library images, or its images of study ``job["study"]``."""
    from core.stimuli import library_subset

    if "study" not in job:
        return library_subset(job["stimulus_ids"])
    from core.studies import load_study

    stimuli = load_study(job["study"], check_images=False).stimulus_set()
    rows = {stimulus: row for row, stimulus in enumerate(stimuli.ids)}
    missing = [stimulus for stimulus in job["stimulus_ids"] if stimulus not in rows]
    if missing:
        raise ValueError(f"Study {job['study']} has no image {missing[0]} (imported again since the job began?)")
    return stimuli.subset([rows[stimulus] for stimulus in job["stimulus_ids"]])


def compute_chunk(job: dict, *, hostname: str) -> dict:
    """Store one chunk's features (``job``: an item of :func:`chunk_jobs`) in the shared feature cache.

    Returns ``{"chunk": index, "hostname": hostname, "seconds": wall time, "n_images": images decoded}``.
    """
    from core.features import extract_chunk
    from core.network_features import feature_cache

    start = time.perf_counter()
    model, model_key = _model_and_key(job["network"])
    if model_key != job["model_key"]:
        raise ValueError(f"{hostname} has other {job['network']} weights ({model_key}) than the job expects "
                         f"({job['model_key']}); run `python -m core weights fetch` on every machine")
    n_images = extract_chunk(model, _chunk_stimuli(job), layers=job["layers"],
                             reduction=job["reduction"], cache=feature_cache(),
                             model_key=model_key)
    return {"chunk": job["chunk"], "hostname": hostname, "seconds": round(time.perf_counter() - start, 3),
            "n_images": n_images}


def run_sharded(celery_app, jobs: Sequence[dict], *,
                progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Compute every chunk of ``jobs`` on the Celery workers and in this process; see the module docstring.

    Parameters
    ----------
    celery_app : celery.Celery
        The app whose workers run :data:`CHUNK_TASK`.
    jobs : sequence of dict
        Arguments of the chunk tasks (:func:`chunk_jobs`; jobs of several networks may be mixed).
    progress : callable, optional
        ``progress(chunks done, total)`` whenever the coordinator looks at the tasks.

    Returns
    -------
    list of dict
        One report per job, in order (:func:`compute_chunk`); ``hostname`` tells who computed it.
    """
    from celery import group, states

    results = group(celery_app.signature(CHUNK_TASK, kwargs=job) for job in jobs).apply_async().results
    here = f"coordinator@{socket.gethostname()}"
    reports: dict[int, dict] = {}
    try:
        while True:
            unfinished = {}
            for index, result in enumerate(results):
                if index not in reports:
                    state = result.state
                    if state == states.SUCCESS:
                        reports[index] = result.result
                    else:
                        unfinished[index] = state
            if progress is not None:
                progress(len(reports), len(jobs))
            if not unfinished:
                return [reports[index] for index in range(len(jobs))]
            waiting = [index for index, state in unfinished.items() if state == states.PENDING]
            index = waiting[-1] if waiting else min(unfinished)
            reports[index] = compute_chunk(jobs[index], hostname=here)
    finally:
        not_needed = [result.id for index, result in enumerate(results)
                      if reports.get(index, {}).get("hostname", here) == here]
        if not_needed:
            celery_app.control.revoke(not_needed)
