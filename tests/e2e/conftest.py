"""End-to-end: the app started as README says, in processes of its own, driven by headless Chromium.

The session starts ``python app.py --port P`` (what ``make run`` serves: waitress) with ``VFS_CACHE``,
``VFS_UPLOADS`` and so the Dash job store in a temporary folder whose read-only inputs link to the test
input cache, and a small default experiment (:data:`SMALL_EXPERIMENT`) that every flow reuses. The
development server (``python app.py --debug --port Q``) is started on the same folders when a test asks
for it. Every test fails on a traceback in a server log or an error in the browser console.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests._isolation import linked_cache
from tests.e2e._browser import chromium, console_errors
from tests.integration._servers import app_server, free_port

#: The default experiment at a small size (environment of the app): 160 library images, the fewest at which the
#: simulated subject's maps survive the FDR-corrected permutation test that clustering and selectivity build on
#: (40, 60, 80 or 160 images with up to 1,000, 500, 100 or 200 permutations leave no predictable vertex).
SMALL_EXPERIMENT = {"VFS_EXPERIMENT_MAX_IMAGES": "160", "VFS_EXPERIMENT_N_PERMUTATIONS": "1000"}


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
    """Cache (inputs linked) and upload folder shared by the session's app processes, and their environment."""
    folder = tmp_path_factory.mktemp("e2e")
    cache, uploads = linked_cache(folder / "cache"), folder / "uploads"
    env = {**os.environ, "VFS_CACHE": str(cache), "VFS_UPLOADS": str(uploads), **SMALL_EXPERIMENT}
    return {"folder": folder, "cache": cache, "uploads": uploads, "env": env}


@pytest.fixture(scope="session")
def studio(app_folder):
    """``python app.py --port P``: the production server, as ``make run`` starts it."""
    port = free_port()
    log = app_folder["folder"] / "app.log"
    with app_server(app_folder["env"], port, log):
        yield Server(f"http://127.0.0.1:{port}", log)


@pytest.fixture(scope="session")
def debug_studio(app_folder):
    """``python app.py --debug --port Q``: Flask's development server, on the same folders."""
    port = free_port()
    log = app_folder["folder"] / "app-debug.log"
    with app_server(app_folder["env"], port, log, "--debug"):
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
