"""The order of a stimulus set, as RDM rows need it: natural sort of file names, or a ``stimuli.tsv``.

An RDM's rows and columns follow the stimuli in one order, and the user must see (and be able to export)
that order. :func:`ordered_stimuli` reads an image folder in natural order of the file names (``img2``
before ``img10``, case-insensitive), or follows a ``stimuli.tsv`` (in the folder, or given directly) whose
column ``file`` lists the images in order (paths relative to the table's folder; an optional ``label``
column gives categories). :func:`stimulus_order_table` / :func:`write_stimulus_order` export the order used.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from core.errors import UserError, choices_text
from core.files import atomic_open
from core.stimuli import StimulusSet, from_files, from_folder

__all__ = ["ORDER_FILE", "natural_key", "ordered_stimuli", "stimulus_order_table", "write_stimulus_order"]

#: Name of the table that gives a folder's stimulus order.
ORDER_FILE = "stimuli.tsv"

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value and letters case-insensitively: ``img2`` < ``img10``."""
    parts = _DIGITS.split(str(name))
    folded = tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold()) for part in parts)
    return folded, str(name)  # names equal but for case or leading zeros: in plain order


def _from_table(table: Path) -> StimulusSet:
    root = table.parent.resolve()
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{table.name} could not be read as a UTF-8 table") from exc
    rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    columns = [c.strip() for c in (csv.DictReader(io.StringIO(text), delimiter="\t").fieldnames or [])]
    if "file" not in columns:
        raise UserError(f"{table.name} needs a column 'file' (tab-separated, one image per row, in order); "
                        f"its columns are {choices_text(columns, last='and') or 'none'}")
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in rows]
    rows = [row for row in rows if row.get("file")]
    if not rows:
        raise UserError(f"{table.name} lists no files")
    paths, outside, missing = [], [], []
    for row in rows:
        path = (root / row["file"]).resolve()
        if not path.is_relative_to(root):
            outside.append(row["file"])
        elif not path.is_file():
            missing.append(row["file"])
        paths.append(path)
    if outside:
        raise UserError(f"{table.name} names files outside its folder ({choices_text(outside[:5])}); give paths "
                        "relative to the table's folder")
    if missing:
        raise UserError(f"{table.name} names {len(missing)} files that do not exist ({choices_text(missing[:5])}"
                        f"{' …' if len(missing) > 5 else ''})")
    repeated = sorted({p.relative_to(root).as_posix() for p in paths if paths.count(p) > 1})
    if repeated:
        raise UserError(f"{table.name} lists {choices_text(repeated[:5])} more than once; list each image once")
    labels = [row.get("label", "") for row in rows]
    stimuli = from_files(paths, labels)
    ids = tuple(p.relative_to(root).as_posix() for p in paths)
    return StimulusSet(ids=ids, labels=stimuli.labels, groups=stimuli.groups, sources=stimuli.sources,
                       licences=stimuli.licences)


def ordered_stimuli(source: str | os.PathLike) -> StimulusSet:
    """A stimulus set in the order its RDM rows follow.

    Parameters
    ----------
    source : path-like
        An image folder (its :data:`ORDER_FILE` when present, else every image of the folder and its
        sub-folders in natural order of the relative paths), or a ``.tsv`` table with a ``file`` column.

    Returns
    -------
    StimulusSet
        Ids are the paths relative to the folder (or table), in the order used.
    """
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".tsv":
        return _from_table(source)
    if source.is_dir() and (source / ORDER_FILE).is_file():
        return _from_table(source / ORDER_FILE)
    stimuli = from_folder(source)
    order = sorted(range(len(stimuli)), key=lambda i: natural_key(stimuli.ids[i]))
    return stimuli.subset(order)


def stimulus_order_table(stimuli: StimulusSet) -> str:
    """The order used, as tab-separated text: ``position`` (from 1), ``file`` (the stimulus id), ``label``.

    Readable back by :func:`ordered_stimuli` when saved as ``stimuli.tsv`` in the stimulus folder.
    """
    lines = ["position\tfile\tlabel"]
    lines += [f"{i}\t{stimulus_id}\t{label}" for i, (stimulus_id, label) in
              enumerate(zip(stimuli.ids, stimuli.labels, strict=True), start=1)]
    return "\n".join(lines) + "\n"


def write_stimulus_order(stimuli: StimulusSet, path: str | os.PathLike) -> Path:
    """Write :func:`stimulus_order_table` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_open(path, "w") as handle:
        handle.write(stimulus_order_table(stimuli))
    return path
