"""core.store: one npz + json store, json written last, nothing unpickled."""

from __future__ import annotations

import numpy as np
import pytest

from core import store
from core.store import load_result, result_paths, save_result


def test_round_trip_and_paths(tmp_path):
    arrays = {"r": np.arange(4, dtype=np.float32), "ids": np.array(["a", "b"])}
    json_path = save_result(tmp_path / "result", arrays, {"layers": ["conv1"], "meta": {"n": 3}}, indent=1)
    assert json_path == tmp_path / "result.json" and (tmp_path / "result.npz").is_file()
    loaded, info = load_result(tmp_path / "result.json")
    np.testing.assert_array_equal(loaded["r"], arrays["r"])
    assert loaded["r"].dtype == np.float32 and list(loaded["ids"]) == ["a", "b"]
    assert info == {"layers": ["conv1"], "meta": {"n": 3}}
    assert result_paths(tmp_path / "model.v2") == (tmp_path / "model.v2.npz", tmp_path / "model.v2.json")


def test_json_is_written_last_and_only_after_the_arrays(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_result(tmp_path / "result", {"r": np.zeros(2)}, {"done": True})
    assert not (tmp_path / "result.json").exists() and not (tmp_path / "result.npz").exists()


def test_unserialisable_info_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_result(tmp_path / "result", {"r": np.zeros(2)}, {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_object_arrays_are_never_unpickled(tmp_path):
    save_result(tmp_path / "result", {"evil": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(ValueError, match="allow_pickle"):
        load_result(tmp_path / "result")
