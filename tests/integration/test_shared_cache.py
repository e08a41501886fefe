"""Several app processes on one cache folder: identical jobs from several browsers run apart and all finish.

Two app processes share one cache folder (and so one Dash job store): ``python app.py`` and the WSGI entry in
``python -m waitress ... app:server``. Three browser-like sessions (two on the first process, one on the second)
press the Reconstructions page's Run with the same inputs, a few seconds apart, as the renderer does
(``bench.load.DashSession``). Before each run had a job-store key of its own, identical jobs shared one
result and one progress channel: one session took the other's result, the other was told its job "stopped
before it finished", and progress bars showed both jobs' progress in turn.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.load import DashSession
from dashboard.components.jobs import progress_text_id
from dashboard.ids import Reconstructions
from tests.integration._servers import app_server, free_port, wsgi_server

pytestmark = pytest.mark.slow

#: Inputs of the identical job (40 faces: about a minute with the trained encoder from the test input cache).
FACES, SNR = 40, "1"


def _run(url: str, delay: float) -> dict:
    """Wait ``delay`` s, then run the reconstruction job; its result and the progress the session saw."""
    time.sleep(delay)
    session = DashSession(url, timeout=900)
    session.open("/reconstructions")
    seen = []

    def record(data):
        progress = (data or {}).get("progress", {})
        if f"{Reconstructions.PROGRESS}.value" in progress:
            seen.append((progress[f"{Reconstructions.PROGRESS}.value"],
                         progress[f"{progress_text_id(Reconstructions.PROGRESS)}.children"]))

    response = session.fire(Reconstructions.RESULT, "data", {(Reconstructions.RUN, "n_clicks"): 1,
                                                             (Reconstructions.N_FACES, "value"): FACES,
                                                             (Reconstructions.SNR, "value"): SNR},
                            kind="job", on_poll=record)
    return {"path": response[Reconstructions.RESULT]["data"], "status": response[Reconstructions.STATUS]["children"],
            "progress": seen}


def test_identical_jobs_from_two_processes_on_one_cache_run_apart(vfs_folders, tmp_path):
    env = {**os.environ, "VFS_CACHE": str(vfs_folders.cache), "VFS_UPLOADS": str(vfs_folders.uploads)}
    first, second = free_port(), free_port()
    with (app_server(env, first, tmp_path / "app.log"),
          wsgi_server(env, second, tmp_path / "wsgi.log"),
          ThreadPoolExecutor(3) as pool):
        urls = [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{first}", f"http://127.0.0.1:{second}"]
        runs = list(pool.map(_run, urls, [0, 3, 6]))
    paths = {run["path"] for run in runs}
    assert len(paths) == 1 and Path(paths.pop()).name.startswith(f"dcgan-n{FACES}-snr{SNR}-")
    assert [run["status"] for run in runs] == ["Done."] * 3
    for run in runs:
        values = [value for value, _ in run["progress"]]
        assert values == sorted(values), f"a progress bar went back: it showed another job's progress {run['progress']}"
    for log in ("app.log", "wsgi.log"):
        assert "Traceback" not in (tmp_path / log).read_text()
