"""Writing files so that a killed process never leaves a half-written one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_open"]


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
