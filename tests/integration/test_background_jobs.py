"""Background jobs end to end through the app, as the browser runs them, with diskcache and with Celery.

Each test starts ``python app.py`` on loopback (with Celery: also a throw-away ``redis-server`` and a
Celery worker process) and runs the Virtual fMRI page's experiment job through
``/_dash-update-component`` with the renderer's polling (``bench.load.DashSession``). The job is the real
default experiment, made small by ``VFS_EXPERIMENT_MAX_IMAGES=40`` and
``VFS_EXPERIMENT_N_PERMUTATIONS=20``. Each test first kills the job's process mid-way and checks that
the page is told, that the cache holds no result, and that the job then runs again to completion.
"""

from __future__ import annotations

import os
import shutil
import signal

import numpy as np
import psutil
import pytest

from bench.load import CallbackError, DashSession
from dashboard.ids import VirtualFmri
from dashboard.jobs import JOB_LOST_MESSAGE
from tests._isolation import linked_cache
from tests.integration._servers import app_server, celery_worker, free_port, redis_server

pytestmark = pytest.mark.slow

SMALL_EXPERIMENT = {"VFS_EXPERIMENT_MAX_IMAGES": "40", "VFS_EXPERIMENT_N_PERMUTATIONS": "20"}

#: Progress (percent) past which the job is killed: features are being extracted or done.
KILL_AT_PERCENT = 2


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    """Two caches (diskcache run, Celery run) sharing the test input cache's features; results are separate."""
    root = tmp_path_factory.mktemp("jobs")
    return {"diskcache": linked_cache(root / "diskcache"), "celery": linked_cache(root / "celery")}


def _env(cache, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, "VFS_CACHE": str(cache), **SMALL_EXPERIMENT, **extra}


def _experiment_key(monkeypatch, cache) -> str:
    from dashboard import services

    with monkeypatch.context() as patch:
        for name, value in {"VFS_CACHE": str(cache), **SMALL_EXPERIMENT}.items():
            patch.setenv(name, value)
        return services.default_experiment_key()


def _load(monkeypatch, cache, key):
    from core.experiments import load_experiment

    with monkeypatch.context() as patch:
        patch.setenv("VFS_CACHE", str(cache))
        return load_experiment(key)


def _run_job(session: DashSession, on_poll=None) -> str:
    session.open("/virtual-fmri")
    response = session.fire(VirtualFmri.RESULT_KEY, "data", {(VirtualFmri.RUN, "n_clicks"): 1},
                            kind="job", on_poll=on_poll)
    return response[VirtualFmri.RESULT_KEY]["data"]


def _kill_job_midway(session: DashSession, job_process) -> None:
    """Start the job, SIGKILL its process once progress passes KILL_AT_PERCENT, expect the lost-job message."""
    killed = []

    def kill_when_started(data):
        progress = (data or {}).get("progress", {})
        percent = progress.get(f"{VirtualFmri.PROGRESS}.value") or 0
        if percent >= KILL_AT_PERCENT and not killed:
            process = job_process()
            for member in [*process.children(recursive=True), process]:
                member.send_signal(signal.SIGKILL)
            killed.append(process.pid)

    with pytest.raises(CallbackError, match="stopped before it finished") as error:
        _run_job(session, on_poll=kill_when_started)
    assert killed, "the job finished before it could be killed"
    assert JOB_LOST_MESSAGE[:40] in str(error.value)


def _check_recovers(session, monkeypatch, cache) -> str:
    key = _experiment_key(monkeypatch, cache)
    assert _load(monkeypatch, cache, key) is None
    assert not (cache / "experiments" / key / "result.json").exists()
    assert _run_job(session) == key
    status = session.fire(VirtualFmri.STATUS, "children", {(VirtualFmri.RESULT_KEY, "data"): key})
    assert "Fitted on" in str(status[VirtualFmri.STATUS]["children"])
    return key


def test_diskcache_job_killed_midway_is_reported_then_reruns(caches, monkeypatch, tmp_path):
    port = free_port()
    with app_server(_env(caches["diskcache"]), port, tmp_path / "app.log") as server:
        session = DashSession(f"http://127.0.0.1:{port}", timeout=900)

        def job_process():
            jobs = [p for p in psutil.Process(server.pid).children(recursive=True)
                    if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())]
            assert len(jobs) == 1, jobs
            return jobs[0]

        _kill_job_midway(session, job_process)
        key = _check_recovers(session, monkeypatch, caches["diskcache"])
    assert _load(monkeypatch, caches["diskcache"], key) is not None


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_celery_job_equals_in_process_result_and_survives_a_killed_worker(caches, monkeypatch, tmp_path):
    from dashboard import services

    key = _experiment_key(monkeypatch, caches["diskcache"])
    expected = _load(monkeypatch, caches["diskcache"], key)
    if expected is None:  # the diskcache test did not run: compute the result in this process
        with monkeypatch.context() as patch:
            for name, value in {"VFS_CACHE": str(caches["diskcache"]), **SMALL_EXPERIMENT}.items():
                patch.setenv(name, value)
            services.run_experiment()
        expected = _load(monkeypatch, caches["diskcache"], key)

    port, redis_port = free_port(), free_port()
    env = _env(caches["celery"], REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
    with (redis_server(tmp_path, redis_port),
          celery_worker(env, tmp_path / "worker.log") as worker,
          app_server(env, port, tmp_path / "app.log")):
        session = DashSession(f"http://127.0.0.1:{port}", timeout=900)

        def pool_process():
            children = psutil.Process(worker.pid).children()
            assert len(children) == 1, children
            return children[0]

        _kill_job_midway(session, pool_process)
        assert _check_recovers(session, monkeypatch, caches["celery"]) == key
        assert "WorkerLostError" in (tmp_path / "worker.log").read_text()

    result = _load(monkeypatch, caches["celery"], key)
    assert (result.stimulus_ids, result.categories, result.layers) == (
        expected.stimulus_ids, expected.categories, expected.layers)
    for name, values in expected.maps.items():
        np.testing.assert_allclose(result.maps[name], values, rtol=1e-3, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(result.category_maps, expected.category_maps, rtol=1e-3, atol=1e-4)
