"""A small study uploaded as a zip: checked, unpacked into a temporary folder, imported as ``folder`` (copied).

Refused before anything is written: archives over ``max_bytes``; members with absolute paths, ``..``,
backslashes or drive letters (zip slip); symbolic links; more than ``max_members`` members; a declared
unpacked size over ``max_unpacked_bytes`` or a member compressed more than ``max_ratio`` times (zip bombs).
While unpacking, the bytes actually written are counted too, so a member that lies about its size is stopped.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from core.errors import UserError
from core.studies.importers import plan_folder
from core.studies.store import check_study_name, studies_dir, write_study
from core.studies.study import Study

__all__ = ["MAX_ZIP_BYTES", "import_zip", "unpack_zip"]

#: Largest zip upload accepted (bytes).
MAX_ZIP_BYTES = 200 * 2**20
#: Largest unpacked size (bytes), members and ratio.
MAX_UNPACKED_BYTES = 1024 * 2**20
MAX_MEMBERS = 20_000
MAX_RATIO = 200

_BLOCK = 1 << 20


def _safe_member(info: zipfile.ZipInfo, archive_name: str) -> PurePosixPath | None:
    """The member's relative path, None for folders; refuses links and paths leaving the folder."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UserError(f"{archive_name}: {name} is a symbolic link; zip the files themselves")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"{archive_name}: the member name {name!r} is an absolute or Windows path; refused")
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise UserError(f"{archive_name}: the member {name!r} points outside the archive's folder ('..'); refused")
    return None if info.is_dir() else path


def unpack_zip(archive: bytes | str | os.PathLike, folder: Path, *, archive_name: str = "the zip file",
               max_bytes: int = MAX_ZIP_BYTES, max_unpacked_bytes: int = MAX_UNPACKED_BYTES,
               max_members: int = MAX_MEMBERS, max_ratio: int = MAX_RATIO) -> Path:
    """Unpack a zip into ``folder`` (existing, empty) safely; return the study's folder inside it.

    The study folder is ``folder`` itself, or the archive's only top-level folder.

    Raises
    ------
    core.errors.UserError
        Any of the refusals in the module docstring, or a damaged archive.
    """
    size = len(archive) if isinstance(archive, (bytes, bytearray)) else Path(archive).stat().st_size
    if size > max_bytes:
        raise UserError(f"{archive_name} is {size / 2**20:.1f} MiB, over the limit of {max_bytes / 2**20:.0f} MiB "
                        "for an upload; import a larger study from a folder instead")
    source = io.BytesIO(archive) if isinstance(archive, (bytes, bytearray)) else archive
    try:
        with zipfile.ZipFile(source) as zipped:
            infos = zipped.infolist()
            if len(infos) > max_members:
                raise UserError(f"{archive_name} holds {len(infos):,} members, over the limit of {max_members:,}")
            members = [(info, _safe_member(info, archive_name)) for info in infos]
            declared = sum(info.file_size for info in infos)
            if declared > max_unpacked_bytes:
                raise UserError(f"{archive_name} would unpack to {declared / 2**20:.0f} MiB, over the limit of "
                                f"{max_unpacked_bytes / 2**20:.0f} MiB")
            for info in infos:
                if info.file_size > max_ratio * max(info.compress_size, 1) and info.file_size > _BLOCK:
                    raise UserError(f"{archive_name}: {info.filename} is compressed {info.file_size // max(1, info.compress_size)} "
                                    "times (a possible zip bomb); refused")
            written = 0
            for info, path in members:
                if path is None:
                    continue
                target = folder.joinpath(*path.parts)
                if not target.resolve().is_relative_to(folder.resolve()):
                    raise UserError(f"{archive_name}: the member {info.filename!r} points outside its folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as reader, open(target, "xb") as writer:
                    while block := reader.read(_BLOCK):
                        written += len(block)
                        if written > max_unpacked_bytes:
                            raise UserError(f"{archive_name} unpacks to more than {max_unpacked_bytes / 2**20:.0f} "
                                            "MiB (its members lie about their size); refused")
                        writer.write(block)
    except UserError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, FileExistsError, NotImplementedError, OSError) as exc:
        raise UserError(f"{archive_name} cannot be unpacked: it is not a valid zip file, or it is damaged or "
                        "encrypted") from exc
    entries = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


def import_zip(archive: bytes | str | os.PathLike, name: str,
               progress: Callable[[float, str], None] | None = None, *, archive_name: str = "the zip file",
               max_bytes: int = MAX_ZIP_BYTES, max_unpacked_bytes: int = MAX_UNPACKED_BYTES) -> Study:
    """Import a zipped ``folder``-layout study (images copied into the study; the unpacked files removed).

    Parameters
    ----------
    archive : bytes or path-like
    name : str
        Study name.
    progress : callable(fraction, message), optional
    archive_name : str
        The upload's name, for messages and the provenance.
    max_bytes, max_unpacked_bytes : int
        Largest archive and largest unpacked size (bytes).
    """
    check_study_name(name)
    root = studies_dir()
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".import-{name}-{os.getpid()}-zip", dir=root))
    try:
        if progress is not None:
            progress(0.0, f"unpacking {archive_name}")
        folder = unpack_zip(archive, scratch, archive_name=archive_name, max_bytes=max_bytes,
                            max_unpacked_bytes=max_unpacked_bytes)
        plan = plan_folder(folder, within=scratch, display=archive_name)
        plan.source = Path(f"zip upload {archive_name}")
        return write_study(plan, name, copy=True, progress=progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
