"""Input checks shared by core modules; errors name the bad value and the valid ones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

__all__ = ["check_choice", "check_finite_array", "check_labels", "check_same_length"]


def check_choice(name: str, value, choices: Iterable) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    choices = sorted(choices)
    if value not in choices:
        raise ValueError(f"Unknown {name}={value!r}; choose from {choices}")


def check_finite_array(name: str, array, *, ndim: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Return ``array`` as a float ndarray after checking its rank, size and finiteness.

    Parameters
    ----------
    name : str
        Name used in error messages.
    array : array-like
    ndim : int, optional
        Required number of dimensions.
    min_rows : int
        Minimum length of the first axis.
    """
    arr = np.asarray(array)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if arr.ndim == 0 or arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values")
    return arr


def check_same_length(**arrays) -> int:
    """Raise ``ValueError`` unless all arrays have the same first-axis length; return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Inconsistent numbers of samples: {lengths}")
    return next(iter(lengths.values()))


def check_labels(name: str, categories: Iterable, *, known: Iterable | None = None,
                 min_size: int = 1) -> list:
    """``categories`` as a list, or a ValueError naming what is wrong: too few, repeated or unknown labels."""
    categories = list(categories)
    if known is not None:
        known = list(dict.fromkeys(known))
        unknown = [c for c in categories if c not in known]
        if unknown:
            raise ValueError(f"{name} has unknown labels {unknown}; choose from {known}")
    repeated = [c for c, count in Counter(categories).items() if count > 1]
    if repeated:
        raise ValueError(f"{name} lists {repeated} more than once; give each once")
    if len(categories) < min_size:
        raise ValueError(f"{name} needs at least {min_size} labels, got {len(categories)}: {categories}")
    return categories
