"""Writing files so that a killed process never leaves a half-written one; folders only their owner can open."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_open", "private_dir"]


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` is left as it was. Parent folders are
    created.

    Examples
    --------
    >>> with atomic_open(folder / "maps.npz") as handle:  # doctest: +SKIP
    ...     np.savez(handle, r=r)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and its parents) with mode 0o700 if absent; return it.

    An existing ``path`` must be a real folder (not a symlink) owned by the current user with no group or
    other permissions; anything else raises ``ValueError``, so a folder planted in a shared temporary
    directory by another user is never used.
    """
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ValueError(f"{path} must be a folder owned by this user with mode 0o700 (found mode "
                         f"{stat.filemode(info.st_mode)}, owner uid {info.st_uid}); fix it or choose another folder")
    return path
