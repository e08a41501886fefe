"""The images of a study at import: each decoded once (so unreadable files are found), hashed, de-duplicated.

Where images live (decided here, for every importer): **referenced in place** when the user imports a folder
by its path — an NSD subject's 10,000 PNGs are about 3 GB, and copying them would double the disk and the
import time for no gain while the folder stays where it is — and **copied** into the study when the folder is
temporary (a zip upload, the simulated study) or when the user asks (``copy_images=True``). Either way each
image's sha256 and size/time are recorded; :meth:`core.studies.Study.check_images` hashes again any file whose
size or time changed, so a moved, edited or replaced image is reported by name instead of silently feeding
another picture to a model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.errors import UserError
from core.studies.study import StudyImage

__all__ = ["check_images", "copy_images"]

#: Images decoded at once (PIL releases the GIL while it decodes).
_THREADS = min(8, os.cpu_count() or 1)

#: Problems listed in one message.
_SHOWN = 8


def _inspect(path: Path, image_id: str):
    """(sha256, pixel hash, size, mtime_ns) of one image, or a StimulusError naming it."""
    from core.features import image_content_hash
    from core.stimuli import StimulusError, decode_image

    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError:
        return StimulusError(f"{image_id}: cannot be opened")
    try:
        pixels = decode_image(data, name=image_id)
    except StimulusError as exc:
        return exc
    return hashlib.sha256(data).hexdigest(), image_content_hash(pixels), info.st_size, info.st_mtime_ns


def check_images(paths: Sequence[Path], ids: Sequence[str], categories: Sequence[str], *,
                 progress: Callable[[int, int], None] | None = None) -> tuple[StudyImage, ...]:
    """Decode, hash and de-duplicate images; records with absolute paths (referenced in place).

    Parameters
    ----------
    paths : sequence of Path
    ids : sequence of str
        Names in messages (paths relative to the imported folder).
    categories : sequence of str
    progress : callable(done, total), optional

    Raises
    ------
    core.errors.UserError
        Unreadable images (each named with its reason), or two files holding the same picture.
    """
    records, failures = [], []
    with ThreadPoolExecutor(_THREADS) as pool:
        for done, (path, image_id, category, result) in enumerate(zip(
                paths, ids, categories, pool.map(_inspect, paths, ids), strict=True), 1):
            if isinstance(result, Exception):
                failures.append(str(result))
            else:
                sha, pixel_hash, size, mtime_ns = result
                records.append(StudyImage(id=image_id, path=str(Path(path).resolve()), sha256=sha,
                                          pixel_hash=pixel_hash, category=category, size=size, mtime_ns=mtime_ns))
            if progress is not None and (done % 64 == 0 or done == len(paths)):
                progress(done, len(paths))
    if failures:
        raise UserError(f"{len(failures)} of {len(paths)} images cannot be read: " + "; ".join(failures[:_SHOWN])
                        + ("; ..." if len(failures) > _SHOWN else "") + ". Replace or remove them and import again")
    first, duplicates = {}, []
    for record in records:
        if record.pixel_hash in first:
            duplicates.append(f"{first[record.pixel_hash]} and {record.id}")
        first.setdefault(record.pixel_hash, record.id)
    if duplicates:
        raise UserError(f"{len(duplicates)} images duplicate another one (identical pixels): "
                        + "; ".join(duplicates[:_SHOWN]) + ("; ..." if len(duplicates) > _SHOWN else "")
                        + ". Keep each picture once; list repeated presentations as rows of stimuli.tsv instead")
    return tuple(records)


def copy_images(records: Sequence[StudyImage], folder: Path, subfolder: str) -> tuple[StudyImage, ...]:
    """Copy images into ``folder/subfolder/<id>`` (ids that leave their folder: ``outside/<n>-<file name>``);
    records with paths relative to ``folder``."""
    copied = []
    for index, record in enumerate(records):
        parts = Path(record.id).parts
        safe = record.id if ".." not in parts and not Path(record.id).is_absolute() else \
            f"outside/{index:06d}-{Path(record.id).name}"
        relative = Path(subfolder) / safe
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record.path, target)
        info = target.stat()
        copied.append(StudyImage(id=record.id, path=relative.as_posix(), sha256=record.sha256,
                                 pixel_hash=record.pixel_hash, category=record.category, size=info.st_size,
                                 mtime_ns=info.st_mtime_ns))
    return tuple(copied)
