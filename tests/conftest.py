"""Shared fixtures: every test's own cache, uploads and job store; seeded rng; skip rules for shared data and CUDA.

Isolation (``tests/_isolation.py``): for the whole session ``HOME`` is a shadow of the real home without the
user's cache folder, the user's settings (``VFS_CACHE``, ``REDIS_URL``...) are removed, and ``VFS_CACHE`` /
``VFS_UPLOADS`` name session folders (for code run at collection). Each test then gets its own cache
(results, diskcache, Dash job store) and upload folder (:func:`vfs_folders`), whose read-only inputs link
to the persistent test input cache; tests that need a fitted default experiment share one
(:func:`fitted_experiment`). At the end of the session :func:`user_folders_untouched` fails the
run if anything was written into the default cache folder or the default upload folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests._isolation import USER_SETTINGS, default_cache_writes, linked_cache, listing, shadow_home

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class _Session:
    """Folders and saved environment of the test session (set by :func:`pytest_configure`)."""

    root: Path
    home: Path
    saved_environment: dict
    default_uploads: Path
    uploads_before: dict


def pytest_configure(config):
    _Session.saved_environment = dict(os.environ)
    _Session.root = Path(tempfile.mkdtemp(prefix="vfs-test-session-"))
    _Session.home = shadow_home(Path.home(), _Session.root / "home")
    _Session.default_uploads = Path(tempfile.gettempdir()) / f"virtual-fmri-studio-uploads-{os.getuid()}"
    _Session.uploads_before = listing(_Session.default_uploads)
    for name in USER_SETTINGS:
        os.environ.pop(name, None)
    os.environ["HOME"] = str(_Session.home)
    os.environ["VFS_CACHE"] = str(linked_cache(_Session.root / "cache"))
    os.environ["VFS_UPLOADS"] = str(_Session.root / "uploads")


def pytest_unconfigure(config):
    os.environ.clear()
    os.environ.update(_Session.saved_environment)
    shutil.rmtree(_Session.root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def user_folders_untouched():
    """Session check: nothing was written into the user's cache folder (default location) or upload folder."""
    yield
    written = default_cache_writes(_Session.home)
    assert not written, f"tests wrote into the default cache folder (the user's cache): {written}"
    assert listing(_Session.default_uploads) == _Session.uploads_before, (
        f"tests changed the user's upload folder {_Session.default_uploads}")


@dataclass(frozen=True)
class VfsFolders:
    """A test's own folders: ``cache`` (``VFS_CACHE``, inputs linked) and ``uploads`` (``VFS_UPLOADS``)."""

    cache: Path
    uploads: Path

    @property
    def jobs(self) -> Path:
        """The Dash job store (``dashboard.jobs.job_cache_dir``)."""
        return self.cache / "dash-jobs"


def _forget_cached_results() -> None:
    """Drop the web services' in-process memos of results read from a cache folder (they name no folder)."""
    if "dashboard.services" not in sys.modules:
        return
    from dashboard.services import _files, clusters, experiment

    if _files.result_cache.cache_info().currsize:
        _files.result_cache().close()
    for memo in (_files.result_cache, experiment._cached_experiment, clusters._category_clustering,
                 clusters._semantic_comparison):
        memo.cache_clear()


@pytest.fixture(autouse=True)
def vfs_folders(tmp_path_factory, monkeypatch) -> VfsFolders:
    """Every test's own cache (results, job store), uploads, read-only inputs linked from the test input cache."""
    root = tmp_path_factory.mktemp("vfs")
    folders = VfsFolders(cache=linked_cache(root / "cache"), uploads=root / "uploads")
    monkeypatch.setenv("VFS_CACHE", str(folders.cache))
    monkeypatch.setenv("VFS_UPLOADS", str(folders.uploads))
    _forget_cached_results()
    yield folders
    _forget_cached_results()


#: Library images of the default experiment shared by the tests that need a fitted one (``fitted_experiment``).
FITTED_EXPERIMENT_IMAGES = "160"


@pytest.fixture(scope="session")
def _session_experiment() -> Path:
    """The default experiment on :data:`FITTED_EXPERIMENT_IMAGES` library images, fitted once in the session cache."""
    from dashboard import services

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFS_EXPERIMENT_MAX_IMAGES", FITTED_EXPERIMENT_IMAGES)
        key = services.run_experiment()
    return Path(os.environ["VFS_CACHE"]) / "experiments" / key


@pytest.fixture
def fitted_experiment(_session_experiment, vfs_folders, monkeypatch) -> str:
    """The default experiment on 160 library images in this test's cache (linked; fitted once per session);
    ``VFS_EXPERIMENT_MAX_IMAGES`` is set to match. Returns its key."""
    monkeypatch.setenv("VFS_EXPERIMENT_MAX_IMAGES", FITTED_EXPERIMENT_IMAGES)
    experiments = vfs_folders.cache / "experiments"
    experiments.mkdir(exist_ok=True)
    (experiments / _session_experiment.name).symlink_to(_session_experiment)
    return _session_experiment.name


@pytest.fixture
def rng():
    """Seeded generator for tiny synthetic arrays."""
    return np.random.default_rng(0)


@pytest.fixture
def shared_data():
    """Path of ../shared/data; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="CUDA is not available")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def pytest_sessionfinish(session, exitstatus):
    """Stop the Virtual fMRI page's warm prediction worker, which would otherwise keep pytest from exiting."""
    services = sys.modules.get("dashboard.services")
    if services is not None:
        services.stop_predictors()
