"""Face crops and eye-level alignment: square crops around detected boxes (:func:`crop_faces`) and crops
rotated so that the eyes are level (:func:`align_face`), both bilinear with antialiasing when shrinking."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["align_face", "crop_faces"]

#: iBUG 68-point indices of the eye contours, image-left eye (the subject's right) first.
_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)


def _check_rgb(name: str, image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(
            f"{name} must be a uint8 RGB array of shape (height, width, 3), "
            f"got dtype {image.dtype} and shape {image.shape}"
        )
    return image


def _affine_crop(image: np.ndarray, centre: np.ndarray, side: float, angle: float, size: int) -> np.ndarray:
    """Sample a square of ``side`` pixels centred on ``centre`` and rotated by ``angle`` into ``size``².

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), uint8
    centre : ndarray of shape (2,)
        ``(x, y)`` in pixels (continuous coordinates: pixel ``i`` spans ``[i, i + 1)``).
    side : float
        Side of the square in image pixels.
    angle : float
        Direction of the square's x axis in the image, radians (positive turns it towards +y,
        i.e. clockwise on screen since y points down).
    size : int
        Side of the output in pixels.

    Returns
    -------
    ndarray of shape (size, size, 3), uint8
        Bilinear samples (black outside the image), the image first smoothed with an antialiased
        resize when the square is shrunk.
    """
    height, width = image.shape[:2]
    tensor = torch.from_numpy(image).permute(2, 0, 1).float()[None]
    shrink = side / size
    if shrink > 1.0:
        small = (max(1, round(height / shrink)), max(1, round(width / shrink)))
        tensor = F.interpolate(tensor, size=small, mode="bilinear", align_corners=False, antialias=True)
    steps = ((torch.arange(size, dtype=torch.float64) + 0.5) / size - 0.5) * side
    v, u = torch.meshgrid(steps, steps, indexing="ij")
    cos, sin = math.cos(angle), math.sin(angle)
    x = centre[0] + cos * u - sin * v
    y = centre[1] + sin * u + cos * v
    grid = torch.stack([2 * x / width - 1, 2 * y / height - 1], dim=-1)[None].float()
    out = F.grid_sample(tensor, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    return out.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _check_size(size) -> None:
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size={size!r} must be a positive integer")


def crop_faces(image: np.ndarray, boxes, *, size: int, margin: float = 0.2) -> np.ndarray:
    """Cut square face crops around detected boxes.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), uint8
        RGB image.
    boxes : array-like of shape (n_faces, 4) or (n_faces, 5)
        ``[x0, y0, x1, y1(, score)]`` in pixels, as returned by :func:`detect_faces`.
    size : int
        Side of each crop in pixels.
    margin : float
        Extra border on each side, as a fraction of the box's longer side: the crop is a square of
        side ``max(w, h) * (1 + 2 margin)`` centred on the box.

    Returns
    -------
    ndarray of shape (n_faces, size, size, 3), uint8
        Crops, black where they leave the image.
    """
    image = _check_rgb("image", image)
    _check_size(size)
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] not in (4, 5) or not np.isfinite(boxes).all():
        raise ValueError(f"boxes must be finite with shape (n_faces, 4) or (n_faces, 5), got {boxes.shape}")
    if margin < 0:
        raise ValueError(f"margin={margin!r} must be non-negative")
    crops = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for crop, (x0, y0, x1, y1) in zip(crops, boxes[:, :4], strict=True):
        side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
        if side <= 0:
            raise ValueError(f"box {(x0, y0, x1, y1)} is empty")
        crop[:] = _affine_crop(image, np.array([(x0 + x1) / 2, (y0 + y1) / 2]), side, 0.0, size)
    return crops


def align_face(image: np.ndarray, landmarks68, size: int, *, margin: float = 0.2) -> np.ndarray:
    """Rotate a face so that its eyes are level, and crop it square.

    The rotation makes the line joining the two eye centres (means of iBUG points 36–41 and 42–47)
    horizontal. The crop is the square, in the rotated frame, around the bounding box of the 68
    landmarks, enlarged by ``margin`` on each side.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), uint8
        RGB image.
    landmarks68 : array-like of shape (68, 2)
        ``(x, y)`` pixel coordinates in iBUG 68-point order.
    size : int
        Side of the output in pixels.
    margin : float
        Extra border on each side, as a fraction of the landmarks' longer extent.

    Returns
    -------
    ndarray of shape (size, size, 3), uint8
        Aligned face; image-left eye on the left, both eyes on one row.
    """
    image = _check_rgb("image", image)
    _check_size(size)
    points = np.asarray(landmarks68, dtype=np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks68 must be finite with shape (68, 2), got {points.shape}")
    if margin < 0:
        raise ValueError(f"margin={margin!r} must be non-negative")
    dx, dy = points[_RIGHT_EYE].mean(axis=0) - points[_LEFT_EYE].mean(axis=0)
    angle = math.atan2(dy, dx)
    rotation = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    rotated = points @ rotation.T  # landmark coordinates along the eye axis and across it
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    side = (high - low).max() * (1 + 2 * margin)
    if side <= 0:
        raise ValueError("landmarks68 are all at one point")
    centre = rotation.T @ ((low + high) / 2)
    return _affine_crop(image, centre, side, angle, size)
