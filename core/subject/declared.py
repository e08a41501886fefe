"""What a spec declares, computable without images: :data:`DECLARED_MAPS` and the construction notes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core.subject.spec import NETWORK_NAMES, SubjectSpec

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
