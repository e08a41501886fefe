"""Background-job plumbing without a browser: a key per run, jobs ended on purpose are not reported lost, and the
progress text (time elapsed, time left)."""

from __future__ import annotations

import subprocess
import sys
import time

import diskcache
import pytest
from dash import DiskcacheManager

from dashboard.jobs import JOB_LOST_MESSAGE, LostJobDiskcacheManager
from dashboard.pages._shared import progress_reporter, progress_text, time_left

LOST = {"background_callback_error": {"msg": JOB_LOST_MESSAGE, "tb": ""}}


@pytest.fixture
def manager(tmp_path):
    return LostJobDiskcacheManager(diskcache.Cache(str(tmp_path / "jobs")))


def _job(*_args) -> None:
    """A job function for ``call_job_fn`` (result key, progress key, arguments, context): ends at once."""


def test_identical_runs_get_keys_of_their_own(manager):
    keys = {manager.build_cache_key(_job, [1, "same inputs"], [], None) for _ in range(2)}
    assert len(keys) == 2
    assert len({key.rsplit("-", 1)[0] for key in keys}) == 1  # Dash's key of the callback and inputs, then the run


def test_job_ended_by_dash_is_not_reported_lost_but_a_crashed_one_is(manager):
    cancelled = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    manager.terminate_job(str(cancelled.pid))  # Cancel, or a newer run of the same callback
    cancelled.wait()
    assert manager.get_result("cancelled", str(cancelled.pid)) is manager.UNDEFINED
    crashed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(9)"])
    crashed.wait()
    assert manager.get_result("crashed", str(crashed.pid)) == LOST


def test_a_new_job_clears_the_mark_of_an_earlier_job_with_its_process_id(manager, monkeypatch):
    monkeypatch.setattr(DiskcacheManager, "call_job_fn", lambda self, key, job_fn, args, context: 4242)
    manager.handle.set(("ended", "4242"), True)  # an earlier job with this process id was cancelled
    assert manager.call_job_fn("key", _job, [], {}) == 4242
    assert not manager.ended_on_purpose("4242")


def test_jobs_start_and_end_in_processes_of_their_own(manager):
    job = manager.call_job_fn("key", _job, [], {})
    manager.terminate_job(job)
    assert manager.ended_on_purpose(job) and not manager.job_running(job)


@pytest.mark.parametrize(("elapsed", "left", "expected"), [
    (3.2, None, "features — 0:03 elapsed"),
    (50, 59.9, "features — 0:50 elapsed, under a minute left"),
    (125, 375, "features — 2:05 elapsed, about 7 min left"),  # rounded up
    (3725, None, "features — 62:05 elapsed"),
])
def test_progress_text_shows_time_elapsed_and_left(elapsed, left, expected):
    assert progress_text("features", elapsed, left) == expected


def test_time_left_follows_the_pace_since_the_job_started_moving():
    assert time_left(0.3, now=100) is None  # no report past 0 % yet
    assert time_left(0.11, now=100, since=(90, 0.1)) is None  # too early to tell
    assert time_left(0.5, now=100, since=(60, 0.1)) == pytest.approx(50)  # 0.4 in 40 s: 0.5 left takes 50 s
    assert time_left(1.0, now=100, since=(60, 0.1)) is None


def test_reporter_sends_percent_and_text(monkeypatch):
    clock = iter([0.0, 30.0, 40.0, 100.0])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    sent = []
    report = progress_reporter(sent.append)
    report(0, 10, "setting up")  # 30 s of set-up: not part of the pace
    report(1, 10, "step 1")
    report(4, 10, "step 4")
    assert sent == [(0, "setting up — 0:30 elapsed"), (10, "step 1 — 0:40 elapsed"),
                    (40, "step 4 — 1:40 elapsed, about 2 min left")]  # 0.3 in 60 s: 0.6 left takes 120 s
