"""The simulated subject on a cortical space: :class:`SimulatedSubject`, what it reads of images, and the
default subject on fsLR-32k."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.subject.spec import DEFAULT_SPEC_PATH, RegionDriver, SubjectSpec, load_subject_spec


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
