"""Named arrays of the data files users bring: MATLAB ``.mat`` (v5/v7 through scipy, v7.3 through h5py),
``.npy`` / ``.npz`` and ``.csv`` / ``.tsv`` tables — never unpickled.

:func:`read_variables` lists a file's variables as :class:`DataVariable` (numeric arrays, MATLAB struct arrays
with an ``RDM`` field, and everything else with a description), so a reader such as ``core.rdm_files`` can pick
what it needs and name the rest. v7.3 arrays are returned in MATLAB's axis order. Problems raise
:class:`core.errors.UserError` naming the file (never its folder).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError, choices_text

__all__ = ["DataVariable", "check_data_file", "describe_value", "file_label", "pick_variables", "read_variables",
           "unreadable_file"]

_NUMERIC_KINDS = "fiub"


@dataclass(frozen=True)
class DataVariable:
    """One variable of a file.

    Attributes
    ----------
    name : str
    array : ndarray or None
        A numeric array (MATLAB's axis order).
    elements : tuple of (ndarray, str or None)
        For a MATLAB struct array with an ``RDM`` field: each element's ``RDM`` and ``name`` (column-major order).
    description : str
        What the variable is, for messages (``"numeric 4×7"``, ``"cell/object 1×2"``).
    labels : tuple of str or None
        Column names of a table.
    """

    name: str
    array: np.ndarray | None = None
    elements: tuple = ()
    description: str = ""
    labels: tuple | None = None


def file_label(path: Path, variable: str | None) -> str:
    """How messages name a file (and variable): its name only, never its folder."""
    return f"{path.name}:{variable}" if variable else path.name


def unreadable_file(path: Path, kind: str) -> UserError:
    """The file does not read (the reader's own message is left out: it may name server folders)."""
    return UserError(f"{path.name} could not be read as {kind}; the file may be damaged or of another type")


def check_data_file(path: Path, suffixes: Sequence[str]) -> None:
    """Raise a UserError unless ``path`` is a non-empty file with one of ``suffixes``."""
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{path.name}: file type {path.suffix or '(none)'} is not read; use "
                        f"{choices_text(suffixes)}")
    if not path.is_file():
        raise UserError(f"{path.name} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise UserError(f"{path.name} is empty (0 bytes)")


def describe_value(value) -> str:
    """``"double 3×4"``-style description of a value found in a file."""
    if isinstance(value, np.ndarray):
        if value.dtype.names:
            return f"struct {'×'.join(map(str, value.shape))} (fields {', '.join(value.dtype.names)})"
        kind = {"f": "numeric", "i": "integer", "u": "integer", "b": "logical", "U": "text", "S": "text",
                "O": "cell/object"}.get(value.dtype.kind, str(value.dtype))
        return f"{kind} {'×'.join(map(str, value.shape)) or 'scalar'}"
    return type(value).__name__


def _mat_string(value) -> str | None:
    """A MATLAB char value loaded by scipy (array of str, possibly nested in object arrays) as str."""
    while isinstance(value, np.ndarray) and value.dtype.kind == "O" and value.size == 1:
        value = value.item()
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, np.ndarray) and value.dtype.kind in "US":
        text = "".join(str(x) for x in value.ravel()).strip()
        return text or None
    return None


def _mat_v5_variables(path: Path) -> list[DataVariable]:
    import scipy.io

    try:
        contents = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True)
    except (ValueError, TypeError, OSError, EOFError, NotImplementedError, KeyError, IndexError) as exc:
        raise unreadable_file(path, "a MATLAB file") from exc
    out = []
    for name, value in contents.items():
        if name.startswith("__"):
            continue
        if isinstance(value, np.ndarray) and value.dtype.names and "RDM" in value.dtype.names:
            has_name = "name" in value.dtype.names
            elements = tuple((np.asarray(element["RDM"]), _mat_string(element["name"]) if has_name else None)
                             for element in value.ravel(order="F"))
            out.append(DataVariable(name, elements=elements, description=describe_value(value)))
        elif isinstance(value, np.ndarray) and value.dtype.kind in _NUMERIC_KINDS:
            out.append(DataVariable(name, array=value, description=describe_value(value)))
        else:
            out.append(DataVariable(name, description=describe_value(value)))
    return out


def _h5_matlab_class(obj) -> str:
    value = obj.attrs.get("MATLAB_class", b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_value(file, obj):
    """A MATLAB v7.3 dataset as a numpy array in MATLAB's axis order, or a str for char arrays."""
    import h5py

    if not isinstance(obj, h5py.Dataset):
        return None
    if obj.attrs.get("MATLAB_empty", 0):
        return np.zeros((0,))
    cls = _h5_matlab_class(obj)
    data = obj[()]
    if cls == "char":
        return "".join(chr(c) for c in np.asarray(data).T.ravel()).strip() or None
    if h5py.check_dtype(ref=obj.dtype) is not None or data.dtype.kind not in _NUMERIC_KINDS:
        return None
    return np.asarray(data).T


def _h5_field(file, group, field: str, n: int) -> list:
    """Values of one field of a v7.3 struct (array) group, one per element (``n`` elements)."""
    import h5py

    if field not in group:
        return [None] * n
    obj = group[field]
    if isinstance(obj, h5py.Dataset) and h5py.check_dtype(ref=obj.dtype) is not None:
        refs = np.asarray(obj[()]).T.ravel(order="F")
        return [_h5_value(file, file[ref]) for ref in refs]
    return [_h5_value(file, obj)]


def _mat_v73_variables(path: Path) -> list[DataVariable]:
    import h5py

    out = []
    try:
        with h5py.File(path, "r") as file:
            for name, obj in file.items():
                if name.startswith("#"):
                    continue
                cls = _h5_matlab_class(obj)
                if isinstance(obj, h5py.Group) and cls == "struct" and "RDM" in obj:
                    rdm_obj = obj["RDM"]
                    n = rdm_obj.size if h5py.check_dtype(ref=rdm_obj.dtype) is not None else 1
                    rdms, names = _h5_field(file, obj, "RDM", n), _h5_field(file, obj, "name", n)
                    elements = tuple((r, nm if isinstance(nm, str) else None) for r, nm in zip(rdms, names,
                                                                                              strict=True)
                                     if isinstance(r, np.ndarray))
                    out.append(DataVariable(name, elements=elements, description=f"struct ({n} elements)"))
                    continue
                value = _h5_value(file, obj)
                if isinstance(value, np.ndarray) and value.size:
                    out.append(DataVariable(name, array=value, description=describe_value(value)))
                else:
                    out.append(DataVariable(name, description=cls or type(obj).__name__))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise unreadable_file(path, "a MATLAB v7.3 (HDF5) file") from exc
    return out


def _mat_variables(path: Path) -> list[DataVariable]:
    import scipy.io.matlab

    try:
        major, _ = scipy.io.matlab.matfile_version(path)
    except (ValueError, OSError, EOFError) as exc:
        raise unreadable_file(path, "a MATLAB file") from exc
    return _mat_v73_variables(path) if major == 2 else _mat_v5_variables(path)


_PICKLE_HELP = ("it holds pickled Python objects, which are never loaded (they can run code); save plain numeric "
                "arrays, e.g. np.save(path, array, allow_pickle=False)")


def _numpy_variables(path: Path) -> list[DataVariable]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UserError(f"{path.name}: {_PICKLE_HELP}") from exc
        raise unreadable_file(path, "a numpy file") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise unreadable_file(path, "a numpy file") from exc
    if isinstance(loaded, np.ndarray):
        return [_numpy_variable(path, path.stem, loaded)]
    out = []
    with loaded:
        for key in loaded.files:
            try:
                array = loaded[key]
            except ValueError as exc:
                if "pickle" in str(exc).lower():
                    raise UserError(f"{path.name}:{key}: {_PICKLE_HELP}") from exc
                raise unreadable_file(path, "a numpy .npz file") from exc
            out.append(_numpy_variable(path, key, array))
    return out


def _numpy_variable(path: Path, name: str, array: np.ndarray) -> DataVariable:
    if array.dtype.kind == "O":
        raise UserError(f"{file_label(path, name)}: {_PICKLE_HELP}")
    if array.dtype.kind in _NUMERIC_KINDS:
        return DataVariable(name, array=array, description=describe_value(array))
    return DataVariable(name, description=describe_value(array))


def _parse_number(cell: str) -> float | None:
    text = cell.strip()
    if text.lower() in ("", "nan", "na", "n/a"):
        return float("nan")
    try:
        return float(text)
    except ValueError:
        return None


def _read_table(path: Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """A delimited numeric table: ``(values (n_rows, n_columns), column names or None)``; a first column of
    names is dropped (and must repeat the header's names when both are given)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable_file(path, "a text table") from exc
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in row)]
    if not rows:
        raise UserError(f"{path.name} is empty (no rows)")
    header = None
    if any(_parse_number(c) is None for c in rows[0][1:]) or (_parse_number(rows[0][0]) is None
                                                             and len(rows) > 1 and len(rows[0]) == len(rows[1])):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise UserError(f"{path.name} has a header but no rows of numbers")
    row_names = None
    if all(_parse_number(row[0]) is None for row in rows):
        row_names = tuple(row[0].strip() for row in rows)
        rows = [row[1:] for row in rows]
        if header is not None and len(header) == len(rows[0]) + 1:
            header = header[1:]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise UserError(f"{path.name}: rows have different numbers of values ({sorted(widths)})")
    values = np.empty((len(rows), widths.pop()))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            number = _parse_number(cell)
            if number is None:
                raise UserError(f"{path.name}: row {i + 1}, column {j + 1} holds {cell.strip()[:40]!r}, not a number")
            values[i, j] = number
    if header is not None and len(header) != values.shape[1]:
        raise UserError(f"{path.name}: the header names {len(header)} columns but the rows hold {values.shape[1]}")
    if header is not None and row_names is not None and tuple(header) != row_names:
        raise UserError(f"{path.name}: the row names differ from the column names; give them in the same order")
    names = tuple(header) if header is not None else row_names
    return values, names


def read_variables(path: Path) -> list[DataVariable]:
    """The variables of a ``.mat``, ``.npy``/``.npz`` or ``.csv``/``.tsv`` file, in file order (a table is one
    variable named by the file stem, with its condition names in ``labels``)."""
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _mat_variables(path)
    if suffix in (".npy", ".npz"):
        return _numpy_variables(path)
    values, names = _read_table(path)
    return [DataVariable(path.stem, array=values, description=describe_value(values), labels=names)]


def pick_variables(variables: list[DataVariable], path: Path, variable: str | None) -> list[DataVariable]:
    """``variables``, or the one named ``variable`` (a UserError listing the names when absent)."""
    if variable is None:
        return variables
    chosen = [v for v in variables if v.name == variable]
    if not chosen:
        raise UserError(f"{path.name} has no variable {variable!r}; it holds "
                        f"{choices_text([v.name for v in variables], last='and') or 'nothing'}")
    return chosen
