"""Workflow results (frozen dataclasses) in the one result store, ``core.store``: ``<prefix>.npz`` + ``<prefix>.json``.

A result's fields are written by kind: an ndarray under its field name in the ``.npz``; a dict of ndarrays
under ``"<field>:<key>"``; anything else (numbers, strings, lists, dicts of those) into the ``.json``, which
``core.store`` writes last, atomically, so its presence marks a complete result. Reading checks the class the
json names and turns lists back into tuples for fields annotated ``tuple``.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import numpy as np

from core import store
from core.errors import UserError

__all__ = ["is_stored", "load_result", "save_result"]

#: One read at a time: np.load's header parsing (ast) is not thread-safe in CPython 3.11 (web callbacks run in
#: threads; two at once raised "AST constructor recursion depth mismatch").
READ_LOCK = threading.Lock()


def is_stored(prefix: str | os.PathLike) -> bool:
    """Whether a complete result is stored at ``prefix`` (its json, written last, exists)."""
    return store.result_paths(prefix)[1].is_file()


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
    document = {"type": type(result).__name__, "fields": fields, "array_dicts": array_dicts}
    store.save_result(prefix, arrays, document)
    return prefix


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def load_result(prefix: str | os.PathLike, cls):
    """The result stored at ``prefix`` by :func:`save_result`, an instance of ``cls`` (a class or a tuple of
    classes; the json names which). A missing or foreign result is a ``UserError``."""
    classes = cls if isinstance(cls, tuple) else (cls,)
    if not is_stored(prefix):
        raise UserError("No finished result at that location: run it first")
    with READ_LOCK:
        arrays, document = store.load_result(prefix)
    by_name = {c.__name__: c for c in classes}
    if document.get("type") not in by_name:
        raise UserError(f"The stored result is a {document.get('type')}, not a {' or '.join(by_name)}; run it again")
    cls = by_name[document["type"]]
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
