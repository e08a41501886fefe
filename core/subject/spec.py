"""Subject specs: the shipped specs, :class:`RegionDriver`, :class:`SubjectSpec` and the JSON loader."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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
