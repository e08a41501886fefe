"""core.runtime: the one progress protocol and the named cache folders."""

from __future__ import annotations

import pytest

from core import runtime, weights
from core.runtime import PROGRESS_STEPS, cache_folder, report, span


def test_report_calls_progress_with_counts_and_message_and_ignores_none():
    calls = []
    report(lambda *a: calls.append(a), 2.0, 5, "two of five")
    report(None, 1, 2, "nobody listens")
    assert calls == [(2, 5, "two of five")] and all(isinstance(v, int) for v in calls[0][:2])


def test_span_maps_a_step_onto_its_share_of_the_parent_bar():
    calls = []
    child = span(lambda *a: calls.append(a), 0.5, 1.0)
    for done in range(3):
        child(done, 2, f"step {done}")
    child(0, 0, "no count yet")
    assert calls == [(500, PROGRESS_STEPS, "step 0"), (750, PROGRESS_STEPS, "step 1"),
                     (1000, PROGRESS_STEPS, "step 2"), (500, PROGRESS_STEPS, "no count yet")]
    assert span(None, 0.0, 0.5) is None
    with pytest.raises(ValueError, match="start <= stop"):
        span(print, 0.6, 0.5)


def test_weights_messages_follow_the_protocol(capsys):
    calls = []
    weights._report(lambda *a: calls.append(a), "npm pack something")
    assert calls == [(0, 0, "npm pack something")]
    runtime.print_progress(0, 0, "converting")
    runtime.print_progress(3, 4)
    assert capsys.readouterr().out == "converting\n3/4\n"


def test_cache_folders_are_named_in_one_place(monkeypatch, tmp_path):
    monkeypatch.setenv("VFS_CACHE", str(tmp_path))
    assert cache_folder("features") == tmp_path / "features"
    assert weights.cache_dir() == runtime.cache_dir() == tmp_path
    with pytest.raises(ValueError, match="Unknown cache folder 'feature'; choose from"):
        cache_folder("feature")
