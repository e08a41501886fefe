"""The study data object: stimuli, responses on a cortical space, ROI masks, noise ceiling, provenance.

A :class:`Study` is read from the store (:mod:`core.studies.store`); it never changes after import. Its
responses are one row per *presentation* (a stimulus shown once), one column per vertex of the study, float32
on disk and read by memory map. Its vertices are a subset of the data vertices of one space
(:data:`SPACES`), left hemisphere then right:

``"fsLR32k"``      59,412 HCP grayordinates (29,696 left, 29,716 right), as in ``core.cortex``;
``"fsaverage5"``   20,484 vertices (10,242 per hemisphere); MNI volumes are projected onto it;
``"fsaverage"``    327,684 vertices (163,842 per hemisphere), e.g. the Algonauts 2023 challenge vertices.

Maps are drawn on fsLR-32k or fsaverage5 (:meth:`Study.display_map`): fsaverage is an icosahedral mesh
whose first 10,242 vertices per hemisphere are the fsaverage5 mesh, so fsaverage maps are shown there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.errors import UserError

__all__ = ["DISPLAY_SPACES", "SPACES", "SPACE_LABELS", "DisplayMap", "RepeatSessions", "RoiClass", "Study",
           "StudyCeiling", "StudyImage", "space_of_columns"]

#: Data vertices of each space: (left, right).
SPACES = {"fsLR32k": (29_696, 29_716), "fsaverage5": (10_242, 10_242), "fsaverage": (163_842, 163_842)}

#: Words for each space, for reports and pages.
SPACE_LABELS = {"fsLR32k": "fsLR-32k", "fsaverage5": "fsaverage5", "fsaverage": "fsaverage"}

#: The space each study space is drawn on.
DISPLAY_SPACES = {"fsLR32k": "fsLR32k", "fsaverage5": "fsaverage5", "fsaverage": "fsaverage5"}

#: fsaverage5 vertices per hemisphere: the first vertices of each fsaverage hemisphere (icosahedral nesting).
_ICO5 = 10_242

#: Vertices of the noise ceiling computed at once (the Monte-Carlo draws are shared by all blocks).
_CEILING_BLOCK = 4096


def space_of_columns(n_columns: int) -> str | None:
    """The space whose data vertices number ``n_columns`` (both hemispheres), or None."""
    return next((space for space, (left, right) in SPACES.items() if left + right == n_columns), None)


@dataclass(frozen=True)
class StudyImage:
    """One image of a study.

    Attributes
    ----------
    id : str
        Path relative to the imported folder (posix), unique in the study.
    path : str
        Where the file lies: absolute (referenced in place) or relative to the study folder (copied).
    sha256 : str
        Hex sha256 of the file's bytes (checked on load when its size or time changed).
    pixel_hash : str
        sha256 of the decoded pixels (``core.features.image_content_hash``): equal for the same picture saved
        twice under different names.
    category : str
        Label ("" when none).
    size, mtime_ns : int
        File size and modification time at import.
    """

    id: str
    path: str
    sha256: str
    pixel_hash: str
    category: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class RoiClass:
    """An integer ROI labelling of the study's vertices.

    Attributes
    ----------
    name : str
        Class name, e.g. ``"floc-faces"``.
    labels : ndarray of shape (n_vertices,), int32
        Region id of each study vertex; 0 = none.
    names : dict of int to str
        Region name of each id (0 excluded).
    """

    name: str
    labels: np.ndarray
    names: dict


@dataclass(frozen=True)
class StudyCeiling:
    """The noise ceiling of a study, or why there is none.

    Attributes
    ----------
    r : ndarray of shape (n_vertices,) or None
        Highest Pearson r a perfect model can reach against a response averaging ``n_averaged`` trials.
    variance : ndarray of shape (n_vertices,) or None
        Explainable fraction of the response variance (NSD's NC / 100): σ²_signal / (σ²_signal + σ²_noise / n).
    method : str
        How it was obtained; empty when not available.
    reason : str
        Why it is not available; empty when it is.
    n_averaged : float or None
        Trials averaged in the response the ceiling refers to.
    reliable : ndarray of shape (n_vertices,), bool, or None
        Where the ceiling can be divided by (``core.encoding.normalized_accuracy``): with repeats, the
        repeat-reliability test passes FDR (``core.encoding.NoiseCeiling.reliable``, over all vertices);
        with ncsnr, ncsnr > 0.
    """

    r: np.ndarray | None
    variance: np.ndarray | None
    method: str = ""
    reason: str = ""
    n_averaged: float | None = None
    reliable: np.ndarray | None = None

    @property
    def available(self) -> bool:
        return self.r is not None


@dataclass(frozen=True)
class RepeatSessions:
    """Repeated presentations as sessions: session k holds the k-th presentation of each stimulus.

    Attributes
    ----------
    data : ndarray of shape (n_sessions, n_selected, n_vertices), float32
        (n_vertices: the vertices asked for.)
    stimuli : ndarray of shape (n_selected,), int
        Stimulus index of each column of ``data`` (stimuli presented at least ``n_sessions`` times).
    """

    data: np.ndarray
    stimuli: np.ndarray


class DisplayMap(NamedTuple):
    """A study map as it is drawn: ``values`` over every data vertex of ``space``, NaN outside the study."""

    space: str
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class Study:
    """An imported study (read from the store; frozen).

    Attributes
    ----------
    name : str
    folder : Path
        The study's folder in the store.
    format : str
        Importer that read it (``core.studies.IMPORTERS``).
    space : str
        A key of :data:`SPACES`.
    stimuli : tuple of StudyImage, length n_stimuli
        The images with responses, in stimulus order.
    test_images : tuple of StudyImage
        Images without responses (e.g. the Algonauts test split), for prediction only.
    presentations : ndarray of shape (n_presentations, 2), int64
        Stimulus index and repetition index (0, 1, ...) of each response row.
    vertices : ndarray of shape (n_vertices,), int64
        Data vertex of the space of each study vertex (response column), increasing within each hemisphere.
    source_columns : ndarray of shape (n_vertices,), int64
        Column of the imported responses each study vertex came from (others were dropped).
    n_source_columns : int
    roi_classes : dict of str to RoiClass
    ncsnr : ndarray of shape (n_vertices,) or None
        NSD-style noise-ceiling SNR per vertex, when imported.
    provenance : dict
        ``format``, ``source``, ``imported_at`` (UTC, ISO 8601), ``import_id`` (random), ``tool_version``,
        ``images`` (referenced in place or copied), ``dropped`` (``{"nan": {"count", "reason"}, "constant": {...}}``), ``notes``.
    """

    name: str
    folder: Path
    format: str
    space: str
    stimuli: tuple
    test_images: tuple
    presentations: np.ndarray
    vertices: np.ndarray
    source_columns: np.ndarray
    n_source_columns: int
    roi_classes: dict = field(default_factory=dict)
    ncsnr: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"Unknown space {self.space!r}; choose from {sorted(SPACES)}")
        n = len(self.vertices)
        lengths = {"source_columns": len(self.source_columns),
                   **{f"roi class {c.name}": len(c.labels) for c in self.roi_classes.values()}}
        if self.ncsnr is not None:
            lengths["ncsnr"] = len(self.ncsnr)
        wrong = {k: v for k, v in lengths.items() if v != n}
        if wrong:
            raise ValueError(f"study {self.name}: {wrong} values for {n} vertices")
        if self.presentations.ndim != 2 or self.presentations.shape[1] != 2:
            raise ValueError(f"presentations must have shape (n, 2), got {self.presentations.shape}")
        if len(self.presentations) and not 0 <= self.presentations[:, 0].min() <= self.presentations[:, 0].max() \
                < len(self.stimuli):
            raise ValueError("presentations refer to stimuli outside the study")
        for array in (self.presentations, self.vertices, self.source_columns, self.ncsnr):
            if array is not None:
                array.setflags(write=False)

    # ------------------------------------------------------------------ sizes

    @property
    def n_stimuli(self) -> int:
        """Distinct images with responses."""
        return len(self.stimuli)

    @property
    def n_presentations(self) -> int:
        """Response rows."""
        return len(self.presentations)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    @property
    def categories(self) -> tuple[str, ...]:
        """Category of each stimulus ("" when none)."""
        return tuple(image.category for image in self.stimuli)

    @property
    def responses(self) -> np.ndarray:
        """Memory-mapped responses, shape (n_presentations, n_vertices), float32, read-only."""
        return np.load(self.folder / "responses.npy", mmap_mode="r", allow_pickle=False)

    @property
    def repeat_counts(self) -> np.ndarray:
        """Presentations of each stimulus, shape (n_stimuli,)."""
        return np.bincount(self.presentations[:, 0], minlength=self.n_stimuli)

    @property
    def has_repeats(self) -> bool:
        """Whether at least 3 stimuli were presented twice or more (enough for test sessions and a ceiling)."""
        return int((self.repeat_counts >= 2).sum()) >= 3

    @property
    def hemispheres(self) -> np.ndarray:
        """``"L"`` or ``"R"`` for each study vertex, shape (n_vertices,)."""
        return np.where(self.vertices < SPACES[self.space][0], "L", "R")

    @property
    def roi_masks(self) -> dict[str, np.ndarray]:
        """Region name → study vertex indices (both hemispheres), over every ROI class.

        A name found in two classes is given as ``"class:name"``.
        """
        counts = Counter(name for c in self.roi_classes.values() for i, name in c.names.items() if i != 0)
        masks = {}
        for c in self.roi_classes.values():
            for region_id, name in sorted(c.names.items()):
                vertices = np.flatnonzero(c.labels == region_id)
                if region_id != 0 and len(vertices):
                    masks[name if counts[name] == 1 else f"{c.name}:{name}"] = vertices
        return masks

    def describe(self) -> str:
        """One line for the pages: "NAME (format, space, n stimuli, n vertices)"."""
        return (f"{self.name} ({self.format}, {SPACE_LABELS[self.space]}, {self.n_stimuli:,} stimuli, "
                f"{self.n_vertices:,} vertices)")

    # ------------------------------------------------------------------ views

    def mean_responses(self, stimuli=None, *, vertices=None,
                       progress: Callable[[float, str], None] | None = None) -> np.ndarray:
        """Responses averaged over the presentations of each stimulus.

        Parameters
        ----------
        stimuli : sequence of int, optional
            Stimulus indices (default: all, in stimulus order).
        vertices : sequence of int, optional
            Study vertex indices (response columns) to keep (default: all); memory is n_selected × n_kept.
        progress : callable(fraction, message), optional

        Returns
        -------
        ndarray of shape (n_selected, n_kept), float32
            The memory map itself (no copy) when every stimulus was presented once, in order, and all stimuli
            and vertices are asked for; else a new array.
        """
        selected = np.arange(self.n_stimuli) if stimuli is None else np.asarray(stimuli, dtype=np.int64)
        columns = slice(None) if vertices is None else np.asarray(vertices, dtype=np.int64)
        rows_of = self.presentations[:, 0]
        if stimuli is None and vertices is None and np.array_equal(rows_of, np.arange(self.n_stimuli)):
            return self.responses
        position = np.full(self.n_stimuli, -1)
        position[selected] = np.arange(len(selected))
        sums = np.zeros((len(selected), self.n_vertices if vertices is None else len(columns)), np.float64)
        responses = self.responses
        rows = np.flatnonzero(position[rows_of] >= 0)  # only the presentations of the selected stimuli are read
        step = _rows_per_chunk(self.n_vertices)
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            np.add.at(sums, position[rows_of[chunk]], np.asarray(responses[chunk])[:, columns])
            if progress is not None:
                done = start + len(chunk)
                progress(done / len(rows), f"averaging repeats: {done:,}/{len(rows):,} rows")
        counts = np.bincount(rows_of, minlength=self.n_stimuli)[selected]
        if (counts == 0).any():
            raise ValueError(f"stimuli {selected[counts == 0][:10].tolist()} have no presentation")
        return (sums / counts[:, None]).astype(np.float32)

    def _session_rows(self, n_sessions: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the k-th presentation of each stimulus presented at least ``n_sessions`` times.

        Returns ``rows`` (n_sessions, n_selected) and the selected stimuli (n_selected,).
        """
        counts = self.repeat_counts
        if n_sessions is None:
            repeated = counts[counts >= 2]
            n_sessions = int(repeated.min()) if len(repeated) else 2
        chosen = np.flatnonzero(counts >= n_sessions)
        if n_sessions < 2 or len(chosen) < 3:
            raise UserError(f"Study {self.name}: {len(chosen)} stimuli were presented {n_sessions} times; repeat "
                            "sessions need at least 3 stimuli presented at least twice")
        stimulus, repetition = self.presentations[:, 0], self.presentations[:, 1]
        order = np.lexsort((np.arange(self.n_presentations), repetition, stimulus))
        sorted_stimulus = stimulus[order]
        rank = np.arange(len(order)) - np.searchsorted(sorted_stimulus, sorted_stimulus)
        column = np.full(self.n_stimuli, -1)
        column[chosen] = np.arange(len(chosen))
        keep = (rank < n_sessions) & (column[sorted_stimulus] >= 0)
        rows = np.empty((n_sessions, len(chosen)), np.int64)
        rows[rank[keep], column[sorted_stimulus[keep]]] = order[keep]
        return rows, chosen

    def repeat_sessions(self, n_sessions: int | None = None, *, stimuli=None, vertices=None) -> RepeatSessions:
        """The repeated presentations as sessions (for test scores and the Monte-Carlo ceiling).

        Parameters
        ----------
        n_sessions : int, optional
            Presentations per stimulus to take (the first ones by repetition index); default: the smallest
            count among repeated stimuli (≥ 2).
        stimuli : sequence of int, optional
            Keep only these stimuli among those presented ``n_sessions`` times (default: all of them).
        vertices : sequence of int, optional
            Study vertex indices (response columns) to keep (default: all); read by blocks of rows.

        Raises
        ------
        core.errors.UserError
            Fewer than 3 stimuli presented ``n_sessions`` times.
        """
        rows, chosen = self._session_rows(n_sessions)
        if stimuli is not None:
            keep = np.isin(chosen, np.asarray(stimuli, dtype=np.int64))
            rows, chosen = rows[:, keep], chosen[keep]
        columns = np.arange(self.n_vertices) if vertices is None else np.asarray(vertices, dtype=np.int64)
        flat, responses = rows.ravel(), self.responses
        data = np.empty((len(flat), len(columns)), np.float32)
        step = _rows_per_chunk(self.n_vertices)
        for start in range(0, len(flat), step):
            data[start:start + step] = np.asarray(responses[flat[start:start + step]])[:, columns]
        return RepeatSessions(data=data.reshape(*rows.shape, len(columns)), stimuli=chosen)

    def noise_ceiling(self, *, n_averaged: float | None = None, n_simulations: int = 1000,
                      random_state=0) -> StudyCeiling:
        """The noise ceiling: from repeats when there are some, else from ncsnr, else not available.

        Repeats: ``core.encoding.noise_ceiling`` on :meth:`repeat_sessions` (Monte Carlo; by blocks of
        vertices with the same draws). ncsnr: NC = ncsnr² / (ncsnr² + 1/n), r = √NC. Never invented: a
        study without either gets ``r = None`` and a reason.

        Parameters
        ----------
        n_averaged : float, optional
            Trials averaged in the response the ceiling refers to. Default: with repeats, the number of
            sessions; with ncsnr, 1/n = mean over stimuli of 1/(presentations), as NSD averages (1 when every
            stimulus was presented once: single trials).
        n_simulations : int
        random_state : int

        Returns
        -------
        StudyCeiling
        """
        from core.encoding import CEILING_Q, noise_ceiling
        from core.stats import fdr_bh

        if self.has_repeats:
            rows, chosen = self._session_rows(None)
            n = len(rows) if n_averaged is None else n_averaged
            r, variance, p = [], [], []
            for start in range(0, self.n_vertices, _CEILING_BLOCK):
                block = np.asarray(self.responses[:, start:start + _CEILING_BLOCK][rows.ravel()], dtype=np.float32)
                block = block.reshape(*rows.shape, -1)
                result = noise_ceiling(block, n_averaged=n, n_simulations=n_simulations, random_state=random_state)
                r.append(result.ceiling)
                p.append(result.p)
                total = result.signal_variance + result.noise_variance / n
                variance.append(np.divide(result.signal_variance, total, out=np.zeros_like(total), where=total > 0))
            return StudyCeiling(
                r=np.concatenate(r).astype(np.float32), variance=np.concatenate(variance).astype(np.float32),
                method=f"Monte-Carlo ceiling from {len(rows)} repeats of {len(chosen):,} stimuli",
                n_averaged=float(n), reliable=fdr_bh(np.concatenate(p)) < CEILING_Q)
        if self.ncsnr is not None:
            counts = self.repeat_counts
            inverse_n = float(np.mean(1.0 / counts[counts > 0])) if n_averaged is None else 1.0 / n_averaged
            snr2 = np.square(self.ncsnr.astype(np.float64))
            variance = snr2 / (snr2 + inverse_n)
            return StudyCeiling(r=np.sqrt(variance).astype(np.float32), variance=variance.astype(np.float32),
                                method=f"NC = ncsnr² / (ncsnr² + 1/n) with n = {1 / inverse_n:.3g} trials",
                                n_averaged=1 / inverse_n, reliable=self.ncsnr > 0)
        return StudyCeiling(r=None, variance=None, reason=(
            "not available: no stimulus was presented twice and the study has no ncsnr file, so the noise level "
            "of the responses is unknown"))

    # ------------------------------------------------------------------ maps

    def _check_values(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (self.n_vertices,):
            raise ValueError(f"values have shape {values.shape}; expected ({self.n_vertices},), one per study vertex")
        return values

    def display_map(self, values) -> DisplayMap:
        """How a per-vertex array of the study is drawn.

        fsLR-32k and fsaverage5 studies are drawn on their space; fsaverage studies on fsaverage5 (the first
        10,242 vertices of each fsaverage hemisphere). Vertices outside the study are NaN.

        Parameters
        ----------
        values : ndarray of shape (n_vertices,)

        Returns
        -------
        DisplayMap
            ``space`` ("fsLR32k" or "fsaverage5") and ``values`` of shape (59412,) or (20484,), float32.
        """
        values = self._check_values(values)
        left, right = SPACES[self.space]
        full = np.full(left + right, np.nan, np.float32)
        full[self.vertices] = values
        if self.space == "fsaverage":
            full = np.concatenate([full[:_ICO5], full[left:left + _ICO5]])
        return DisplayMap(DISPLAY_SPACES[self.space], full)

    def in_source_order(self, values) -> np.ndarray:
        """A per-vertex array in the column order of the imported responses (NaN at dropped columns).

        For ``algonauts2023`` that is the challenge-space order: left then right challenge vertices.

        Returns
        -------
        ndarray of shape (n_source_columns,), float32
        """
        values = self._check_values(values)
        out = np.full(self.n_source_columns, np.nan, np.float32)
        out[self.source_columns] = values
        return out

    # ------------------------------------------------------------------ images

    def image_path(self, image: StudyImage) -> Path:
        """Absolute path of an image of the study."""
        path = Path(image.path)
        return path if path.is_absolute() else self.folder / path

    def stimulus_set(self, *, test: bool = False):
        """The images as a ``core.stimuli.StimulusSet`` (ids = study ids, labels = categories).

        Parameters
        ----------
        test : bool
            The test images (no responses) instead of the stimuli.
        """
        from core.stimuli import StimulusSet

        images = self.test_images if test else self.stimuli
        n = len(images)
        return StimulusSet(ids=tuple(i.id for i in images), labels=tuple(i.category for i in images),
                           groups=("",) * n, sources=tuple(str(self.image_path(i)) for i in images),
                           licences=("",) * n)

    def check_images(self) -> list[str]:
        """Images that are missing or whose content changed since the import.

        A file whose size and modification time are unchanged is taken as unchanged; any other is hashed
        (sha256) and compared with the hash recorded at import.

        Returns
        -------
        list of str
            One sentence per problem (empty when all images are as imported).
        """
        from core.weights import sha256_file

        problems = []
        for image in (*self.stimuli, *self.test_images):
            path = self.image_path(image)
            try:
                info = path.stat()
            except OSError:
                problems.append(f"{image.id}: missing (expected at {path})")
                continue
            if (info.st_size, info.st_mtime_ns) != (image.size, image.mtime_ns) and sha256_file(path) != image.sha256:
                problems.append(f"{image.id}: its content changed since the import (sha256 differs)")
        return problems

    def report(self) -> list[str]:
        """The validation report: what the study holds and what the import dropped, one line each."""
        counts = self.repeat_counts
        lines = [f"study {self.name}: {self.format}, {SPACE_LABELS[self.space]} "
                 f"({self.n_vertices:,} vertices: {int((self.hemispheres == 'L').sum()):,} left, "
                 f"{int((self.hemispheres == 'R').sum()):,} right)",
                 f"stimuli: {self.n_stimuli:,} images, {self.n_presentations:,} presentations; "
                 f"{int((counts >= 2).sum()):,} stimuli presented 2 to {int(counts.max(initial=0))} times"
                 if self.has_repeats else
                 f"stimuli: {self.n_stimuli:,} images, {self.n_presentations:,} presentations (no repeats)"]
        categories = Counter(self.categories)
        if set(categories) != {""}:
            lines.append("categories: " + ", ".join(f"{c or '(none)'} {n}" for c, n in sorted(categories.items())))
        if self.test_images:
            lines.append(f"test images (no responses): {len(self.test_images):,}")
        for c in self.roi_classes.values():
            sizes = Counter(c.labels[c.labels != 0].tolist())
            lines.append(f"ROI class {c.name}: " + ", ".join(
                f"{name} {sizes.get(i, 0)}" for i, name in sorted(c.names.items()) if i != 0))
        lines.append("noise ceiling: " + (
            f"from repeats ({len(self._session_rows(None)[0])} sessions)" if self.has_repeats else
            "from ncsnr" if self.ncsnr is not None else
            "not available (no repeats, no ncsnr)"))
        p = self.provenance
        lines.append(f"imported {p.get('imported_at', '?')} from {p.get('source', '?')} "
                     f"(tool {p.get('tool_version', '?')}); images {p.get('images', '?')}")
        dropped = p.get("dropped", {})
        total = sum(d["count"] for d in dropped.values())
        lines.append(f"dropped vertices: {total:,} of {self.n_source_columns:,}" + "".join(
            f"; {d['count']:,} {d['reason']}" for d in dropped.values() if d["count"]))
        lines += [f"note: {note}" for note in p.get("notes", [])]
        return lines


def _rows_per_chunk(n_columns: int, target_bytes: int = 64 * 2**20) -> int:
    """Rows of a float32 block of about ``target_bytes``."""
    return max(1, target_bytes // (4 * max(1, n_columns)))


#: Arrays of a study folder (besides responses.npy), all ``.npy`` without pickle.
_ARRAYS = ("presentations", "vertices", "source_columns")


def read_study(folder: Path) -> Study:
    """The study in ``folder`` (written by the store); ``ValueError`` when it is unreadable."""
    info = json.loads((folder / "study.json").read_text())
    arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
    ncsnr = np.load(folder / "ncsnr.npy", allow_pickle=False) if info.get("has_ncsnr") else None
    roi_classes = {name: RoiClass(name, np.load(folder / "rois" / f"{name}.npy", allow_pickle=False),
                                  {int(k): v for k, v in names.items()})
                   for name, names in info.get("roi_classes", {}).items()}
    return Study(name=info["name"], folder=folder, format=info["format"], space=info["space"],
                 stimuli=tuple(StudyImage(**entry) for entry in info["stimuli"]),
                 test_images=tuple(StudyImage(**entry) for entry in info["test_images"]),
                 n_source_columns=int(info["n_source_columns"]), roi_classes=roi_classes, ncsnr=ncsnr,
                 provenance=info["provenance"], **arrays)


def study_json(study_info: Mapping) -> str:
    """Text of study.json (sorted keys, one level of indentation)."""
    return json.dumps(study_info, indent=1, sort_keys=True)
