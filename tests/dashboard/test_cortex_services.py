"""The cortex section of dashboard.services: full Glasser area names and area borders."""

from __future__ import annotations

import numpy as np

from core import cortex
from dashboard import services


def test_every_glasser_area_has_its_published_full_name():
    _, names = cortex.roi_labels()
    areas = {name.split("_", 1)[1] for name in names[1:]}
    table = services.glasser_area_names()
    assert len(table) == 180 and set(table) == areas
    assert table["FFC"] == "Fusiform Face Complex" and table["PHA1"] == "ParaHippocampal Area 1"
    assert table["V1"] == "Primary Visual Cortex"
    assert services.area_label("L_FFC") == services.area_label("FFC") == "FFC — Fusiform Face Complex"
    assert services.area_label("") == "no Glasser area"


def test_vertex_labels_follow_the_atlas():
    labels, names = cortex.roi_labels()
    vertex_labels = services.vertex_area_labels()
    assert len(vertex_labels) == len(labels)
    ffc = np.flatnonzero(labels == names.index("R_FFC"))
    assert {vertex_labels[i] for i in ffc} == {"FFC — Fusiform Face Complex"}


def test_borders_are_one_vertex_wide_and_separate_every_pair_of_neighbouring_areas():
    labels, _ = cortex.roi_labels()
    border = services.roi_border_mask()
    assert border.shape == labels.shape and 0.05 < border.mean() < 0.3
    mesh = services.cortex_mesh("inflated")
    index = np.asarray(mesh["left"]["vertex_index"])
    to_data = np.full(len(mesh["left"]["vertices"]), -1)
    to_data[index] = np.arange(len(index))
    faces = to_data[np.asarray(mesh["left"]["faces"])]
    faces = faces[(faces >= 0).all(axis=1)]
    for a, b in ((0, 1), (1, 2), (2, 0)):
        u, v = faces[:, a], faces[:, b]
        differ = labels[u] != labels[v]
        # every edge between two areas has a border vertex on it, on one side only (the higher label)
        assert (border[u[differ]] | border[v[differ]]).all()
        higher = np.where(labels[u] > labels[v], u, v)[differ]
        assert border[higher].all()
    inside = ~border[: len(index)]
    assert inside.sum() > 0.7 * len(index)
