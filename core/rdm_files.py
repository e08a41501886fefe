"""Brain RDMs and brain patterns from the files in which they are shared.

Formats (by suffix; ``FILE.mat:VAR`` or ``FILE.npz:KEY`` reads one variable):

- ``.mat`` (MATLAB v5/v7 through scipy, v7.3 through h5py): numeric arrays — an ``n × n`` matrix, a stack
  (``n × n × k`` as MATLAB stores it, or ``k × n × n``), condensed vectors of ``n(n−1)/2`` values (a row or
  column vector, or one RDM per row) — and struct arrays with an ``RDM`` field and an optional ``name`` (the RSA
  toolbox's convention, ``RDMs(i).RDM`` / ``RDMs(i).name``). Every RDM-like variable is read unless one is
  named.
- ``.npy`` / ``.npz``: the same numeric layouts; never unpickled (object arrays are refused). An ``.npz``
  written by ``core.rsa.save_rdm`` keeps its measure and labels.
- ``.csv`` / ``.tsv``: one square matrix, with an optional header row (and optional first column) of
  condition names.
- ``.h5`` / ``.hdf5``: rsatoolbox's ``RDMs.save`` layout (``core.rsa.load_rdm``).

Condensed vectors are in scipy's ``squareform`` order, which is also MATLAB's (``squareform`` and the RSA
toolbox's ``vectorizeRDM``). A stack holds several subjects' (or sessions') RDMs of one region; struct
elements that share a ``name`` are stacked the same way, so a region with two or more RDMs gets a noise
ceiling. Brain *patterns* (``n_stimuli × n_channels``, optionally ``× n_repeats``; one variable per
region) become RDMs through :func:`read_patterns` with a metric of ``core.rsa.RDM_METRICS``.

Every problem raises :class:`core.errors.UserError` naming the file (by its name, never its folder) and the
variable: unreadable or empty files, pickled content, no RDM-like variable (the message lists what the file
holds), a shape that is not square, an asymmetric matrix, missing values, a non-zero diagonal, negative
dissimilarities for a measure that cannot produce them, and a number of conditions other than the number of
stimuli. When the file names its conditions and the names are the stimuli's (ids or file stems), the RDM is
reordered to the stimulus order; conditions without such names are taken in stimulus order. The files'
variables are read by ``core.data_files``; this module decides which are RDMs and checks them.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from core.data_files import (
    DataVariable,
    check_data_file,
    file_label,
    pick_variables,
    read_variables,
    unreadable_file,
)
from core.errors import UserError, choices_text
from core.rsa import RDM, RDM_METRICS, compute_rdm, load_rdm

__all__ = [
    "PATTERN_SUFFIXES",
    "RDM_SUFFIXES",
    "SIGNED_MEASURES",
    "UNKNOWN_MEASURE",
    "load_brain_rdms",
    "read_patterns",
    "read_rdms",
    "split_file_spec",
]

#: Suffixes :func:`read_rdms` reads.
RDM_SUFFIXES = (".csv", ".h5", ".hdf5", ".mat", ".npy", ".npz", ".tsv")
#: Suffixes :func:`read_patterns` reads.
PATTERN_SUFFIXES = (".csv", ".mat", ".npy", ".npz", ".tsv")
#: Dissimilarity measures that can be negative (cross-validated distances); others must be >= 0.
SIGNED_MEASURES = ("crossnobis", "cross-validated", "crossvalidated", "cv-euclidean", "unbiased")
#: Measure given to RDMs read from files that do not name theirs.
UNKNOWN_MEASURE = "unknown"
#: Relative tolerance of the symmetry and zero-diagonal checks.
TOLERANCE = 1e-8
#: Fewest conditions an RDM may have (a rank correlation of fewer pairs means little).
MIN_CONDITIONS = 3


# ----------------------------------------------------------------------------------------- file spec


def split_file_spec(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """``"FILE.mat:VAR"`` → ``(Path("FILE.mat"), "VAR")``; a plain path → ``(path, None)``.

    The variable part is recognised only after a known suffix (:data:`RDM_SUFFIXES`), so paths that contain
    a colon elsewhere stay whole.
    """
    text = os.fspath(spec)
    head, colon, tail = text.rpartition(":")
    if colon and tail and Path(head).suffix.lower() in RDM_SUFFIXES and not Path(text).exists():
        return Path(head), tail
    return Path(text), None


# ----------------------------------------------------------------------------------------- RDM checks


def _triangular_n(n_values: int) -> int:
    """n with n(n−1)/2 == n_values, or -1."""
    n = int(round((1 + np.sqrt(1 + 8 * n_values)) / 2))
    return n if n >= 2 and n * (n - 1) // 2 == n_values else -1


def _symmetric_stack(stack: np.ndarray) -> bool:
    diff = np.abs(stack - stack.transpose(0, 2, 1))
    finite = np.isfinite(diff)
    scale = max(1.0, float(np.nanmax(np.abs(stack))) if np.isfinite(stack).any() else 1.0)
    return bool((diff[finite] <= TOLERANCE * scale).all())


def _as_square_stack(array: np.ndarray, label: str, *, strict: bool, matlab: bool) -> np.ndarray | None:
    """``(k, n, n)`` float64 matrices or ``(k, n_pairs)`` condensed rows from an RDM-like array; ``None`` (or
    a UserError when ``strict``) when the shape cannot hold RDMs."""
    a = np.asarray(array, dtype=np.float64)
    shape = "×".join(map(str, a.shape))
    if a.ndim == 2 and 1 in a.shape:  # MATLAB's row or column vector
        a = a.ravel()
    elif a.ndim == 3 and a.shape[2] == 1:  # MATLAB's n × n × 1
        a = a[:, :, 0]
    elif a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 1:
        if _triangular_n(a.size) >= MIN_CONDITIONS:
            return a[None]
    elif a.ndim == 2:
        if a.shape[0] == a.shape[1]:
            return a[None]
        if _triangular_n(a.shape[1]) >= MIN_CONDITIONS:
            return a
    elif a.ndim == 3:
        last = a.shape[0] == a.shape[1]  # MATLAB's n × n × k
        first = a.shape[1] == a.shape[2]  # numpy's k × n × n
        if last and first:  # n × n × n: the layout whose slices are symmetric (MATLAB's when both are)
            as_last = _symmetric_stack(a.transpose(2, 0, 1))
            last = as_last or (matlab and not _symmetric_stack(a))
            first = not last
        if last:
            return a.transpose(2, 0, 1)
        if first:
            return a
    if strict:
        raise UserError(
            f"{label} has shape {shape}; an RDM must be square (n × n), a stack of square matrices (n × n × k or "
            f"k × n × n) or condensed (n(n−1)/2 values per RDM, n ≥ {MIN_CONDITIONS})")
    return None


def _pair_text(i: int, j: int, labels: Sequence | None) -> str:
    if labels is not None:
        return f"conditions {labels[i]!r} and {labels[j]!r}"
    return f"conditions {i + 1} and {j + 1}"


def _rdm_from_stack(stack: np.ndarray, label: str, *, measure: str, labels: Sequence | None) -> np.ndarray:
    """Checked condensed vectors (k, n_pairs) from ``(k, n, n)`` matrices or ``(k, n_pairs)`` rows."""
    if stack.ndim == 3:
        k, n, _ = stack.shape
        if n < MIN_CONDITIONS:
            raise UserError(f"{label} is {n} × {n}; an RDM needs at least {MIN_CONDITIONS} conditions")
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        missing = ~np.isfinite(stack) & (upper | upper.T)
        if missing.any():
            s, i, j = np.argwhere(missing)[0]
            raise UserError(f"{label} has {int((missing & upper).sum() or missing.sum())} missing or infinite "
                            f"dissimilarities (NaN or Inf; the first between {_pair_text(i, j, labels)}"
                            f"{f' of RDM {s + 1}' if k > 1 else ''}); fill them in or leave those conditions out")
        stack = stack.copy()
        diagonal = stack[:, np.arange(n), np.arange(n)]
        stack[:, np.arange(n), np.arange(n)] = np.where(np.isnan(diagonal), 0.0, diagonal)  # NaN diagonal: unused
        scale = max(1.0, float(np.abs(stack[:, upper]).max()))
        asym = np.abs(stack - stack.transpose(0, 2, 1))
        if asym.max() > TOLERANCE * scale:
            s, i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
            raise UserError(f"{label} is not symmetric: the dissimilarity of {_pair_text(i, j, labels)} is "
                            f"{stack[s, i, j]:.4g} one way and {stack[s, j, i]:.4g} the other"
                            f"{f' (RDM {s + 1})' if k > 1 else ''}; an RDM gives each pair one dissimilarity")
        diagonal = stack[:, np.arange(n), np.arange(n)]
        if np.abs(diagonal).max() > TOLERANCE * scale:
            s, i = np.unravel_index(int(np.argmax(np.abs(diagonal))), diagonal.shape)
            hint = ("; ones on the diagonal suggest a similarity (correlation) matrix: give dissimilarities, e.g. "
                    "1 − r" if np.allclose(diagonal, 1.0) else "; an RDM has zeros on its diagonal")
            raise UserError(f"{label}: the diagonal is not zero ({diagonal[s, i]:.4g} for condition "
                            f"{labels[i] if labels is not None else i + 1}){hint}")
        iu, ju = np.triu_indices(n, 1)
        vectors = stack[:, iu, ju]
    else:
        vectors = stack
        if not np.isfinite(vectors).all():
            bad = int((~np.isfinite(vectors)).sum())
            raise UserError(f"{label} has {bad} missing or infinite dissimilarities (NaN or Inf); fill them in or "
                            "leave those conditions out")
    if measure.lower() not in SIGNED_MEASURES and vectors.min() < 0:
        n = _triangular_n(vectors.shape[1])
        s, q = np.unravel_index(int(np.argmin(vectors)), vectors.shape)
        iu, ju = np.triu_indices(n, 1)
        raise UserError(f"{label} has negative dissimilarities (down to {vectors[s, q]:.4g}, between "
                        f"{_pair_text(iu[q], ju[q], labels)}), which the measure {measure!r} cannot produce; if they "
                        f"come from a cross-validated distance, declare the measure as one of "
                        f"{choices_text(SIGNED_MEASURES)}")
    return vectors


# ----------------------------------------------------------------------------------------- labels


def _stem(name: str) -> str:
    return PurePosixPath(str(name)).stem


def _ordered(vectors: np.ndarray, file_labels: Sequence | None, pattern_labels: Sequence | None, label: str,
             measure: str, descriptors: dict) -> RDM:
    """An :class:`RDM` over ``pattern_labels`` (reordered by the file's condition names where they name the
    stimuli), checking the number of conditions."""
    n = _triangular_n(vectors.shape[1])
    if pattern_labels is None:
        labels = tuple(file_labels) if file_labels is not None and len(set(file_labels)) == n else tuple(range(n))
        return RDM(vectors, measure, labels, descriptors)
    pattern_labels = tuple(pattern_labels)
    if n != len(pattern_labels):
        raise UserError(f"{label} is over {n} conditions but {len(pattern_labels)} stimuli were given; the RDM needs "
                        "one row and column per stimulus, in the stimulus order")
    if file_labels is None:
        return RDM(vectors, measure, pattern_labels, descriptors)
    file_labels = tuple(str(x) for x in file_labels)
    for key in (str, _stem):
        by_key = {key(p): p for p in pattern_labels}
        if len(by_key) == n and set(file_labels) == set(by_key):
            rdm = RDM(vectors, measure, tuple(by_key[x] for x in file_labels), descriptors)
            return rdm.subset(pattern_labels)
    known = {str(p) for p in pattern_labels} | {_stem(p) for p in pattern_labels}
    overlap = [x for x in file_labels if x in known]
    if overlap:
        unknown = [x for x in file_labels if x not in known]
        raise UserError(f"{label} names conditions that are not among the stimuli ({choices_text(unknown[:5])}"
                        f"{' …' if len(unknown) > 5 else ''}); name every stimulus once, or none")
    return RDM(vectors, measure, pattern_labels, descriptors)


# ----------------------------------------------------------------------------------------- public readers


def _no_rdm_error(path: Path, variables: list[DataVariable], what: str) -> UserError:
    listing = "; ".join(f"{v.name} ({v.description})" for v in variables) or "no variables"
    return UserError(f"{path.name} has no {what}; it holds: {listing}")


def _is_saved_rdm(path: Path) -> bool:
    if path.suffix.lower() != ".npz":
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return {"dissimilarities", "dissimilarity_measure", "pattern_labels"} <= set(z.files)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        return False


def _read_saved(path: Path, pattern_labels: Sequence | None, measure: str | None) -> dict[str, RDM]:
    """An RDM written by ``core.rsa.save_rdm`` (``.npz``) or rsatoolbox (``.h5``): its measure and labels kept."""
    try:
        rdm = load_rdm(path)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise unreadable_file(path, "an rsatoolbox RDM file (RDMs.save) or core.rsa.save_rdm file") from exc
    measure = measure or rdm.measure or UNKNOWN_MEASURE
    vectors = _rdm_from_stack(rdm.dissimilarities, path.name, measure=measure, labels=rdm.pattern_labels)
    labels = [str(x) for x in rdm.pattern_labels]
    generic = [str(i) for i in range(rdm.n_conditions)]
    file_labels = None if labels in (generic, [str(i + 1) for i in range(rdm.n_conditions)]) else labels
    descriptors = {**rdm.descriptors, "source": path.name}
    return {path.stem: _ordered(vectors, file_labels, pattern_labels, path.name, measure, descriptors)}


def read_rdms(spec: str | os.PathLike, *, pattern_labels: Sequence | None = None,
              measure: str | None = None) -> dict[str, RDM]:
    """The RDMs of one file, by name.

    Parameters
    ----------
    spec : str or path-like
        ``FILE`` (every RDM-like variable) or ``FILE.mat:VAR`` / ``FILE.npz:KEY`` (that one). Suffixes:
        :data:`RDM_SUFFIXES`.
    pattern_labels : sequence of length n_stimuli, optional
        The stimuli in their order (e.g. ``StimulusSet.ids``): every RDM must be over that many conditions;
        an RDM whose file names its conditions by these ids (or their file stems) is reordered to them.
    measure : str, optional
        The dissimilarity measure, when the file does not say (default :data:`UNKNOWN_MEASURE`). Negative
        dissimilarities are refused unless it is one of :data:`SIGNED_MEASURES`.

    Returns
    -------
    dict of str to RDM
        One entry per region, in file order: a struct element's ``name`` (elements sharing a name are
        stacked), else the variable's name, or the file stem when the file holds one RDM-like variable. A
        stack (``n × n × k``) is one region with k RDMs (subjects). Descriptors: ``source`` (file name),
        ``variable``.

    Raises
    ------
    UserError
        With a message naming the file, the variable and the problem.
    """
    path, variable = split_file_spec(spec)
    check_data_file(path, RDM_SUFFIXES)
    if path.suffix.lower() in (".h5", ".hdf5") or _is_saved_rdm(path):
        if variable is not None:
            raise UserError(f"{path.name} holds one set of RDMs; name no variable after ':'")
        return _read_saved(path, pattern_labels, measure)
    measure = measure or UNKNOWN_MEASURE
    matlab = path.suffix.lower() == ".mat"
    variables = pick_variables(read_variables(path), path, variable)
    numeric = [v for v in variables if v.array is not None and v.array.size > 1]  # MATLAB scalars are 1 × 1
    strict = variable is not None or (len(numeric) == 1 and not any(v.elements for v in variables))
    found: list[tuple[str, np.ndarray, DataVariable]] = []  # (region name, condensed vectors, variable)
    for var in variables:
        where = file_label(path, var.name if path.suffix.lower() in (".mat", ".npz") else None)
        if var.elements:
            for index, (array, name) in enumerate(var.elements, start=1):
                element = f"{where}({index})" + (f" '{name}'" if name else "")
                stack = _as_square_stack(array, element, strict=True, matlab=matlab)
                found.append((name or f"{var.name}({index})",
                              _rdm_from_stack(stack, element, measure=measure, labels=None), var))
        elif var in numeric:
            stack = _as_square_stack(var.array, where, strict=strict, matlab=matlab)
            if stack is not None and (strict or _plausible(stack, pattern_labels, variables, matlab)):
                found.append((var.name, _rdm_from_stack(stack, where, measure=measure, labels=var.labels), var))
    if not found:
        raise _no_rdm_error(path, variables, "RDM-like variable (a square symmetric matrix, a stack of them, "
                                             "condensed vectors or a struct array with an RDM field)")
    if variable is None and len(found) == 1 and not found[0][2].elements:  # one RDM variable: the file names it
        found = [(path.stem, found[0][1], found[0][2])]
    grouped: dict[str, list] = {}
    for name, vectors, var in found:
        grouped.setdefault(name, []).append((vectors, var))
    out = {}
    for name, parts in grouped.items():
        sizes = {vectors.shape[1] for vectors, _ in parts}
        if len(sizes) > 1:
            raise UserError(f"{path.name}: the RDMs named {name!r} have different sizes "
                            f"({choices_text(sorted(_triangular_n(s) for s in sizes))} conditions)")
        var = parts[0][1]
        descriptors = {"source": path.name, "variable": var.name, "region": name}
        out[name] = _ordered(np.concatenate([vectors for vectors, _ in parts]), var.labels, pattern_labels,
                             file_label(path, var.name if path.suffix.lower() in (".mat", ".npz") else None),
                             measure, descriptors)
    return out


def _plausible(stack: np.ndarray, pattern_labels: Sequence | None, variables: list[DataVariable],
               matlab: bool) -> bool:
    """Whether a variable met while scanning a file is one of its RDMs: over as many conditions as there are
    stimuli, or (stimuli unknown) a square matrix, or condensed over as many conditions as the file's square
    matrices."""
    n = stack.shape[1] if stack.ndim == 3 else _triangular_n(stack.shape[1])
    if pattern_labels is not None:
        return n == len(pattern_labels)
    if stack.ndim == 3:
        return True
    arrays = [v.array for v in variables if v.array is not None and v.array.size > 1]
    arrays += [array for v in variables for array, _ in v.elements]
    square = {s.shape[1] for a in arrays for s in [_as_square_stack(a, "", strict=False, matlab=matlab)]
              if s is not None and s.ndim == 3}
    return not square or n in square


def _pattern_stack(array: np.ndarray, label: str, metric: str) -> np.ndarray:
    """Patterns as compute_rdm takes them: (n, channels), or (n_repeats, n, channels) for crossnobis."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3):
        raise UserError(f"{label} has shape {'×'.join(map(str, a.shape))}; patterns must be n_stimuli × n_channels, "
                        "or n_stimuli × n_channels × n_repeats")
    if not np.isfinite(a).all():
        raise UserError(f"{label} has {int((~np.isfinite(a)).sum())} missing or infinite values (NaN or Inf); fill "
                        "them in or leave those channels out")
    if RDM_METRICS[metric].ndim == 3:
        if a.ndim != 3 or a.shape[2] < 2:
            raise UserError(f"{label}: the metric {metric!r} needs at least 2 repeats (n_stimuli × n_channels × "
                            f"n_repeats), got shape {'×'.join(map(str, a.shape))}")
        return a.transpose(2, 0, 1)
    return a.mean(axis=2) if a.ndim == 3 else a


def read_patterns(spec: str | os.PathLike, *, metric: str = "correlation",
                  pattern_labels: Sequence | None = None) -> dict[str, RDM]:
    """RDMs of the brain patterns in one file, one per region (variable).

    Parameters
    ----------
    spec : str or path-like
        ``FILE`` or ``FILE.mat:VAR``; suffixes :data:`PATTERN_SUFFIXES`. Each numeric variable is one region's
        patterns, ndarray of shape (n_stimuli, n_channels) or (n_stimuli, n_channels, n_repeats).
    metric : str
        A key of ``core.rsa.RDM_METRICS``: ``"correlation"``, ``"cosine"``, ``"euclidean"`` (repeats are
        averaged first) or ``"crossnobis"`` (cross-validated over the repeats, ≥ 2; may be negative).
    pattern_labels : sequence of length n_stimuli, optional
        The stimuli: each variable needs one row per stimulus, in this order.

    Returns
    -------
    dict of str to RDM
        Region (variable name, or the file stem for a file of one variable) → its RDM.
    """
    if metric not in RDM_METRICS:
        raise UserError(f"Unknown metric {metric!r}; choose from {choices_text(sorted(RDM_METRICS))}")
    path, variable = split_file_spec(spec)
    check_data_file(path, PATTERN_SUFFIXES)
    variables = pick_variables(read_variables(path), path, variable)
    numeric = [v for v in variables if v.array is not None and v.array.ndim >= 2 and min(v.array.shape[:2]) > 1]
    if not numeric:
        raise _no_rdm_error(path, variables, "pattern array (n_stimuli × n_channels[ × n_repeats])")
    out = {}
    for var in numeric:
        label = file_label(path, var.name if path.suffix.lower() in (".mat", ".npz") else None)
        patterns = _pattern_stack(var.array, label, metric)
        n = patterns.shape[-2]
        if pattern_labels is not None and n != len(pattern_labels):
            raise UserError(f"{label} has {n} rows (stimuli) but {len(pattern_labels)} stimuli were given; give one "
                            "row per stimulus, in the stimulus order")
        if n < MIN_CONDITIONS:
            raise UserError(f"{label} has {n} rows; an RDM needs at least {MIN_CONDITIONS} stimuli")
        name = path.stem if variable is None and len(numeric) == 1 else var.name
        try:
            out[name] = compute_rdm(patterns, metric=metric, pattern_labels=pattern_labels,
                                    descriptors={"source": path.name, "variable": var.name, "region": name})
        except UserError:
            raise
        except ValueError as exc:
            raise UserError(f"{label}: {exc}") from exc
    return out


def load_brain_rdms(specs: Iterable[str | os.PathLike], *, pattern_labels: Sequence | None = None,
                    measure: str | None = None, patterns: bool = False,
                    metric: str = "correlation") -> dict[str, RDM]:
    """The brain RDMs of several files, by region name (names repeated across files get the file stem).

    Parameters
    ----------
    specs : iterable of str or path-like
        ``FILE`` or ``FILE:VAR`` each (:func:`read_rdms`, or :func:`read_patterns` when ``patterns``).
    pattern_labels : sequence, optional
        The stimuli in order (see :func:`read_rdms`).
    measure : str, optional
        See :func:`read_rdms`.
    patterns : bool
        The files hold patterns, turned into RDMs with ``metric``.
    metric : str

    Returns
    -------
    dict of str to RDM
    """
    out: dict[str, RDM] = {}
    specs = list(specs)
    if not specs:
        raise UserError("No brain RDM file was given")
    for spec in specs:
        path, _ = split_file_spec(spec)
        rdms = (read_patterns(spec, metric=metric, pattern_labels=pattern_labels) if patterns
                else read_rdms(spec, pattern_labels=pattern_labels, measure=measure))
        for name, rdm in rdms.items():
            key = name if name not in out else f"{path.stem}:{name}"
            if key in out:
                raise UserError(f"Two brain RDMs are named {name!r} (one in {path.name}); give them different "
                                "names")
            out[key] = rdm
    sizes = {rdm.n_conditions for rdm in out.values()}
    if len(sizes) > 1:
        raise UserError(f"The brain RDMs are over different numbers of conditions ({choices_text(sorted(sizes))}); "
                        "give RDMs over the same stimuli")
    return out
