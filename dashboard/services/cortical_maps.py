"""The Cortical Maps page: every map it offers (declared, computed, uploaded), their units, hovers and exports."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from core import cortex, subject
from core.cortex import CorticalMap
from core.errors import UserError, choices_text
from core.files import atomic_open
from core.workflows.store import READ_LOCK as _experiment_lock
from dashboard.services._files import _check_upload_size, _uploaded_file, _uploads_dir
from dashboard.services.experiment import (
    QUALITY_MAPS,
    _default_subject,
    _require,
    default_experiment_key,
    experiment_result,
    library_choices,
)
from dashboard.services.prediction import _SUBJECT_SPACE, predicted_map, quality_map
from dashboard.services.selectivity import category_choices, selectivity_map
from dashboard.services.surface import cortex_sulc, grayordinate_at, map_surface

__all__ = [
    "EXPORT_FORMATS",
    "MAP_KINDS",
    "MAX_MAP_UPLOAD_BYTES",
    "MAX_UPLOAD_MAPS",
    "category_map",
    "computed_map_choices",
    "computed_map_groups",
    "cortex_map",
    "declared_map",
    "declared_map_choices",
    "export_map",
    "map_kind",
    "save_uploaded_maps",
    "vertex_info",
]


EXPORT_FORMATS = ("gifti", "cifti")


def declared_map_choices() -> list[dict]:
    """Dropdown options of the subject's declared maps, plus sulcal depth."""
    options = [{"label": f"Ground truth: {description}", "value": name}
               for name, (description, _) in subject.DECLARED_MAPS.items()]
    return options + [{"label": "Anatomy: sulcal depth", "value": "sulcal_depth"}]


@functools.cache
def _declared_maps() -> dict[str, CorticalMap]:
    sim = _default_subject()
    maps = subject.declared_maps(sim.spec, sim.roi_vertices, sim.n_vertices, receptive_fields=sim.receptive_fields)
    maps = {name: CorticalMap(values, _SUBJECT_SPACE, name, subject.DECLARED_MAPS[name][1])
            for name, values in maps.items()}
    return maps | {"sulcal_depth": CorticalMap(cortex_sulc(), _SUBJECT_SPACE, "sulcal_depth", "mm")}


def declared_map(name: str) -> CorticalMap:
    """One declared map of the default subject (or sulcal depth, in mm) on fsLR-32k, with its units."""
    maps = _declared_maps()
    if name not in maps:
        raise ValueError(f"Unknown map={name!r}; choose from {sorted(maps)}")
    return maps[name]


def vertex_info(view: str, trace: int, mesh_vertex: int, map_name: str) -> dict:
    """Vertex of the map's space (fsLR-32k grayordinate or fsaverage5 vertex), area and value under a clicked mesh
    vertex.

    Parameters
    ----------
    trace : int
        0 = left hemisphere, 1 = right hemisphere (the figure's trace order).
    mesh_vertex : int
        Vertex index within that hemisphere's mesh.
    """
    if trace not in (0, 1):
        raise ValueError(f"trace must be 0 (left) or 1 (right), got {trace}")
    hemi = ("left", "right")[trace]
    shown = cortex_map(map_name)
    index = grayordinate_at(view, trace, mesh_vertex, space=shown.space)
    if index is None:
        return {"hemisphere": hemi, "grayordinate": None, "area": "medial wall", "value": None}
    names = map_surface(shown.space, view)["vertex_names"]
    area = f"{shown.space} (no Glasser areas)" if names is None else names[index]
    value = float(shown.values[index])
    return {"hemisphere": hemi, "grayordinate": index, "area": area, "value": None if np.isnan(value) else value}


def export_map(name: str, fmt: str) -> tuple[str, bytes]:
    """Any ``cortex_map`` choice as a downloadable file: ``(filename, content)``; GIFTI is a zip of L/R files.

    fsLR-32k maps are written on the 32,492-vertex meshes, fsaverage5 maps on the 10,242-vertex meshes (and
    ``.fsaverage5`` in the file name); each map's metadata holds its ``space`` and ``units``. NaN is written as 0.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown format={fmt!r}; choose from {list(EXPORT_FORMATS)}")
    shown = cortex_map(name)
    values, meta = np.nan_to_num(shown.values, nan=0.0), {"space": shown.space, "units": shown.units}
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.")
    stem = name if shown.space == _SUBJECT_SPACE else f"{name}.{shown.space}"
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "cifti":
            path = cortex.save_cifti_dscalar(values, Path(tmp) / f"{stem}.dscalar.nii", names=[name], meta=meta)
            return path.name, path.read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in cortex.save_gifti(values, Path(tmp) / stem, names=[name], meta=meta):
                zf.write(path, path.name)
        return f"{stem}.gifti.zip", buffer.getvalue()


#: Largest uploaded file and most maps per upload on the Cortical Maps page.
MAX_MAP_UPLOAD_BYTES = 64 * 2**20


MAX_UPLOAD_MAPS = 50


_UPLOAD_CHOICE = re.compile(r"upload:([0-9a-f]{16}):([0-9]+)")


_LEFT_NAME = re.compile(r"(^|[._-])(l|lh|left|hemi-l)[._-]", re.IGNORECASE)


_RIGHT_NAME = re.compile(r"(^|[._-])(r|rh|right|hemi-r)[._-]", re.IGNORECASE)


def category_map(key: str, category: str) -> CorticalMap:
    """Mean predicted map over the library images of one category (fsLR-32k, arbitrary units)."""
    result = _require(key)
    if category not in result.categories:
        raise ValueError(f"Unknown category={category!r}; choose from {list(result.categories)}")
    return CorticalMap(result.category_maps[result.categories.index(category)], _SUBJECT_SPACE, category, "a.u.")


#: Computed-map families of the default experiment: choice prefix → (key, name) → CorticalMap.
_COMPUTED_MAPS = {
    "quality": lambda key, name: CorticalMap(quality_map(key, name, fdr=False), _SUBJECT_SPACE, name,
                                             QUALITY_MAPS[name][1]),
    "dprime": lambda key, name: CorticalMap(selectivity_map(key, name), _SUBJECT_SPACE, name, "d′"),
    "category": category_map,
    "predicted": predicted_map,
}


def computed_map_choices(key: str) -> list[dict]:
    """Dropdown options of every map computed by experiment ``key``; [] before it has run.

    Values are ``"<family>:<name>"`` with the families of ``_COMPUTED_MAPS``: quality maps
    (``QUALITY_MAPS``), d′ per category (``"__max__"`` = maximum over categories), category maps
    and the predicted map of each library image.
    """
    result = experiment_result(key)
    if result is None:
        return []
    options = [{"label": label, "value": f"quality:{name}"} for name, (label, _) in QUALITY_MAPS.items()]
    options += [{"label": f"Selectivity d′: {o['label']}", "value": f"dprime:{o['value']}"}
                for o in category_choices(key)]
    options += [{"label": f"Category map (mean predicted response): {c}", "value": f"category:{c}"}
                for c in result.categories]
    return options + [{"label": f"Predicted response: {o['label']}", "value": f"predicted:{o['value']}"}
                      for o in library_choices(key)]


#: Kinds of maps on the Cortical Maps page: a choice's family (the part before ":", "declared" without one) → label.
MAP_KINDS = {"declared": "Ground truth (simulated subject)", "quality": "Model quality",
             "dprime": "Selectivity d′", "category": "Category maps", "predicted": "Predicted response per image",
             "upload": "Uploaded maps"}


def map_kind(choice: str) -> str:
    """The ``MAP_KINDS`` key of a map choice."""
    family, _, name = choice.partition(":")
    return family if name else "declared"


def computed_map_groups(key: str) -> dict[str, list[dict]]:
    """``computed_map_choices`` of experiment ``key`` by kind ({} before it has run).

    The predicted maps are ordered by category, each category opened by a disabled header option
    (``"── face (500 images) ──"``), and labelled ``"<category> — <image>"`` so that typing a category finds them.
    """
    result = experiment_result(key)
    if result is None:
        return {}
    groups = {kind: [] for kind in ("quality", "dprime", "category")}
    for option in computed_map_choices(key):
        if map_kind(option["value"]) in groups:
            label = option["label"].removeprefix("Selectivity d′: ").removeprefix(
                "Category map (mean predicted response): ")
            groups[map_kind(option["value"])].append({**option, "label": label})
    by_category = {}
    for stimulus_id, label in zip(result.stimulus_ids, result.labels, strict=True):
        by_category.setdefault(label, []).append(stimulus_id)
    groups["predicted"] = [
        option for category, ids in sorted(by_category.items())
        for option in [{"label": f"── {category} ({len(ids)} images) ──", "value": f"__{category}__",
                        "disabled": True},
                       *({"label": f"{category} — {Path(i).name}", "value": f"predicted:{i}"} for i in ids)]]
    return groups


def cortex_map(choice: str) -> CorticalMap:
    """Any map the Cortical Maps page offers, named ``choice``, with its space (fsLR-32k, or fsaverage5 for some
    uploads) and units (the colour-bar title).

    ``choice`` is a declared map name (``declared_map_choices``), a ``computed_map_choices`` value of
    the default experiment or an uploaded map (``save_uploaded_maps``).
    """
    family, _, name = choice.partition(":")
    if not name:
        return declared_map(choice)
    if family == "upload":
        return _uploaded_map(choice)
    if family not in _COMPUTED_MAPS:
        raise ValueError(f"Unknown map={choice!r}; map families are {sorted(_COMPUTED_MAPS) + ['upload']}")
    return dataclasses.replace(_COMPUTED_MAPS[family](default_experiment_key(), name), name=choice)


def _order_gifti_pair(names: list[str]) -> list[int]:
    """Indices of the left then the right file of an uploaded GIFTI pair, from their names."""
    left = [i for i, n in enumerate(names) if _LEFT_NAME.search(n)]
    right = [i for i, n in enumerate(names) if _RIGHT_NAME.search(n)]
    if len(left) != 1 or len(right) != 1 or left == right:
        raise UserError(f"Cannot tell left from right in {choices_text(names, last='and')}: name the files with "
                        ".L./.R., lh/rh or "
                         "hemi-L/hemi-R")
    return [left[0], right[0]]


def save_uploaded_maps(files: list[tuple[str, bytes]]) -> list[dict]:
    """Read an uploaded map file (or a left + right GIFTI pair) and keep it in the cache.

    Files are read by ``core.cortex.load_brain_data`` (CIFTI, GIFTI, npz, mat, NIfTI volumes, which
    are projected onto fsaverage5), so the checks and messages are core's: vertex count, NaN.

    Parameters
    ----------
    files : list of (filename, content)
        One file, or the two hemispheres of a GIFTI map; each at most ``MAX_MAP_UPLOAD_BYTES``.

    Returns
    -------
    list of dict
        Dropdown options, one per map in the file (at most ``MAX_UPLOAD_MAPS``), values
        ``"upload:<content digest>:<map index>"`` for ``cortex_map``.
    """
    if not 1 <= len(files) <= 2:
        raise UserError(f"Upload one map file, or the left and right GIFTI files together; got {len(files)} files")
    names = [Path(name).name for name, _ in files]
    for name, (sent, content) in zip(names, files, strict=True):
        if name in ("", ".", ".."):
            raise UserError(f"Upload file name {sent!r} names no file")
        _check_upload_size(name, len(content), MAX_MAP_UPLOAD_BYTES)
    if len(files) == 1 and names[0].lower().endswith(".gii"):
        raise UserError(f"{names[0]} is one hemisphere: upload the left and right GIFTI files together")
    order = _order_gifti_pair(names) if len(files) == 2 else [0]
    with tempfile.TemporaryDirectory(dir=_uploads_dir()) as tmp:
        paths = []
        for i in order:
            paths.append(Path(tmp) / names[i])
            paths[-1].write_bytes(files[i][1])
        data = cortex.load_brain_data(paths[0], path_right=paths[1] if len(paths) == 2 else None)
    if len(data) > MAX_UPLOAD_MAPS:
        raise UserError(f"{names[order[0]]} holds {len(data)} maps; upload at most {MAX_UPLOAD_MAPS} "
                         "(summary maps, not a time series)")
    space = cortex.space_of_vertices(data.shape[1])
    digest = hashlib.sha256(b"".join(files[i][1] for i in order)).hexdigest()[:16]
    with atomic_open(_uploaded_file(f"{digest}.npz")) as handle:
        np.savez(handle, maps=data, space=np.array(space))
    label = " + ".join(names[i] for i in order) + ("" if space == _SUBJECT_SPACE else f" ({space})")
    return [{"label": label + (f" [map {i + 1} of {len(data)}]" if len(data) > 1 else ""),
             "value": f"upload:{digest}:{i}"} for i in range(len(data))]


def _uploaded_map(choice: str) -> CorticalMap:
    """An uploaded map (``save_uploaded_maps``) in the space it was read in, named ``choice``."""
    match = _UPLOAD_CHOICE.fullmatch(choice)
    if match is None:
        raise ValueError(f"Malformed uploaded map {choice!r}; expected 'upload:<16 hex digits>:<index>'")
    path = _uploaded_file(f"{match[1]}.npz")
    if not path.exists():
        raise UserError("That uploaded map is no longer on the server: upload the file again")
    with _experiment_lock, np.load(path, allow_pickle=False) as stored:  # see core.workflows.store.READ_LOCK
        maps, space = stored["maps"], str(stored["space"])
    index = int(match[2])
    if index >= len(maps):
        raise UserError(f"The upload holds {len(maps)} maps; there is no map {index + 1}")
    return CorticalMap(maps[index], space, choice, "value")
