"""Studies written by the simulator, in the layouts the importers read (so the simulator tests the importers).

:func:`write_simulated_study` writes a small synthetic study in any layout: tiny PNG images in categories, and
responses of a :class:`core.subject.SimulatedSubject` whose regions read out random image features (planted
vertices) while the other vertices are pure noise; it returns the planted truth. :func:`write_default_study`
writes the studio's default simulated subject viewing the stimulus library (the ``simulated`` format): training
images shown once, test images shown ``n_repeats`` times.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from PIL import Image

from core.studies.sources import write_npy_header
from core.studies.study import SPACES

__all__ = ["LAYOUTS", "SimulatedTruth", "write_default_study", "write_simulated_study"]

#: Layout → (importer format, space of the responses).
LAYOUTS = {
    "algonauts2023": ("algonauts2023", "fsaverage"),
    "folder-npy": ("folder", "fsaverage5"),
    "folder-npz": ("folder", "fsaverage5"),
    "folder-gifti": ("folder", "fsaverage5"),
    "folder-mgh": ("folder", "fsaverage5"),
    "folder-dscalar": ("folder", "fsLR32k"),
    "folder-nifti": ("folder", "MNI volume"),
}

_SOURCE = ("synthetic", "features")
_CATEGORIES = ("face", "place", "object")
#: MNI box of the synthetic volumes (mm) and their voxel size.
_MNI_BOX = ((-78, 78), (-112, 76), (-70, 86))
_VOXEL_MM = 8


@dataclass(frozen=True)
class SimulatedTruth:
    """What the simulator planted.

    Attributes
    ----------
    planted : ndarray of shape (n_columns,), bool, or None
        Columns of the written responses driven by the features (None for volumes: the columns are voxels).
    categories : tuple of str
        Category of each stimulus.
    n_repeats : int
    features : ndarray of shape (n_stimuli, 16), float32
        The features the planted vertices read out, in stimulus order (the model's ideal input).
    """

    planted: np.ndarray | None
    categories: tuple
    n_repeats: int
    features: np.ndarray


def _chain(n: int) -> sp.csr_matrix:
    """Neighbours along the column order: the weight maps are smooth along it."""
    return sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], shape=(n, n), format="csr")


def _simulate(n_columns: int, n_left: int, categories: np.ndarray, n_repeats: int, snr: float, rng):
    """(n_repeats, n_stimuli, n_columns) float32 responses, the planted columns and the features (n_stimuli, 16)."""
    from core.subject import RegionDriver, SimulatedSubject, SubjectSpec

    rois = {}
    for hemisphere, (start, stop) in (("L", (0, n_left)), ("R", (n_left, n_columns))):
        edges = np.linspace(start, stop, 7).astype(int)
        for k, name in enumerate(("face-region", "place-region", "early")):
            rois[(name, hemisphere)] = np.arange(edges[2 * k], edges[2 * k + 1])
    spec = SubjectSpec(
        name="synthetic", description="synthetic subject for study fixtures", seed=int(rng.integers(1 << 31)),
        snr=snr, n_components=8, smoothing_iterations=3, drivers=(
            RegionDriver("face-region", *_SOURCE, preferred_category="face", preference=0.6),
            RegionDriver("place-region", *_SOURCE, preferred_category="place", preference=0.6),
            RegionDriver("early", *_SOURCE)))
    subject = SimulatedSubject(spec, roi_vertices=rois, adjacency=_chain(n_columns))
    centres = {c: rng.standard_normal(16) for c in _CATEGORIES}
    features = {_SOURCE: np.stack([centres[c] + rng.standard_normal(16) for c in categories])}
    subject.calibrate(features, categories)
    measured = subject.measure(subject.signal(features), n_repeats=n_repeats, random_state=rng)
    return measured, subject.vertex_driver_ >= 0, features[_SOURCE].astype(np.float32)


def _write_images(folder: Path, names: list[str], categories: np.ndarray, rng) -> None:
    """Distinct 12 × 12 RGB PNGs, tinted by category."""
    tint = {c: np.array(v) for c, v in zip(_CATEGORIES, ((200, 60, 60), (60, 200, 60), (60, 60, 200)), strict=True)}
    for name, category in zip(names, categories, strict=True):
        pixels = np.clip(tint[category] + rng.integers(-50, 50, (12, 12, 3)), 0, 255).astype(np.uint8)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / name)


def _algonauts_vertices(n_per_hemisphere: int, rng) -> np.ndarray:
    """Sorted fsaverage vertices of one hemisphere; half among the first 10,242 (drawn on fsaverage5)."""
    low = rng.choice(10_242, n_per_hemisphere // 2, replace=False)
    high = rng.choice(np.arange(10_242, SPACES["fsaverage"][0]), n_per_hemisphere - len(low), replace=False)
    return np.sort(np.concatenate([low, high]))


def _write_algonauts(folder: Path, measured, categories, rng, n_per_hemisphere: int, n_test: int) -> None:
    """The Algonauts 2023 subject layout; responses are averaged over repeats, as in the challenge."""
    from core.studies.sources import algonauts_roi_tables

    mean = measured.mean(axis=0)
    n = len(mean)
    _write_images(folder / "training_split" / "training_images",
                  [f"train-{i + 1:04d}_nsd-{1000 + i:05d}.png" for i in range(n)], categories, rng)
    _write_images(folder / "test_split" / "test_images",
                  [f"test-{i + 1:04d}_nsd-{5000 + i:05d}.png" for i in range(n_test)],
                  np.resize(np.asarray(_CATEGORIES), n_test), rng)
    masks = folder / "roi_masks"
    masks.mkdir(parents=True)
    fmri = folder / "training_split" / "training_fmri"
    fmri.mkdir(parents=True)
    tables = algonauts_roi_tables()
    for h, hemisphere in enumerate(("lh", "rh")):
        columns = slice(h * n_per_hemisphere, (h + 1) * n_per_hemisphere)
        np.save(fmri / f"{hemisphere}_training_fmri.npy", mean[:, columns].astype(np.float32))
        selected = np.zeros(SPACES["fsaverage"][0], np.int64)  # 0/1 integers, as the challenge files
        selected[_algonauts_vertices(n_per_hemisphere, rng)] = 1
        np.save(masks / f"{hemisphere}.all-vertices_fsaverage_space.npy", selected)
        for roi_class in ("prf-visualrois", "floc-faces"):
            labels = rng.integers(0, max(tables[roi_class]) + 1, n_per_hemisphere)
            np.save(masks / f"{hemisphere}.{roi_class}_challenge_space.npy", labels)
    for roi_class in ("prf-visualrois", "floc-faces"):  # dicts saved by np.save (pickled), as published; never read
        np.save(masks / f"mapping_{roi_class}.npy", {0: "Unknown", **tables[roi_class]}, allow_pickle=True)


def _volume_grid():
    """Shape and affine of the synthetic MNI grid."""
    shape = tuple(int((high - low) // _VOXEL_MM) + 1 for low, high in _MNI_BOX)
    affine = np.diag([_VOXEL_MM] * 3 + [1]).astype(float)
    affine[:3, 3] = [low for low, _ in _MNI_BOX]
    return shape, affine


def write_simulated_study(folder, layout: str = "folder-npy", *, n_stimuli: int = 60, n_repeats: int = 1,
                          repeated_every: int = 1, n_per_hemisphere: int = 300, n_test: int = 6, snr: float = 2.0,
                          random_state=0) -> SimulatedTruth:
    """Write a small synthetic study in ``layout`` (a key of :data:`LAYOUTS`) into ``folder`` (created).

    Parameters
    ----------
    folder : path-like
    layout : str
    n_stimuli : int
        Distinct images in three categories (face, object, place), one block of rows per category.
    n_repeats : int
        Presentations of each image. Folder layouts with repeats list them in ``stimuli.tsv`` (all images,
        then all again...); ``algonauts2023`` averages them, as the challenge does.
    repeated_every : int
        With ``n_repeats > 1``, only every ``repeated_every``-th image is repeated (a test set, as in the
        default simulated subject); the others are shown once (folder layouts).
    n_per_hemisphere : int
        Challenge vertices per hemisphere (``algonauts2023`` only; other layouts fill their space).
    n_test : int
        Test images without responses (``algonauts2023`` only).
    snr : float
        Single-trial signal-to-noise variance ratio at planted vertices.
    random_state : int

    Returns
    -------
    SimulatedTruth
    """
    import nibabel as nib

    from core.cortex import save_cifti_dscalar, save_gifti

    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(random_state)
    # in blocks, sorted: the order in which core.stimuli.from_folder lists stimuli/<category>/ folders
    categories = np.sort(np.resize(np.asarray(_CATEGORIES), n_stimuli))
    space = LAYOUTS[layout][1]
    if layout == "algonauts2023":
        measured, planted, features = _simulate(2 * n_per_hemisphere, n_per_hemisphere, categories, n_repeats,
                                                snr, rng)
        _write_algonauts(folder, measured, categories, rng, n_per_hemisphere, n_test)
        return SimulatedTruth(planted, tuple(str(c) for c in categories), n_repeats, features)
    if space == "MNI volume":
        shape, affine = _volume_grid()
        n_voxels = int(np.prod(shape))
        measured, _, features = _simulate(n_voxels, n_voxels // 2, categories, n_repeats, snr, rng)
        planted = None
    else:
        measured, planted, features = _simulate(sum(SPACES[space]), SPACES[space][0], categories, n_repeats, snr,
                                                rng)
    shown = [np.arange(n_stimuli) if r == 0 else np.arange(0, n_stimuli, repeated_every) for r in range(n_repeats)]
    # repeat-major: all images, then the repeated ones again...
    rows = np.concatenate([measured[r, shown[r]] for r in range(n_repeats)]).astype(np.float32)
    names = [f"{c}/{c}-{i:03d}.png" for i, c in enumerate(categories)]
    if n_repeats == 1:
        _write_images(folder / "stimuli", names, categories, rng)
    else:
        _write_images(folder / "images", names, categories, rng)
        with open(folder / "stimuli.tsv", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["file", "category", "repetition"])
            writer.writerows([f"images/{names[i]}", categories[i], r] for r in range(n_repeats) for i in shown[r])
    if layout == "folder-npy":
        np.save(folder / "responses.npy", rows)
    elif layout == "folder-npz":
        np.savez(folder / "responses.npz", responses=rows)
    elif layout == "folder-gifti":
        save_gifti(rows, folder / "responses")
    elif layout == "folder-dscalar":
        save_cifti_dscalar(rows, folder / "responses.dscalar.nii")
    elif layout == "folder-mgh":
        for h, hemisphere in enumerate(("lh", "rh")):
            half = rows[:, h * SPACES[space][0]:(h + 1) * SPACES[space][0]]
            nib.save(nib.MGHImage(np.ascontiguousarray(half.T)[:, None, None, :], np.eye(4)),
                     folder / f"responses.{hemisphere}.mgh")
    else:
        nib.save(nib.Nifti1Image(np.moveaxis(rows.reshape(len(rows), *shape), 0, -1), affine),
                 folder / "responses.nii.gz")
    return SimulatedTruth(planted, tuple(str(c) for c in categories), n_repeats, features)


def write_default_study(folder, *, max_images: int | None = None, n_repeats: int = 10, test_fraction: float = 0.2,
                        random_state=0, device: str = "cpu", progress=None) -> Path:
    """The default simulated subject viewing the stimulus library, in the ``folder`` layout (``stimuli.tsv``).

    Training images are shown once, a stratified ``test_fraction`` of each category ``n_repeats`` times; the
    images are copied into ``folder/images``; responses (fsLR-32k) are written row by row.

    Returns
    -------
    Path
        ``folder``.
    """
    from core.experiments import calibrated_default_subject

    folder = Path(folder)
    library, features, subject, drivers, labels, _ = calibrated_default_subject(
        max_images=max_images, device=device, progress=None if progress is None else  # core.runtime.Progress
        lambda done, total, message="": progress(done / total if total else 0.0, message))
    ids = features["resnet50"].stimulus_ids
    source_of = dict(zip(library.ids, library.sources, strict=True))
    rng = np.random.default_rng(random_state)
    test = []
    for category in np.unique(labels):
        members = np.flatnonzero(labels == category)
        if len(members) >= 2:
            test.extend(rng.choice(members, max(1, round(test_fraction * len(members))), replace=False))
    test = np.sort(np.asarray(test, dtype=int))
    train = np.setdiff1d(np.arange(len(ids)), test)
    files = [f"images/{i}" for i in ids]
    for i, file in zip(ids, files, strict=True):
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_of[i], folder / file)
    signal = subject.signal(drivers)
    blocks = [(train, 0)] + [(test, r) for r in range(n_repeats)]
    with open(folder / "stimuli.tsv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["file", "category", "repetition"])
        writer.writerows([files[i], labels[i], r] for rows, r in blocks for i in rows)
    with open(folder / "responses.npy", "wb") as handle:  # one block of rows in memory at a time
        write_npy_header(handle, sum(len(rows) for rows, _ in blocks), signal.shape[1])
        for rows, _ in blocks:
            subject.measure(signal[rows], random_state=rng)[0].astype("<f4").tofile(handle)
    if progress is not None:
        progress(1.0, "simulated study written")
    return folder
