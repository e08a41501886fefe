"""Weights plumbing shared by the zoo's converters and factories.

:func:`find_package_file` and :func:`check_state_dict_keys` serve the converters that turn an
unpacked registry package into a state dict; :func:`load_pretrained` is the last step of every
factory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from torch import nn

from core.weights import fetch_weights, load_state_dict

__all__ = ["check_state_dict_keys", "find_package_file", "load_pretrained"]

ModelT = TypeVar("ModelT", bound=nn.Module)


def find_package_file(package_dir: str | Path, pattern: str) -> Path:
    """The one file matching ``pattern`` anywhere below an unpacked package.

    Parameters
    ----------
    package_dir : path-like
        Folder the package archive was unpacked into.
    pattern : str
        Glob pattern of the file name, e.g. ``"emotion_model.hdf5"`` or ``"efficientnet-lite0-*.pth"``.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        When no file or several files match; the message names the folder and the matches.
    """
    found = sorted(Path(package_dir).rglob(pattern))
    if len(found) != 1:
        raise ValueError(f"Expected one {pattern} in {str(package_dir)!r}, found {found}")
    return found[0]


def check_state_dict_keys(state: Mapping, expected: Iterable[str], network: str) -> None:
    """Raise ``ValueError`` unless ``state`` has exactly the keys ``expected``.

    Parameters
    ----------
    state : mapping of str to Tensor
        A converted state dict.
    expected : iterable of str
        The keys of the target model's ``state_dict()``.
    network : str
        Name used in the message, e.g. ``"EfficientNet-Lite0"``.

    Raises
    ------
    ValueError
        Naming up to ten missing and ten unused keys.
    """
    expected, keys = set(expected), set(state)
    if keys != expected:
        raise ValueError(f"{network} weights lack {sorted(expected - keys)[:10]} "
                         f"and have unused {sorted(keys - expected)[:10]}")


def load_pretrained(model: ModelT, weights: str | Mapping, *, prefix: str | None = None) -> ModelT:
    """Load ``weights`` strictly into ``model`` and return it in eval mode.

    Parameters
    ----------
    model : nn.Module
        A zoo model built with random weights.
    weights : str or mapping of str to Tensor
        Name of a registered :class:`~core.weights.WeightSource` (its converted state dict is
        fetched and cached on first use, see :func:`core.weights.fetch_weights`), or a state dict
        obtained by other means.
    prefix : str, optional
        Keep only the keys that start with it, with it removed (``"identity."`` picks one net
        out of a state dict that holds several).

    Returns
    -------
    nn.Module
        ``model`` itself, loaded and in eval mode.

    Raises
    ------
    RuntimeError
        From ``load_state_dict(strict=True)`` when a key is missing or unexpected.
    """
    state = load_state_dict(fetch_weights(weights)) if isinstance(weights, str) else weights
    if prefix is not None:
        state = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    model.load_state_dict(state, strict=True)
    return model.eval()
