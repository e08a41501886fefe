"""atomic_open: a failed write leaves the old file untouched and no temporary file behind; private_dir."""

import stat

import pytest

from core.files import atomic_open, private_dir


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


def test_private_dir_is_created_0700_and_refuses_folders_others_can_open(tmp_path):
    mine = private_dir(tmp_path / "a" / "mine")
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700 and private_dir(mine) == mine
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(mine)
    for folder in (shared, link):
        with pytest.raises(ValueError, match="owned by this user with mode 0o700"):
            private_dir(folder)
