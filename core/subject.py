"""The simulated subject: a virtual participant whose cortex responds to images by a declared rule.

No natural-image fMRI data are reachable offline, so the studio's default subject is simulated from a
ground truth declared in a small JSON spec (``data/simulated_subject.json``). Each region of interest
is driven by one layer of one network (its *home layer*): the layer's features are reduced by a PCA
fitted on a calibration stimulus set and whitened; every vertex reads them out through a unit-norm
weight vector that is spatially smooth over the cortex and, in category-preferring regions, leans
towards the direction separating the preferred category from the rest. Noise is Gaussian at a declared
signal-to-noise ratio, and the noise-free signal is kept, so the true noise ceiling is known.

Signal of vertex v in region r for image i::

    s_v(i) = amplitude_r * z_r(i) @ w_v,   z_r = whitened PCA scores of the home-layer features,
    w_v = normalise(sqrt(1 - p²) * smooth_random_v + p * preferred_direction_r)

and the single-trial response is ``s_v(i) + e``, ``e ~ N(0, var(s_v) / snr)`` with var(s_v) taken over
the calibration set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DECLARED_MAPS",
    "DEFAULT_SPEC_PATH",
    "RegionDriver",
    "SimulatedSubject",
    "SubjectSpec",
    "declared_maps",
    "fslr_roi_vertices",
    "load_default_subject",
    "load_subject_spec",
    "true_noise_ceiling",
]

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "simulated_subject.json"


@dataclass(frozen=True)
class RegionDriver:
    """What drives one region: a network layer, an amplitude and an optional category preference.

    Attributes
    ----------
    roi : str
        Glasser ROI name (both hemispheres unless ``hemisphere`` is given).
    network : str
        Zoo model name (``core.models.MODEL_REGISTRY``).
    layer : str
        Module path of the home layer in that model.
    amplitude : float
        Signal standard deviation (arbitrary units).
    preferred_category : str or None
        Category whose direction the vertex weights lean towards.
    preference : float
        Lean in [0, 1]: 0 = random smooth weights, 1 = pure category direction.
    hemisphere : {"L", "R", None}
    smoothing_iterations : int or None
        Neighbour-averaging passes of this region's weight maps; ``None`` uses the spec's. Smoothing
        makes neighbouring vertices read out nearly the same direction: in a region of ~150
        fsLR-32k vertices, 20 passes leave ~9 independent directions of the 32 PCA dimensions
        (participation ratio of the weights), so the region's RDM reflects a random ~9-D slice of
        its home layer; 0 keeps ~30.
    """

    roi: str
    network: str
    layer: str
    amplitude: float = 1.0
    preferred_category: str | None = None
    preference: float = 0.0
    hemisphere: str | None = None
    smoothing_iterations: int | None = None

    def __post_init__(self):
        if not 0.0 <= self.preference <= 1.0:
            raise ValueError(f"preference of {self.roi} must be in [0, 1], got {self.preference}")
        if self.preference > 0 and not self.preferred_category:
            raise ValueError(f"{self.roi} has preference {self.preference} but no preferred_category")
        if self.amplitude <= 0:
            raise ValueError(f"amplitude of {self.roi} must be positive, got {self.amplitude}")
        if self.hemisphere not in (None, "L", "R"):
            raise ValueError(f"hemisphere of {self.roi} must be 'L', 'R' or null, got {self.hemisphere!r}")
        if self.smoothing_iterations is not None and self.smoothing_iterations < 0:
            raise ValueError(f"smoothing_iterations of {self.roi} must be >= 0 or null, "
                             f"got {self.smoothing_iterations}")


@dataclass(frozen=True)
class SubjectSpec:
    """The declared ground truth of a simulated subject.

    Attributes
    ----------
    name, description : str
    seed : int
        Seed of the vertex weights (experiments take their own ``random_state``).
    snr : float
        Single-trial signal variance / noise variance, the same at every driven vertex.
    n_components : int
        PCA dimensions of each home layer's features.
    smoothing_iterations : int
        Neighbour-averaging passes over the cortical adjacency for the weight maps (a driver may
        override it).
    drivers : tuple of RegionDriver
    """

    name: str
    description: str
    seed: int
    snr: float
    n_components: int
    smoothing_iterations: int
    drivers: tuple[RegionDriver, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if self.snr <= 0:
            raise ValueError(f"snr must be positive, got {self.snr}")
        if self.n_components < 1:
            raise ValueError(f"n_components must be ≥ 1, got {self.n_components}")
        if not self.drivers:
            raise ValueError("A subject spec needs at least one region driver")

    @property
    def feature_sources(self) -> tuple[tuple[str, str], ...]:
        """Distinct (network, layer) pairs the subject needs features of, in spec order."""
        return tuple(dict.fromkeys((d.network, d.layer) for d in self.drivers))

    def summary(self) -> str:
        """Human-readable description for the dashboard's spec panel."""
        lines = [f"{self.name}: {self.description}", f"seed {self.seed}, single-trial SNR {self.snr}",
                 "region  network:layer  amplitude  preference"]
        for d in self.drivers:
            pref = f"{d.preferred_category} ({d.preference:.2f})" if d.preferred_category else "-"
            hemi = f" {d.hemisphere}" if d.hemisphere else ""
            smoothing = "" if d.smoothing_iterations is None else f"  smoothing {d.smoothing_iterations}"
            lines.append(f"{d.roi}{hemi}  {d.network}:{d.layer}  {d.amplitude:g}  {pref}{smoothing}")
        return "\n".join(lines)


def load_subject_spec(path: str | Path = DEFAULT_SPEC_PATH) -> SubjectSpec:
    """Read a subject spec from JSON; errors name the file and the problem."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        drivers = tuple(RegionDriver(**entry) for entry in raw.pop("drivers"))
        return SubjectSpec(drivers=drivers, **raw)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"Subject spec {str(path)!r} is unreadable: {exc}") from exc


def true_noise_ceiling(signal_variance: np.ndarray, noise_variance: np.ndarray, n_repeats: int) -> np.ndarray:
    """Expected r between the noise-free signal and the mean of ``n_repeats`` noisy repeats.

    r = sqrt(σ²_s / (σ²_s + σ²_n / n_repeats)), 0 where the signal variance is 0.
    """
    signal_variance = np.asarray(signal_variance, dtype=np.float64)
    total = signal_variance + np.asarray(noise_variance, dtype=np.float64) / n_repeats
    return np.sqrt(np.divide(signal_variance, total, out=np.zeros_like(total), where=total > 0))


class SimulatedSubject:
    """A calibrated simulated subject on a cortical space.

    Parameters
    ----------
    spec : SubjectSpec
    roi_vertices : mapping of (roi, hemisphere) to ndarray of int
        Vertex indices of each ROI per hemisphere (``"L"``/``"R"``).
    adjacency : scipy.sparse matrix of shape (n_vertices, n_vertices)
        Cortical neighbourhood graph, used to smooth the weight maps.
    """

    def __init__(self, spec: SubjectSpec, *, roi_vertices: Mapping[tuple[str, str], np.ndarray], adjacency):
        self.spec = spec
        self.roi_vertices = roi_vertices
        self.adjacency = adjacency
        self.n_vertices = adjacency.shape[0]
        missing = sorted({d.roi for d in spec.drivers} - {roi for roi, _ in roi_vertices})
        if missing:
            known = sorted({roi for roi, _ in roi_vertices})
            raise ValueError(f"Spec names unknown ROIs {missing}; known ROIs include {known[:20]}")

    # ------------------------------------------------------------------ calibration

    def calibrate(self, features: Mapping[tuple[str, str], np.ndarray], labels, groups=None) -> SimulatedSubject:
        """Fit each home layer's PCA and the region weights on a calibration stimulus set.

        Parameters
        ----------
        features : mapping of (network, layer) to ndarray of shape (n_stimuli, n_units)
            Features of the calibration stimuli for every pair in ``spec.feature_sources``.
        labels : sequence of str, length n_stimuli
            Category of each calibration stimulus (used for preferred directions).
        groups : sequence of str, length n_stimuli, optional
            Superordinate group of each stimulus (e.g. "scene"); a preferred category may name either.

        Returns
        -------
        self
        """
        labels = np.asarray(labels)
        groups = labels if groups is None else np.asarray(groups)
        rng = np.random.default_rng(self.spec.seed)
        self.pca_ = {}
        for source in self.spec.feature_sources:
            if source not in features:
                raise ValueError(f"Calibration features lack {source}; need {list(self.spec.feature_sources)}")
            X = np.asarray(features[source], dtype=np.float64)
            if len(X) != len(labels):
                raise ValueError(f"{source} has {len(X)} stimuli but {len(labels)} labels")
            k = min(self.spec.n_components, len(X) - 1, X.shape[1])
            mean = X.mean(axis=0)
            _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
            scale = s[:k] / np.sqrt(len(X) - 1)
            self.pca_[source] = (mean, vt[:k], np.where(scale > 0, scale, 1.0))
        self.vertex_driver_ = np.full(self.n_vertices, -1, dtype=int)
        blocks = []
        for index, driver in enumerate(self.spec.drivers):
            source = (driver.network, driver.layer)
            z = self._scores(source, features[source])
            k = z.shape[1]
            iterations = (self.spec.smoothing_iterations if driver.smoothing_iterations is None
                          else driver.smoothing_iterations)
            field_ = self._smooth_field(rng, k, iterations)
            vertices = self._driver_vertices(driver)
            w = field_[vertices]
            w /= np.linalg.norm(w, axis=1, keepdims=True)
            if driver.preferred_category:
                inside = (labels == driver.preferred_category) | (groups == driver.preferred_category)
                if not inside.any() or inside.all():
                    raise ValueError(f"{driver.roi} prefers {driver.preferred_category!r}, which needs "
                                     "calibration stimuli both in and out of that category")
                direction = z[inside].mean(axis=0) - z[~inside].mean(axis=0)
                direction /= np.linalg.norm(direction)
                p = driver.preference
                w = np.sqrt(1 - p**2) * w + p * direction
                w /= np.linalg.norm(w, axis=1, keepdims=True)
            self.vertex_driver_[vertices] = index
            blocks.append((vertices, w * driver.amplitude))
        self.readout_ = blocks
        self.signal_variance_ = self.signal(features).var(axis=0).astype(np.float64)
        return self

    def _scores(self, source, X) -> np.ndarray:
        mean, components, scale = self.pca_[source]
        return ((np.asarray(X, dtype=np.float64) - mean) @ components.T) / scale

    def _smooth_field(self, rng, k: int, iterations: int) -> np.ndarray:
        """k independent white-noise maps smoothed ``iterations`` times over the cortex: (n_vertices, k)."""
        from scipy import sparse

        field_ = rng.standard_normal((self.n_vertices, k))
        if iterations == 0:
            return field_
        degree = np.asarray(self.adjacency.sum(axis=1)).ravel() + 1.0
        step = sparse.diags(1.0 / degree) @ (self.adjacency + sparse.identity(self.n_vertices))
        for _ in range(iterations):
            field_ = step @ field_
        return field_

    def _driver_vertices(self, driver: RegionDriver) -> np.ndarray:
        hemis = (driver.hemisphere,) if driver.hemisphere else ("L", "R")
        parts = [self.roi_vertices[(driver.roi, h)] for h in hemis if (driver.roi, h) in self.roi_vertices]
        return np.unique(np.concatenate(parts)).astype(int)

    # ------------------------------------------------------------------ responses

    def signal(self, features: Mapping[tuple[str, str], np.ndarray]) -> np.ndarray:
        """Noise-free responses to stimuli.

        Parameters
        ----------
        features : mapping of (network, layer) to ndarray of shape (n_stimuli, n_units)

        Returns
        -------
        ndarray of shape (n_stimuli, n_vertices), float32
        """
        if not hasattr(self, "readout_"):
            raise ValueError("The subject is not calibrated: call calibrate() first")
        n = len(next(iter(features.values())))
        out = np.zeros((n, self.n_vertices), dtype=np.float64)
        for driver, (vertices, w) in zip(self.spec.drivers, self.readout_, strict=True):
            out[:, vertices] += self._scores((driver.network, driver.layer), features[(driver.network, driver.layer)]) @ w.T
        return out.astype(np.float32)

    def noise_variance(self) -> np.ndarray:
        """Single-trial noise variance per vertex, (n_vertices,).

        The signal variance over the calibration set divided by the declared snr; 1 at undriven vertices.
        """
        return np.where(self.signal_variance_ > 0, self.signal_variance_ / self.spec.snr, 1.0)

    def measure(self, signal: np.ndarray, *, n_repeats: int = 1, random_state=None) -> np.ndarray:
        """Noisy single-trial responses: ``signal`` plus Gaussian noise, repeated.

        Returns
        -------
        ndarray of shape (n_repeats, n_stimuli, n_vertices), float32
        """
        rng = np.random.default_rng(random_state)
        sd = np.sqrt(self.noise_variance()).astype(np.float32)
        noise = rng.standard_normal((n_repeats, *signal.shape), dtype=np.float32) * sd
        return signal[None] + noise

    def image_experiment(self, train_features, test_features, *, n_repeats: int = 10, random_state=0) -> dict:
        """Training images shown once, test images shown ``n_repeats`` times.

        Returns
        -------
        dict with ``Y_train`` (n_train, n_vertices), ``Y_test`` (n_repeats, n_test, n_vertices),
        ``signal_train``, ``signal_test`` (noise-free) and ``true_ceiling`` (n_vertices,): the expected r
        between the noise-free test signal and the repeat-averaged test response, from the test signal's
        own variance.
        """
        if n_repeats < 1:
            raise ValueError(f"n_repeats must be ≥ 1, got {n_repeats}")
        rng = np.random.default_rng(random_state)
        signal_train = self.signal(train_features)
        signal_test = self.signal(test_features)
        return {
            "Y_train": self.measure(signal_train, random_state=rng)[0],
            "Y_test": self.measure(signal_test, n_repeats=n_repeats, random_state=rng),
            "signal_train": signal_train,
            "signal_test": signal_test,
            "true_ceiling": true_noise_ceiling(signal_test.var(axis=0), self.noise_variance(), n_repeats),
        }


#: Declared maps of a spec, computable without any image: name → (description, units).
DECLARED_MAPS = {
    "home_layer": ("Home layer of each driven vertex (ResNet-50 wen18 index 1–18; "
                   "regions driven by another network are blank)", "layer"),
    "amplitude": ("Declared signal amplitude (SD, arbitrary units)", "a.u."),
    "face_preference": ("Declared lean of the vertex weights towards the face direction", "0–1"),
    "scene_preference": ("Declared lean towards the scene (place) direction", "0–1"),
    "non-biological_preference": ("Declared lean towards the object (non-biological) direction", "0–1"),
    "other_network": ("Regions driven by a face network: 1 = identity net, 2 = expression net", "code"),
}

_OTHER_NETWORK_CODES = {"face_identity": 1.0, "face_expression": 2.0}


def declared_maps(spec: SubjectSpec, roi_vertices: Mapping[tuple[str, str], np.ndarray],
                  n_vertices: int) -> dict[str, np.ndarray]:
    """The spec's ground truth as cortical maps, one per :data:`DECLARED_MAPS` entry.

    Returns
    -------
    dict of str to ndarray of shape (n_vertices,), float32; NaN where a map does not apply.
    """
    from core.models import RESNET50_WEN18

    maps = {name: np.full(n_vertices, np.nan, dtype=np.float32) for name in DECLARED_MAPS}
    for driver in spec.drivers:
        hemis = (driver.hemisphere,) if driver.hemisphere else ("L", "R")
        vertices = np.concatenate([roi_vertices[(driver.roi, h)] for h in hemis if (driver.roi, h) in roi_vertices])
        maps["amplitude"][vertices] = driver.amplitude
        if driver.network == "resnet50" and driver.layer in RESNET50_WEN18:
            maps["home_layer"][vertices] = RESNET50_WEN18.index(driver.layer) + 1
        if driver.network in _OTHER_NETWORK_CODES:
            maps["other_network"][vertices] = _OTHER_NETWORK_CODES[driver.network]
        key = f"{driver.preferred_category}_preference"
        if key in maps:
            maps[key][vertices] = driver.preference
    return maps


def fslr_roi_vertices() -> dict[tuple[str, str], np.ndarray]:
    """``{(area, hemisphere): grayordinate indices}`` of the Glasser areas on fsLR-32k."""
    from core.cortex import roi_table

    return {(roi.name, roi.hemisphere): roi.grayordinates for roi in roi_table()}


def load_default_subject(spec_path: str | Path = DEFAULT_SPEC_PATH) -> SimulatedSubject:
    """The studio's default simulated subject on fsLR-32k (not yet calibrated)."""
    from core.cortex import cortical_adjacency

    return SimulatedSubject(load_subject_spec(spec_path), roi_vertices=fslr_roi_vertices(),
                            adjacency=cortical_adjacency("fsLR32k"))
