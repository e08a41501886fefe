"""The one store of results on disk: arrays in ``<prefix>.npz``, everything else in ``<prefix>.json``.

Both files are written atomically (``core.files.atomic_open``), the json last, so a result is complete exactly
when its json exists; arrays are read back with ``allow_pickle=False`` and the json holds plain values only, so
nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.files import atomic_open

__all__ = ["load_result", "result_paths", "save_result"]


def result_paths(prefix: str | os.PathLike) -> tuple[Path, Path]:
    """``(<prefix>.npz, <prefix>.json)``; a ``.npz`` or ``.json`` suffix of ``prefix`` is dropped first."""
    base = Path(prefix)
    if base.suffix in (".npz", ".json"):
        base = base.with_suffix("")
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def save_result(prefix: str | os.PathLike, arrays: Mapping[str, np.ndarray], info: Mapping, *,
                indent: int | None = None) -> Path:
    """Write ``arrays`` to ``<prefix>.npz`` and then ``info`` to ``<prefix>.json``, each atomically.

    Parameters
    ----------
    prefix : path-like
        Base name of the two files (see :func:`result_paths`).
    arrays : mapping of str to ndarray
        Saved with ``np.savez`` (numeric or fixed-width string arrays; object arrays would need pickle).
    info : mapping
        JSON-serialisable labels, settings and metadata.
    indent : int, optional
        Indentation of the json (None: one line).

    Returns
    -------
    Path
        The json path (the result is complete once it exists).

    Raises
    ------
    ValueError
        When ``info`` is not JSON-serialisable (nothing is written then).
    """
    npz_path, json_path = result_paths(prefix)
    try:
        text = json.dumps(info, indent=indent)
    except TypeError as exc:
        raise ValueError(f"The result's info must be JSON-serialisable: {exc}") from exc
    with atomic_open(npz_path) as handle:
        np.savez(handle, **arrays)
    with atomic_open(json_path, "w") as handle:  # written last: marks the result complete
        handle.write(text)
    return json_path


def load_result(prefix: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the info written by :func:`save_result` (``allow_pickle=False``).

    Raises
    ------
    OSError, ValueError
        When a file is missing or unreadable.
    """
    npz_path, json_path = result_paths(prefix)
    info = json.loads(json_path.read_text())
    with np.load(npz_path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}, info
