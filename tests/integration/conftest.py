"""A live app for the integration tests: ``python app.py`` on a free loopback port, in its own cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests._isolation import linked_cache
from tests.integration._servers import app_server, free_port

#: Environment variables of the test run that must not reach the live app.
_PRIVATE_SETTINGS = ("REDIS_URL", "VFS_EXPERIMENT_MAX_IMAGES", "VFS_EXPERIMENT_N_PERMUTATIONS", "VFS_UPLOADS")


@dataclass(frozen=True)
class LiveApp:
    url: str
    cache: Path
    uploads: Path
    log: Path

    def is_up(self) -> bool:
        """The server answers a normal request (the shell layout) with 200."""
        return requests.get(f"{self.url}/_dash-layout", timeout=30).status_code == 200


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """The app served by its own process, with a temporary cache holding a tiny seeded experiment
    (so that the Virtual fMRI page accepts uploads) and links to the test input cache, and its own
    upload folder."""
    from tests._experiments import seed_experiment

    folder = tmp_path_factory.mktemp("live-app")
    cache = linked_cache(folder / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFS_CACHE", str(cache))
        for name in _PRIVATE_SETTINGS:
            patch.delenv(name, raising=False)
        seed_experiment()
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_SETTINGS}
    port, uploads = free_port(), folder / "uploads"
    with app_server({**env, "VFS_CACHE": str(cache), "VFS_UPLOADS": str(uploads)}, port, folder / "app.log"):
        yield LiveApp(url=f"http://127.0.0.1:{port}", cache=cache, uploads=uploads, log=folder / "app.log")
