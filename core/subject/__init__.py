"""The simulated subject: a virtual participant whose cortex responds to images by a declared rule.

No natural-image fMRI data are reachable offline, so the studio's default subject is simulated from a
ground truth declared in a small JSON spec. Two specs ship (:data:`SUBJECT_SPECS`):

``"v3"`` (default, ``data/simulated_subject.json``): "receptive fields"
    Each region reads the *whole feature maps* of its home layer through receptive fields
    (``core.retinotopy``: retinotopy of V1–V3 derived from the surface, sizes growing with
    eccentricity and up the hierarchy), with a compressive exponent per channel; some regions are
    driven by networks the default encoding model does not use (EfficientNet-Lite0 in the dorsal
    stream, the face-api identity and expression nets in the right FFC and STSvp). Noise is the same
    everywhere on cortex and spatially smooth (white noise averaged over mesh neighbours, rescaled to
    its declared variance), with a high declared SNR (2: so that the 160-image experiment of tests and
    quick runs finds predicted vertices; ``data/README.md``). An encoding model on any network's features
    is only approximately right.
``"v2"`` (``data/simulated_subject_v2.json``): "teaching: exactly representable"
    Each region is a linear readout of the channel means of one layer; every vertex has the declared
    SNR and independent noise. A model given the same channel means can represent it exactly, so
    recovery on it only shows that ridge works when the model is exactly right.

Signal of vertex v of region r (home layer ℓ) for image i::

    s_v(i) = amplitude_r * z_r(i, unit(v)) @ w_v
    z_r    = whitened PCA scores (fitted on calibration images) of what r reads of ℓ:
             v3: per receptive-field unit, core.retinotopy.ReceptiveFieldReading; v2: the channel means
    w_v    = normalise(sqrt(1 - p²) * smooth_random_v + p * preferred_direction_r)

and a single-trial response is ``s_v(i) + e``: v2: ``e ~ N(0, var(s_v) / snr)`` independent per vertex
(var over the calibration set); v3: ``e`` spatially smooth with variance ``1 / snr`` everywhere, so a
vertex at its region's typical drive with amplitude 1 has the declared SNR and weaker-driven vertices
(fields off the image, low amplitude) less. The noise-free signal is kept, so the true noise ceiling is
known. :meth:`SimulatedSubject.video_experiment` turns frame-wise signals into BOLD time series
(canonical HRF, averaged per TR) before the noise.
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
    "NETWORK_NAMES",
    "READOUTS",
    "SUBJECT_SPECS",
    "RegionDriver",
    "SimulatedSubject",
    "SubjectSpec",
    "construction_notes",
    "declared_maps",
    "fslr_roi_vertices",
    "load_default_subject",
    "load_subject_spec",
    "subject_features",
    "true_noise_ceiling",
]

_DATA = Path(__file__).resolve().parents[2] / "data"
#: Shipped subject specs: name → (path, label).
SUBJECT_SPECS = {
    "v3": (_DATA / "simulated_subject.json", "receptive fields, networks the model does not use, smooth noise"),
    "v2": (_DATA / "simulated_subject_v2.json", "teaching: exactly representable"),
}
DEFAULT_SPEC_PATH = SUBJECT_SPECS["v3"][0]

#: How regions read their home layer: the channel means (v2), or receptive fields over the whole maps (v3).
READOUTS = ("channel_means", "receptive_fields")
#: Noise models: independent per vertex at the declared SNR (v2), or spatially smooth with one variance (v3).
NOISE_MODELS = ("per_vertex_snr", "uniform")

#: Display names of the networks a spec may name.
NETWORK_NAMES = {
    "resnet50": "ResNet-50",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "alexnet": "AlexNet",
    "face_identity": "the identity net (face-api FaceRecognitionNet)",
    "face_expression": "the expression net (face-api FaceExpressionNet)",
    "fer_minixception": "the FER2013 mini-Xception",
}


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
    rf_size : (float, float) or None
        Receptive fields (``"receptive_fields"`` readout): σ = rf_size[0] + rf_size[1] × eccentricity, degrees.
    rf_extent : float
        Receptive-field centres of areas outside V1–V3 lie within this eccentricity (degrees).
    """

    roi: str
    network: str
    layer: str
    amplitude: float = 1.0
    preferred_category: str | None = None
    preference: float = 0.0
    hemisphere: str | None = None
    smoothing_iterations: int | None = None
    rf_size: tuple[float, float] | None = None
    rf_extent: float = 5.0

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
        if self.rf_size is not None and (len(self.rf_size) != 2 or self.rf_size[0] <= 0 or self.rf_size[1] < 0):
            raise ValueError(f"rf_size of {self.roi} must be [intercept > 0, slope >= 0] degrees, got {self.rf_size}")
        if self.rf_extent <= 0:
            raise ValueError(f"rf_extent of {self.roi} must be positive, got {self.rf_extent}")

    @property
    def label(self) -> str:
        """``"FFC"``, or ``"FFC (R)"`` for one hemisphere."""
        return f"{self.roi} ({self.hemisphere})" if self.hemisphere else self.roi


@dataclass(frozen=True)
class SubjectSpec:
    """The declared ground truth of a simulated subject.

    Attributes
    ----------
    name, description : str
    seed : int
        Seed of the vertex weights and receptive fields (experiments take their own ``random_state``).
    snr : float
        Single-trial signal variance / noise variance: at every driven vertex (``noise="per_vertex_snr"``),
        or at a vertex of typical drive in a region of amplitude 1 (``noise="uniform"``).
    n_components : int
        PCA dimensions of what each region reads.
    smoothing_iterations : int
        Neighbour-averaging passes over the cortical adjacency for the weight maps (a driver may
        override it).
    drivers : tuple of RegionDriver
    readout : {"channel_means", "receptive_fields"}
        What regions read of their home layer (:data:`READOUTS`).
    noise : {"per_vertex_snr", "uniform"}
    noise_smoothing_iterations : int
        Neighbour-averaging passes of the noise maps (0: independent vertices).
    css_exponent : float
        Compressive exponent applied per channel to the receptive-field drive (1: linear).
    n_channels : int
        Channels each receptive-field unit keeps (a seeded Gaussian projection of wider layers).
    field_of_view : float
        Degrees spanned by the images (fixation at the centre).
    vertices_per_unit : int
        Vertices per receptive-field unit (a region's neighbouring fields are read as one unit).
    caveats : tuple of str
        Declared limits of what the analyses can recover from this subject (plain sentences, e.g. two
        networks one region's responses cannot tell apart); shown with the by-construction notes.
    """

    name: str
    description: str
    seed: int
    snr: float
    n_components: int
    smoothing_iterations: int
    drivers: tuple[RegionDriver, ...] = field(default_factory=tuple)
    readout: str = "channel_means"
    noise: str = "per_vertex_snr"
    noise_smoothing_iterations: int = 0
    css_exponent: float = 1.0
    n_channels: int = 64
    field_of_view: float = 20.0
    vertices_per_unit: int = 8
    caveats: tuple[str, ...] = ()

    def __post_init__(self):
        from core._validation import check_choice

        if self.snr <= 0:
            raise ValueError(f"snr must be positive, got {self.snr}")
        if self.n_components < 1:
            raise ValueError(f"n_components must be ≥ 1, got {self.n_components}")
        if not self.drivers:
            raise ValueError("A subject spec needs at least one region driver")
        check_choice("readout", self.readout, READOUTS)
        check_choice("noise", self.noise, NOISE_MODELS)
        if not 0 < self.css_exponent <= 1:
            raise ValueError(f"css_exponent must be in (0, 1], got {self.css_exponent}")
        if self.noise_smoothing_iterations < 0 or self.n_channels < 1 or self.vertices_per_unit < 1:
            raise ValueError("noise_smoothing_iterations must be >= 0, n_channels and vertices_per_unit >= 1")
        if self.field_of_view <= 0:
            raise ValueError(f"field_of_view must be positive, got {self.field_of_view}")
        if self.readout == "receptive_fields":
            missing = [d.label for d in self.drivers if d.rf_size is None]
            if missing:
                raise ValueError(f"readout 'receptive_fields' needs rf_size for every driver; missing for {missing}")

    @property
    def feature_sources(self) -> tuple[tuple[str, str], ...]:
        """Distinct (network, layer) pairs the subject needs features of, in spec order."""
        return tuple(dict.fromkeys((d.network, d.layer) for d in self.drivers))

    @property
    def networks(self) -> dict[str, list[str]]:
        """Network → the layers the subject reads of it, in spec order."""
        out: dict[str, list[str]] = {}
        for network, layer in self.feature_sources:
            out.setdefault(network, []).append(layer)
        return out

    def summary(self) -> str:
        """Human-readable description for the dashboard's spec panel."""
        lines = [f"{self.name}: {self.description}", f"seed {self.seed}, single-trial SNR {self.snr}"]
        if self.readout == "receptive_fields":
            lines.append(f"receptive fields over {self.field_of_view:g}° images, CSS exponent {self.css_exponent:g}, "
                         f"noise smoothed {self.noise_smoothing_iterations}× over the mesh")
        lines.append("region  network:layer  amplitude  preference" +
                     ("  RF size (° + °/°)" if self.readout == "receptive_fields" else ""))
        for d in self.drivers:
            pref = f"{d.preferred_category} ({d.preference:.2f})" if d.preferred_category else "-"
            hemi = f" {d.hemisphere}" if d.hemisphere else ""
            smoothing = "" if d.smoothing_iterations is None else f"  smoothing {d.smoothing_iterations}"
            rf = f"  {d.rf_size[0]:g} + {d.rf_size[1]:g}·E" if self.readout == "receptive_fields" else ""
            lines.append(f"{d.roi}{hemi}  {d.network}:{d.layer}  {d.amplitude:g}  {pref}{smoothing}{rf}")
        return "\n".join(lines)


def load_subject_spec(path: str | Path = DEFAULT_SPEC_PATH) -> SubjectSpec:
    """Read a subject spec from JSON (a path, or a name of :data:`SUBJECT_SPECS`); errors name the file and
    the problem."""
    path = SUBJECT_SPECS[path][0] if str(path) in SUBJECT_SPECS else Path(path)
    try:
        raw = json.loads(path.read_text())
        drivers = tuple(RegionDriver(**{k: tuple(v) if k == "rf_size" else v for k, v in entry.items()})
                        for entry in raw.pop("drivers"))
        return SubjectSpec(drivers=drivers, caveats=tuple(raw.pop("caveats", ())), **raw)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"Subject spec {str(path)!r} is unreadable: {exc}") from exc


def true_noise_ceiling(signal_variance: np.ndarray, noise_variance: np.ndarray, n_repeats: int) -> np.ndarray:
    """Expected r between the noise-free signal and the mean of ``n_repeats`` noisy repeats.

    r = sqrt(σ²_s / (σ²_s + σ²_n / n_repeats)), 0 where the signal variance is 0.
    """
    signal_variance = np.asarray(signal_variance, dtype=np.float64)
    total = signal_variance + np.asarray(noise_variance, dtype=np.float64) / n_repeats
    return np.sqrt(np.divide(signal_variance, total, out=np.zeros_like(total), where=total > 0))


#: The PCA of a region's reading is fitted on the units whose reading varies over the calibration images by at
#: least this fraction of the most variable unit's variance (units with fields off the images are left out, so
#: that a region's typical driven vertex has a signal SD near its amplitude).
_ACTIVE_UNIT_VARIANCE = 0.01


class SimulatedSubject:
    """A calibrated simulated subject on a cortical space.

    Parameters
    ----------
    spec : SubjectSpec
    roi_vertices : mapping of (roi, hemisphere) to ndarray of int
        Vertex indices of each ROI per hemisphere (``"L"``/``"R"``).
    adjacency : scipy.sparse matrix of shape (n_vertices, n_vertices)
        Cortical neighbourhood graph, used to smooth the weight maps, the noise and coarse receptive fields.
    retinotopy : core.retinotopy.Retinotopy, optional
        Visual-field positions of mapped vertices (``"receptive_fields"`` readout); without it every
        area has coarse receptive fields.

    Attributes
    ----------
    receptive_fields : list of (ReceptiveFields, ReceptiveFields, ndarray) or None
        Per driver (``"receptive_fields"`` readout): the fields of its vertices (in
        ``driver_vertices`` order), its units, and the unit each vertex reads.
    """

    def __init__(self, spec: SubjectSpec, *, roi_vertices: Mapping[tuple[str, str], np.ndarray], adjacency,
                 retinotopy=None):
        self.spec = spec
        self.roi_vertices = roi_vertices
        self.adjacency = adjacency
        self.retinotopy = retinotopy
        self.n_vertices = adjacency.shape[0]
        missing = sorted({d.roi for d in spec.drivers} - {roi for roi, _ in roi_vertices})
        if missing:
            known = sorted({roi for roi, _ in roi_vertices})
            raise ValueError(f"Spec names unknown ROIs {missing}; known ROIs include {known[:20]}")
        self.receptive_fields = (self._receptive_fields() if spec.readout == "receptive_fields" else None)

    # ------------------------------------------------------------------ what the subject reads

    def _receptive_fields(self) -> list:
        from core.retinotopy import ReceptiveFields, receptive_field_units, vertex_receptive_fields

        rng = np.random.default_rng([self.spec.seed, 3])
        out = []
        for driver in self.spec.drivers:
            fields, units, assignment = [], [], []
            for hemisphere in self._hemispheres(driver):
                vertices = np.unique(self.roi_vertices[(driver.roi, hemisphere)]).astype(int)
                vf = vertex_receptive_fields(
                    vertices, x_sign=1.0 if hemisphere == "L" else -1.0, size=driver.rf_size,
                    retinotopy=self.retinotopy, extent=driver.rf_extent, adjacency=self.adjacency, rng=rng)
                n_units = int(np.ceil(len(vertices) / self.spec.vertices_per_unit))
                hemi_units, hemi_assignment = receptive_field_units(vf, n_units, rng=rng)
                assignment.append(hemi_assignment + sum(len(u) for u in units))
                fields.append(vf)
                units.append(hemi_units)
            out.append((ReceptiveFields.concatenate(fields), ReceptiveFields.concatenate(units),
                        np.concatenate(assignment)))
        return out

    def reading(self, network: str):
        """How the subject reads ``network``'s layers: ``"mean"`` (channel means) or a
        ``core.retinotopy.ReceptiveFieldReading`` (a ``core.features.LayerReduction``)."""
        if self.spec.readout == "channel_means":
            return "mean"
        from core.retinotopy import ReceptiveFieldReading, ReceptiveFields

        fields = {layer: ReceptiveFields.concatenate([self.receptive_fields[i][1]
                                                      for i in self._drivers_of((network, layer))])
                  for layer in self.spec.networks[network]}
        return ReceptiveFieldReading(fields, exponent=self.spec.css_exponent, n_channels=self.spec.n_channels,
                                     field_of_view=self.spec.field_of_view, seed=self.spec.seed)

    def driver_map(self) -> np.ndarray:
        """Index (into ``spec.drivers``) of the driver of every vertex, −1 where none: (n_vertices,) int."""
        out = np.full(self.n_vertices, -1, dtype=int)
        for index, driver in enumerate(self.spec.drivers):
            out[self._driver_vertices(driver)] = index
        return out

    def _drivers_of(self, source) -> list[int]:
        return [i for i, d in enumerate(self.spec.drivers) if (d.network, d.layer) == source]

    def _hemispheres(self, driver: RegionDriver) -> list[str]:
        hemis = (driver.hemisphere,) if driver.hemisphere else ("L", "R")
        return [h for h in hemis if (driver.roi, h) in self.roi_vertices]

    def _driver_vertices(self, driver: RegionDriver) -> np.ndarray:
        return np.concatenate([np.unique(self.roi_vertices[(driver.roi, h)]) for h in self._hemispheres(driver)]
                              ).astype(int)

    def _inputs(self, index: int, features: Mapping[tuple[str, str], np.ndarray]) -> np.ndarray:
        """What driver ``index`` reads of ``features``: (n_stimuli, n_units, n_channels), float64."""
        driver = self.spec.drivers[index]
        source = (driver.network, driver.layer)
        if source not in features:
            raise ValueError(f"Features lack {source}; need {list(self.spec.feature_sources)}")
        X = np.asarray(features[source], dtype=np.float64)
        if self.receptive_fields is None:
            return X[:, None, :]
        drivers = self._drivers_of(source)
        sizes = [len(self.receptive_fields[i][1]) for i in drivers]
        if X.shape[1] % sum(sizes):
            raise ValueError(f"{source} has {X.shape[1]} columns, not a multiple of its {sum(sizes)} receptive-field "
                             "units: read it with subject.reading()")
        start = sum(sizes[:drivers.index(index)])
        return X.reshape(len(X), sum(sizes), -1)[:, start:start + sizes[drivers.index(index)]]

    # ------------------------------------------------------------------ calibration

    def calibrate(self, features: Mapping[tuple[str, str], np.ndarray], labels, groups=None) -> SimulatedSubject:
        """Fit each region's PCA and its vertex weights on a calibration stimulus set.

        Parameters
        ----------
        features : mapping of (network, layer) to ndarray of shape (n_stimuli, n_features)
            The subject's reading (:meth:`reading`, :func:`subject_features`) of the calibration stimuli
            for every pair in ``spec.feature_sources``.
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
        self.pca_, blocks = [], []
        for index, driver in enumerate(self.spec.drivers):
            X = self._inputs(index, features)
            if len(X) != len(labels):
                raise ValueError(f"{(driver.network, driver.layer)} has {len(X)} stimuli but {len(labels)} labels")
            unit_variance = X.var(axis=0).sum(axis=1)  # units whose fields miss the images do not vary
            flat = X[:, unit_variance >= _ACTIVE_UNIT_VARIANCE * unit_variance.max()].reshape(-1, X.shape[2])
            k = min(self.spec.n_components, len(flat) - 1, flat.shape[1])
            mean = flat.mean(axis=0)
            _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
            scale = s[:k] / np.sqrt(len(flat) - 1)
            self.pca_.append((mean, vt[:k], np.where(scale > 0, scale, 1.0)))
            z = self._scores(index, X).mean(axis=1)  # (n, k): averaged over the region's units
            iterations = (self.spec.smoothing_iterations if driver.smoothing_iterations is None
                          else driver.smoothing_iterations)
            field_ = self._smooth_field(rng, z.shape[1], iterations)
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
            unit = np.zeros(len(vertices), dtype=int) if self.receptive_fields is None else self.receptive_fields[index][2]
            blocks.append((vertices, w * driver.amplitude, unit))
        self.readout_ = blocks
        self.vertex_driver_ = self.driver_map()
        self.signal_variance_ = self.signal(features).var(axis=0).astype(np.float64)
        return self

    def _scores(self, index: int, X: np.ndarray) -> np.ndarray:
        """Whitened PCA scores of driver ``index``'s inputs (n, n_units, n_channels) → (n, n_units, k)."""
        mean, components, scale = self.pca_[index]
        return ((X - mean) @ components.T) / scale

    def _smooth_field(self, rng, k: int, iterations: int) -> np.ndarray:
        """k independent white-noise maps smoothed ``iterations`` times over the cortex: (n_vertices, k)."""
        field_ = rng.standard_normal((self.n_vertices, k))
        step = self._smoothing_operator(1)
        for _ in range(iterations):
            field_ = step @ field_
        return field_

    def _smoothing_operator(self, iterations: int):
        """``iterations`` passes of neighbour averaging (vertex + neighbours) as one sparse matrix (few
        passes only: the matrix fills in)."""
        from scipy import sparse

        degree = np.asarray(self.adjacency.sum(axis=1)).ravel() + 1.0
        step = (sparse.diags(1.0 / degree) @ (self.adjacency + sparse.identity(self.n_vertices))).tocsr()
        operator = step
        for _ in range(iterations - 1):
            operator = step @ operator
        return operator

    # ------------------------------------------------------------------ responses

    def signal(self, features: Mapping[tuple[str, str], np.ndarray]) -> np.ndarray:
        """Noise-free responses to stimuli.

        Parameters
        ----------
        features : mapping of (network, layer) to ndarray of shape (n_stimuli, n_features)
            The subject's reading of the stimuli (see :meth:`calibrate`).

        Returns
        -------
        ndarray of shape (n_stimuli, n_vertices), float32
        """
        if not hasattr(self, "readout_"):
            raise ValueError("The subject is not calibrated: call calibrate() first")
        n = len(next(iter(features.values())))
        out = np.zeros((n, self.n_vertices), dtype=np.float64)
        for index, (vertices, w, unit) in enumerate(self.readout_):
            z = self._scores(index, self._inputs(index, features))
            for u in np.unique(unit):
                mine = unit == u
                out[:, vertices[mine]] += z[:, u] @ w[mine].T
        return out.astype(np.float32)

    def noise_variance(self) -> np.ndarray:
        """Single-trial noise variance per vertex, (n_vertices,).

        ``"per_vertex_snr"``: the signal variance over the calibration set divided by the declared snr, 1 at
        undriven vertices; ``"uniform"``: 1 / snr everywhere.
        """
        if self.spec.noise == "uniform":
            return np.full(self.n_vertices, 1.0 / self.spec.snr)
        return np.where(self.signal_variance_ > 0, self.signal_variance_ / self.spec.snr, 1.0)

    def _noise_maps(self, rng, shape: tuple[int, int]) -> np.ndarray:
        """Unit-variance noise maps (n_maps, n_vertices), float32, smoothed over the mesh as the spec says."""
        noise = rng.standard_normal(shape, dtype=np.float32)
        iterations = self.spec.noise_smoothing_iterations
        if not iterations:
            return noise
        if not hasattr(self, "_noise_smoother"):
            operator = self._smoothing_operator(iterations).astype(np.float32).tocsr()
            norms = np.sqrt(np.asarray(operator.multiply(operator).sum(axis=1)).ravel())
            self._noise_smoother = (operator, norms.astype(np.float32))
        operator, norms = self._noise_smoother
        return np.ascontiguousarray((operator @ noise.T).T / norms)

    def measure(self, signal: np.ndarray, *, n_repeats: int = 1, random_state=None) -> np.ndarray:
        """Noisy single-trial responses: ``signal`` plus noise (:meth:`noise_variance`), repeated.

        Returns
        -------
        ndarray of shape (n_repeats, n_stimuli, n_vertices), float32
        """
        rng = np.random.default_rng(random_state)
        sd = np.sqrt(self.noise_variance()).astype(np.float32)
        out = np.empty((n_repeats, *signal.shape), dtype=np.float32)
        for repeat in range(n_repeats):
            out[repeat] = signal + self._noise_maps(rng, signal.shape) * sd
        return out

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

    def video_experiment(self, frame_features, *, frame_rate: float, tr: float, n_repeats: int = 1,
                         random_state=0) -> dict:
        """A movie watched ``n_repeats`` times: BOLD time series (HRF mode).

        The frame-wise signal (:meth:`signal` of each frame's features) is convolved with the canonical
        HRF and averaged within each TR (``core.features.features_to_tr``, not standardised); noise is
        added per volume (independent over time, smooth over the mesh as declared).

        Parameters
        ----------
        frame_features : mapping of (network, layer) to ndarray of shape (n_frames, n_features)
        frame_rate : float
            Frames per second.
        tr : float
            Repetition time, seconds.

        Returns
        -------
        dict with ``Y`` (n_repeats, n_volumes, n_vertices), ``signal`` (n_volumes, n_vertices, noise-free
        BOLD), ``neural`` (n_frames, n_vertices) and ``true_ceiling`` (n_vertices,) for the repeat average.
        """
        from core.features import features_to_tr

        neural = self.signal(frame_features)
        n_volumes = int(len(neural) // (tr * frame_rate))
        if n_volumes < 1:
            raise ValueError(f"{len(neural)} frames at {frame_rate} fps cover less than one TR of {tr} s")
        bold = np.zeros((n_volumes, self.n_vertices), dtype=np.float32)
        driven = np.flatnonzero(neural.any(axis=0))
        for start in range(0, len(driven), 4096):  # bounded RAM: features_to_tr works in float64
            columns = driven[start:start + 4096]
            bold[:, columns] = features_to_tr(neural[:, columns], frame_rate=frame_rate, tr=tr, n_volumes=n_volumes,
                                              standardize=False)
        rng = np.random.default_rng(random_state)
        return {"Y": self.measure(bold, n_repeats=n_repeats, random_state=rng), "signal": bold, "neural": neural,
                "true_ceiling": true_noise_ceiling(bold.var(axis=0), self.noise_variance(), n_repeats)}


def subject_features(subject: SimulatedSubject, stimuli, *, device: str = "cpu", cache=None, progress=None) -> dict:
    """The subject's reading of ``stimuli``: every network it names, run once, read as :meth:`SimulatedSubject.reading`.

    Parameters
    ----------
    subject : SimulatedSubject
    stimuli : ndarray of shape (n, height, width, 3), uint8, or core.stimuli.StimulusSet
    device : str
    cache : core.features.FeatureCache, optional
        Chunks of the reading are stored and reused (keyed by the network weights, the receptive fields,
        the exponent and the images).
    progress : callable, optional
        ``progress(fraction in [0, 1], message)``.

    Returns
    -------
    dict of str to core.features.Features
        Network → its layers' readings, ``(n_stimuli, n_features)`` each.
    """
    from core.features import extract_features, model_digest
    from core.models import build_model

    out = {}
    networks = subject.spec.networks
    for i, (network, layers) in enumerate(networks.items()):
        model = build_model(network, device=device)
        out[network] = extract_features(
            model, stimuli, layers=layers, reduction=subject.reading(network), device=device, cache=cache,
            model_key=f"{network}:{model_digest(model)}" if cache is not None else None,
            progress=None if progress is None else (
                lambda done, total, i=i, network=network: progress(
                    (i + done / total) / len(networks), f"what the subject reads of {network}: chunk {done}/{total}")))
    return out


#: Declared maps of a spec, computable without any image: name → (description, units).
DECLARED_MAPS = {
    "home_layer": ("Home layer of each driven vertex (ResNet-50 wen18 index 1–18; "
                   "regions driven by another network are blank)", "layer"),
    "amplitude": ("Declared signal amplitude (SD, arbitrary units)", "a.u."),
    "face_preference": ("Declared lean of the vertex weights towards the face direction", "0–1"),
    "scene_preference": ("Declared lean towards the scene (place) direction", "0–1"),
    "non-biological_preference": ("Declared lean towards the object (non-biological) direction", "0–1"),
    "other_network": ("Regions driven by a network other than ResNet-50: 1 = identity net, 2 = expression net, "
                      "3 = EfficientNet-Lite0, 4 = FER mini-Xception", "code"),
    "rf_eccentricity": ("Receptive-field centre: eccentricity (V1–V3 retinotopy derived from the surface; "
                        "coarse elsewhere)", "deg"),
    "rf_polar_angle": ("Receptive-field centre: polar angle (−90 lower … +90 upper vertical meridian)", "deg"),
    "rf_size": ("Receptive-field size σ", "deg"),
}

_OTHER_NETWORK_CODES = {"face_identity": 1.0, "face_expression": 2.0, "efficientnet_lite0": 3.0,
                        "fer_minixception": 4.0}


def declared_maps(spec: SubjectSpec, roi_vertices: Mapping[tuple[str, str], np.ndarray],
                  n_vertices: int, *, receptive_fields=None) -> dict[str, np.ndarray]:
    """The spec's ground truth as cortical maps, one per :data:`DECLARED_MAPS` entry.

    Parameters
    ----------
    receptive_fields : list, optional
        ``SimulatedSubject.receptive_fields`` (the ``rf_*`` maps are NaN without it).

    Returns
    -------
    dict of str to ndarray of shape (n_vertices,), float32; NaN where a map does not apply.
    """
    from core.models import RESNET50_WEN18

    maps = {name: np.full(n_vertices, np.nan, dtype=np.float32) for name in DECLARED_MAPS}
    for index, driver in enumerate(spec.drivers):
        hemis = (driver.hemisphere,) if driver.hemisphere else ("L", "R")
        parts = [np.unique(roi_vertices[(driver.roi, h)]) for h in hemis if (driver.roi, h) in roi_vertices]
        vertices = np.concatenate(parts).astype(int)
        maps["amplitude"][vertices] = driver.amplitude
        if driver.network == "resnet50" and driver.layer in RESNET50_WEN18:
            maps["home_layer"][vertices] = RESNET50_WEN18.index(driver.layer) + 1
        if driver.network in _OTHER_NETWORK_CODES:
            maps["other_network"][vertices] = _OTHER_NETWORK_CODES[driver.network]
        key = f"{driver.preferred_category}_preference"
        if key in maps:
            maps[key][vertices] = driver.preference
        if receptive_fields is not None:
            fields = receptive_fields[index][0]
            maps["rf_eccentricity"][vertices] = fields.eccentricity
            maps["rf_polar_angle"][vertices] = np.degrees(np.arctan2(fields.y, np.abs(fields.x)))
            maps["rf_size"][vertices] = fields.sigma
    return maps


def construction_notes(spec: SubjectSpec) -> list[str]:
    """What is true by construction in a simulated subject, for every page its data feed (plain sentences)."""
    notes = [f"The data come from a simulated subject ({spec.name}), not a measurement: its regions respond by "
             "a declared rule."]
    if spec.readout == "channel_means":
        notes.append("Teaching subject: every region is a linear readout of the channel means of one network layer, "
                     "so an encoding model on the same features can represent it exactly; good recovery here only "
                     "shows that ridge regression works when the model is exactly right.")
    else:
        notes.append(f"Regions read whole feature maps through receptive fields (V1–V3 retinotopy derived from "
                     f"the cortical surface, not measured), with a compressive exponent of {spec.css_exponent:g} and "
                     "spatially smooth noise: an encoding model is only approximately right for this subject.")
    by_network: dict[str, list[str]] = {}
    for driver in spec.drivers:
        by_network.setdefault(driver.network, []).append(driver.label)
    for network, regions in by_network.items():
        if network not in ("resnet50", "efficientnet_lite0"):
            notes.append(f"{', '.join(regions)} {'is' if len(regions) == 1 else 'are'} driven by "
                         f"{NETWORK_NAMES.get(network, network)} in this simulation.")
    counts = {net: len(by_network.get(net, [])) for net in ("resnet50", "efficientnet_lite0")}
    if counts["efficientnet_lite0"]:
        efficient = (f"EfficientNet-Lite0 drives {counts['efficientnet_lite0']} "
                     f"({', '.join(by_network['efficientnet_lite0'])})")
    else:
        efficient = "EfficientNet-Lite0 is not used by any region"
    notes.append(f"ResNet-50 drives {counts['resnet50']} regions and {efficient}: a comparison of the two "
                 "networks is not neutral, each should win where it drives.")
    preferences: dict[str, list[str]] = {}
    for driver in spec.drivers:
        if driver.preferred_category:
            preferences.setdefault(driver.preferred_category, []).append(driver.label)
    if preferences:
        listed = "; ".join(f"{category}: {', '.join(regions)}" for category, regions in preferences.items())
        notes.append(f"Category preferences are declared ({listed}); category maps, selectivity and category "
                     "clusters recover them by construction, so agreement with the library's groups is circular.")
    return notes + list(spec.caveats)


def fslr_roi_vertices() -> dict[tuple[str, str], np.ndarray]:
    """``{(area, hemisphere): grayordinate indices}`` of the Glasser areas on fsLR-32k."""
    from core.cortex import roi_table

    return {(roi.name, roi.hemisphere): roi.grayordinates for roi in roi_table()}


def load_default_subject(spec_path: str | Path = DEFAULT_SPEC_PATH) -> SimulatedSubject:
    """A shipped (:data:`SUBJECT_SPECS` name) or given spec's subject on fsLR-32k (not yet calibrated)."""
    from core.cortex import cortical_adjacency

    spec = load_subject_spec(spec_path)
    retinotopy = None
    if spec.readout == "receptive_fields":
        from core.retinotopy import fslr_retinotopy

        retinotopy = fslr_retinotopy()
    return SimulatedSubject(spec, roi_vertices=fslr_roi_vertices(), adjacency=cortical_adjacency("fsLR32k"),
                            retinotopy=retinotopy)
