"""Workflow results (frozen dataclasses) in the one result store, ``core.store``: ``<prefix>.npz`` + ``<prefix>.json``.

A result's fields are written by kind: an ndarray under its field name in the ``.npz``; a dict of ndarrays
under ``"<field>:<key>"``; a dataclass of ``core`` (e.g. a ``core.rsa.RDM``) by the same rules under
``"<field>.<its field>"``, its class named in the json; anything else (numbers, strings, lists, dicts of those)
into the ``.json``, which ``core.store`` writes last, atomically, so its presence marks a complete result.
Reading checks the class the json names and turns lists back into tuples for fields annotated ``tuple``.
"""

from __future__ import annotations

import dataclasses
import importlib
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


def _parts(obj, prefix: str = "") -> tuple[dict[str, np.ndarray], dict]:
    """The arrays (keys prefixed by ``prefix``) and the json document of the dataclass instance ``obj``."""
    arrays, fields, array_dicts, objects = {}, {}, {}, {}
    for field in dataclasses.fields(obj):
        value, key = getattr(obj, field.name), prefix + field.name
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            array_dicts[field.name] = [str(k) for k in value]
            arrays.update({f"{key}:{k}": v for k, v in value.items()})
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            nested, objects[field.name] = _parts(value, f"{key}.")
            arrays.update(nested)
        else:
            fields[field.name] = value
    document = {"type": type(obj).__name__, "module": type(obj).__module__, "fields": fields,
                "array_dicts": array_dicts, "objects": objects}
    return arrays, document


def save_result(result, prefix: str | os.PathLike) -> Path:
    """Write the dataclass ``result`` as ``prefix.npz`` then ``prefix.json`` (each atomically); returns ``prefix``."""
    prefix = Path(prefix)
    arrays, document = _parts(result)
    store.save_result(prefix, arrays, document)
    return prefix


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _stored_class(document: dict, field: dataclasses.Field) -> type:
    """The class of a stored dataclass field: the json's module and name, a ``core`` class named as the field's
    annotation (anything else is a stale or foreign result)."""
    module, name = document.get("module", ""), document.get("type", "")
    if module.split(".")[0] == "core" and name == str(field.type).rpartition(".")[2]:
        cls = getattr(importlib.import_module(module), name, None)
        if dataclasses.is_dataclass(cls):
            return cls
    raise UserError(f"The stored result's {field.name!r} is not a {field.type} (written by another version); run it "
                    "again")


def _build(cls, arrays: dict, document: dict, prefix: str = ""):
    """An instance of ``cls`` from the arrays and json document of :func:`_parts`."""
    values = {}
    for field in dataclasses.fields(cls):
        key = prefix + field.name
        if key in arrays:
            values[field.name] = arrays[key]
        elif field.name in document["array_dicts"]:
            values[field.name] = {k: arrays[f"{key}:{k}"] for k in document["array_dicts"][field.name]}
        elif field.name in document.get("objects", {}):
            nested = document["objects"][field.name]
            values[field.name] = _build(_stored_class(nested, field), arrays, nested, f"{key}.")
        elif field.name in document["fields"]:
            value = document["fields"][field.name]
            values[field.name] = _tuples(value) if str(field.type).startswith("tuple") else value
        else:  # an empty dict of arrays is written as a json field; anything else missing is a stale result
            raise UserError(f"The stored result lacks {field.name!r} (written by another version); run it again")
    return cls(**values)


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
    return _build(by_name[document["type"]], arrays, document)
