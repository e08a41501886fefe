"""atomic_open: a failed write leaves the old file untouched and no temporary file behind."""

import pytest

from core.files import atomic_open


def test_atomic_open_replaces_on_success_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "sub" / "result.txt"
    with atomic_open(target, "w") as handle:
        handle.write("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write("half")
        raise RuntimeError("killed mid-way")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.txt"]
