"""End-to-end: the app started as README says, in processes of their own, driven by headless Chromium.

Two app processes share a temporary cache folder (inputs linked from the test input cache), upload folder
and so Dash job store:

- ``studio``: ``python app.py --port P``, the production server ``make run`` starts, with the 160-image
  experiment the rest of the suite fits once per session (``fitted_experiment``) linked into the cache:
  uploads, selectivity and clustering (which need the maps that survive its FDR-corrected permutation test;
  no smaller experiment leaves any), a job restored on reload, Cancel;
- ``debug_studio``: ``python app.py --debug --port Q``, Flask's development server, with the default
  experiment at a small size (:data:`SMALL_EXPERIMENT`), which its first flow runs through the page.

The long jobs' own outputs (identity, reconstructions, the experiment's maps) are checked by the browser
tests that import the app (``tests/browser``); these tests check what only a started app shows. Every test
fails on a traceback in a server log or an error in the browser console.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests._isolation import FITTED_EXPERIMENT_IMAGES, linked_cache
from tests.e2e._browser import chromium, console_errors
from tests.integration._servers import app_server, free_port

#: The default experiment at a small size (environment of ``debug_studio``): a minute on a CPU.
SMALL_EXPERIMENT = {"VFS_EXPERIMENT_MAX_IMAGES": "40", "VFS_EXPERIMENT_N_PERMUTATIONS": "20"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(item.fspath).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Server:
    """A running app: its base URL and log, and how much of the log the current test has read."""

    url: str
    log: Path
    read: int = field(default=0)

    def new_log(self) -> str:
        """The log written since the last call."""
        data = self.log.read_bytes()
        new, self.read = data[self.read:], len(data)
        return new.decode(errors="replace")


@pytest.fixture(scope="session")
def app_folder(tmp_path_factory) -> dict:
    """Cache (inputs linked), upload folder and environment shared by the session's app processes."""
    folder = tmp_path_factory.mktemp("e2e")
    cache, uploads = linked_cache(folder / "cache"), folder / "uploads"
    return {"folder": folder, "cache": cache, "env": {**os.environ, "VFS_CACHE": str(cache), "VFS_UPLOADS": str(uploads)}}


@pytest.fixture(scope="session")
def studio(app_folder, _session_experiment):
    """``python app.py --port P``: the production server, as ``make run`` starts it, with the session's fitted
    160-image experiment (``tests/conftest.py``) linked into the shared cache."""
    experiments = app_folder["cache"] / "experiments"
    experiments.mkdir(exist_ok=True)
    (experiments / _session_experiment.name).symlink_to(_session_experiment)
    port = free_port()
    log = app_folder["folder"] / "app.log"
    with app_server({**app_folder["env"], "VFS_EXPERIMENT_MAX_IMAGES": FITTED_EXPERIMENT_IMAGES}, port, log):
        yield Server(f"http://127.0.0.1:{port}", log)


@pytest.fixture(scope="session")
def debug_studio(app_folder):
    """``python app.py --debug --port Q``: Flask's development server; small experiment."""
    port = free_port()
    log = app_folder["folder"] / "app-debug.log"
    with app_server({**app_folder["env"], **SMALL_EXPERIMENT}, port, log, "--debug"):
        yield Server(f"http://127.0.0.1:{port}", log)


@pytest.fixture(scope="session")
def _driver():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def browser(_driver, request):
    """The session's headless Chromium; the test fails on any console error or server traceback it caused."""
    servers = [request.getfixturevalue(name) for name in ("studio", "debug_studio") if name in request.fixturenames]
    for server in servers:
        server.new_log()
    console_errors(_driver)
    yield _driver
    errors = console_errors(_driver)
    assert errors == [], f"browser console errors: {errors}"
    for server in servers:
        log = server.new_log()
        assert "Traceback" not in log, f"traceback in the server log {server.log}:\n{log[-5000:]}"


def jpeg(path: Path, image: str = "chelsea") -> Path:
    """A JPEG of the colour photograph ``image`` of ``skimage.data`` (``chelsea``, ``coffee``...) at ``path``."""
    import skimage.data
    from PIL import Image

    Image.fromarray(getattr(skimage.data, image)()).save(path, quality=90)
    return path
