"""Faults without a server: a job killed while it writes leaves no entry, and a job whose process is gone
without a result is reported. ``test_background_jobs.py`` kills real jobs through the running app (slow)."""

from __future__ import annotations

import subprocess
import sys

import diskcache
import numpy as np
import pytest

from core.experiments import _save_result, experiment_dir, load_experiment
from dashboard.jobs import JOB_LOST_MESSAGE, LostJobDiskcacheManager
from tests._experiments import seed_experiment


def test_result_interrupted_while_written_leaves_no_entry(monkeypatch):
    result = seed_experiment()

    def killed(handle, **arrays):  # half an archive written, then the job's process ends
        handle.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    folder = experiment_dir("interrupted")
    folder.mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt):
        _save_result(folder / "result", result)
    assert load_experiment("interrupted") is None
    assert list(folder.iterdir()) == []


def test_job_whose_process_ended_without_a_result_is_reported(tmp_path):
    manager = LostJobDiskcacheManager(diskcache.Cache(str(tmp_path)))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert manager.get_result("lost", str(ended.pid)) == {
        "background_callback_error": {"msg": JOB_LOST_MESSAGE, "tb": ""}}
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert manager.get_result("lost", str(running.pid)) is manager.UNDEFINED
    finally:
        running.kill()
        running.wait()
    manager.handle.set("done", 42)
    assert manager.get_result("done", None) == 42
