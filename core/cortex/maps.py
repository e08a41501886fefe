"""The :class:`CorticalMap` data object: one value per data vertex of a cortical space, with its name and units.

A map carries its space, so figures, hovers and exports read where it lies instead of guessing from its length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.cortex.surfaces import N_VERTICES
from core.errors import UserError, choices_text

__all__ = ["CorticalMap", "space_of_vertices"]


def space_of_vertices(n_vertices: int) -> str:
    """The space (a key of ``N_VERTICES``) with ``n_vertices`` data vertices, e.g. 59,412 → ``"fsLR32k"``.

    For data whose files carry no space (npz, mat arrays); a map's space is read from the map.

    Raises
    ------
    UserError
        No space has that many vertices (the message names the valid counts).
    """
    for space, n in N_VERTICES.items():
        if n == n_vertices:
            return space
    raise UserError(f"{n_vertices:,} values fit no cortical space; expected "
                    f"{choices_text(f'{n:,} ({space})' for space, n in N_VERTICES.items())}")


@dataclass(frozen=True, eq=False)
class CorticalMap:
    """A map over the data vertices of one cortical space (frozen; ``values`` is read-only).

    Parameters
    ----------
    values : array-like of shape (n_vertices,)
        One value per data vertex, left hemisphere then right; stored as a read-only float32 copy. NaN marks
        vertices without a value.
    space : {"fsLR32k", "fsaverage5"}
        ``"fsLR32k"``: the 59,412 HCP grayordinates; ``"fsaverage5"``: the 20,484 fsaverage5 vertices
        (``core.cortex.N_VERTICES``).
    name : str
        What the map shows (a map choice, a file name).
    units : str
        Units of the values, shown in colour-bar titles and hovers ("" when they have none).

    Raises
    ------
    UserError
        Unknown space, or values that are not one per vertex of the space (the message names both).
    """

    values: np.ndarray
    space: str
    name: str = ""
    units: str = ""

    def __post_init__(self):
        if self.space not in N_VERTICES:
            raise UserError(f"Unknown cortical space {self.space!r}; choose from {choices_text(N_VERTICES)}")
        values = np.array(self.values, dtype=np.float32)
        expected = N_VERTICES[self.space]
        if values.shape != (expected,):
            what = f"Map {self.name!r}" if self.name else "The map"
            raise UserError(f"{what} has {values.size:,} values (shape {values.shape}); a {self.space} map has "
                            f"{expected:,}, one per vertex")
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
