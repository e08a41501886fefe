"""Decoding and resizing one image: :func:`decode_image` (every PIL colour mode to RGB, transparency on mid-grey,
decompression-bomb guard) and the :data:`RESIZE_MODES` registry.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import choices_text
from core.stimuli.base import BACKGROUND_GREY, MAX_PIXELS, StimulusError

# --------------------------------------------------------------------------------------- decoding


def _composite_on_grey(im: Image.Image) -> np.ndarray:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (BACKGROUND_GREY,) * 3 + (255,))
    return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))


def _convert_plain(im: Image.Image) -> np.ndarray:
    if "transparency" in im.info:  # palette or tRNS transparency
        return _composite_on_grey(im)
    return np.asarray(im.convert("RGB"))


def _rescale(im: Image.Image, *, nominal_max: float) -> np.ndarray:
    """Map ``[0, nominal_max]`` linearly to ``[0, 255]``; data outside that range are min-max scaled."""
    values = np.nan_to_num(np.asarray(im).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (0.0, nominal_max) if values.min() >= 0 and values.max() <= nominal_max else (
        values.min(), values.max())
    scaled = np.zeros_like(values) if high == low else (values - low) / (high - low) * 255.0
    grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


#: PIL mode -> function(image) -> uint8 ndarray (h, w, 3).
_MODE_CONVERTERS: dict[str, Callable[[Image.Image], np.ndarray]] = {
    **dict.fromkeys(("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"), _convert_plain),
    **dict.fromkeys(("LA", "PA", "RGBA", "RGBa"), _composite_on_grey),
    **dict.fromkeys(("I;16", "I;16L", "I;16B", "I;16N", "I"), partial(_rescale, nominal_max=65535.0)),
    "F": partial(_rescale, nominal_max=1.0),
}


def _to_rgb(im: Image.Image, name: str) -> np.ndarray:
    if im.mode not in _MODE_CONVERTERS:
        raise StimulusError(f"{name}: unsupported colour mode {im.mode}; save it as RGB or greyscale "
                            f"(modes read: {choices_text(sorted(_MODE_CONVERTERS))})")
    return np.ascontiguousarray(_MODE_CONVERTERS[im.mode](im), dtype=np.uint8)


def decode_image(
    source: bytes | str | os.PathLike,
    *,
    max_pixels: int = MAX_PIXELS,
    name: str | None = None,
) -> np.ndarray:
    """Decode one image file (or its bytes) into RGB pixels.

    Conversions: greyscale (``L``, ``1``), palette (``P``), CMYK and YCbCr become RGB; images with
    transparency (``LA``, ``PA``, ``RGBA``, palette or tRNS transparency) are composited on mid-grey
    ``(128, 128, 128)``; 16- and 32-bit integer images (``I;16*``, ``I``) map ``[0, 65535]`` and float
    images (``F``) map ``[0, 1]`` linearly to ``[0, 255]`` (values outside that range are min-max
    scaled); animated GIF/WebP/PNG give their first frame; the EXIF orientation is applied.

    Parameters
    ----------
    source : bytes or path-like
        Encoded image bytes, or the path of an image file.
    max_pixels : int
        Largest width x height accepted. The size is read from the header before any pixel is
        decoded. PIL's own decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) also applies.
    name : str, optional
        Name used in error messages (default: the path, or ``"<bytes>"``).

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
        RGB pixels.

    Raises
    ------
    StimulusError
        Missing, empty, unreadable, truncated, unsupported or oversized images; the message names the
        file and the reason.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "<bytes>"
        data = bytes(source)
        if not data:
            raise StimulusError(f"{name}: empty data (0 bytes)")
        handle = io.BytesIO(data)
    else:
        path = Path(source)
        name = name or str(path)
        if not path.is_file():
            raise StimulusError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise StimulusError(f"{name}: empty file (0 bytes)")
        handle = path
    try:
        with warnings.catch_warnings():  # PIL's bomb warning becomes an error here only
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise StimulusError(
                        f"{name}: refused without decoding: the image is {width:,} x {height:,} = "
                        f"{width * height:,} pixels, over the limit of {max_pixels:,} pixels (a possible "
                        "decompression bomb); scale it down and try again")
                im.load()
                return _to_rgb(ImageOps.exif_transpose(im), name)
    except StimulusError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise StimulusError(f"{name}: refused as a possible decompression bomb: the image has more than "
                            f"{Image.MAX_IMAGE_PIXELS:,} pixels; scale it down and try again") from exc
    except UnidentifiedImageError as exc:
        raise StimulusError(f"{name}: not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise StimulusError(f"{name}: cannot be decoded; the file is damaged, truncated or not really an "
                            "image of its type") from exc


# --------------------------------------------------------------------------------------- resizing


def _stretch(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    return image.resize((width, height), Image.Resampling.BICUBIC)


def _center_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    target = width / height
    if image.width / image.height > target:
        new_width = max(1, round(image.height * target))
        left = (image.width - new_width) // 2
        box = (left, 0, left + new_width, image.height)
    else:
        new_height = max(1, round(image.width / target))
        top = (image.height - new_height) // 2
        box = (0, top, image.width, top + new_height)
    return image.resize((width, height), Image.Resampling.BICUBIC, box=box)


def _pad(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    height, width = size
    scale = min(width / image.width, height / image.height)
    inner = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (width, height), (BACKGROUND_GREY,) * 3)
    canvas.paste(image.resize(inner, Image.Resampling.BICUBIC),
                 ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas


#: How an image is brought to the requested size: stretch (aspect ratio lost), center_crop (largest
#: centred box of the target aspect ratio, then resized), pad (fitted inside, bars of grey 128).
RESIZE_MODES: dict[str, Callable[[Image.Image, tuple[int, int]], Image.Image]] = {
    "center_crop": _center_crop,
    "pad": _pad,
    "stretch": _stretch,
}


def _resize(rgb: np.ndarray, size: tuple[int, int], resize_mode: str) -> np.ndarray:
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(RESIZE_MODES[resize_mode](Image.fromarray(rgb), size))


def _check_size(size) -> tuple[int, int]:
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size)):
        raise ValueError(f"size must be (height, width) with two positive integers, got {size!r}")
    return int(size[0]), int(size[1])
