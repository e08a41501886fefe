"""One store for every workflow result: ``prefix.npz`` (arrays) then ``prefix.json`` (the rest), no pickle.

A result is a frozen dataclass. Its fields are written by kind: an ndarray under its field name in the
``.npz``; a dict of ndarrays under ``"<field>:<key>"``; anything else (numbers, strings, lists, dicts of
those) into the ``.json``, which is written last, atomically, so its presence marks a complete result.
Reading checks the class the json names and turns lists back into tuples for fields annotated ``tuple``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.files import atomic_open

__all__ = ["is_stored", "load_result", "save_result"]

#: One read at a time: np.load's header parsing (ast) is not thread-safe in CPython 3.11 (web callbacks run in
#: threads; two at once raised "AST constructor recursion depth mismatch").
READ_LOCK = threading.Lock()


def _json_path(prefix) -> Path:
    return Path(prefix).with_suffix(".json")


def is_stored(prefix: str | os.PathLike) -> bool:
    """Whether a complete result is stored at ``prefix`` (its json, written last, exists)."""
    return _json_path(prefix).is_file()


def save_result(result, prefix: str | os.PathLike) -> Path:
    """Write the dataclass ``result`` as ``prefix.npz`` then ``prefix.json`` (each atomically); returns ``prefix``."""
    prefix = Path(prefix)
    arrays, fields, array_dicts = {}, {}, {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, np.ndarray):
            arrays[field.name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            array_dicts[field.name] = [str(key) for key in value]
            arrays.update({f"{field.name}:{key}": v for key, v in value.items()})
        else:
            fields[field.name] = value
    with atomic_open(prefix.with_suffix(".npz")) as handle:
        np.savez(handle, **arrays)
    document = {"type": type(result).__name__, "fields": fields, "array_dicts": array_dicts}
    with atomic_open(_json_path(prefix), "w") as handle:
        json.dump(document, handle)
    return prefix


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def load_result(prefix: str | os.PathLike, cls):
    """The result stored at ``prefix`` by :func:`save_result`, an instance of ``cls`` (a class or a tuple of
    classes; the json names which). A missing or foreign result is a ``UserError``."""
    classes = cls if isinstance(cls, tuple) else (cls,)
    if not is_stored(prefix):
        raise UserError("No finished result at that location: run it first")
    document = json.loads(_json_path(prefix).read_text())
    by_name = {c.__name__: c for c in classes}
    if document.get("type") not in by_name:
        raise UserError(f"The stored result is a {document.get('type')}, not a {' or '.join(by_name)}; run it again")
    cls = by_name[document["type"]]
    with READ_LOCK, np.load(Path(prefix).with_suffix(".npz"), allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in arrays:
            values[field.name] = arrays[field.name]
        elif field.name in document["array_dicts"]:
            values[field.name] = {key: arrays[f"{field.name}:{key}"] for key in document["array_dicts"][field.name]}
        elif field.name in document["fields"]:
            value = document["fields"][field.name]
            values[field.name] = _tuples(value) if str(field.type).startswith("tuple") else value
        else:  # an empty dict of arrays is written as a json field; anything else missing is a stale result
            raise UserError(f"The stored result lacks {field.name!r} (written by another version); run it again")
    return cls(**values)
