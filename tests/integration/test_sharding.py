"""Feature extraction sharded by cache chunk over two real Celery workers (throw-away Redis on loopback).

48 library images in chunks of 6 (``VFS_FEATURE_CHUNK_SIZE``) give 8 chunk tasks of ResNet-50 ``wen18``
features. The test process is the coordinator (``services.shard_library_features``); the workers are
``celery -A app:celery_app worker --concurrency 1 -n w1@%h`` and ``-n w2@%h`` on a fresh cache that links
to the test input cache's weights and library (its feature cache is its own). A worker's first chunk loads torch and ResNet-50 (10-13 s on this
machine), in which time a busy coordinator may compute every other chunk itself; so a first run warms both
workers and only the second run must be shared. Then a 6-image study of the store is sharded the way
``services.fit_study`` shards it (3 chunks of 2; the workers read the study from the store of the shared cache and
its images where they lie): ``core.studies.study_features`` then reads every chunk from the cache, equal to its
in-process features. The last run kills worker w2 (main process and pool child) while it computes a chunk: the
coordinator computes that chunk itself.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import threading
import time

import numpy as np
import psutil
import pytest

from tests.integration._servers import celery_worker, free_port, redis_server

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")]

N_IMAGES, CHUNK_SIZE, LAYERS = 48, 6, "wen18"
STUDY_CHUNK_SIZE = 2


@pytest.fixture
def cache(vfs_folders, monkeypatch):
    folder = vfs_folders.cache
    if not any((folder / "library").iterdir()) or not any((folder / "weights").iterdir()):
        pytest.skip("the stimulus library or the weights are not in the test input cache (tests/_isolation.py)")
    monkeypatch.setenv("VFS_FEATURE_CHUNK_SIZE", str(CHUNK_SIZE))
    (folder / "features").unlink()  # its own feature cache, emptied between runs
    (folder / "features").mkdir()
    return folder


def _kill_when_busy(worker, log, killed: list, stop: threading.Event) -> None:
    """SIGKILL ``worker`` and its pool child as soon as its log shows a chunk task received and not finished."""
    while not stop.is_set():
        text = log.read_text()
        if text.count("] received") > text.count("] succeeded in"):
            for member in [*psutil.Process(worker.pid).children(recursive=True), psutil.Process(worker.pid)]:
                member.send_signal(signal.SIGKILL)
            killed.append(time.monotonic())
            return
        time.sleep(0.05)


def _run(ids):
    from dashboard import services

    seen = []
    reports = services.shard_library_features([("resnet50", LAYERS, ids)],
                                              progress=lambda done, total: seen.append((done, total)))
    gc.collect()  # the coordinator's AsyncResults unsubscribe from Redis when collected: while it still runs
    assert seen[-1] == (N_IMAGES // CHUNK_SIZE,) * 2
    assert [report["chunk"] for report in reports] == list(range(N_IMAGES // CHUNK_SIZE))
    assert sum(report["n_images"] for report in reports) == N_IMAGES
    return reports


def _wait_until_warm_and_idle(logs, timeout: float = 120.0) -> None:
    """Wait until every worker has finished a chunk (its network is loaded) and runs or holds no task."""
    from dashboard.jobs import make_celery_app

    inspect = make_celery_app(os.environ["REDIS_URL"]).control.inspect(timeout=2.0)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        warm = all("] succeeded in" in log.read_text() for log in logs)
        busy = [task for tasks in [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
                for task in tasks]
        if warm and not busy:
            return
        time.sleep(0.5)
    pytest.fail(f"the workers were not warm and idle after {timeout} s")


def _cached_features(monkeypatch, stimuli):
    """extract_features in this process, which must find every chunk in the cache (no forward pass)."""
    from core import features
    from core.features import extraction
    from core.weights import cache_dir
    from dashboard.sharding import _model_and_key

    model, model_key = _model_and_key("resnet50")
    with monkeypatch.context() as patch:
        patch.setattr(extraction, "_forward_chunk", lambda *a: pytest.fail("a chunk was not in the cache"))
        return features.extract_features(model, stimuli, layers=LAYERS, reduction="mean", model_key=model_key,
                                         cache=features.FeatureCache(cache_dir() / "features"))


def _study_features_from_cache(monkeypatch, study):
    """``core.studies.study_features`` in this process (chunks of :data:`STUDY_CHUNK_SIZE`), which must find every
    chunk in the cache."""
    from core.features import extraction
    from core.studies.experiment import study_features

    with monkeypatch.context() as patch:
        patch.setenv("VFS_FEATURE_CHUNK_SIZE", str(STUDY_CHUNK_SIZE))
        patch.setattr(extraction, "_forward_chunk", lambda *a: pytest.fail("a chunk was not in the cache"))
        return study_features(study)[0]


def _check_cache_files(cache) -> None:
    assert not list(cache.joinpath("features").rglob("*.part")), "a partial cache file was left"
    for path in cache.joinpath("features").rglob("*.npy"):
        assert np.load(path, allow_pickle=False).shape[0] <= CHUNK_SIZE


def test_two_workers_share_the_chunks_of_library_and_study_images_and_a_killed_worker_does_not_stop_the_job(
        cache, tmp_path, monkeypatch):
    from core.encoding import stack_layer_features
    from core.features import extract_features
    from core.stimuli import library_subset, load_stimulus_library
    from core.studies import import_study
    from core.studies.simulate import write_simulated_study
    from dashboard.services.studies import _shard_study_features
    from dashboard.sharding import _model_and_key

    library = load_stimulus_library()
    ids = library.ids[::max(1, len(library) // N_IMAGES)][:N_IMAGES]
    stimuli = library_subset(ids)
    reference = extract_features(_model_and_key("resnet50")[0], stimuli, layers=LAYERS, reduction="mean")
    write_simulated_study(tmp_path / "lab", "folder-npy", n_stimuli=3 * STUDY_CHUNK_SIZE)
    study = import_study("folder", tmp_path / "lab", "lab")
    study_reference = stack_layer_features(dict(extract_features(  # what study_features reads, without the cache
        _model_and_key("resnet50")[0], study.stimulus_set(), layers=LAYERS, reduction="mean",
        chunk_size=STUDY_CHUNK_SIZE).arrays))[0]

    redis_port = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_port}/0")
    env = dict(os.environ)
    log1, log2 = tmp_path / "w1.log", tmp_path / "w2.log"
    with (redis_server(tmp_path, redis_port),
          celery_worker(env, log1, name="w1@%h"),
          celery_worker(env, log2, name="w2@%h") as worker2):
        _run(ids)
        _wait_until_warm_and_idle([log1, log2])
        shutil.rmtree(cache / "features")

        shared = _run(ids)
        assert {report["hostname"].split("@")[0] for report in shared} >= {"w1", "w2"}, shared
        sharded = _cached_features(monkeypatch, stimuli)
        assert sharded.stimulus_ids == reference.stimulus_ids
        for layer in reference:
            np.testing.assert_array_equal(sharded[layer], reference[layer], err_msg=layer)
        _check_cache_files(cache)

        _wait_until_warm_and_idle([log1, log2])
        with monkeypatch.context() as patch:
            patch.setenv("VFS_FEATURE_CHUNK_SIZE", str(STUDY_CHUNK_SIZE))
            from_study = _shard_study_features(study, None)
        gc.collect()
        assert [report["chunk"] for report in from_study] == [0, 1, 2]
        assert {report["hostname"].split("@")[0] for report in from_study} & {"w1", "w2"}, from_study
        np.testing.assert_array_equal(_study_features_from_cache(monkeypatch, study), study_reference)
        _check_cache_files(cache)

        _wait_until_warm_and_idle([log1, log2])
        shutil.rmtree(cache / "features")
        killed, stop = [], threading.Event()
        killer = threading.Thread(target=_kill_when_busy, args=(worker2, log2, killed, stop))
        killer.start()
        try:
            with_kill = _run(ids)
        finally:
            stop.set()
            killer.join()
        assert killed, "worker w2 took no chunk before the job ended"
        # w2 died in its first chunk; Redis would return that chunk to w1 only after an hour
        hostnames = {report["hostname"].split("@")[0] for report in with_kill}
        assert "w2" not in hostnames and "coordinator" in hostnames, with_kill
        resharded = _cached_features(monkeypatch, stimuli)
        for layer in reference:
            np.testing.assert_array_equal(resharded[layer], reference[layer], err_msg=layer)
        _check_cache_files(cache)
