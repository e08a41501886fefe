"""Tests for dashboard.figures.gallery: reconstruction mosaic, pairwise accuracy, accuracy curves."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.figures import gallery as fg
from tests.dashboard.test_figures_faces import decode_png


@pytest.fixture
def faces():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)


def test_gallery_mosaic_has_originals_in_row_zero_and_row_titles_in_their_own_margin(faces):
    recons = {"VAE-GAN": 255 - faces, "PCA": faces // 2}
    fig = fg.reconstruction_gallery_figure(faces, recons, face_labels=["ann", "bob", "cy"])
    assert [t.type for t in fig.data] == ["image", "scatter"]
    mosaic = decode_png(fig.data[0].source)
    assert mosaic.shape == (3 * 4, 3 * 5, 3)
    for face in range(3):
        columns = slice(5 * face, 5 * face + 5)
        np.testing.assert_array_equal(mosaic[0:4, columns], faces[face])
        np.testing.assert_array_equal(mosaic[4:8, columns], 255 - faces[face])
        np.testing.assert_array_equal(mosaic[8:12, columns], faces[face] // 2)
    titles = fig.layout.annotations
    assert [a.text for a in titles] == ["<b>original</b>", "<b>VAE-GAN</b>", "<b>PCA</b>"]
    # one title per row, right-aligned left of the image (x = 0 of the plot) in the left margin, at the row centres
    assert {(a.x, a.xref, a.xanchor) for a in titles} == {(0, "paper", "right")} and fig.layout.margin.l >= 100
    assert [a.y for a in titles] == [1.5, 5.5, 9.5]
    assert list(fig.data[1].text)[:3] == ["ann – original", "bob – original", "cy – original"]


def test_gallery_caps_faces_and_checks_shapes(faces):
    fig = fg.reconstruction_gallery_figure(faces, {"PCA": faces}, max_faces=2, title="Gallery")
    assert decode_png(fig.data[0].source).shape == (2 * 4, 2 * 5, 3)  # 2 rows (original, PCA) of 2 faces
    assert fig.layout.title.text == "Gallery (first 2 of 3)"
    with pytest.raises(
        ValueError,
        match=r"reconstructions\['PCA'\] has shape \(2, 4, 5, 3\) but originals "
        r"has shape \(3, 4, 5, 3\)",
    ):
        fg.reconstruction_gallery_figure(faces, {"PCA": faces[:2]})
    with pytest.raises(ValueError, match="face_labels has length 1 but originals has length 3"):
        fg.reconstruction_gallery_figure(faces, {}, face_labels=["x"])


def test_pairwise_accuracy_bars_chance_and_p():
    fig = fg.pairwise_accuracy_figure(
        ["VAE-GAN", "PCA"], [0.95, 0.55], chance=0.5, p_values=[1e-5, 0.04], title="Pairwise"
    )
    (bars,) = fig.data
    assert bars.type == "bar"
    assert list(bars.x) == ["VAE-GAN", "PCA"]
    np.testing.assert_allclose(bars.y, [0.95, 0.55])
    assert list(bars.text) == ["p < 0.001", "p = 0.040"]
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 0.5
    assert fig.layout.annotations[0].text == "chance (0.5)"
    assert fig.layout.yaxis.title.text == "pairwise identification accuracy"
    with pytest.raises(ValueError, match="accuracies has length 1 but model_names has length 2"):
        fg.pairwise_accuracy_figure(["a", "b"], [0.5])
    with pytest.raises(ValueError, match="p_values has length 3 but model_names has length 2"):
        fg.pairwise_accuracy_figure(["a", "b"], [0.5, 0.6], p_values=[0.1, 0.2, 0.3])


def test_accuracy_curve_figure_numeric_x_chance_and_log_axis():
    sizes = np.array([100, 1000, 8000])
    fig = fg.accuracy_curve_figure(
        sizes,
        {"VAE-GAN": [0.7, 0.85, 0.95], "PCA": [0.6, 0.7, 0.75]},
        xlabel="training images",
        chance=0.5,
        bands={"VAE-GAN": ([0.65, 0.8, 0.93], [0.75, 0.9, 0.97])},
        log_x=True,
    )
    assert [t.name for t in fig.data] == ["VAE-GAN (band)", "VAE-GAN", "PCA"]
    np.testing.assert_allclose(fig.data[1].x, sizes)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.xaxis.title.text == "training images"
    assert fig.layout.shapes[0].y0 == 0.5 and fig.layout.annotations[0].text == "chance"
    assert not fg.accuracy_curve_figure(sizes, {"a": [1, 2, 3]}, xlabel="SNR (dB)").layout.shapes
    with pytest.raises(ValueError, match=r"series\['a'\] has length 2 but x has length 3"):
        fg.accuracy_curve_figure(sizes, {"a": [1, 2]}, xlabel="SNR (dB)")


def test_latent_explorer_shows_each_model_in_one_row(faces):
    fig = fg.latent_explorer_figure({"GAN": faces[0], "PCA": faces[1]}, title="offset +1 SD")
    assert [t.type for t in fig.data] == ["image", "scatter"]
    mosaic = decode_png(fig.data[0].source)
    assert mosaic.shape == (4, 2 * 5, 3)
    np.testing.assert_array_equal(mosaic[:, :5], faces[0])
    np.testing.assert_array_equal(mosaic[:, 5:], faces[1])
    assert [a.text for a in fig.layout.annotations] == ["<b>GAN</b>", "<b>PCA</b>"]
    assert list(fig.data[1].text) == ["GAN", "PCA"]
    with pytest.raises(ValueError, match="same shape"):
        fg.latent_explorer_figure({"GAN": faces[0], "PCA": faces[1, :2]})
    with pytest.raises(ValueError, match="empty"):
        fg.latent_explorer_figure({})
