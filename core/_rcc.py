"""Reader for Qt binary resource files (``.rcc``), the format written by ``rcc -binary``.

Layout (all integers big-endian):

* header: magic ``b"qres"``, u32 format version (1-3), u32 tree offset, u32 data offset,
  u32 names offset, and for version >= 3 a u32 of overall flags;
* tree: one entry per node, 14 bytes (version 1) or 22 bytes (version >= 2, with a trailing
  u64 last-modified time): u32 name offset, u16 flags (``2`` directory, ``1`` zlib-compressed,
  ``4`` zstd-compressed), then for a directory u32 child count + u32 index of the first child,
  for a file u16 country + u16 language + u32 data offset. Entry 0 is the root directory;
* names: u16 length, u32 hash, then ``length`` UTF-16-BE code units;
* data: u32 length then the bytes. A zlib entry holds a u32 uncompressed size followed by the
  zlib stream.

Only the standard library is needed; zstd entries need the optional ``zstandard`` package.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import zlib
from pathlib import Path

__all__ = ["RCC_FLAGS", "RccError", "read_rcc"]

_MAGIC = b"qres"
_DIRECTORY = 0x02
_ZLIB = 0x01
_ZSTD = 0x04

#: Flag bits of a tree entry, by name.
RCC_FLAGS = {"compressed": _ZLIB, "directory": _DIRECTORY, "compressed_zstd": _ZSTD}


class RccError(ValueError):
    """A file is not a readable Qt resource file; the message names the file and the reason."""


def _decompress_zlib(blob: bytes) -> bytes:
    expected = struct.unpack_from(">I", blob, 0)[0]
    data = zlib.decompress(blob[4:])
    if len(data) != expected:
        raise zlib.error(f"inflated to {len(data)} bytes, header says {expected}")
    return data


def _decompress_zstd(blob: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(blob)


class _Reader:
    """Random access to the three sections of one rcc buffer."""

    def __init__(self, buffer: bytes, name: str):
        self.buffer = buffer
        self.name = name
        if len(buffer) < 20 or buffer[:4] != _MAGIC:
            raise RccError(f"{name}: not a Qt resource file (missing b'qres' magic)")
        self.version, self.tree, self.data, self.names = struct.unpack_from(">4I", buffer, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"{name}: unsupported rcc format version {self.version}; choose from [1, 2, 3]")
        self.entry_size = 14 if self.version == 1 else 22

    def _unpack(self, fmt: str, offset: int) -> tuple:
        try:
            return struct.unpack_from(fmt, self.buffer, offset)
        except struct.error as exc:
            raise RccError(f"{self.name}: truncated at byte {offset} ({exc})") from exc

    def node_name(self, offset: int) -> str:
        (length,) = self._unpack(">H", self.names + offset)
        start = self.names + offset + 6
        raw = self.buffer[start:start + 2 * length]
        if len(raw) != 2 * length:
            raise RccError(f"{self.name}: name at offset {offset} runs past the end of the file")
        return raw.decode("utf-16-be")

    def file_bytes(self, flags: int, offset: int, path: str) -> bytes:
        (length,) = self._unpack(">I", self.data + offset)
        start = self.data + offset + 4
        blob = self.buffer[start:start + length]
        if len(blob) != length:
            raise RccError(f"{self.name}: data of {path!r} runs past the end of the file")
        try:
            if flags & _ZSTD:
                if importlib.util.find_spec("zstandard") is None:
                    raise RccError(
                        f"{self.name}: {path!r} is zstd-compressed; install the 'zstandard' package "
                        f"to read it")
                return _decompress_zstd(blob)
            if flags & _ZLIB:
                return _decompress_zlib(blob)
        except (zlib.error, struct.error) as exc:
            raise RccError(f"{self.name}: cannot decompress {path!r}: {exc}") from exc
        return blob

    def walk(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        stack = [(0, "")]
        seen = set()
        while stack:
            index, prefix = stack.pop()
            if index in seen:
                raise RccError(f"{self.name}: the resource tree has a cycle at entry {index}")
            seen.add(index)
            _, _, count, first = self._unpack(">IHII", self.tree + index * self.entry_size)
            for child in range(first, first + count):
                entry = self.tree + child * self.entry_size
                name_offset, child_flags = self._unpack(">IH", entry)
                path = f"{prefix}/{self.node_name(name_offset)}"
                if child_flags & _DIRECTORY:
                    stack.append((child, path))
                else:
                    (data_offset,) = self._unpack(">I", entry + 10)
                    files[path] = self.file_bytes(child_flags, data_offset, path)
        return files


def read_rcc(path: str | os.PathLike) -> dict[str, bytes]:
    """Read every file of a Qt binary resource file.

    Parameters
    ----------
    path : path-like
        The ``.rcc`` file.

    Returns
    -------
    dict of str to bytes
        Resource path (``"/gcompris/src/..."``, with a leading slash as in Qt's ``:/`` scheme)
        to the file's uncompressed bytes.

    Raises
    ------
    RccError
        When the file is not an rcc file, is truncated, uses an unknown format version, or holds a
        zstd entry while ``zstandard`` is not installed.
    """
    path = Path(path)
    try:
        buffer = path.read_bytes()
    except OSError as exc:
        raise RccError(f"{path}: cannot read ({exc.strerror})") from exc
    return _Reader(buffer, str(path)).walk()
