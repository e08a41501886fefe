"""The sharding coordinator with a real Celery app on an in-memory broker and no worker (fast).

``tests/integration/test_sharding.py`` runs it with Redis and two worker processes (slow).
"""

import json
import threading

import pytest
from celery import Celery, states
from celery.signals import after_task_publish, before_task_publish

from dashboard import sharding


@pytest.fixture
def celery_app():
    app = Celery("test-sharding", broker="memory://", backend="cache+memory://")
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    sharding.register_tasks(app)
    return app


@pytest.fixture
def sent_ids():
    """Ids of the tasks published while the test runs, in order."""
    sent = []

    def record(headers=None, **_):
        sent.append(headers["id"])

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


def test_coordinator_computes_what_no_worker_took_and_never_blocks_on_busy_workers(celery_app, sent_ids, monkeypatch):
    computed, seen = [], []

    def compute_here(job, *, hostname):
        computed.append(job["chunk"])
        if len(computed) == 1:  # meanwhile a worker has finished chunk 0 and is running chunk 1
            celery_app.backend.store_result(sent_ids[0], {"chunk": 0, "hostname": "w1@a"}, states.SUCCESS)
            celery_app.backend.store_result(sent_ids[1], None, states.STARTED)
        return {"chunk": job["chunk"], "hostname": hostname}

    revoked = []
    monkeypatch.setattr(sharding, "compute_chunk", compute_here)
    monkeypatch.setattr(celery_app.control, "revoke", revoked.extend)
    reports = []
    coordinator = threading.Thread(target=lambda: reports.extend(sharding.run_sharded(
        celery_app, [{"chunk": i} for i in range(4)], progress=lambda done, total: seen.append((done, total)))),
        daemon=True)
    coordinator.start()
    coordinator.join(timeout=60)
    assert not coordinator.is_alive(), "the coordinator waits for a chunk that a busy (or dead) worker holds"
    # no worker had started 3 and 2 (taken from the end of the queue); 1 runs on a worker that may be dead
    assert computed == [3, 2, 1]
    assert [report["hostname"].split("@")[0] for report in reports] == ["w1", *["coordinator"] * 3]
    assert [report["chunk"] for report in reports] == [0, 1, 2, 3]
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert revoked == sent_ids[1:]  # workers skip the chunks the coordinator computed


def test_a_chunk_that_failed_on_a_worker_is_computed_here_and_its_error_ends_the_job(celery_app, sent_ids,
                                                                                     monkeypatch):
    def workers_answer(**_):
        if len(sent_ids) == 2:
            celery_app.backend.mark_as_failure(sent_ids[0], ValueError("on the worker"))
            celery_app.backend.store_result(sent_ids[1], {"chunk": 1, "hostname": "w1@a"}, states.SUCCESS)

    def compute_here(job, *, hostname):
        raise ValueError(f"None of the images of chunk {job['chunk']} could be decoded")

    revoked = []
    monkeypatch.setattr(sharding, "compute_chunk", compute_here)
    monkeypatch.setattr(celery_app.control, "revoke", revoked.extend)
    after_task_publish.connect(workers_answer, weak=False)
    try:
        with pytest.raises(ValueError, match="chunk 0 could be decoded"):
            sharding.run_sharded(celery_app, [{"chunk": i} for i in range(2)])
    finally:
        after_task_publish.disconnect(workers_answer)
    assert revoked == sent_ids[:1]


def test_chunk_jobs_are_json_and_follow_the_feature_cache_chunks(monkeypatch):
    monkeypatch.setenv("VFS_FEATURE_CHUNK_SIZE", "4")
    monkeypatch.setattr(sharding, "_model_and_key", lambda network: (None, f"{network}:abc"))
    ids = tuple(f"img{i}.jpg" for i in range(10))
    jobs = sharding.chunk_jobs("resnet50", ("layer1.0", "fc"), ids)
    assert json.loads(json.dumps(jobs)) == jobs
    assert [job["stimulus_ids"] for job in jobs] == [list(ids[0:4]), list(ids[4:8]), list(ids[8:10])]
    assert [job["chunk"] for job in jobs] == [0, 1, 2]
    assert {job["model_key"] for job in jobs} == {"resnet50:abc"}


def test_the_experiments_sharded_feature_sets_are_the_extractions_it_runs(monkeypatch):
    """``services.experiment._experiment_feature_sets`` must list what ``core.experiments`` extracts, or the shards are wasted.

    The simulated subject's receptive-field readings are not sharded (they are no named reduction a worker
    could rebuild); the encoding network's features are."""
    import numpy as np

    from core import experiments
    from core.features import Features
    from core.weights import cache_dir
    from dashboard.services import experiment as experiment_services

    if not (cache_dir() / "library").is_dir():
        pytest.skip("the stimulus library is not in the user cache")
    extracted = []

    def record(stimuli, network, layers, *, reduction, **_):
        extracted.append((network, layers, stimuli.ids))
        assert reduction == experiments.DEFAULT_REDUCTION
        return Features({layer: np.zeros((len(stimuli), 1), np.float32) for layer in layers}, stimuli.ids)

    monkeypatch.setenv("VFS_EXPERIMENT_MAX_IMAGES", "40")
    monkeypatch.setattr(experiments, "_network_features", record)
    for network in experiments.ENCODING_NETWORKS:
        library, _ = experiments.experiment_feature_sets(network=network, max_images=40)
        experiments._encoding_features(library, network, experiments.DEFAULT_REDUCTION)
        assert experiment_services._experiment_feature_sets(network) == extracted[-1:]
    assert len(extracted[0][2]) == 40
    assert extracted[-1] == ("efficientnet_lite0", experiments.ENCODING_NETWORKS["efficientnet_lite0"], extracted[0][2])


def test_run_experiment_with_redis_shards_first_and_fills_the_progress_bar_once(monkeypatch):
    from core import experiments
    from dashboard import services
    from dashboard.services import experiment_job

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(experiment_job, "experiment_result", lambda key: None)
    monkeypatch.setattr(experiment_job, "_experiment_feature_sets", lambda network: [(network, "wen18", ("a.jpg",))])

    def shard(feature_sets, *, reduction, progress):
        assert feature_sets == [("resnet50", "wen18", ("a.jpg",))] and reduction == experiments.DEFAULT_REDUCTION
        for done in range(3):
            progress(done + 1, 3)

    def experiment(*, progress, **settings):
        for done in (0, 1, 2):
            progress(done, 2, "experiment")

    monkeypatch.setattr(experiment_job, "shard_library_features", shard)
    monkeypatch.setattr(experiments, "run_default_experiment", experiment)
    seen = []
    services.run_experiment(progress=lambda done, total, message: seen.append(done / total))
    assert seen == pytest.approx([1 / 6, 2 / 6, 0.5, 0.5, 0.75, 1.0])


@pytest.fixture
def study(tmp_path):
    """A 10-image folder-layout study in this test's store."""
    from core.studies import import_study
    from core.studies.simulate import write_simulated_study

    write_simulated_study(tmp_path / "lab", "folder-npy", n_stimuli=10)
    return import_study("folder", tmp_path / "lab", "lab")


def test_a_study_chunk_task_names_the_study_and_reads_its_images_from_the_store(study, monkeypatch):
    monkeypatch.setenv("VFS_FEATURE_CHUNK_SIZE", "4")
    monkeypatch.setattr(sharding, "_model_and_key", lambda network: (None, f"{network}:abc"))
    ids = [image.id for image in study.stimuli]
    jobs = sharding.chunk_jobs("resnet50", "wen18", ids, study="lab")
    assert json.loads(json.dumps(jobs)) == jobs and {job["study"] for job in jobs} == {"lab"}
    full = study.stimulus_set()
    for job, rows in zip(jobs, (range(0, 4), range(4, 8), range(8, 10)), strict=True):
        chunk = sharding._chunk_stimuli(job)
        assert chunk.ids == full.subset(rows).ids and chunk.sources == full.subset(rows).sources
    with pytest.raises(ValueError, match="Study lab has no image nope.png"):
        sharding._chunk_stimuli({**jobs[0], "stimulus_ids": ["nope.png"]})


def test_fit_study_with_redis_shards_what_study_features_extracts_and_fills_the_bar_once(study, monkeypatch):
    """The chunks sent must be those ``core.studies.study_features`` then reads, or the shards are wasted."""
    import numpy as np

    from core import experiments
    from core.features import Features
    from core.studies import experiment as study_experiment
    from dashboard import services
    from dashboard.services import experiment as experiment_services

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    sharded, extracted = [], []

    def shard(feature_sets, *, reduction, progress, study):
        sharded.append((feature_sets, reduction, study))
        for done in range(2):
            progress(done + 1, 2)

    def record(stimuli, network, layers, *, reduction, **_):
        extracted.append(([(network, layers, list(stimuli.ids))], reduction, "lab"))
        return Features({layer: np.zeros((len(stimuli), 1), np.float32) for layer in ("a", "b")}, stimuli.ids)

    def fit(study, out, *, network, features, n_permutations, progress):
        study_experiment.study_features(study, network=network, features=features)
        progress(1.0, "done")
        out.joinpath("encoding.json").write_text("{}")

    monkeypatch.setattr(experiment_services, "shard_library_features", shard)
    monkeypatch.setattr(experiments, "_network_features", record)
    monkeypatch.setattr(study_experiment, "run_study_experiment", fit)
    seen = []
    services.fit_study("lab", progress=lambda done, total, message: seen.append(done / total))
    assert sharded == extracted and sharded[0][0][0][2] == [image.id for image in study.stimuli]
    assert seen == pytest.approx([0.25, 0.5, 1.0])
